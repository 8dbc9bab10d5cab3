package webhookconfig

import (
	"reflect"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// full is a webhook with every field set, down to the leaves.
func full() admissionregistrationv1.MutatingWebhook {
	scope := admissionregistrationv1.NamespacedScope
	return admissionregistrationv1.MutatingWebhook{
		Name: "a.sidecarset.io",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{
			URL:      ptr.To("https://localhost:9443/inject"),
			Service:  &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "svc", Path: ptr.To("/inject"), Port: ptr.To[int32](443)},
			CABundle: []byte("ca"),
		},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				Scope: &scope},
		}},
		FailurePolicy: ptr.To(admissionregistrationv1.Fail),
		MatchPolicy:   ptr.To(admissionregistrationv1.Equivalent),
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOpIn, Values: []string{"v"}}}},
		ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"v"}}}},
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To[int32](5),
		AdmissionReviewVersions: []string{"v1"},
		ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
		MatchConditions:         []admissionregistrationv1.MatchCondition{{Name: "c", Expression: "true"}},
	}
}

// TestEqualCoversEveryField changes each field of a full webhook, at every depth, and requires Equal to see
// it, as equality.Semantic.DeepEqual does. A field the API gains fails it until Equal compares it.
func TestEqualCoversEveryField(t *testing.T) {
	a := full()
	if !Equal([]admissionregistrationv1.MutatingWebhook{a}, []admissionregistrationv1.MutatingWebhook{*a.DeepCopy()}) {
		t.Fatal("a webhook differs from its copy")
	}
	var visit func(path string, at func(*admissionregistrationv1.MutatingWebhook) reflect.Value)
	visit = func(path string, at func(*admissionregistrationv1.MutatingWebhook) reflect.Value) {
		orig := full()
		v := at(&orig)
		if v.IsZero() {
			t.Errorf("full() leaves %s unset: set it, and compare it in webhookEqual", path)
			return
		}
		changed := full()
		cv := at(&changed)
		switch cv.Kind() {
		case reflect.String:
			cv.SetString(cv.String() + "x")
		case reflect.Int32:
			cv.SetInt(cv.Int() + 1)
		default:
			cv.SetZero()
		}
		x, y := []admissionregistrationv1.MutatingWebhook{full()}, []admissionregistrationv1.MutatingWebhook{changed}
		if Equal(x, y) {
			t.Errorf("Equal misses a change of %s", path)
		}
		if equality.Semantic.DeepEqual(x, y) {
			t.Errorf("the change of %s is no change to equality.Semantic either: the test is wrong", path)
		}
		switch v.Kind() {
		case reflect.Pointer:
			if v.Elem().Kind() == reflect.Struct || v.Elem().Kind() == reflect.String || v.Elem().Kind() == reflect.Int32 {
				visit(path, func(w *admissionregistrationv1.MutatingWebhook) reflect.Value { return at(w).Elem() })
				return
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Struct || v.Type().Elem().Kind() == reflect.String {
				visit(path+"[0]", func(w *admissionregistrationv1.MutatingWebhook) reflect.Value { return at(w).Index(0) })
			}
		case reflect.Struct:
			for i := range v.NumField() {
				visit(path+"."+v.Type().Field(i).Name, func(w *admissionregistrationv1.MutatingWebhook) reflect.Value { return at(w).Field(i) })
			}
		}
	}
	visit("webhook", func(w *admissionregistrationv1.MutatingWebhook) reflect.Value { return reflect.ValueOf(w).Elem() })
}

func TestEqualTreatsNilAndEmptyAlike(t *testing.T) {
	a, b := full(), full()
	b.AdmissionReviewVersions, a.AdmissionReviewVersions = []string{}, nil
	a.ObjectSelector.MatchLabels, b.ObjectSelector.MatchLabels = nil, map[string]string{}
	a.MatchConditions, b.MatchConditions = nil, []admissionregistrationv1.MatchCondition{}
	x, y := []admissionregistrationv1.MutatingWebhook{a}, []admissionregistrationv1.MutatingWebhook{b}
	if !Equal(x, y) || !equality.Semantic.DeepEqual(x, y) {
		t.Errorf("Equal = %v, Semantic = %v: nil and empty differ", Equal(x, y), equality.Semantic.DeepEqual(x, y))
	}
	if Equal(x, x[:0]) {
		t.Error("lists of different lengths are equal")
	}
}
