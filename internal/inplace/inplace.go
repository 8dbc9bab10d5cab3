// Package inplace decides the in-place update of a pod's sidecars: whether a pod's revision can reach the
// target by changing images alone, what the one patch to the pod changes, and, from the pod's container
// statuses alone, when the update is done or has failed. It reads pods as the pod cache keeps them
// (podview.View) and has no client.
package inplace

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// Images returns the image of each sidecar the target revision changes, when from and to differ only in
// the images of sidecar containers and native sidecars; ok is false when they differ in anything else (a
// command, a new sidecar, a volume, a classic init container's image): the kubelet can restart a container
// with a new image, nothing more, so such a pod needs to be recreated. Equal revisions give an empty map.
func Images(from, to revision.Injected) (images map[string]string, ok bool) {
	if len(from.Containers) != len(to.Containers) || len(from.InitContainers) != len(to.InitContainers) ||
		!equality.Semantic.DeepEqual(from.Volumes, to.Volumes) ||
		!equality.Semantic.DeepEqual(from.ImagePullSecrets, to.ImagePullSecrets) ||
		!equality.Semantic.DeepEqual(from.PatchPodMetadata, to.PatchPodMetadata) {
		return nil, false
	}
	images = map[string]string{}
	for i := range to.Containers {
		a, b := from.Containers[i], to.Containers[i]
		if a.Image != b.Image {
			images[b.Name] = b.Image
		}
		a.Image = b.Image
		if !equality.Semantic.DeepEqual(a, b) {
			return nil, false
		}
	}
	for i := range to.InitContainers {
		a, b := from.InitContainers[i], to.InitContainers[i]
		if a.Image != b.Image {
			// A classic init container has run to completion: a new image would never run.
			if !inject.IsNativeSidecar(&b.Container) {
				return nil, false
			}
			images[b.Name] = b.Image
		}
		a.Image = b.Image
		if !equality.Semantic.DeepEqual(a, b) {
			return nil, false
		}
	}
	return images, true
}

// Change is the one write an in-place update makes to a pod: the new images by container name (in
// spec.containers or spec.initContainers) and the pod's state for the SidecarSet, which records the update.
type Change struct {
	Images map[string]string
	State  podstate.SidecarSetState
}

// Plan returns the change that moves a pod from its current state to the target revision with the given
// images, recording what each changed container's status says now so completion can be recognized. A
// container whose spec already has the image is left out. ok is false when a sidecar to change is not in the
// pod (it was skipped for a conflict, or removed): such a pod is not updatable.
func Plan(pod *podview.View, current podstate.SidecarSetState, target string, images map[string]string, now time.Time) (Change, bool) {
	change := Change{Images: map[string]string{}}
	update := &podstate.Update{From: current.Revision, Containers: map[string]podstate.ContainerMark{}}
	update.StartedAt.Time = now
	newImages := maps.Clone(current.Images)
	if newImages == nil {
		newImages = map[string]string{}
	}
	for _, name := range slices.Sorted(maps.Keys(images)) {
		c := specContainer(pod, name)
		if c == nil {
			return Change{}, false
		}
		newImages[name] = images[name]
		if c.Image == images[name] {
			continue
		}
		change.Images[name] = images[name]
		update.Containers[name] = mark(statusOf(pod, name))
	}
	change.State = podstate.SidecarSetState{Revision: target, Images: newImages, Conflicts: current.Conflicts}
	if len(change.Images) > 0 {
		change.State.Update = update
	}
	return change, true
}

// Patch is the one write of the change to the pod, for the SidecarSet named setName: a strategic merge patch
// of the changed images (in spec.containers or spec.initContainers, by name, in name order) and of the state
// annotation with the SidecarSet's entry replaced, guarded by the resourceVersion the change was decided on,
// so that a pod recreated or changed since is refused and planned again. An unreadable state annotation is
// an error: rewriting it would lose what the other SidecarSets recorded.
func Patch(pod *podview.View, setName string, change Change) ([]byte, error) {
	state, err := podstate.Read(pod)
	if err != nil {
		return nil, err
	}
	state[setName] = change.State
	type named struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}
	var containers, initContainers []named
	var inits []podview.Container
	if pod.Injected != nil {
		inits = pod.Injected.InitContainers
	}
	for _, name := range slices.Sorted(maps.Keys(change.Images)) {
		if slices.ContainsFunc(inits, func(c podview.Container) bool { return c.Name == name }) {
			initContainers = append(initContainers, named{name, change.Images[name]})
		} else {
			containers = append(containers, named{name, change.Images[name]})
		}
	}
	patch := map[string]any{
		"metadata": map[string]any{
			"annotations":     map[string]string{appsv1alpha1.StateAnnotation: state.Encode()},
			"resourceVersion": pod.ResourceVersion,
		},
	}
	spec := map[string]any{}
	if len(containers) > 0 {
		spec["containers"] = containers
	}
	if len(initContainers) > 0 {
		spec["initContainers"] = initContainers
	}
	if len(spec) > 0 {
		patch["spec"] = spec
	}
	return json.Marshal(patch)
}

// Apply returns the pod as the change's write makes it: a copy whose changed containers have their new
// images; the state annotation is left to the caller, who holds the decoded state. It is for a pod read from
// a cache that does not show the write yet; judged without its new images, its old container statuses would
// read as the update's (a status failing on the old image would count as the new image failing). The pod
// itself, the cache's, is not modified.
func Apply(pod *podview.View, change Change) *podview.View {
	out := pod.DeepCopyObject().(*podview.View)
	for name, image := range change.Images {
		if c := specContainer(out, name); c != nil {
			c.Image = image
		}
	}
	return out
}

