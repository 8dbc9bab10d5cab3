package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// Explanation is what every SidecarSet concerned did to one pod.
type Explanation struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Workload  string `json:"workload,omitempty"`
	Created   string `json:"created"`
	// Verdicts are for the SidecarSets whose pod selector matches the pod's labels, and those its state
	// annotation records, by name.
	Verdicts []Verdict `json:"sidecarSets"`
}

// Verdict is what one SidecarSet did to the pod, and why.
type Verdict struct {
	SidecarSet string `json:"sidecarSet"`
	// Selected: the SidecarSet selects the pod now: it matches its labels and namespace, and the pod is not
	// excluded from injection.
	Selected bool `json:"selected"`
	// Injected: some of the SidecarSet's sidecars are in the pod.
	Injected bool `json:"injected"`
	// Why says why the sidecars were injected or not.
	Why string `json:"why"`
	// Revision is the revision the pod records; LatestRevision the SidecarSet's.
	Revision       string   `json:"revision,omitempty"`
	LatestRevision string   `json:"latestRevision"`
	Images         []string `json:"images,omitempty"`
	// Drift is the pod's cause of drift as the status counts it (Drift), "" when it runs the latest revision
	// or the SidecarSet does not select it; DriftDetail says more.
	Drift       Cause  `json:"drift,omitempty"`
	DriftDetail string `json:"driftDetail,omitempty"`
}

// Why explains, for each SidecarSet whose selector matches the pod's labels or that the pod's state records,
// whether it injected the pod and why, and whether the pod drifted from its latest revision. stored holds
// the stored revisions of each SidecarSet by name; namespaceLabels are the pod's namespace's labels.
func Why(pod *corev1.Pod, sets []appsv1alpha1.SidecarSet, stored map[string][]revision.Stored, namespaceLabels map[string]string,
	operatorNamespace string, now time.Time) (Explanation, error) {
	e := Explanation{Namespace: pod.Namespace, Pod: pod.Name, Workload: rollout.WorkloadOf(pod), Created: timestamp(pod.CreationTimestamp),
		Verdicts: []Verdict{}}
	state, err := podstate.Read(pod)
	if err != nil {
		return e, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	sorted := slices.Clone(sets)
	slices.SortFunc(sorted, func(a, b appsv1alpha1.SidecarSet) int { return strings.Compare(a.Name, b.Name) })
	for i := range sorted {
		set := &sorted[i]
		m, err := inject.NewMatcher(&set.Spec)
		if err != nil {
			continue // selects no pod: the webhook configuration has no entry for it
		}
		sel := Select(m, pod, namespaceLabels, operatorNamespace)
		st, recorded := state[set.Name]
		if !sel.Labels && !recorded {
			continue
		}
		revs := RevisionsOf(set, stored[set.Name])
		v := Verdict{SidecarSet: set.Name, Selected: sel.Selected(), LatestRevision: revs.Latest}
		switch {
		case recorded:
			v.Revision, v.Images = st.Revision, sidecarImages(pod, st.Images)
			v.Injected = len(st.Images) > 0
			v.Why = injectedWhy(state, set.Name, st)
			if !sel.Selected() {
				v.Why += "; the SidecarSet no longer selects the pod (" + notSelected(sel) + "), so the operator no longer updates its sidecars"
			}
		case sel.Excluded != "":
			v.Why = sel.Excluded
		default:
			v.Why = notInjected(set, pod)
		}
		if v.Selected {
			if d, drifted := classify(set, revs, pod, heldBack(set, 0), now); drifted {
				v.Drift, v.DriftDetail = d.Cause, d.Detail
			}
		}
		e.Verdicts = append(e.Verdicts, v)
	}
	return e, nil
}

// injectedWhy says what the pod's state records of the SidecarSet: skipped and why, injected, or injected
// but for the sidecars whose names were taken, and an in-place update since.
func injectedWhy(state podstate.State, setName string, st podstate.SidecarSetState) string {
	if st.Skipped != "" {
		return "skipped at injection: " + st.Skipped
	}
	why := fmt.Sprintf("injected at creation with revision %s", st.Revision)
	if st.Update != nil {
		why = fmt.Sprintf("injected, then updated in place from revision %s to %s", st.Update.From, st.Revision)
	}
	if len(st.Images) == 0 && len(st.Conflicts) > 0 {
		why = "none of the sidecars injected"
	}
	if len(st.Conflicts) > 0 {
		why += "; " + conflicts(state, setName, st.Conflicts)
	}
	return why
}

func notSelected(sel Selection) string {
	if !sel.Labels {
		return "its selector does not match the pod's labels"
	}
	return sel.Excluded
}
