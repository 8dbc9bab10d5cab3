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

// Observe classifies a matched pod for a SidecarSet rolling out target. contents returns what a stored
// revision injects (false when it is not stored: the pod runs a revision whose content is gone, so it
// cannot be compared and is not updatable in place). deadline is progressDeadlineSeconds.
func Observe(pod *corev1.Pod, state podstate.State, sidecarSet, target string, contents func(string) (revision.Injected, bool),
	deadline time.Duration, now time.Time) Observed {
	o := Observed{Pod: Pod{Pod: rollout.Pod{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels}}}
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
	from, okFrom := contents(st.Revision)
	to, okTo := contents(target)
	if okFrom && okTo && !o.Conflicted {
		o.Images, o.Updatable = inplace.Images(from, to)
	}
	return o
}