// Phase is where an in-place update stands.
type Phase string

const (
	// Updating: the kubelet has not yet restarted every changed container on its new image, or one is not
	// ready yet.
	Updating Phase = "Updating"
	// Done: every changed container restarted on its new image and is ready.
	Done Phase = "Done"
	// Failed: a changed container cannot pull its image or crash-loops, or is not ready within the deadline.
	Failed Phase = "Failed"
)

// failingReasons are the waiting reasons of a container that will not come up without a human.
var failingReasons = []string{"ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "InvalidImageName", "CreateContainerConfigError"}

// Progress says where the pod's recorded update stands, from its container statuses alone, with the reason.
// Past twice the deadline, a container that restarted on its new image counts as done whatever its state.
// A container is done when its status reports the new spec image (or a new imageID), it was restarted (a new
// containerID or a higher restartCount than recorded), and it is ready; the image digest need not change, so
// a tag moved to the same digest still finishes. It is failed when it waits for a failing reason, or is not
// done within deadline of the update being written; a failing reason reported for the image the container ran
// before the update is not the update's failure.
func Progress(pod *podview.View, update *podstate.Update, deadline time.Duration, now time.Time) (Phase, string) {
	if update == nil {
		return Done, "no update in flight"
	}
	for _, name := range slices.Sorted(maps.Keys(update.Containers)) {
		spec := specContainer(pod, name)
		st := statusOf(pod, name)
		if spec == nil {
			return Failed, fmt.Sprintf("container %s is gone from the pod", name)
		}
		// An update is judged within its window. Past twice the deadline, a container that restarted on its
		// new image is done with its update: a crash since then is the container's health, not the update's
		// (the record stays on the pod, as clearing it would take a second write). One that never got its
		// new image stays failed.
		if now.Sub(update.StartedAt.Time) > 2*deadline && restartedOnNewImage(spec, st, update.Containers[name]) {
			continue
		}
		// A failing reason counts once the status is about the new image (a kubelet reports the spec's image
		// for a container it cannot start): until the kubelet has seen the update, the status may still show
		// the previous image failing, which is what the update is fixing.
		if st != nil && slices.Contains(failingReasons, st.WaitingReason) && sameImage(st.Image, spec.Image) {
			return Failed, fmt.Sprintf("container %s is in %s: %s", name, st.WaitingReason, st.WaitingMessage)
		}
		if done, why := containerDone(spec, st, update.Containers[name]); !done {
			if now.Sub(update.StartedAt.Time) > deadline {
				return Failed, fmt.Sprintf("container %s is not ready %s after its update: %s", name, deadline, why)
			}
			return Updating, fmt.Sprintf("container %s: %s", name, why)
		}
	}
	return Done, "every updated container restarted on its new image and is ready"
}

func restartedOnNewImage(spec *podview.Container, st *podview.ContainerStatus, before podstate.ContainerMark) bool {
	return st != nil && (sameImage(st.Image, spec.Image) || (st.ImageID != "" && st.ImageID != before.ImageID)) &&
		(st.ContainerID != before.ContainerID || st.RestartCount > before.RestartCount)
}

func containerDone(spec *podview.Container, st *podview.ContainerStatus, before podstate.ContainerMark) (bool, string) {
	switch {
	case st == nil:
		return false, "no status yet"
	case !sameImage(st.Image, spec.Image) && (st.ImageID == "" || st.ImageID == before.ImageID):
		return false, fmt.Sprintf("still runs %s", st.Image)
	case st.ContainerID == before.ContainerID && st.RestartCount <= before.RestartCount:
		return false, "not restarted yet"
	case !st.Ready:
		return false, "restarted, not ready yet"
	}
	return true, ""
}

// sameImage compares image references the way a container runtime reports them: "nginx:1",
// "library/nginx:1" and "docker.io/library/nginx:1" are the same image.
func sameImage(a, b string) bool {
	return normalizeImage(a) == normalizeImage(b)
}

func normalizeImage(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "index.docker.io/")
	if !strings.Contains(ref, "/") {
		ref = "library/" + ref
	}
	return ref
}

func mark(st *podview.ContainerStatus) podstate.ContainerMark {
	if st == nil {
		return podstate.ContainerMark{}
	}
	return podstate.ContainerMark{ContainerID: st.ContainerID, RestartCount: st.RestartCount, ImageID: st.ImageID}
}

func specContainer(pod *podview.View, name string) *podview.Container {
	if pod.Injected == nil {
		return nil
	}
	for _, list := range [][]podview.Container{pod.Injected.Containers, pod.Injected.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func statusOf(pod *podview.View, name string) *podview.ContainerStatus {
	if pod.Injected == nil {
		return nil
	}
	for _, list := range [][]podview.ContainerStatus{pod.Injected.ContainerStatuses, pod.Injected.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// LeftBehind counts the pods a change of a SidecarSet's spec from from to to leaves on their sidecars: the
// change differs in more than images, so it cannot be made in place, and every pod that carries the
// SidecarSet's sidecars (injection skipped none of them) at a revision other than toRevision keeps them until
// it is recreated. A change of images alone leaves none behind. states are the pods' states for the
// SidecarSet, as the pod cache has them (ok false when a pod has none).
func LeftBehind(from, to revision.Injected, toRevision string, states []podstate.SidecarSetState) int {
	if _, ok := Images(from, to); ok {
		return 0
	}
	n := 0
	for _, st := range states {
		if st.Revision != toRevision && st.Skipped == "" {
			n++
		}
	}
	return n
}
