package status

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// Observed is one matched pod as the controller sees it for one SidecarSet: the planner's and status's view,
// its state for that SidecarSet, and the images an in-place update to the target would set.
type Observed struct {
	Pod
	// State is the pod's state for the SidecarSet (zero when Missing).
	State podstate.SidecarSetState
	// Images are the images an in-place update to the target changes, when Updatable.
	Images map[string]string
	// Progress explains where an update in flight stands.
	Progress string
}

// Tracked says whether a pod a SidecarSet selects takes part in its counts and its rollout: not one being
// deleted, nor one that finished (the pods of a completed Job), which runs no sidecar to update.
func Tracked(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// Observer observes the pods of one reconcile. What an in-place update from one revision to another changes
// depends on the two revisions only, so it is worked out once per pair, not once per pod: with thousands of
// pods on the same revision, that comparison was most of a reconcile's work.
type Observer struct {
	contents func(string) (revision.Injected, bool)
	images   map[[2]string]inPlace
}

type inPlace struct {
	images map[string]string
	ok     bool
}

// NewObserver returns an Observer reading stored revisions through contents (false when a revision is not
// stored).
func NewObserver(contents func(string) (revision.Injected, bool)) *Observer {
	return &Observer{contents: contents, images: map[[2]string]inPlace{}}
}

// Observe classifies a matched pod for a SidecarSet rolling out target (see Observer.Observe).
func Observe(pod *corev1.Pod, state podstate.State, sidecarSet, target string, contents func(string) (revision.Injected, bool),
	deadline time.Duration, now time.Time) Observed {
	return NewObserver(contents).Observe(pod, state, sidecarSet, target, deadline, now)
}

// Observe classifies a matched pod for a SidecarSet rolling out target. A pod whose revision is not stored
// runs content that is gone, so it cannot be compared and is not updatable in place. deadline is
// progressDeadlineSeconds. The Images of pods on the same revision are one map, shared: read, never written.
func (ob *Observer) Observe(pod *corev1.Pod, state podstate.State, sidecarSet, target string, deadline time.Duration,
	now time.Time) Observed {
	o := Observed{Pod: Pod{Pod: rollout.Pod{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels, Workload: rollout.WorkloadOf(pod)}}}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			o.Ready, o.ReadySince = true, c.LastTransitionTime.Time
		}
	}
	st, ok := state[sidecarSet]
	if !ok {
		o.Missing = true
		return o
	}
	o.State = st
	o.Revision = st.Revision
	o.Conflicted = len(st.Conflicts) > 0
	o.Skipped = st.Skipped
	if st.Revision == target {
		o.OnTarget = true
		if st.Update != nil {
			phase, why := inplace.Progress(pod, st.Update, deadline, now)
			o.Updating = phase == inplace.Updating
			o.Failed = phase == inplace.Failed
			o.Progress = why
		}
		return o
	}
	if !o.Conflicted && o.Skipped == "" {
		key := [2]string{st.Revision, target}
		ip, seen := ob.images[key]
		if !seen {
			from, okFrom := ob.contents(st.Revision)
			to, okTo := ob.contents(target)
			if okFrom && okTo {
				ip.images, ip.ok = inplace.Images(from, to)
			}
			ob.images[key] = ip
		}
		o.Images, o.Updatable = ip.images, ip.ok
	}
	return o
}
