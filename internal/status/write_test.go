package status

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

func TestWriteDelay(t *testing.T) {
	written := appsv1alpha1.SidecarSetStatus{
		ObservedGeneration: 2, LatestRevision: "logs-2", MatchedPods: 100, UpdatedPods: 30, ReadyPods: 90,
		SidecarResources: Cost{Pods: 40, Sidecars: podview.Amounts{RequestMilliCPU: 4000}, PodRequestMilliCPU: 40000}.status(),
		Revisions:        []appsv1alpha1.RevisionPodCount{{Name: "logs-2", Pods: 30}, {Name: "logs-1", Pods: 70}},
		Conditions: []metav1.Condition{
			{Type: appsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "RollingOut", Message: "30 of 100 updated", ObservedGeneration: 2},
			{Type: appsv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "RollingOut", ObservedGeneration: 2},
		},
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		change func(*appsv1alpha1.SidecarSetStatus)
		since  time.Duration
		want   time.Duration
	}{
		{name: "progress only, 300 ms after the last write: held for the rest of the second", since: 300 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) {
				s.UpdatedPods, s.ReadyPods = 40, 88
				s.Revisions[0].Pods, s.Revisions[1].Pods = 40, 60
				s.Conditions[0].Message = "40 of 100 updated"
			}, want: 700 * time.Millisecond},
		{name: "the sidecars' cost moves with the pods: held like the counts", since: 300 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) {
				s.SidecarResources = Cost{Pods: 41, Sidecars: podview.Amounts{RequestMilliCPU: 4100}, PodRequestMilliCPU: 41000}.status()
			}, want: 700 * time.Millisecond},
		{name: "progress only, a second after the last write: written", since: time.Second,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.UpdatedPods = 40 }},
		{name: "a condition's status changes: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.Conditions[0].Status = metav1.ConditionTrue }},
		{name: "a condition's reason changes: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.Conditions[0].Reason = "Paused" }},
		{name: "a condition appears (Stalled): written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) {
				s.Conditions = append(s.Conditions, metav1.Condition{Type: appsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "ProgressDeadlineExceeded"})
			}},
		{name: "a new generation observed: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.ObservedGeneration = 3 }},
		{name: "a new latest revision: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.LatestRevision = "logs-3" }},
		{name: "a pod failed: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.FailedPods = 1 }},
		{name: "rolled back: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.RolledBackTo = "logs-1" }},
		{name: "a collision: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) { s.CollisionCount = ptr.To[int32](1) }},
		{name: "a revision appears in the histogram: written at once", since: 10 * time.Millisecond,
			change: func(s *appsv1alpha1.SidecarSetStatus) {
				s.Revisions = append(s.Revisions, appsv1alpha1.RevisionPodCount{Name: "logs-0", Pods: 1})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := *written.DeepCopy()
			tt.change(&next)
			if got := WriteDelay(&written, &next, t0, t0.Add(tt.since), ProgressInterval); got != tt.want {
				t.Errorf("WriteDelay = %v, want %v", got, tt.want)
			}
		})
	}
}
