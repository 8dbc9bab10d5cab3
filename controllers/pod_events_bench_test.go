package controllers

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// BenchmarkPodEvent measures mapping one pod event to the SidecarSets it concerns, with N SidecarSets in the
// cache of which three select the pod: the work done for every pod change in the cluster.
func BenchmarkPodEvent(b *testing.B) {
	pod, err := podview.Compact(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1",
		Labels:      map[string]string{"app": "web", "pod-template-hash": "5d8c7f"},
		Annotations: map[string]string{"sidecarset.io/state": `{"set-0000":{"revision":"set-0000-1"}}`}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("sidecarsets=%d", n), func(b *testing.B) {
			index, err := newSidecarSetIndexOf(benchmarkSets(n))
			if err != nil {
				b.Fatal(err)
			}
			r := &SidecarSetReconciler{SidecarSets: index}
			b.ReportAllocs()
			for b.Loop() {
				if got := r.sidecarSetsOfPod(context.Background(), pod.(*podview.View)); len(got) != 3 {
					b.Fatalf("the pod concerns %d SidecarSets, want 3", len(got))
				}
			}
		})
	}
}
