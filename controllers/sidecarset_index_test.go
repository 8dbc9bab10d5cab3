package controllers

import (
	"context"
	"net/http"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

func indexTestSet(name string, sel *metav1.LabelSelector) appsv1alpha1.SidecarSet {
	return appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1alpha1.SidecarSetSpec{Selector: sel}}
}

// TestThePodEventFindsTheSidecarSetsOfThePod: a pod event maps to the SidecarSets whose selector matches the
// pod (by a label, an In expression or no required value) and to those whose sidecars it carries, once each,
// and to no other.
func TestThePodEventFindsTheSidecarSetsOfThePod(t *testing.T) {
	index, err := newSidecarSetIndexOf([]appsv1alpha1.SidecarSet{
		indexTestSet("by-label", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}),
		indexTestSet("by-in", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db", "web"}}}}),
		indexTestSet("any-but-db", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}}}}),
		indexTestSet("other-tier", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "back"}}),
		indexTestSet("other-app", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}),
		indexTestSet("carried", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "batch"}}),
		indexTestSet("nothing", &metav1.LabelSelector{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := podview.Compact(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1",
		Labels: map[string]string{"app": "web", "tier": "front"},
		Annotations: map[string]string{appsv1alpha1.StateAnnotation: `{"carried":{"revision":"carried-1"},"by-label":{"revision":"by-label-1"},` +
			`"deleted":{"revision":"deleted-1"}}`}}})
	if err != nil {
		t.Fatal(err)
	}
	r := &SidecarSetReconciler{SidecarSets: index}
	var got []string
	for _, q := range r.sidecarSetsOfPod(context.Background(), pod.(*podview.View)) {
		got = append(got, q.Name)
	}
	slices.Sort(got)
	if want := []string{"any-but-db", "by-in", "by-label", "carried"}; !slices.Equal(got, want) {
		t.Errorf("the pod event maps to %v, want %v", got, want)
	}
}

// TestTheWebhookRefusesToAnswerBeforeTheSidecarSetsAreListed: an index whose informer has not listed every
// SidecarSet yet gives an error, and the webhook answers with it (the API server then applies the
// failurePolicy) rather than admitting the pod without the sidecars of the SidecarSets not listed yet.
func TestTheWebhookRefusesToAnswerBeforeTheSidecarSetsAreListed(t *testing.T) {
	sets := benchmarkSets(3)
	index, err := newSidecarSetIndexOf(sets)
	if err != nil {
		t.Fatal(err)
	}
	index.synced = func() bool { return false }
	if _, err := index.Selecting(map[string]string{"app": "web"}); err == nil {
		t.Fatal("an index not synced answered")
	}
	h := &PodInjector{Reader: &cachedReader{sets: sets}, SidecarSets: index, OperatorNamespace: "sidecarset-system"}
	resp := h.Handle(context.Background(), benchmarkRequest(t))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError {
		t.Errorf("before the SidecarSets were listed the webhook answered %+v, want an error", resp.AdmissionResponse)
	}
}
