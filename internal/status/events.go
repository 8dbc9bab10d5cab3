package status

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// Event reasons on a SidecarSet. A stall is recorded as a Warning with the Stalled condition's own reason.
const (
	EventRolloutStarted  = "RolloutStarted"
	EventRolloutFinished = "RolloutFinished"
)

// Event is something to record on the SidecarSet.
type Event struct {
	Type, Reason, Message string
}

// Transition is what changed between two statuses: the events to record and, when a rollout finished, how
// long it took (from Reconciling turning True to its removal).
type Transition struct {
	Events   []Event
	Finished bool
	Duration time.Duration
}

// Transitions compares the status before and after a reconcile. Deriving events from the status, rather
// than from what the reconcile did, records each once, however many reconciles a rollout takes.
func Transitions(old, new *appsv1alpha1.SidecarSetStatus, now time.Time) Transition {
	var t Transition
	wasRolling := rollingOut(old)
	rolling := rollingOut(new)
	if !wasRolling && rolling {
		t.Events = append(t.Events, Event{corev1.EventTypeNormal, EventRolloutStarted, conditionMessage(new, appsv1alpha1.ConditionReconciling)})
	}
	if wasRolling && !rolling && meta.IsStatusConditionTrue(new.Conditions, appsv1alpha1.ConditionReady) {
		start := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionReconciling).LastTransitionTime
		t.Finished, t.Duration = true, now.Sub(start.Time)
		t.Events = append(t.Events, Event{corev1.EventTypeNormal, EventRolloutFinished, conditionMessage(new, appsv1alpha1.ConditionReady)})
	}
	oldStall := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionStalled)
	if stall := meta.FindStatusCondition(new.Conditions, appsv1alpha1.ConditionStalled); stall != nil && stall.Status == metav1.ConditionTrue &&
		(oldStall == nil || oldStall.Status != metav1.ConditionTrue || oldStall.Reason != stall.Reason) {
		t.Events = append(t.Events, Event{corev1.EventTypeWarning, stall.Reason, stall.Message})
	}
	// Pods created without the SidecarSet's sidecars: their creators got an admission warning, which for a
	// workload's pods reaches the workload's controller, not a person.
	// A Stalled condition with the same reason already announced it.
	oldDrift := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionDrifted)
	stalled := meta.FindStatusCondition(new.Conditions, appsv1alpha1.ConditionStalled)
	if drift := meta.FindStatusCondition(new.Conditions, appsv1alpha1.ConditionDrifted); drift != nil &&
		drift.Reason == appsv1alpha1.ReasonInjectionSkipped && (oldDrift == nil || oldDrift.Reason != drift.Reason) &&
		(stalled == nil || stalled.Reason != drift.Reason) {
		t.Events = append(t.Events, Event{corev1.EventTypeWarning, drift.Reason, drift.Message})
	}
	return t
}

func conditionMessage(st *appsv1alpha1.SidecarSetStatus, t string) string {
	if c := meta.FindStatusCondition(st.Conditions, t); c != nil {
		return c.Message
	}
	return ""
}

// rollingOut says whether the status reports a rollout in progress (Reconciling True for it, not for a
// webhook entry being written).
func rollingOut(st *appsv1alpha1.SidecarSetStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionReconciling)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == appsv1alpha1.ReasonRollingOut
}
