package podview

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// BenchmarkReadMatchedPods is what a reconcile does with the pod cache before it decides anything: it expands
// each of 10,000 matched pods' views into a corev1.Pod for the pure packages and reads its state. The pods are
// as they are after a rollout: every state annotation distinct, recording its pod's update.
func BenchmarkReadMatchedPods(b *testing.B) {
	const n = 10000
	views := make([]*View, n)
	for i := range views {
		state := podstate.State{"logs": {Revision: "logs-2", Images: map[string]string{"agent": "agent:2"},
			Update: &podstate.Update{From: "logs-1", Containers: map[string]podstate.ContainerMark{
				"agent": {ContainerID: fmt.Sprintf("kwok://%036d", i), ImageID: "sha256:" + fmt.Sprintf("%064d", i)}}}}}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), UID: "u", ResourceVersion: "1",
				Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"sidecarset.io/state": state.Encode()}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:2"}, {Name: "app", Image: "app:1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "agent", Image: "agent:2", ContainerID: fmt.Sprintf("kwok://%036d", i+n), Ready: true, RestartCount: 1},
					{Name: "app", Image: "app:1", ContainerID: fmt.Sprintf("kwok://%036d", i+2*n), Ready: true},
				}},
		}
		v, err := Compact(pod)
		if err != nil {
			b.Fatal(err)
		}
		views[i] = v.(*View)
		views[i].State() // decoded once, when the cache first hands the view out
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// As the reconciler does: new slices each time, since writes in flight keep the last ones.
		pods := make([]corev1.Pod, n)
		states := make([]podstate.State, n)
		for i, v := range views {
			v.Expand(&pods[i])
			states[i] = v.State()
		}
	}
}
