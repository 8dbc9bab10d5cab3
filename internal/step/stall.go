package step

import (
	"fmt"
	"strings"
	"time"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

// stallInput is what deciding the stall reads.
type stallInput struct {
	plan       rollout.Plan
	pods       []status.Pod
	rolledBack bool
	latest     string
	target     string
	pinned     string
	stored     func(string) bool
	known      []string
	deadline   time.Duration
	now        time.Time
}

// stallOf decides why the rollout needs a human, if it does, and whether the failure policy's pause holds
// it (latched). One stall is reported, the one whose remedy comes first:
//
//  1. RolledBack: the failure policy returned the pods to the previous revision; only a spec change rolls
//     out again, and the other stalls are moot until then.
//  2. FailurePolicyPaused, recorded for this generation: the pause holds until the spec changes, even once
//     the failed pods recover or are deleted (latched; status.Compute words it with the pods failing now).
//  3. RevisionNotFound: injectionStrategy.revisionName names no stored revision.
//  4. ProgressDeadlineExceeded: no pod became updated and ready for progressDeadlineSeconds.
//
// A failure policy that pauses in this very reconcile is not a stall here: the plan says so (Stopped), and
// the status reports it.
func stallOf(set *appsv1alpha1.SidecarSet, in stallInput) (stall *status.Stall, latched bool) {
	if in.rolledBack {
		return &status.Stall{Reason: appsv1alpha1.ReasonRolledBack, Message: fmt.Sprintf(
			"failurePolicy.maxFailedPods reached on revision %s: pods returned to revision %s, which new pods get too; change the spec to roll out again",
			in.latest, in.target)}, false
	}
	if status.FailurePolicyLatched(&set.Status, set.Generation) != nil {
		// The status words the pause afresh from the pods failing now.
		return nil, true
	}
	if in.pinned != "" && !in.stored(in.pinned) {
		return &status.Stall{Reason: appsv1alpha1.ReasonRevisionNotFound, Message: fmt.Sprintf(
			"injectionStrategy.revisionName %q names no revision of this SidecarSet; known: %s", in.pinned, strings.Join(in.known, ", "))}, false
	}
	return status.ProgressStall(&set.Status, set.Generation, in.pods, in.plan, in.deadline, in.now), false
}
