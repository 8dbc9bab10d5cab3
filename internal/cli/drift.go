package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// Cause is why a matched pod does not run a SidecarSet's latest revision. The causes the status counts are
// the Drifted condition's reasons; Updating and Failed are pods on the latest revision whose in-place update
// has not landed: the status counts them updated (and Failed ones in failedPods), but they do not run it yet.
type Cause string

const (
	CauseOutdated         Cause = appsv1alpha1.ReasonOutdated
	CauseNotUpgradable    Cause = appsv1alpha1.ReasonNotUpgradable
	CauseMissingSidecar   Cause = appsv1alpha1.ReasonMissingSidecar
	CauseConflict         Cause = appsv1alpha1.ReasonConflict
	CauseInjectionSkipped Cause = appsv1alpha1.ReasonInjectionSkipped
	CauseRolledBack       Cause = appsv1alpha1.ReasonRolledBack
	CauseUpdating         Cause = "Updating"
	CauseFailed           Cause = "Failed"
)

// Causes are every cause, by name.
var Causes = []Cause{CauseConflict, CauseFailed, CauseInjectionSkipped, CauseMissingSidecar, CauseNotUpgradable,
	CauseOutdated, CauseRolledBack, CauseUpdating}

// ParseCauses reads causes given by name, in any case, each argument a comma-separated list.
func ParseCauses(args []string) ([]Cause, error) {
	var out []Cause
	for _, arg := range args {
		for _, name := range strings.Split(arg, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			i := slices.IndexFunc(Causes, func(c Cause) bool { return strings.EqualFold(string(c), name) })
			if i < 0 {
				names := make([]string, len(Causes))
				for j, c := range Causes {
					names[j] = string(c)
				}
				return nil, fmt.Errorf("unknown cause %q: one of %s", name, strings.Join(names, ", "))
			}
			if !slices.Contains(out, Causes[i]) {
				out = append(out, Causes[i])
			}
		}
	}
	return out, nil
}

// PodDrift is one matched pod off the latest revision, and why.
type PodDrift struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Workload is the pod's controller, "Kind/name" (rollout.WorkloadOf); "" for a bare pod.
	Workload string `json:"workload,omitempty"`
	Cause    Cause  `json:"cause"`
	// Revision is the revision of the SidecarSet the pod records; "" when it has none of its sidecars.
	Revision string `json:"revision,omitempty"`
	// Images are the SidecarSet's sidecars in the pod, "name=image".
	Images []string `json:"images,omitempty"`
	// Detail says what the cause means for this pod: what an update would change, what holds it back, why it
	// was not injected.
	Detail string `json:"detail"`
}

// DriftReport is every matched pod of a SidecarSet off its latest revision.
type DriftReport struct {
	SidecarSet     string `json:"sidecarSet"`
	LatestRevision string `json:"latestRevision"`
	// Matched counts the matched pods the status counts: not being deleted, not finished.
	Matched int        `json:"matched"`
	Pods    []PodDrift `json:"pods"`
}

// Matched returns the pods the SidecarSet selects, as the reconciler counts them: selected (Select) and
// tracked (not being deleted, not finished: step.Tracked). namespaceLabels holds the labels of each
// namespace by name.
func Matched(set *appsv1alpha1.SidecarSet, pods []corev1.Pod, namespaceLabels map[string]map[string]string, operatorNamespace string) ([]corev1.Pod, error) {
	m, err := inject.NewMatcher(&set.Spec)
	if err != nil {
		return nil, fmt.Errorf("SidecarSet %s: %w", set.Name, err)
	}
	var out []corev1.Pod
	for i := range pods {
		p := &pods[i]
		if Select(m, p, namespaceLabels[p.Namespace], operatorNamespace).Selected() && step.Tracked(view(p)) {
			out = append(out, *p)
		}
	}
	return out, nil
}

// Drift classifies each matched pod as the status does (internal/step's observer, internal/status's counts)
// and returns those off the latest revision, and those on it whose update has not landed (Updating, Failed),
// sorted by namespace and name. pods are the matched pods (Matched).
func Drift(set *appsv1alpha1.SidecarSet, revs Revisions, pods []corev1.Pod, now time.Time) DriftReport {
	r := DriftReport{SidecarSet: set.Name, LatestRevision: revs.Latest, Matched: len(pods), Pods: []PodDrift{}}
	held := heldBack(set, len(pods))
	for i := range pods {
		if d, drifted := classify(set, revs, &pods[i], held, now); drifted {
			r.Pods = append(r.Pods, d)
		}
	}
	SortDrift(r.Pods, "")
	return r
}

