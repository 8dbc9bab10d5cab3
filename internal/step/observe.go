package step

import (
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

// Tracked says whether a pod a SidecarSet selects takes part in its counts and its rollout: not one being
// deleted, nor one that finished (the pods of a completed Job), which runs no sidecar to update.
func Tracked(pod *podview.View) bool {
	return pod.DeletionTimestamp == nil && pod.Phase != corev1.PodSucceeded && pod.Phase != corev1.PodFailed
}

// observer observes the pods of one reconcile. What an in-place update from one revision to another changes
// depends on the two revisions only, so it is worked out once per pair, not once per pod: with thousands of
// pods on the same revision, that comparison was most of a reconcile's work.
type observer struct {
	contents map[string]revision.Injected
	deltas   map[[2]string]*inPlace
	deadline time.Duration
	now      time.Time
	// replacing: the rollout recreates pods (updateStrategy.recreate), so a pod created on the target whose
	// sidecar cannot start counts as failed: it may be the replacement of a pod the rollout evicted, and the
	// failure policy must stop the evictions of a revision that cannot run.
	replacing bool
}

type inPlace struct {
	delta inplace.Delta
	ok    bool
}

func newObserver(contents map[string]revision.Injected, deadline time.Duration, now time.Time) *observer {
	return &observer{contents: contents, deltas: map[[2]string]*inPlace{}, deadline: deadline, now: now}
}

// observe classifies a matched pod, with its state for the SidecarSet (ok false when it has none), for a
// rollout to target: what the planner and the status count of it, what an in-place update to the target
// changes when it is updatable, and where an update in flight stands. A pod whose revision is not stored runs
// content that is gone, so it cannot be compared and is not updatable in place. The deltas of pods on the
// same revision are one, shared: read, never written. until is when the observation stops holding for the
// view, zero when it holds at any later time: it does unless the pod's update is still in progress, whose
// progress reads the clock and holds until the update's deadline or twice it (inplace.ProgressHolds; an
// update done stays done).
func (ob *observer) observe(pod *podview.View, st podstate.SidecarSetState, ok bool, target string) (
	counted status.Pod, delta *inplace.Delta, progress string, until time.Time) {
	counted = status.Pod{Pod: rollout.Pod{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels, Workload: pod.Workload()}}
	if pod.Ready == corev1.ConditionTrue {
		counted.Ready, counted.ReadySince = true, rollout.At(pod.ReadySince.Time)
	}
	if !ok {
		counted.Missing = true
		counted.Replaceable = replaceable(pod)
		return counted, delta, "", time.Time{}
	}
	counted.Revision = st.Revision
	counted.Conflicted = len(st.Conflicts) > 0
	counted.Skipped = st.Skipped
	if st.Revision == target {
		counted.OnTarget = true
		if st.Update == nil && ob.replacing {
			if why, failing := inplace.Failing(pod, slices.Collect(maps.Keys(st.Images))); failing {
				counted.Failed, counted.Failure = true, why
			}
		}
		if st.Update != nil {
			counted.UpdatedAt = rollout.At(st.Update.StartedAt.Time)
			phase, why := inplace.Progress(pod, st.Update, ob.deadline, ob.now)
			counted.Updating = phase == inplace.Updating
			counted.Failed = phase == inplace.Failed
			if counted.Failed {
				counted.Failure = why
			}
			progress = why
			if phase != inplace.Done {
				until = inplace.ProgressHolds(st.Update, ob.deadline, ob.now)
			}
			return counted, delta, progress, until
		}
		return counted, delta, progress, time.Time{}
	}
	if !counted.Conflicted && counted.Skipped == "" {
		key := [2]string{st.Revision, target}
		ip := ob.deltas[key]
		if ip == nil {
			ip = &inPlace{}
			from, okFrom := ob.contents[st.Revision]
			to, okTo := ob.contents[target]
			if okFrom && okTo {
				ip.delta, ip.ok = inplace.Diff(from, to)
			}
			ob.deltas[key] = ip
		}
		delta, counted.Updatable = &ip.delta, ip.ok
	}
	// Off target by more than an in-place update: a new pod gets the target, unless it would conflict or be
	// skipped again, which a pod conflicted or skipped at the revision before may not.
	counted.Replaceable = !counted.Updatable && replaceable(pod)
	return counted, delta, "", time.Time{}
}
