package webhookconfig

import (
	"strconv"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// BenchmarkReconcilePlan is the pure part of the webhook configuration reconcile with 10,000 SidecarSets
// whose entries are all in place: the entries worked out, and the writes planned (none).
func BenchmarkReconcilePlan(b *testing.B) {
	const n = 10000
	sets := make([]appsv1alpha1.SidecarSet, n)
	for i := range sets {
		sets[i] = appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "set-" + strconv.Itoa(i), UID: types.UID("uid-" + strconv.Itoa(i))},
			Spec: appsv1alpha1.SidecarSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "set-" + strconv.Itoa(i)}}}}
	}
	fail := admissionregistrationv1.Fail
	u := "https://localhost:9443/inject"
	p := Params{FailurePolicy: fail, TimeoutSeconds: 5, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: make([]byte, 1200)}}
	desired, _ := Desired(sets, p)
	var kept Entries
	pointers := make([]*appsv1alpha1.SidecarSet, len(sets))
	for i := range sets {
		pointers[i] = &sets[i]
	}
	existing := map[int][]admissionregistrationv1.MutatingWebhook{}
	for _, w := range PlanShards(existing, desired, DefaultLimits) {
		existing[w.Index] = w.Webhooks
	}
	for _, bc := range []struct {
		name    string
		desired func() []admissionregistrationv1.MutatingWebhook
	}{
		{"every entry worked out", func() []admissionregistrationv1.MutatingWebhook { d, _ := Desired(sets, p); return d }},
		{"entries kept until their SidecarSet changes", func() []admissionregistrationv1.MutatingWebhook { d, _ := kept.Desired(pointers, p); return d }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(PlanShards(existing, bc.desired(), DefaultLimits)) != 0 {
					b.Fatal("writes planned for configurations in step")
				}
			}
		})
	}
}
