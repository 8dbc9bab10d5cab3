package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// Phase is where a SidecarSet's rollout stands, read from its status as kstatus reads it.
type Phase string

const (
	// PhaseProgressing: the operator has not observed the latest spec yet, or pods are left to update.
	PhaseProgressing Phase = "Progressing"
	// PhaseComplete: Ready, the change landed on every pod not held back on purpose.
	PhaseComplete Phase = "Complete"
	// PhaseStalled: Stalled, the rollout cannot go on without a human (its reason says why).
	PhaseStalled Phase = "Stalled"
	// PhasePaused: Ready with reason Paused, pods left to update while updateStrategy.paused is set or its
	// type is NotUpdate.
	PhasePaused Phase = "Paused"
)

// Rollout is where a rollout stands, and the condition that says so.
type Rollout struct {
	Phase   Phase  `json:"phase"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

func (r Rollout) String() string {
	if r.Reason == "" || r.Reason == string(r.Phase) {
		return fmt.Sprintf("%s: %s", r.Phase, r.Message)
	}
	return fmt.Sprintf("%s (%s): %s", r.Phase, r.Reason, r.Message)
}

// RolloutOf reads where the rollout stands from the status the operator wrote. A status of an earlier
// generation says nothing of the current spec: the rollout is progressing until the operator observed it.
func RolloutOf(set *appsv1alpha1.SidecarSet) Rollout {
	st := &set.Status
	if st.ObservedGeneration != set.Generation {
		return Rollout{Phase: PhaseProgressing,
			Message: fmt.Sprintf("waiting for the operator to observe generation %d (observed %d)", set.Generation, st.ObservedGeneration)}
	}
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return Rollout{Phase: PhaseStalled, Reason: c.Reason, Message: c.Message}
	}
	ready := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		return Rollout{Phase: PhaseProgressing, Message: "no Ready condition yet"}
	case ready.Status == metav1.ConditionTrue && ready.Reason == appsv1alpha1.ReasonPaused:
		return Rollout{Phase: PhasePaused, Reason: ready.Reason, Message: ready.Message}
	case ready.Status == metav1.ConditionTrue:
		return Rollout{Phase: PhaseComplete, Reason: ready.Reason, Message: ready.Message}
	}
	return Rollout{Phase: PhaseProgressing, Reason: ready.Reason, Message: ready.Message}
}

// StatusReport is a SidecarSet's rollout, counts, conditions and revisions, for -o json and yaml.
type StatusReport struct {
	SidecarSet string                        `json:"sidecarSet"`
	Generation int64                         `json:"generation"`
	Rollout    Rollout                       `json:"rollout"`
	Status     appsv1alpha1.SidecarSetStatus `json:"status"`
}

// Report is the status report of the SidecarSet.
func Report(set *appsv1alpha1.SidecarSet) StatusReport {
	return StatusReport{SidecarSet: set.Name, Generation: set.Generation, Rollout: RolloutOf(set), Status: set.Status}
}

// WriteStatus prints the SidecarSet's rollout, counts, conditions and revisions; ages are counted to now.
func WriteStatus(w io.Writer, set *appsv1alpha1.SidecarSet, now time.Time) error {
	st := &set.Status
	latest := orNone(st.LatestRevision)
	var holds []string
	if set.Spec.UpdateStrategy.Paused {
		holds = append(holds, "updates paused (updateStrategy.paused)")
	}
	if set.Spec.UpdateStrategy.Type == appsv1alpha1.NotUpdateStrategyType {
		holds = append(holds, "updates off (updateStrategy.type NotUpdate)")
	}
	if set.Spec.InjectionStrategy.Paused {
		holds = append(holds, "injection paused (injectionStrategy.paused)")
	}
	lines := [][2]string{
		{"Name", set.Name},
		{"Generation", fmt.Sprintf("%d (observed %d)", set.Generation, st.ObservedGeneration)},
		{"Rollout", RolloutOf(set).String()},
		{"Latest revision", latest},
	}
	if st.RolledBackTo != "" {
		lines = append(lines, [2]string{"Rolled back to", st.RolledBackTo})
	}
	if len(holds) > 0 {
		lines = append(lines, [2]string{"Held", strings.Join(holds, ", ")})
	}
	lines = append(lines,
		[2]string{"Pods", fmt.Sprintf("%d matched, %d updated, %d ready, %d updated and ready, %d failed",
			st.MatchedPods, st.UpdatedPods, st.ReadyPods, st.UpdatedReadyPods, st.FailedPods)},
		[2]string{"Drifted", fmt.Sprintf("%d: %d outdated, %d not upgradable, %d missing sidecars",
			st.DriftedPods, st.OutdatedPods, st.NotUpgradablePods, st.MissingPods)})
	if r := st.SidecarResources; r != nil {
		lines = append(lines, [2]string{"Sidecar requests", fmt.Sprintf("cpu %s (%s of the pods'), memory %s (%s), over %d pods",
			quantity(r.Requests, corev1.ResourceCPU), orNone(r.RequestShare.CPU), quantity(r.Requests, corev1.ResourceMemory), orNone(r.RequestShare.Memory), r.Pods)})
	}
	// One width for every SidecarSet, so that the values stand in one column whichever lines are shown.
	const width = len("Sidecar requests:")
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%-*s  %s\n", width, l[0]+":", l[1]); err != nil {
			return err
		}
	}

	conditions := Table{Header: []string{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}, Indent: "  "}
	for _, c := range st.Conditions {
		conditions.Rows = append(conditions.Rows, []string{c.Type, string(c.Status), c.Reason, Age(c.LastTransitionTime, now), c.Message})
	}
	if _, err := fmt.Fprintln(w, "\nConditions:"); err != nil {
		return err
	}
	if len(st.Conditions) == 0 {
		if _, err := fmt.Fprintln(w, "  <none>: the operator has not written a status"); err != nil {
			return err
		}
	} else if err := conditions.Write(w); err != nil {
		return err
	}

	revisions := Table{Header: []string{"REVISION", "PODS"}, Indent: "  "}
	for _, r := range st.Revisions {
		name := r.Name
		switch r.Name {
		case st.LatestRevision:
			name += " (latest)"
		case st.RolledBackTo:
			name += " (rolled back to)"
		}
		revisions.Rows = append(revisions.Rows, []string{name, strconv.Itoa(int(r.Pods))})
	}
	if _, err := fmt.Fprintln(w, "\nPods per revision:"); err != nil {
		return err
	}
	if len(revisions.Rows) == 0 {
		_, err := fmt.Fprintln(w, "  <none>")
		return err
	}
	return revisions.Write(w)
}

// quantity is the named quantity of the list, <none> when it has none.
func quantity(list corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := list[name]
	if !ok {
		return "<none>"
	}
	return q.String()
}

// ProgressBarWidth is the number of cells of the progress bar.
const ProgressBarWidth = 25

// ProgressLine draws the rollout: a bar of the matched pods updated and ready, the counts behind it
// (ProgressCounts), and the time since the watch started. For example, 14 of 25 pods updated and ready, 7.6 s
// in:
//
//	[##############...........] 14/25 pods updated and ready, 1 not ready, 11 drifted     7.6s
func ProgressLine(set *appsv1alpha1.SidecarSet, elapsed time.Duration) string {
	return fmt.Sprintf("%s   %5.1fs", ProgressCounts(set), elapsed.Seconds())
}

// ProgressCounts is the progress line without the time: what changes when the rollout moves. A status of an
// earlier generation says nothing of the change: the bar is empty until the operator observed it. The bar is
// cut down: 14 of 25 fills 14*25/25 = 14 cells, 1 of 3 fills 8.
func ProgressCounts(set *appsv1alpha1.SidecarSet) string {
	st := &set.Status
	if st.ObservedGeneration != set.Generation {
		return fmt.Sprintf("[%s] 0/%d pods updated and ready, waiting for the operator to observe generation %d",
			strings.Repeat(".", ProgressBarWidth), st.MatchedPods, set.Generation)
	}
	updated, total := int(st.UpdatedReadyPods), int(st.MatchedPods)
	filled := 0
	if total > 0 {
		filled = min(updated*ProgressBarWidth/total, ProgressBarWidth)
	}
	return fmt.Sprintf("[%s%s] %d/%d pods updated and ready, %d not ready, %d drifted",
		strings.Repeat("#", filled), strings.Repeat(".", ProgressBarWidth-filled), updated, total,
		st.MatchedPods-st.ReadyPods, st.DriftedPods)
}
