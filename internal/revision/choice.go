package revision

import (
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// RolledBackTo is the revision the failure policy rolled the SidecarSet back to, "" when it did not. A
// rollback holds for the generation it was made in: a change to the spec rolls out again.
func RolledBackTo(set *appsv1alpha1.SidecarSet) string {
	if set.Status.ObservedGeneration != set.Generation {
		return ""
	}
	return set.Status.RolledBackTo
}

// Target is the revision the rollout moves matched pods to: the one the failure policy rolled back to, while
// it is stored, or else the latest. stored says whether a revision of the SidecarSet is stored.
func Target(set *appsv1alpha1.SidecarSet, latest string, stored func(string) bool) (target string, rolledBack bool) {
	if rb := RolledBackTo(set); rb != "" && stored(rb) {
		return rb, true
	}
	return latest, false
}

// ForNewPods is the revision a new pod gets: the one the failure policy rolled back to (new pods get what
// running pods were returned to), or else the one injectionStrategy.revisionName pins, or else the latest.
// A rollback or a pin naming no stored revision gives the latest: a pod never gets a half-built revision
// (the SidecarSet reports a pin that names nothing Stalled, RevisionNotFound).
func ForNewPods(set *appsv1alpha1.SidecarSet, latest string, stored func(string) bool) string {
	want := RolledBackTo(set)
	if want == "" {
		want = ptr.Deref(set.Spec.InjectionStrategy.RevisionName, "")
	}
	if want == "" || want == latest || !stored(want) {
		return latest
	}
	return want
}
