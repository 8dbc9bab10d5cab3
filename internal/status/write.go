package status

import (
	"slices"
	"time"

	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// ProgressInterval is the least time between two status writes that only report a rollout's progress.
const ProgressInterval = time.Second

// WriteDelay says how long to hold a new status back: 0 to write it now. A status that changes what its
// readers act on is written at once: a condition's status or reason (the Ready, Stalled or Drifted that
// kubectl wait, Argo CD and Flux read), the observed generation, the revisions, a rollback, a collision or the
// failed pods. One that only moves counts, the histogram, the sidecars' cost and the messages that quote them
// is written once interval has passed since the last write: a rollout moves them on every pod event, faster
// than anyone reads them, and each write is a request to a busy API server and an event for every watcher of
// SidecarSets.
//
// Worked numbers, interval 1 s: a rollout whose pods become ready every 10 ms changes the counts 100 times a
// second; the status is written once a second with the counts of that moment, and at once when the rollout
// finishes (Ready turns True). A status last written 300 ms ago is held for 700 ms.
func WriteDelay(written, next *appsv1alpha1.SidecarSetStatus, lastWrite, now time.Time, interval time.Duration) time.Duration {
	if significant(written, next) {
		return 0
	}
	return max(0, interval-now.Sub(lastWrite))
}

func significant(a, b *appsv1alpha1.SidecarSetStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.LatestRevision != b.LatestRevision || a.RolledBackTo != b.RolledBackTo ||
		a.FailedPods != b.FailedPods || ptr.Deref(a.CollisionCount, 0) != ptr.Deref(b.CollisionCount, 0) {
		return true
	}
	if !slices.Equal(revisionNames(a), revisionNames(b)) {
		return true
	}
	if len(a.Conditions) != len(b.Conditions) {
		return true
	}
	for i := range a.Conditions {
		x, y := &a.Conditions[i], &b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.ObservedGeneration != y.ObservedGeneration {
			return true
		}
	}
	return false
}

func revisionNames(s *appsv1alpha1.SidecarSetStatus) []string {
	names := make([]string, len(s.Revisions))
	for i, r := range s.Revisions {
		names[i] = r.Name
	}
	return names
}
