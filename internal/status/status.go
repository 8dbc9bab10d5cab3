// Package status computes a SidecarSet's status from what one reconcile observed (internal/step): the counts, the
// per-revision histogram and the Ready, Reconciling, Stalled and Drifted conditions, in the form kstatus, kubectl
// wait, Argo CD and Flux read. It has no client; the controller writes the result once, if it changed.
package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// maxExamples is how many pods a condition message names.
const maxExamples = 5

// Pod is one matched pod as status sees it.
type Pod struct {
	rollout.Pod
	// Revision is the revision of this SidecarSet the pod runs, from its state annotation; "" when Missing.
	Revision string
	// Missing: the pod has none of this SidecarSet's sidecars (created before it, or while injection was
	// paused).
	Missing bool
	// Conflicted: some of its sidecars were not injected because of a name conflict.
	Conflicted bool
	// Skipped says why none of its sidecars were injected: with them the API server would have refused the
	// pod. "" when they were injected.
	Skipped string
	// Failure says why its update failed, when Failed.
	Failure string
}

// Stall is why progress needs a human, as step.Decide decides it: the pinned revision does not exist, the
// progress deadline passed, or the failure policy rolled back. (A failure policy that pauses is derived
// from the plan.)
type Stall struct {
	Reason, Message string
}

// Input is what one reconcile observed.
type Input struct {
	Generation     int64
	LatestRevision string
	// Revisions names the SidecarSet's revisions, newest first: the order of the histogram.
	Revisions      []string
	CollisionCount *int32
	// Pods are the matched pods: numbered in the order of their names (rollout.Pod.Rank) all or none.
	Pods []Pod
	// Plan is rollout.Compute over the same pods.
	Plan  rollout.Plan
	Stall *Stall
	// RolledBackTo is the revision the failure policy rolled back to, "" when none.
	RolledBackTo string
	// NotRegistered, when set, says why the API server does not call the webhook for the SidecarSet's pods.
	NotRegistered string
	// Cost is what the sidecars take of the pods (PodCostOf, summed).
	Cost Cost
}

