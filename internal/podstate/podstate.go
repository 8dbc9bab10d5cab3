// Package podstate reads and writes the sidecarset.io/state annotation, the pod's own record of what each
// SidecarSet injected into it. Drift, status and in-place updates are computed from it and the pod spec alone.
package podstate

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/intern"
)

// State is the decoded annotation: what each SidecarSet, by name, injected.
type State map[string]SidecarSetState

// SidecarSetState is what one SidecarSet injected into a pod.
type SidecarSetState struct {
	// Revision is the name of the SidecarSet revision the pod got.
	Revision string `json:"revision"`

	// Images maps each injected sidecar container (or init container) to the image it was injected or last
	// updated with.
	Images map[string]string `json:"images,omitempty"`

	// Conflicts names the sidecars of the revision that were not injected because their name collided with a
	// container the pod already had, or with a sidecar of another SidecarSet.
	Conflicts []string `json:"conflicts,omitempty"`

	// Skipped says why none of the SidecarSet's sidecars were injected: with them, the API server would
	// have refused the pod (its validation, or the Pod Security level its namespace enforces). "" when
	// they were injected.
	Skipped string `json:"skipped,omitempty"`

	// Update records the in-place update in flight, written in the same patch as the new images; nil when
	// the pod is not being updated.
	Update *Update `json:"update,omitempty"`
}

// Update is an in-place update of a pod's sidecars, as recorded when it was written.
type Update struct {
	// From is the revision the pod ran before.
	From string `json:"from"`
	// StartedAt is when the update was written.
	StartedAt metav1.Time `json:"startedAt"`
	// Containers holds, per updated container, what its status said before the update: the update is done
	// for that container once the kubelet reports it restarted on the new image.
	Containers map[string]ContainerMark `json:"containers"`
	// Resized names the containers the update resizes, sorted: the update is done for each once the kubelet
	// reports it running with the resources of its spec.
	Resized []string `json:"resized,omitempty"`
	// Refused is why the API server refused the resize, which fails the update; "" when it did not.
	Refused string `json:"refused,omitempty"`
}

// ContainerMark is what identifies one run of a container.
type ContainerMark struct {
	ContainerID  string `json:"containerID,omitempty"`
	RestartCount int32  `json:"restartCount"`
	ImageID      string `json:"imageID,omitempty"`
}

// Read decodes the pod's state annotation. A pod without the annotation has an empty state; an annotation that
// is not a valid state is an error naming the annotation, never silently treated as empty (that would inject
// the sidecars a second time).
func Read(pod metav1.Object) (State, error) {
	return Parse(pod.GetAnnotations()[appsv1alpha1.StateAnnotation])
}

// Entry decodes the entry of the SidecarSet named name in a state annotation's value, as Parse(raw)[name] gives
// it, and says whether it has one; an annotation that is not a valid state is Parse's error. It builds no map of
// the entries: a rollout reads a pod's own entry alone, from the annotation of each pod updated in place before
// (a map of eight slots for the one entry, 768 bytes, the largest allocation of decoding it).
func Entry(raw, name string) (e SidecarSetState, ok bool, err error) {
	if raw == "" {
		return SidecarSetState{}, false, nil
	}
	if eachCompact(raw, func(n string, got SidecarSetState) {
		if n == name {
			e, ok = got, true // the last wins, as in a map
		}
	}) {
		return e, ok, nil
	}
	s, err := Parse(raw)
	if err != nil {
		return SidecarSetState{}, false, err
	}
	e, ok = s[name]
	return e, ok, nil
}

// Parse decodes a state annotation's value, as Read does; "" is an empty state.
func Parse(raw string) (State, error) {
	if raw == "" {
		return State{}, nil
	}
	if s, ok := parseCompact(raw); ok {
		return s, nil
	}
	var s State
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("annotation %s is not a valid sidecar state: %w", appsv1alpha1.StateAnnotation, err)
	}
	if s == nil {
		s = State{}
	}
	// The revisions are interned: thousands of pods run one of a few, and a decision compares each pod's with
	// the others'. Equal strings with one array compare without reading it; each pod's own copy, spread through
	// the heap, cost a cache miss a pod.
	for name, e := range s {
		e.Revision = intern.String(e.Revision)
		if e.Update != nil {
			e.Update.From = intern.String(e.Update.From)
		}
		s[name] = e
	}
	return s, nil
}

// Encode returns the annotation value. encoding/json sorts map keys, so equal states encode equally.
func (s State) Encode() string {
	data, err := json.Marshal(s)
	if err != nil {
		// A State holds only strings, maps and slices of strings: it always marshals.
		panic(fmt.Sprintf("encoding sidecar state: %v", err))
	}
	return string(data)
}

// SidecarNames returns the names of every container any SidecarSet injected into the pod.
func (s State) SidecarNames() map[string]string {
	owners := map[string]string{}
	for set, st := range s {
		for name := range st.Images {
			owners[name] = set
		}
	}
	return owners
}
