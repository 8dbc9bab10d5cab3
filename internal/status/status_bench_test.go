package status

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// BenchmarkReconcileDecisions is the pure work of one reconcile of a SidecarSet with 10,000 matched pods in
// the middle of a rollout: observe every pod (its state, its update's progress), plan the step, and compute
// the status. Half the pods are on the target revision r2, the rest on r1.
func BenchmarkReconcileDecisions(b *testing.B) {
	const n = 10_000
	pods := make([]corev1.Pod, n)
	states := make([]podstate.State, n)
	ready := metav1.NewTime(now.Add(-time.Hour))
	for i := range pods {
		rev, image := "logs-r1", "shipper:1"
		if i%2 == 0 {
			rev, image = "logs-r2", "shipper:2"
		}
		pods[i] = corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%02d", i%20), Name: fmt.Sprintf("web-%05d", i),
				Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: image}, {Name: "app", Image: "web:1"}}},
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ready}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "shipper", Image: image, ContainerID: "c://s", Ready: true},
					{Name: "app", Image: "web:1", ContainerID: "c://a", Ready: true},
				},
			},
		}
		states[i] = podstate.State{"logs": {Revision: rev, Images: map[string]string{"shipper": image}}}
	}
	contents := contentsOf(b)
	s := strategy(b, `{maxUnavailable: 10%}`)
	run := func() appsv1alpha1.SidecarSetStatus {
		views := make([]rollout.Pod, n)
		statusPods := make([]Pod, n)
		observer := NewObserver(contents)
		for i := range pods {
			o := observer.Observe(&pods[i], states[i], "logs", "logs-r2", 10*time.Minute, now)
			views[i], statusPods[i] = o.Pod.Pod, o.Pod
		}
		plan, err := rollout.Compute(s, views, now)
		if err != nil {
			b.Fatal(err)
		}
		return Compute(&appsv1alpha1.SidecarSetStatus{}, Input{Generation: 2, LatestRevision: "logs-r2",
			Revisions: []string{"logs-r2", "logs-r1"}, Pods: statusPods, Plan: plan}, metav1.NewTime(now))
	}
	if st := run(); st.UpdatedPods != n/2 || st.OutdatedPods != n/2 {
		b.Fatalf("status %+v: the pods are not what the benchmark means them to be", st)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}
