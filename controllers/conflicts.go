package controllers

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// conflictEvents remembers, by SidecarSet, the name conflicts reported as events, so that each is reported
// once per pod and sidecar rather than at every reconcile. A pod no longer conflicted (gone, or recreated
// under a new UID) is forgotten with the reconcile that no longer sees it. After a restart each conflict is
// reported once more. Safe for concurrent use.
type conflictEvents struct {
	mu   sync.Mutex
	seen map[string]map[types.UID]map[string]bool
}

// fresh returns the conflicts not reported yet, notes them as reported, and forgets the pods that are no
// longer among all.
func (c *conflictEvents) fresh(sidecarSet string, all []step.Conflict) []step.Conflict {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]map[types.UID]map[string]bool{}
	}
	before := c.seen[sidecarSet]
	now := map[types.UID]map[string]bool{}
	var out []step.Conflict
	for _, cf := range all {
		if now[cf.UID] == nil {
			now[cf.UID] = map[string]bool{}
		}
		now[cf.UID][cf.Sidecar] = true
		if !before[cf.UID][cf.Sidecar] {
			out = append(out, cf)
		}
	}
	if len(now) == 0 {
		delete(c.seen, sidecarSet)
	} else {
		c.seen[sidecarSet] = now
	}
	return out
}

func (c *conflictEvents) forget(sidecarSet string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, sidecarSet)
}

// reportConflicts records a Warning event for each conflict not reported yet, on the pod (kubectl describe pod
// shows it: the pod's creator, often a ReplicaSet, got the admission warning, not a person) and on the
// SidecarSet.
func (r *SidecarSetReconciler) reportConflicts(set *appsv1alpha1.SidecarSet, all []step.Conflict) {
	if r.Recorder == nil {
		return
	}
	for _, cf := range r.conflicts.fresh(set.Name, all) {
		owner := "the pod's own container " + cf.Sidecar
		if cf.Owner != "" {
			owner = "the sidecar " + cf.Sidecar + " of SidecarSet " + cf.Owner
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: cf.Namespace, Name: cf.Name, UID: cf.UID}}
		r.Recorder.Eventf(pod, corev1.EventTypeWarning, "SidecarConflict",
			"SidecarSet %s did not inject its sidecar %s: the name is taken by %s; rename one of them and recreate the pod", set.Name, cf.Sidecar, owner)
		r.Recorder.Eventf(set, corev1.EventTypeWarning, "SidecarConflict",
			"pod %s/%s: sidecar %s not injected, the name is taken by %s", cf.Namespace, cf.Name, cf.Sidecar, owner)
	}
}
