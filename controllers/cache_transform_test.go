package controllers

import (
	"testing"
	"unsafe"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWebhookConfigurationTransformHoldsEachCAOnce(t *testing.T) {
	config := func(name string, cas ...string) *admissionregistrationv1.MutatingWebhookConfiguration {
		c := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name,
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "sidecarset-operator"}}}}
		for _, ca := range cas {
			c.Webhooks = append(c.Webhooks, admissionregistrationv1.MutatingWebhook{
				Name: name + ca, ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte(ca)}})
		}
		return c
	}
	transform := WebhookConfigurationTransform()
	out := func(c *admissionregistrationv1.MutatingWebhookConfiguration) *admissionregistrationv1.MutatingWebhookConfiguration {
		got, err := transform(c)
		if err != nil {
			t.Fatal(err)
		}
		return got.(*admissionregistrationv1.MutatingWebhookConfiguration)
	}
	first := out(config("a", "ca-1", "ca-1", "", "ca-2"))
	second := out(config("b", "ca-1", "ca-2"))
	same := func(x, y []byte) bool { return len(x) > 0 && unsafe.SliceData(x) == unsafe.SliceData(y) }

	if first.ManagedFields != nil {
		t.Errorf("managedFields kept: %v", first.ManagedFields)
	}
	for _, c := range []*admissionregistrationv1.MutatingWebhookConfiguration{first, second} {
		for _, w := range c.Webhooks {
			if want := w.Name[1:]; string(w.ClientConfig.CABundle) != want {
				t.Errorf("entry %s has caBundle %q, want %q", w.Name, w.ClientConfig.CABundle, want)
			}
		}
	}
	if !same(first.Webhooks[0].ClientConfig.CABundle, first.Webhooks[1].ClientConfig.CABundle) ||
		!same(first.Webhooks[0].ClientConfig.CABundle, second.Webhooks[0].ClientConfig.CABundle) ||
		!same(first.Webhooks[3].ClientConfig.CABundle, second.Webhooks[1].ClientConfig.CABundle) {
		t.Error("equal caBundles are held more than once")
	}
	if same(first.Webhooks[0].ClientConfig.CABundle, first.Webhooks[3].ClientConfig.CABundle) {
		t.Error("two different caBundles share memory")
	}
}