// Compute returns the new status. Conditions keep their lastTransitionTime from old unless their status
// changes; Reconciling and Stalled are removed rather than set False; the order is always Ready,
// Reconciling, Stalled, Drifted.
func Compute(old *appsv1alpha1.SidecarSetStatus, in Input, now metav1.Time) appsv1alpha1.SidecarSetStatus {
	c := count(in)
	st := appsv1alpha1.SidecarSetStatus{
		ObservedGeneration: in.Generation,
		LatestRevision:     in.LatestRevision,
		RolledBackTo:       in.RolledBackTo,
		MatchedPods:        int32(len(in.Pods)),
		UpdatedPods:        int32(c.updated),
		ReadyPods:          int32(c.ready),
		UpdatedReadyPods:   int32(c.updatedReady),
		DriftedPods:        int32(c.drifted.n),
		// Pods the failure policy returned to an older revision are held back, not broken: outdated.
		OutdatedPods:      int32(c.outdated + c.rolledBack),
		NotUpgradablePods: int32(c.notUpgradable),
		MissingPods:       int32(c.missing),
		FailedPods:        int32(c.failed.n),
		Revisions:         histogram(in),
		SidecarResources:  in.Cost.status(),
		CollisionCount:    in.CollisionCount,
		Conditions:        slices.Clone(old.Conditions),
	}

	stall := in.Stall
	if stall == nil && in.Plan.Stopped == rollout.StopFailurePolicy {
		stall = failurePolicyPaused(in, c)
	}
	if stall == nil && (in.Plan.Done() || in.Plan.Stopped != "") {
		stall = leftBehind(in, c)
	}
	set := func(condType string, s metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condType, Status: s, Reason: reason,
			Message: message, ObservedGeneration: in.Generation, LastTransitionTime: now})
	}
	progress := fmt.Sprintf("%d of %d pods on revision %s", c.updated, len(in.Pods), in.LatestRevision)

	switch {
	case stall == nil && in.NotRegistered != "":
		// New pods get no sidecars: not Ready, whatever the running pods say, until the entry is written.
		message := in.NotRegistered + "; " + progress
		set(appsv1alpha1.ConditionReady, metav1.ConditionFalse, appsv1alpha1.ReasonWebhookNotRegistered, message)
		set(appsv1alpha1.ConditionReconciling, metav1.ConditionTrue, appsv1alpha1.ReasonWebhookNotRegistered, message)
		meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionStalled)
	case stall != nil:
		set(appsv1alpha1.ConditionReady, metav1.ConditionFalse, stall.Reason, stall.Message)
		set(appsv1alpha1.ConditionStalled, metav1.ConditionTrue, stall.Reason, stall.Message)
		meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionReconciling)
	case in.Plan.Done() || in.Plan.Stopped != "":
		reason := appsv1alpha1.ReasonRolloutComplete
		if in.Plan.Stopped != "" && in.Plan.Candidates > 0 {
			reason = appsv1alpha1.ReasonPaused
		}
		message := progress
		if c.outdated > 0 {
			message += fmt.Sprintf(", %d held back by %s", c.outdated, heldBy(in.Plan))
		}
		set(appsv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
		meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionStalled)
	default:
		message := fmt.Sprintf("%s; %d left to update, %d unavailable (maxUnavailable %d)",
			progress, in.Plan.Candidates, in.Plan.Unavailable, in.Plan.MaxUnavailable)
		if n := in.Plan.HeldByWorkload; n > 0 {
			// Kept in the message, not the reason: a rollout of small workloads waits like this between
			// most of its steps, and a reason that flipped at every step would be written at every step.
			message += fmt.Sprintf("; %d waiting until their workload has fewer than maxUnavailablePerWorkload pods unavailable: %s",
				n, examples(in.Plan.FullWorkloads))
		}
		if n := in.Plan.HeldByBudget; n > 0 {
			message += fmt.Sprintf("; %d waiting on PodDisruptionBudgets that allow no more disruption: %s", n, examples(in.Plan.FullBudgets))
		}
		set(appsv1alpha1.ConditionReady, metav1.ConditionFalse, appsv1alpha1.ReasonRollingOut, message)
		set(appsv1alpha1.ConditionReconciling, metav1.ConditionTrue, appsv1alpha1.ReasonRollingOut, message)
		meta.RemoveStatusCondition(&st.Conditions, appsv1alpha1.ConditionStalled)
	}

	if reason, drifted := driftReason(in, stall, c); drifted {
		set(appsv1alpha1.ConditionDrifted, metav1.ConditionTrue, reason, driftMessage(in, c))
	} else {
		set(appsv1alpha1.ConditionDrifted, metav1.ConditionFalse, appsv1alpha1.ReasonUpToDate, progress)
	}
	order := []string{appsv1alpha1.ConditionReady, appsv1alpha1.ConditionReconciling, appsv1alpha1.ConditionStalled, appsv1alpha1.ConditionDrifted}
	slices.SortStableFunc(st.Conditions, func(a, b metav1.Condition) int {
		return cmp.Compare(rank(order, a.Type), rank(order, b.Type))
	})
	return st
}

func rank(order []string, t string) int {
	if i := slices.Index(order, t); i >= 0 {
		return i
	}
	return len(order)
}

type counts struct {
	updated, ready, updatedReady     int
	outdated, notUpgradable, missing int
	// rolledBack are the pods on the revision the failure policy rolled back to.
	rolledBack int
	conflicted int
	// The pods, with the first few by "namespace/name": drifted (not on the latest revision), failed (with
	// why, in failed.first), skipped at injection (with why), and of the drifted those that no rollout moves
	// to it.
	drifted, failed, skipped                       sample
	conflictedPods, notUpgradablePods, missingPods sample
}

// sample counts pods and keeps the first maxExamples of them by "namespace/name" (rollout.CompareNames), with
// why each is counted, for the messages that name a few: a reconcile of thousands of drifted pods neither
// builds nor sorts every name, and when the pods are numbered in that order (rollout.Pod.Rank) it compares
// their numbers rather than their names, which are spread through the heap.
type sample struct {
	n     int
	first []named
}

// named is a pod, its number in the order of the names (0 when not numbered), and why it is counted.
type named struct {
	namespace, name, why string
	rank                 int32
}

func (n named) String() string { return n.namespace + "/" + n.name }

// add counts a pod, keeping it among the first when it sorts before one of them.
func (s *sample) add(pod *rollout.Pod, why string) {
	s.n++
	p := named{namespace: pod.Namespace, name: pod.Name, why: why, rank: pod.Rank}
	if len(s.first) == maxExamples && compareNamed(p, s.first[maxExamples-1]) >= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(s.first, p, compareNamed)
	if len(s.first) == maxExamples {
		s.first = s.first[:maxExamples-1]
	}
	s.first = slices.Insert(s.first, i, p)
}

// compareNamed orders pods by "namespace/name", by their numbers when both are numbered: Input.Pods are
// numbered all or none.
func compareNamed(a, b named) int {
	if a.rank != 0 && b.rank != 0 {
		return cmp.Compare(a.rank, b.rank)
	}
	return rollout.CompareNames(a.namespace, a.name, b.namespace, b.name)
}