// SortDrift sorts by namespace and name, or, by "cause", by cause and then namespace and name.
func SortDrift(pods []PodDrift, by string) {
	slices.SortStableFunc(pods, func(a, b PodDrift) int {
		c := 0
		if by == "cause" {
			c = strings.Compare(string(a.Cause), string(b.Cause))
		}
		return cmp.Or(c, strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
}

// FilterDrift keeps the pods of the given causes and namespace; none given keeps all.
func FilterDrift(pods []PodDrift, causes []Cause, namespace string) []PodDrift {
	return slices.DeleteFunc(slices.Clone(pods), func(p PodDrift) bool {
		return (len(causes) > 0 && !slices.Contains(causes, p.Cause)) || (namespace != "" && p.Namespace != namespace)
	})
}

// classify is the pod's drift, as internal/step's observer and internal/status's count decide it: a pod
// without the SidecarSet's entry in its state is missing its sidecars; one skipped at injection or with a
// conflict is drifted whatever its revision; one on the latest revision is not, unless its update is in flight
// or failed (judged only while the rollout targets the latest revision); one on the target the failure policy
// rolled back to is rolled back; any other is outdated when an in-place update reaches the target
// (inplace.Diff), and not upgradable otherwise.
func classify(set *appsv1alpha1.SidecarSet, revs Revisions, pod *corev1.Pod, held string, now time.Time) (PodDrift, bool) {
	d := PodDrift{Namespace: pod.Namespace, Name: pod.Name, Workload: rollout.WorkloadOf(pod)}
	state, err := podstate.Read(pod)
	if err != nil {
		d.Cause, d.Detail = CauseMissingSidecar, err.Error()
		return d, true
	}
	st, ok := state[set.Name]
	if !ok {
		d.Cause, d.Detail = CauseMissingSidecar, notInjected(set, pod)
		return d, true
	}
	d.Revision, d.Images = st.Revision, sidecarImages(pod, st.Images)
	switch {
	case st.Skipped != "":
		d.Cause, d.Detail = CauseInjectionSkipped, "skipped at injection: "+st.Skipped
		return d, true
	case len(st.Conflicts) > 0:
		d.Cause, d.Detail = CauseConflict, conflicts(state, set.Name, st.Conflicts)
		return d, true
	case st.Revision == revs.Latest && revs.Target != revs.Latest:
		// Rolled back: the status counts the pod updated, and the rollout returns it to the target.
		return d, false
	case st.Revision == revs.Latest:
		return updateInFlight(set, pod, st, d, now)
	case st.Revision == revs.Target:
		d.Cause = CauseRolledBack
		d.Detail = fmt.Sprintf("returned to revision %s by the failure policy; the latest is %s, rolled out once the spec changes", revs.Target, revs.Latest)
		return d, true
	}
	from, okFrom := revs.Contents[st.Revision]
	to, okTo := revs.Contents[revs.Target]
	if !okFrom || !okTo {
		d.Cause = CauseNotUpgradable
		d.Detail = fmt.Sprintf("revision %s is no longer stored, so it cannot be compared with %s: recreate the pod", st.Revision, revs.Target)
		return d, true
	}
	delta, inPlace := inplace.Diff(from, to)
	if !inPlace {
		d.Cause = CauseNotUpgradable
		d.Detail = fmt.Sprintf("revision %s differs from %s by more than images, resources and metadata: recreate the pod", st.Revision, revs.Target)
		return d, true
	}
	d.Cause = CauseOutdated
	d.Detail = "updatable in place: " + describeDelta(delta)
	if why := held; why != "" {
		d.Detail += "; " + why
	} else if s := set.Spec.UpdateStrategy.Selector; s != nil {
		if sel, err := metav1.LabelSelectorAsSelector(s); err == nil && !sel.Matches(labels.Set(pod.Labels)) {
			d.Detail += "; held back: updateStrategy.selector does not select it"
		}
	}
	return d, true
}

// updateInFlight is the drift of a pod on the latest revision: none, unless the in-place update recorded in
// its state is still in progress or failed (inplace.Progress, with the SidecarSet's progress deadline).
func updateInFlight(set *appsv1alpha1.SidecarSet, pod *corev1.Pod, st podstate.SidecarSetState, d PodDrift, now time.Time) (PodDrift, bool) {
	if st.Update == nil {
		return d, false
	}
	deadline := time.Duration(ptr.Deref(set.Spec.UpdateStrategy.ProgressDeadlineSeconds,
		appsv1alpha1.DefaultProgressDeadlineSeconds)) * time.Second
	phase, why := inplace.Progress(view(pod), st.Update, deadline, now)
	switch phase {
	case inplace.Updating:
		d.Cause, d.Detail = CauseUpdating, fmt.Sprintf("updating in place from %s: %s", st.Update.From, why)
	case inplace.Failed:
		d.Cause, d.Detail = CauseFailed, fmt.Sprintf("the update in place from %s failed: %s", st.Update.From, why)
	default:
		return d, false
	}
	return d, true
}

// heldBack says what holds every outdated pod back on purpose, "" when nothing does (a partition holds
// back only the last pods in update order, which are not known here: it is named, with its number).
func heldBack(set *appsv1alpha1.SidecarSet, matched int) string {
	s := set.Spec.UpdateStrategy
	switch {
	case s.Paused:
		return "held back: the rollout is paused (updateStrategy.paused)"
	case s.Type == appsv1alpha1.NotUpdateStrategyType:
		return "held back: updateStrategy.type is NotUpdate"
	case s.Partition != nil:
		if n, err := rollout.Partition(s.Partition, matched); err == nil && n > 0 {
			return fmt.Sprintf("updateStrategy.partition holds back %d of the %d pods, the last in update order", n, matched)
		}
	}
	return ""
}

// describeDelta says what an in-place update changes: the sidecars whose image and whose resources change,
// and whether the metadata the SidecarSet adds does.
func describeDelta(d inplace.Delta) string {
	var parts []string
	for _, name := range sortedKeys(d.Images) {
		parts = append(parts, fmt.Sprintf("%s image to %s", name, d.Images[name]))
	}
	for _, name := range sortedKeys(d.Resources) {
		parts = append(parts, fmt.Sprintf("%s resources", name))
	}
	if d.Metadata != nil {
		parts = append(parts, "pod labels and annotations")
	}
	if len(parts) == 0 {
		return "nothing the pod runs changes"
	}
	return strings.Join(parts, ", ")
}

// conflicts says which sidecars were not injected for a name conflict, and with whose container, in the
// webhook's words (inject.Conflict).
func conflicts(state podstate.State, setName string, names []string) string {
	owners := state.SidecarNames()
	msgs := make([]string, 0, len(names))
	for _, name := range names {
		owner := owners[name]
		if owner == setName {
			owner = ""
		}
		msgs = append(msgs, inject.Conflict{Sidecar: name, Owner: owner}.String())
	}
	return strings.Join(msgs, "; ")
}

// notInjected says why a pod the SidecarSet selects has none of its sidecars, from what can be known now:
// injection happens at creation only, so a pod created before the SidecarSet never got them; one created
// since was created while injection was paused, while the webhook was unreachable under
// --webhook-failure-policy=Ignore, or before its labels (or the selectors) made it match.
func notInjected(set *appsv1alpha1.SidecarSet, pod *corev1.Pod) string {
	switch {
	case pod.CreationTimestamp.Before(&set.CreationTimestamp):
		return fmt.Sprintf("created before the SidecarSet (pod %s, SidecarSet %s): sidecars are injected at creation only; recreate the pod",
			timestamp(pod.CreationTimestamp), timestamp(set.CreationTimestamp))
	case pod.CreationTimestamp.Equal(&set.CreationTimestamp):
		// Creation times count whole seconds: which came first is not known, and a pod created just after the
		// SidecarSet was created before its webhook entry took effect.
		return fmt.Sprintf("created in the second the SidecarSet was (%s), before it or before its webhook entry took effect: "+
			"sidecars are injected at creation only; recreate the pod", timestamp(set.CreationTimestamp))
	}
	if injecting, why := inject.Injecting(set); !injecting {
		return why + ": pods created now get no sidecars; once it injects again, recreate the pod"
	}
	return "not injected at creation: created while injection was paused, while the webhook was unreachable " +
		"(--webhook-failure-policy=Ignore), or before its labels or the selectors matched; recreate the pod"
}

func timestamp(t metav1.Time) string { return t.UTC().Format(time.RFC3339) }

// view is the pod as the operator's cache keeps it, which the operator's decisions read.
func view(pod *corev1.Pod) *podview.View {
	v, err := podview.Compact(pod)
	if err != nil {
		// Compact fails for no pod.
		panic(fmt.Sprintf("compacting pod %s/%s: %v", pod.Namespace, pod.Name, err))
	}
	return v.(*podview.View)
}
