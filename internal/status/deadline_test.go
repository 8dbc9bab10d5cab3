package status

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

func TestProgressStall(t *testing.T) {
	const deadline = 10 * time.Minute
	started := now
	rollingSince := func(ts time.Time) *appsv1alpha1.SidecarSetStatus {
		return &appsv1alpha1.SidecarSetStatus{Conditions: []metav1.Condition{{Type: appsv1alpha1.ConditionReconciling,
			Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(ts)}}}
	}
	stalledAt := func(ts time.Time, generation int64) *appsv1alpha1.SidecarSetStatus {
		return &appsv1alpha1.SidecarSetStatus{Conditions: []metav1.Condition{{Type: appsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: appsv1alpha1.ReasonProgressDeadlineExceeded, Message: "stalled before", ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(ts)}}}
	}
	rolling := rollout.Plan{Candidates: 3}
	readyAt := func(ts time.Time) Pod {
		return Pod{Pod: rollout.Pod{Name: "p", OnTarget: true, Ready: true, ReadySince: rollout.At(ts)}}
	}
	updateWrittenAt := func(ts time.Time) Pod {
		return Pod{Pod: rollout.Pod{Name: "u", OnTarget: true, Updating: true, UpdatedAt: rollout.At(ts)}}
	}
	tests := []struct {
		name string
		old  *appsv1alpha1.SidecarSetStatus
		pods []Pod
		plan rollout.Plan
		at   time.Duration // after started
		want string        // stall reason, "" for none
	}{
		{"a rollout starting now", &appsv1alpha1.SidecarSetStatus{}, nil, rolling, time.Hour, ""},
		{"within the deadline", rollingSince(started), nil, rolling, 9 * time.Minute, ""},
		{"past the deadline with no progress", rollingSince(started), nil, rolling, 11 * time.Minute, appsv1alpha1.ReasonProgressDeadlineExceeded},
		{"a pod became ready recently", rollingSince(started), []Pod{readyAt(started.Add(5 * time.Minute))}, rolling, 11 * time.Minute, ""},
		{"an update was written recently", rollingSince(started), []Pod{updateWrittenAt(started.Add(5 * time.Minute))}, rolling, 11 * time.Minute, ""},
		{"old progress does not count", rollingSince(started), []Pod{readyAt(started.Add(-time.Hour))}, rolling, 11 * time.Minute, appsv1alpha1.ReasonProgressDeadlineExceeded},
		{"a finished rollout never stalls", rollingSince(started), nil, rollout.Plan{}, time.Hour, ""},
		{"a paused rollout never stalls", rollingSince(started), nil, rollout.Plan{Candidates: 3, Stopped: rollout.StopPaused}, time.Hour, ""},
		{"a stall holds without progress", stalledAt(started, 1), nil, rolling, time.Minute, appsv1alpha1.ReasonProgressDeadlineExceeded},
		{"progress after a stall clears it", stalledAt(started, 1), []Pod{readyAt(started.Add(30 * time.Second))}, rolling, time.Minute, ""},
		{"a new spec clears a stall", stalledAt(started, 0), nil, rolling, time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ProgressStall(tt.old, 1, tt.pods, tt.plan, deadline, started.Add(tt.at))
			if (got == nil && tt.want != "") || (got != nil && got.Reason != tt.want) {
				t.Errorf("stall = %+v, want %q", got, tt.want)
			}
		})
	}
}

func TestAStallOnWorkloadsNamesThem(t *testing.T) {
	old := &appsv1alpha1.SidecarSetStatus{Conditions: []metav1.Condition{{Type: appsv1alpha1.ConditionReconciling,
		Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)}}}
	plan := rollout.Plan{Candidates: 3, HeldByWorkload: 2, FullWorkloads: []string{"shop/Deployment/web"},
		HeldByBudget: 1, FullBudgets: []string{"shop/db (shop/db-0)"}}
	got := ProgressStall(old, 1, nil, plan, time.Minute, now.Add(time.Hour))
	if got == nil || !strings.HasSuffix(got.Message, "; 2 waiting on workloads with maxUnavailablePerWorkload pods unavailable: shop/Deployment/web"+
		"; 1 waiting on PodDisruptionBudgets that allow no more disruption: shop/db (shop/db-0)") {
		t.Errorf("stall %+v", got)
	}
}

func TestFailurePolicyLatched(t *testing.T) {
	paused := &appsv1alpha1.SidecarSetStatus{Conditions: []metav1.Condition{{Type: appsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
		Reason: appsv1alpha1.ReasonFailurePolicyPaused, Message: "2 pods failed", ObservedGeneration: 4}}}
	if got := FailurePolicyLatched(paused, 4); got == nil || got.Message != "2 pods failed" {
		t.Errorf("same generation: %+v", got)
	}
	if got := FailurePolicyLatched(paused, 5); got != nil {
		t.Errorf("a new spec must end the pause: %+v", got)
	}
	if got := FailurePolicyLatched(&appsv1alpha1.SidecarSetStatus{}, 4); got != nil {
		t.Errorf("no pause: %+v", got)
	}
}