func count(in Input) counts {
	var c counts
	for i := range in.Pods {
		p := &in.Pods[i]
		updated := !p.Missing && !p.Conflicted && p.Skipped == "" && p.Revision == in.LatestRevision
		switch {
		case updated:
			c.updated++
		case p.Missing || p.Conflicted || p.Skipped != "":
			c.missing++
			if p.Missing {
				c.missingPods.add(&p.Pod, "")
			}
		case p.OnTarget:
			c.rolledBack++ // on the target without being on the latest revision: rolled back
		case p.Updatable:
			c.outdated++
		default:
			c.notUpgradable++
			c.notUpgradablePods.add(&p.Pod, "")
		}
		if p.Conflicted {
			c.conflicted++
			c.conflictedPods.add(&p.Pod, "")
		}
		if p.Skipped != "" {
			c.skipped.add(&p.Pod, p.Skipped)
		}
		if !updated {
			c.drifted.add(&p.Pod, "")
		}
		if p.Ready {
			c.ready++
			// A pod whose update the kubelet has not finished is still ready on its old sidecar.
			if updated && !p.Updating && !p.Failed {
				c.updatedReady++
			}
		}
		if p.Failed {
			c.failed.add(&p.Pod, p.Failure)
		}
	}
	return c
}

// driftReason is the main cause of the drift, from the one a user can act on most directly: a rollback they
// must resolve, name conflicts to fix, a pause to lift, a partition to lower, an update in progress, pods to
// recreate, pods never injected.
func driftReason(in Input, stall *Stall, c counts) (string, bool) {
	if c.drifted.n == 0 {
		return "", false
	}
	held := in.Plan.HeldByPartition + in.Plan.HeldBySelector
	switch {
	case stall != nil && stall.Reason == appsv1alpha1.ReasonRolledBack:
		return appsv1alpha1.ReasonRolledBack, true
	case c.skipped.n > 0:
		return appsv1alpha1.ReasonInjectionSkipped, true
	case c.conflicted > 0:
		return appsv1alpha1.ReasonConflict, true
	case c.outdated > 0 && (in.Plan.Stopped == rollout.StopPaused || in.Plan.Stopped == rollout.StopNotUpdate):
		return appsv1alpha1.ReasonPaused, true
	case c.outdated > 0 && in.Plan.Candidates == 0 && held > 0:
		return appsv1alpha1.ReasonPartitioned, true
	case c.outdated > 0:
		return appsv1alpha1.ReasonOutdated, true
	case c.notUpgradable > 0:
		return appsv1alpha1.ReasonNotUpgradable, true
	default:
		return appsv1alpha1.ReasonMissingSidecar, true
	}
}

func driftMessage(in Input, c counts) string {
	var parts []string
	for _, part := range []struct {
		n    int
		what string
	}{
		{c.rolledBack, fmt.Sprintf("returned to revision %s by the failure policy", in.RolledBackTo)},
		{c.outdated, "outdated (updatable in place)"},
		{c.notUpgradable, "not upgradable (need recreating)"},
		{c.missing, "missing sidecars"},
	} {
		if part.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", part.n, part.what))
		}
	}
	if c.conflicted > 0 {
		parts = append(parts, fmt.Sprintf("%d with a name conflict", c.conflicted))
	}
	if n := c.skipped.n; n > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped at injection because the API server would have refused the pod", n))
	}
	msg := fmt.Sprintf("%d of %d pods not on revision %s: %s; for example %s",
		c.drifted.n, len(in.Pods), in.LatestRevision, strings.Join(parts, ", "), c.drifted.examples())
	if c.skipped.n > 0 {
		msg += fmt.Sprintf("; skipped at injection, for example %s: %s", c.skipped.first[0], c.skipped.first[0].why)
	}
	return msg
}

// failurePolicyPaused is the stall of a rollout the failure policy paused, with the pods failing now: the
// pause holds until the spec changes, even once they recover.
func failurePolicyPaused(in Input, c counts) *Stall {
	msg := fmt.Sprintf("failurePolicy.maxFailedPods (%d) reached: the rollout is paused until the spec changes", in.Plan.MaxFailed)
	if c.failed.n > 0 {
		msg += fmt.Sprintf("; %d pods failing: %s", c.failed.n, c.failed.examples())
		if first := c.failed.first[0]; first.why != "" {
			msg += fmt.Sprintf("; %s: %s", first, first.why)
		}
	} else {
		msg += "; no pod is failing now"
	}
	return &Stall{Reason: appsv1alpha1.ReasonFailurePolicyPaused, Message: msg}
}

