// Package cli is the pure part of the kubectl plugin (cmd/kubectl-sidecarset): what a matched pod's drift
// cause is, why a pod was or was not injected, which pods a SidecarSet would select and what it would inject
// into them, the patches the plugin sends, and the tables it prints. It has no client: the plugin reads the
// objects and hands them here, with the time where a decision needs one.
//
// Every decision is the operator's own, called rather than written again: selection and exclusion
// (internal/inject's Matcher, Excluded and Injecting), the injection itself (inject.Checked with
// internal/podvalidation, as the webhook runs it), revisions (internal/revision), what an update changes in
// place (internal/inplace's Diff and Progress) and the pod's record of what it got (internal/podstate). A
// pod's drift cause is the classification internal/step's observer and internal/status's counts make of it,
// pod by pod, so that drift lists exactly the pods the status counts.
package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// DefaultOperatorNamespace is where the operator runs and stores the SidecarSets' revisions, unless
// installed elsewhere.
const DefaultOperatorNamespace = "sidecarset-system"

// StoredOf decodes the SidecarSet's stored revisions from the ControllerRevisions of the operator's namespace
// labelled with its name, as the operator reads them: a revision controlled by another SidecarSet of the same
// name (deleted, not yet collected) is left out, and so is one that cannot be decoded, named in unreadable.
// The result is sorted by revision number, oldest first.
func StoredOf(set *appsv1alpha1.SidecarSet, crs []appsv1.ControllerRevision) (stored []revision.Stored, unreadable []string) {
	for i := range crs {
		cr := &crs[i]
		if cr.Labels[appsv1alpha1.SidecarSetNameLabel] != set.Name || !metav1.IsControlledBy(cr, set) {
			continue
		}
		var in revision.Injected
		if err := json.Unmarshal(cr.Data.Raw, &in); err != nil {
			unreadable = append(unreadable, cr.Name)
			continue
		}
		stored = append(stored, revision.Stored{Name: cr.Name, Number: cr.Revision, Injected: in})
	}
	slices.SortFunc(stored, func(a, b revision.Stored) int {
		return cmp.Or(cmp.Compare(a.Number, b.Number), strings.Compare(a.Name, b.Name))
	})
	slices.Sort(unreadable)
	return stored, unreadable
}

// Revisions are a SidecarSet's revisions as the operator sees them.
type Revisions struct {
	// Latest is the revision of the current spec (revision.For).
	Latest string
	// Target is what the rollout moves pods to: the revision the failure policy rolled back to, or Latest.
	Target string
	// Contents holds what each known revision injects: the latest, from the spec, and the stored ones.
	Contents map[string]revision.Injected
}

// RevisionsOf works out the latest revision and the rollout's target as the operator does (revision.For,
// revision.Target), from the SidecarSet and its stored revisions.
func RevisionsOf(set *appsv1alpha1.SidecarSet, stored []revision.Stored) Revisions {
	r := Revisions{Latest: revision.For(set), Contents: map[string]revision.Injected{}}
	for _, s := range stored {
		r.Contents[s.Name] = s.Injected
	}
	r.Contents[r.Latest] = revision.InjectedOf(&set.Spec)
	r.Target, _ = revision.Target(set, r.Latest, func(name string) bool { _, ok := r.Contents[name]; return ok })
	return r
}

// Selection is whether a SidecarSet's selectors take in a pod, and if not, why.
type Selection struct {
	// Labels: the SidecarSet's pod selector matches the pod's labels.
	Labels bool
	// Excluded says why the pod is never injected nor counted although its labels match (inject.Excluded: it
	// opted out, or runs in kube-system or the operator's namespace), or that the namespaceSelector does not
	// select its namespace; "" when the SidecarSet selects it.
	Excluded string
}

// Selected says the SidecarSet selects the pod: it would inject it at creation, and counts it as matched.
func (s Selection) Selected() bool { return s.Labels && s.Excluded == "" }

// Select says whether the SidecarSet whose selectors m holds selects the pod, with the rules the webhook and
// the reconciler apply (inject.Matcher, inject.Excluded). namespaceLabels are the labels of the pod's
// namespace.
func Select(m inject.Matcher, pod *corev1.Pod, namespaceLabels map[string]string, operatorNamespace string) Selection {
	s := Selection{Labels: m.MatchesPod(pod.Labels)}
	if !s.Labels {
		return s
	}
	if why := inject.Excluded(pod.Namespace, pod.Labels, operatorNamespace); why != "" {
		s.Excluded = why
	} else if !m.MatchesNamespace(namespaceLabels) {
		s.Excluded = fmt.Sprintf("the namespaceSelector does not select namespace %s", pod.Namespace)
	}
	return s
}

// sidecarImages names the images of the pod's containers that state says the SidecarSet injected,
// "name=image" sorted by name; the image is the pod spec's (an in-place update changes it), or, for a
// container no longer in the pod, the recorded one.
func sidecarImages(pod *corev1.Pod, recorded map[string]string) []string {
	var out []string
	for _, name := range sortedKeys(recorded) {
		image := recorded[name]
		for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
			if c.Name == name {
				image = c.Image
				break
			}
		}
		out = append(out, name+"="+image)
	}
	return out
}

// ImagesOf names the images a revision injects, "name=image", containers first, then init containers, in
// spec order.
func ImagesOf(in revision.Injected) []string {
	var out []string
	for _, c := range slices.Concat(in.Containers, in.InitContainers) {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
