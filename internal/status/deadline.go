package status

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// ProgressStall says the rollout made no progress for deadline, or returns nil. Progress is a pod on target
// becoming ready, or an update being written; the clock starts when the rollout started (Reconciling turned
// True). All of it is read from the API, so an operator restart or a new leader neither resets nor extends
// it. Once stalled, the stall holds until progress happens after it, or the spec changes.
func ProgressStall(old *appsv1alpha1.SidecarSetStatus, generation int64, pods []Pod, plan rollout.Plan,
	deadline time.Duration, now time.Time) *Stall {
	if plan.Done() || plan.Stopped != "" {
		return nil
	}
	var since time.Time
	stalled := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionStalled)
	wasStalled := stalled != nil && stalled.Reason == appsv1alpha1.ReasonProgressDeadlineExceeded && stalled.ObservedGeneration == generation
	if rolling := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionReconciling); rolling != nil {
		since = rolling.LastTransitionTime.Time
	} else if wasStalled {
		since = stalled.LastTransitionTime.Time
	} else {
		return nil // the rollout starts with this reconcile
	}
	last := since
	for i := range pods {
		p := &pods[i]
		if !p.OnTarget {
			continue
		}
		if readySince := p.ReadySince.Time(); p.Ready && !p.Updating && readySince.After(last) {
			last = readySince
		}
		if updatedAt := p.UpdatedAt.Time(); updatedAt.After(last) {
			last = updatedAt
		}
	}
	if wasStalled && !last.After(stalled.LastTransitionTime.Time) {
		return &Stall{Reason: stalled.Reason, Message: stalled.Message}
	}
	if now.Sub(last) <= deadline {
		return nil
	}
	message := fmt.Sprintf("no pod became updated and ready for %s (progressDeadlineSeconds): %d left to update, %d unavailable, maxUnavailable %d; %s",
		deadline, plan.Candidates, plan.Unavailable, plan.MaxUnavailable, plan.BudgetReason)
	if plan.HeldByWorkload > 0 {
		// Their workloads have pods unavailable for reasons of their own: the rollout waits on those.
		message += fmt.Sprintf("; %d waiting on workloads with maxUnavailablePerWorkload pods unavailable: %s",
			plan.HeldByWorkload, examples(plan.FullWorkloads))
	}
	if plan.HeldByBudget > 0 {
		message += fmt.Sprintf("; %d waiting on PodDisruptionBudgets that allow no more disruption: %s",
			plan.HeldByBudget, examples(plan.FullBudgets))
	}
	return &Stall{Reason: appsv1alpha1.ReasonProgressDeadlineExceeded, Message: message}
}

// FailurePolicyLatched returns the stall of a failure-policy pause recorded for this generation, or nil: the
// pause holds until the spec changes, even once the failed pods recover or are deleted.
func FailurePolicyLatched(old *appsv1alpha1.SidecarSetStatus, generation int64) *Stall {
	c := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionStalled)
	if c == nil || c.Reason != appsv1alpha1.ReasonFailurePolicyPaused || c.ObservedGeneration != generation {
		return nil
	}
	return &Stall{Reason: c.Reason, Message: c.Message}
}