// leftBehind is the stall of a rollout that did all it can while pods still cannot reach the latest revision
// without help, or nil: the change did not land on them, and no rollout will make it land. The reason is the
// one a user can act on most directly; the message says what to do.
func leftBehind(in Input, c counts) *Stall {
	switch {
	case c.skipped.n > 0:
		return &Stall{Reason: appsv1alpha1.ReasonInjectionSkipped, Message: fmt.Sprintf(
			"%d pods were created without the sidecars because the API server would have refused them with them, for example %s: %s; "+
				"fix the sidecars in the spec, then recreate the pods", c.skipped.n, c.skipped.first[0], c.skipped.first[0].why)}
	case c.conflicted > 0:
		return &Stall{Reason: appsv1alpha1.ReasonConflict, Message: fmt.Sprintf(
			"%d pods did not get sidecars whose names their containers or another SidecarSet's sidecars already use, for example %s; "+
				"rename the container or the sidecar, then recreate the pods", c.conflicted, c.conflictedPods.examples())}
	case c.notUpgradable > 0:
		return &Stall{Reason: appsv1alpha1.ReasonNotUpgradable, Message: fmt.Sprintf(
			"%d pods run a revision that differs from %s by more than images, resources and metadata, which cannot be updated in place, for example %s; "+
				"recreate them (for example kubectl rollout restart of their workloads, or updateStrategy.recreate.policy Evict) to get it%s",
			c.notUpgradable, in.LatestRevision, c.notUpgradablePods.examples(), notReplaceable(in))}
	case c.missing > 0:
		return &Stall{Reason: appsv1alpha1.ReasonMissingSidecar, Message: fmt.Sprintf(
			"%d pods have none of the sidecars (created before the SidecarSet, while its injection was paused, or while the webhook was unavailable), "+
				"for example %s; recreate them to get revision %s%s", c.missing, c.missingPods.examples(), in.LatestRevision, notReplaceable(in))}
	}
	return nil
}

// heldBy names what holds outdated pods back on purpose.
func heldBy(p rollout.Plan) string {
	switch {
	case p.Stopped == rollout.StopPaused:
		return "updateStrategy.paused"
	case p.Stopped == rollout.StopNotUpdate:
		return "updateStrategy.type NotUpdate"
	case p.HeldByPartition > 0 && p.HeldBySelector > 0:
		return "updateStrategy.partition and selector"
	case p.HeldBySelector > 0:
		return "updateStrategy.selector"
	case p.HeldByPartition > 0:
		return "updateStrategy.partition"
	}
	return "the update strategy"
}

// examples names up to maxExamples of the sorted names, saying how many more there are.
func examples(sorted []string) string {
	if len(sorted) <= maxExamples {
		return strings.Join(sorted, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(sorted[:maxExamples], ", "), len(sorted)-maxExamples)
}

// examples names the first pods of the sample, saying how many more there are.
func (s sample) examples() string {
	names := make([]string, len(s.first))
	for i, p := range s.first {
		names[i] = p.String()
	}
	if s.n <= maxExamples {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names, ", "), s.n-maxExamples)
}

// histogram counts the pods per revision they run, in the order of in.Revisions (newest first), then any revision the
// controller does not know of, by name.
func histogram(in Input) []appsv1alpha1.RevisionPodCount {
	var pods Tally
	for i := range in.Pods {
		// A pod injection skipped runs nothing of the revision it records.
		if r := in.Pods[i].Revision; r != "" && in.Pods[i].Skipped == "" {
			pods.Add(r)
		}
	}
	var out []appsv1alpha1.RevisionPodCount
	for _, r := range in.Revisions {
		if n, ok := pods.Count(r); ok {
			out = append(out, appsv1alpha1.RevisionPodCount{Name: r, Pods: n})
		}
	}
	var unknown []string
	for _, r := range pods.Names() {
		if !slices.Contains(in.Revisions, r) {
			unknown = append(unknown, r)
		}
	}
	slices.Sort(unknown)
	for _, r := range unknown {
		n, _ := pods.Count(r)
		out = append(out, appsv1alpha1.RevisionPodCount{Name: r, Pods: n})
	}
	return out
}

// notReplaceable says, when the rollout recreates pods, how many it leaves because no controller would
// replace them.
func notReplaceable(in Input) string {
	if in.Plan.NotReplaceable == 0 {
		return ""
	}
	return fmt.Sprintf("; %d of them are bare pods or Job pods, which recreate.policy Evict never evicts: recreate those by hand", in.Plan.NotReplaceable)
}
