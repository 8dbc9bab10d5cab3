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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// Delta is what an in-place update from one revision to another changes in a running pod, by sidecar
// name: the images the kubelet restarts containers on, and the CPU and memory it resizes them to.
type Delta struct {
	Images map[string]string
	// Resources are the sidecars' resources in the target revision, of each sidecar whose CPU or memory
	// requests or limits change.
	Resources map[string]corev1.ResourceRequirements
	// ResizeRestarts are the resized sidecars the kubelet restarts to resize: their resizePolicy says
	// RestartContainer for a resource whose request or limit changes.
	ResizeRestarts map[string]bool
	// Metadata is the change of the labels and annotations the SidecarSet adds, nil when none.
	Metadata *Metadata
}

// Empty says the delta changes nothing.
func (d Delta) Empty() bool { return len(d.Images) == 0 && len(d.Resources) == 0 && d.Metadata == nil }

// Diff returns what an update from one revision to another changes in a running pod, when the two differ only
// in what the kubelet changes in place: the images of sidecar containers and native sidecars, and their CPU
// and memory requests and limits (a resize through the pod's resize subresource), and in the labels and
// annotations they add (patchPodMetadata). ok is false when they
// differ in anything else (a command, a new sidecar, a volume, another resource, a classic init container's
// image or resources), or remove a CPU or memory request or limit, which the API server refuses to resize:
// such a pod must be recreated to change. Equal revisions give an empty delta.
func Diff(from, to revision.Injected) (d Delta, ok bool) {
	if len(from.Containers) != len(to.Containers) || len(from.InitContainers) != len(to.InitContainers) ||
		!equality.Semantic.DeepEqual(from.Volumes, to.Volumes) ||
		!equality.Semantic.DeepEqual(from.ImagePullSecrets, to.ImagePullSecrets) {
		return Delta{}, false
	}
	d = Delta{Images: map[string]string{}, Resources: map[string]corev1.ResourceRequirements{}, ResizeRestarts: map[string]bool{},
		Metadata: metadataOf(from.PatchPodMetadata, to.PatchPodMetadata)}
	for i := range to.Containers {
		if !d.add(from.Containers[i], to.Containers[i]) {
			return Delta{}, false
		}
	}
	for i := range to.InitContainers {
		a, b := from.InitContainers[i], to.InitContainers[i]
		// A classic init container has run to completion: a new image or size would never run.
		if !inject.IsNativeSidecar(&b.Container) && !equality.Semantic.DeepEqual(a, b) {
			return Delta{}, false
		}
		if !d.add(a, b) {
			return Delta{}, false
		}
	}
	return d, true
}

// add records what changing sidecar a into b changes in place; false when it changes more.
func (d Delta) add(a, b appsv1alpha1.SidecarContainer) bool {
	if a.Name != b.Name {
		return false
	}
	if a.Image != b.Image {
		d.Images[b.Name] = b.Image
	}
	if podview.ResourcesOf(&a.Resources) != podview.ResourcesOf(&b.Resources) {
		// The API server refuses a resize that removes a request or a limit.
		if removes(a.Resources, b.Resources) {
			return false
		}
		d.Resources[b.Name] = b.Resources
		for _, p := range b.ResizePolicy {
			if p.RestartPolicy == corev1.RestartContainer && resourceChanges(a.Resources, b.Resources, p.ResourceName) {
				d.ResizeRestarts[b.Name] = true
			}
		}
	}
	// Compare the rest: the image and the resizable resources as b has them.
	a.Image, a.Resources = b.Image, withResizable(a.Resources, b.Resources)
	return equality.Semantic.DeepEqual(a, b)
}

// withResizable returns r with the CPU and memory requests and limits of like, and r's other resources.
func withResizable(r, like corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{Claims: r.Claims}
	copyOthers := func(list corev1.ResourceList, likeList corev1.ResourceList) corev1.ResourceList {
		var merged corev1.ResourceList
		set := func(name corev1.ResourceName, q resource.Quantity) {
			if merged == nil {
				merged = corev1.ResourceList{}
			}
			merged[name] = q
		}
		for name, q := range list {
			if !resizable(name) {
				set(name, q)
			}
		}
		for name, q := range likeList {
			if resizable(name) {
				set(name, q)
			}
		}
		return merged
	}
	out.Requests = copyOthers(r.Requests, like.Requests)
	out.Limits = copyOthers(r.Limits, like.Limits)
	return out
}

// resourceChanges says whether the request or the limit of the named resource differs between a and b, a
// limit without a request requesting the limit.
func resourceChanges(a, b corev1.ResourceRequirements, name corev1.ResourceName) bool {
	request := func(r corev1.ResourceRequirements) (resource.Quantity, bool) {
		if q, ok := r.Requests[name]; ok {
			return q, true
		}
		q, ok := r.Limits[name]
		return q, ok
	}
	differ := func(x resource.Quantity, hasX bool, y resource.Quantity, hasY bool) bool {
		return hasX != hasY || x.Cmp(y) != 0
	}
	ra, okA := request(a)
	rb, okB := request(b)
	la, hasLA := a.Limits[name]
	lb, hasLB := b.Limits[name]
	return differ(ra, okA, rb, okB) || differ(la, hasLA, lb, hasLB)
}

// removes says whether going from a to b removes a CPU or memory request or limit, a limit without a
// request requesting the limit.
func removes(a, b corev1.ResourceRequirements) bool {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		_, limitA := a.Limits[name]
		_, limitB := b.Limits[name]
		_, requestA := a.Requests[name]
		_, requestB := b.Requests[name]
		if (limitA && !limitB) || ((requestA || limitA) && !(requestB || limitB)) {
			return true
		}
	}
	return false
}

func resizable(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

// Change is what an in-place update writes to a pod: the new images by container name (in spec.containers or
// spec.initContainers) and the pod's state for the SidecarSet, which records the update, in one patch of the
// pod; and the new resources by container name, in one write to its resize subresource before it.
type Change struct {
	Images    map[string]string
	Resources map[string]corev1.ResourceRequirements
	// Metadata, when set, is written in the same patch, as MetadataPatch works it out from the pod's labels
	// and annotations when it is written.
	Metadata *Metadata
	State    podstate.SidecarSetState
}

// Plan returns the change that moves a pod from its current state to the target revision by delta,
// recording what each restarted container's status says now, and which containers are resized, so that
// completion can be recognized. A container whose spec already has the image or the resources is not
// written again; one already resized in its spec whose status does not show it yet is still waited for (a
// resize written by an update whose patch of the pod failed). ok is false when a sidecar to change is not in
// the pod (it was skipped for a conflict, or removed): such a pod is not updatable.
func Plan(pod *podview.View, current podstate.SidecarSetState, target string, delta Delta, now time.Time) (Change, bool) {
	change := Change{Images: map[string]string{}, Metadata: delta.Metadata}
	update := &podstate.Update{From: current.Revision, Containers: map[string]podstate.ContainerMark{}}
	update.StartedAt.Time = now
	newImages := maps.Clone(current.Images)
	if newImages == nil {
		newImages = map[string]string{}
	}
	for _, name := range slices.Sorted(maps.Keys(delta.Images)) {
		c := specContainer(pod, name)
		if c == nil {
			return Change{}, false
		}
		newImages[name] = delta.Images[name]
		if c.Image == delta.Images[name] {
			continue
		}
		change.Images[name] = delta.Images[name]
		update.Containers[name] = mark(statusOf(pod, name))
	}
	for _, name := range slices.Sorted(maps.Keys(delta.Resources)) {
		c := specContainer(pod, name)
		if c == nil {
			return Change{}, false
		}
		want := delta.Resources[name]
		switch {
		case c.Resources != podview.ResourcesOf(&want):
			if change.Resources == nil {
				change.Resources = map[string]corev1.ResourceRequirements{}
			}
			change.Resources[name] = want
		case statusResources(pod, name) == c.Resources:
			continue
		}
		update.Resized = append(update.Resized, name)
	}
	// What the pods of one revision pair change alike is the delta's map, shared rather than copied: a write's
	// change is kept in flight until the pod cache shows it, a thousand of them at a step of 10,000 pods. A
	// Change is read, never modified.
	if maps.Equal(change.Images, delta.Images) {
		change.Images = delta.Images
	}
	if maps.Equal(newImages, delta.Images) {
		newImages = delta.Images
	}
	change.State = podstate.SidecarSetState{Revision: target, Images: newImages, Conflicts: current.Conflicts}
	if len(change.Images) > 0 || len(update.Resized) > 0 {
		change.State.Update = update
	}
	return change, true
}

// Restarts names the containers the change restarts, sorted: those on a new image, and those resized whose
// resizePolicy restarts them (delta.ResizeRestarts).
func (c Change) Restarts(delta Delta) []string {
	out := slices.Collect(maps.Keys(c.Images))
	for name := range c.Resources {
		if _, ok := c.Images[name]; !ok && delta.ResizeRestarts[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
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

// ResizePatch is the change's write to the pod's resize subresource, nil when it resizes nothing: a strategic
// merge patch replacing the resources of each resized container (in spec.containers or spec.initContainers,
// by name, in name order), guarded by the pod's resourceVersion so that a pod changed since is refused with a
// conflict and planned again. It is sent before Patch: the resize changes the pod's resourceVersion, so Patch
// is then guarded by the version the resize returns (Guard).
func ResizePatch(pod *podview.View, change Change) ([]byte, error) {
	if len(change.Resources) == 0 {
		return nil, nil
	}
	type resized struct {
		Name      string         `json:"name"`
		Resources map[string]any `json:"resources"`
	}
	var containers, initContainers []resized
	for _, name := range slices.Sorted(maps.Keys(change.Resources)) {
		r := change.Resources[name]
		// The resources replace the container's whole: a request or limit the target drops is dropped.
		c := resized{Name: name, Resources: map[string]any{"$patch": "replace"}}
		if len(r.Requests) > 0 {
			c.Resources["requests"] = r.Requests
		}
		if len(r.Limits) > 0 {
			c.Resources["limits"] = r.Limits
		}
		if len(r.Claims) > 0 {
			c.Resources["claims"] = r.Claims
		}
		switch {
		case pod.Injected != nil && slices.ContainsFunc(pod.Injected.Containers, func(c podview.Container) bool { return c.Name == name }):
			containers = append(containers, c)
		case pod.Injected != nil && slices.ContainsFunc(pod.Injected.InitContainers, func(c podview.Container) bool { return c.Name == name }):
			initContainers = append(initContainers, c)
		default:
			return nil, fmt.Errorf("container %s is not in the pod", name)
		}
	}
	spec := map[string]any{}
	if len(containers) > 0 {
		spec["containers"] = containers
	}
	if len(initContainers) > 0 {
		spec["initContainers"] = initContainers
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": pod.ResourceVersion}, "spec": spec})
}

// Guard returns patch, a patch Patch made, guarded by resourceVersion instead.
func Guard(patch []byte, resourceVersion string) ([]byte, error) {
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	meta, ok := p["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the patch has no metadata to guard")
	}
	meta["resourceVersion"] = resourceVersion
	return json.Marshal(p)
}

// Changed says how the pod now differs from the pod an update was decided on, in what the update's patch
// depends on: the pod itself (its UID), its state annotation (the entries of other SidecarSets, which the
// patch rewrites) and its containers' images; "" when it does not. Resources may differ: the update's own
// resize changed them.
func Changed(decided, now *podview.View) string {
	switch {
	case decided.UID != now.UID:
		return "it was recreated"
	case decided.StateAnnotation() != now.StateAnnotation():
		return "its sidecar state was written"
	case decided.Injected == nil || now.Injected == nil:
		return "its containers changed"
	}
	images := func(v *podview.View) []string {
		var out []string
		for _, list := range [][]podview.Container{v.Injected.Containers, v.Injected.InitContainers} {
			for _, c := range list {
				out = append(out, c.Name+"="+c.Image)
			}
		}
		return out
	}
	if !slices.Equal(images(decided), images(now)) {
		return "its containers changed"
	}
	return ""
}

// Refuse returns patch, a patch Patch made of a change for the SidecarSet setName, recording that the API
// server refused the change's resize for why: the update is written, and fails (Progress).
func Refuse(patch []byte, setName, why string) ([]byte, error) {
	var p struct {
		Metadata map[string]any `json:"metadata"`
		Spec     any            `json:"spec,omitempty"`
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	annotations, _ := p.Metadata["annotations"].(map[string]any)
	raw, _ := annotations[appsv1alpha1.StateAnnotation].(string)
	state, err := podstate.Parse(raw)
	if err != nil {
		return nil, err
	}
	st, ok := state[setName]
	if !ok || st.Update == nil {
		return nil, fmt.Errorf("the patch records no update of SidecarSet %s", setName)
	}
	update := *st.Update
	update.Refused = why
	st.Update = &update
	state[setName] = st
	annotations[appsv1alpha1.StateAnnotation] = state.Encode()
	return json.Marshal(p)
}

// Apply returns the pod as the change's writes make it: a copy whose changed containers have their new
// images and resources; the state annotation is left to the caller, who holds the decoded state. It is for a pod read from
// a cache that does not show the write yet; judged without its new images, its old container statuses would
// read as the update's (a status failing on the old image would count as the new image failing). The pod
// itself, the cache's, is not modified; the copy shares what the change does not touch (View.WithOwnContainers).
func Apply(pod *podview.View, change Change) *podview.View {
	out := pod.WithOwnContainers()
	for name, image := range change.Images {
		if c := specContainer(out, name); c != nil {
			c.Image = image
		}
	}
	for name, r := range change.Resources {
		if c := specContainer(out, name); c != nil {
			c.Resources = podview.ResourcesOf(&r)
		}
	}
	if len(change.Resources) > 0 && out.Injected != nil {
		// What the kubelet said was about the resize before this one.
		out.Injected.Resize = nil
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

// ProgressHolds returns until when Progress answers for the pod and update as it does at now; zero: from now
// on. The clock enters Progress only as whether the update is past its deadline and whether it is past twice
// its deadline, so its answer is the same at any time up to the next of those two instants, that one
// included. A caller keeping Progress's answer for a view (the step package's memo) asks again after it.
func ProgressHolds(update *podstate.Update, deadline time.Duration, now time.Time) time.Time {
	if update == nil {
		return time.Time{}
	}
	for _, t := range [2]time.Time{update.StartedAt.Add(deadline), update.StartedAt.Add(2 * deadline)} {
		if !now.After(t) {
			return t
		}
	}
	return time.Time{}
}

// Progress says where the pod's recorded update stands, from its container statuses alone, with the reason.
// Past twice the deadline, a container that restarted on its new image counts as done whatever its state.
// A container is done when its status reports the new spec image (or a new imageID), it was restarted (a new
// containerID or a higher restartCount than recorded), and it is ready; the image digest need not change, so
// a tag moved to the same digest still finishes. It is failed when it waits for a failing reason, or is not
// done within deadline of the update being written; a failing reason reported for the image the container ran
// before the update is not the update's failure.
//
// A resized container is done when its status reports the resources of its spec, no resize of the pod is in
// progress or pending, and it is ready. The update fails at once when the API server refused the resize or
// the kubelet reports it Infeasible; a resize the kubelet Deferred is in progress until the deadline.
func Progress(pod *podview.View, update *podstate.Update, deadline time.Duration, now time.Time) (Phase, string) {
	if update == nil {
		return Done, "no update in flight"
	}
	late := now.After(update.StartedAt.Add(deadline)) // ProgressHolds names the instants the clock is compared with
	// In their order by name; most updates restart one container, which needs no sort.
	var one [1]string
	names := one[:0]
	if len(update.Containers) == 1 {
		for name := range update.Containers {
			names = append(names, name)
		}
	} else {
		names = slices.Sorted(maps.Keys(update.Containers))
	}
	for _, name := range names {
		spec := specContainer(pod, name)
		st := statusOf(pod, name)
		if spec == nil {
			return Failed, fmt.Sprintf("container %s is gone from the pod", name)
		}
		// An update is judged within its window. Past twice the deadline, a container that restarted on its
		// new image is done with its update: a crash since then is the container's health, not the update's
		// (the record stays on the pod, as clearing it would take a second write). One that never got its
		// new image stays failed.
		if now.After(update.StartedAt.Add(2*deadline)) && restartedOnNewImage(spec, st, update.Containers[name]) {
			continue
		}
		// A failing reason counts once the status is about the new image (a kubelet reports the spec's image
		// for a container it cannot start): until the kubelet has seen the update, the status may still show
		// the previous image failing, which is what the update is fixing.
		if st != nil && slices.Contains(failingReasons, st.WaitingReason) && sameImage(st.Image, spec.Image) {
			return Failed, fmt.Sprintf("container %s is in %s: %s", name, st.WaitingReason, st.WaitingMessage)
		}
		if done, why := containerDone(spec, st, update.Containers[name]); !done {
			if late {
				return Failed, fmt.Sprintf("container %s is not ready %s after its update: %s", name, deadline, why)
			}
			return Updating, fmt.Sprintf("container %s: %s", name, why)
		}
	}
	if len(update.Resized) == 0 {
		return Done, "every updated container restarted on its new image and is ready"
	}
	if update.Refused != "" {
		return Failed, fmt.Sprintf("the API server refused to resize %s: %s", strings.Join(update.Resized, ", "), update.Refused)
	}
	if r := resizeOf(pod); r != nil && r.Pending == string(corev1.PodReasonInfeasible) {
		return Failed, fmt.Sprintf("the kubelet cannot resize %s (%s): %s", strings.Join(update.Resized, ", "), r.Pending, r.Message)
	}
	for _, name := range update.Resized {
		if done, why := resized(pod, name); !done {
			if late {
				return Failed, fmt.Sprintf("container %s is not resized %s after its update: %s", name, deadline, why)
			}
			return Updating, fmt.Sprintf("container %s: %s", name, why)
		}
	}
	return Done, "every updated container runs its new image and resources and is ready"
}

// resized says whether the kubelet finished resizing the pod's container name, and if not, why.
func resized(pod *podview.View, name string) (bool, string) {
	spec, st := specContainer(pod, name), statusOf(pod, name)
	switch {
	case spec == nil:
		return false, "gone from the pod"
	case resizeOf(pod) != nil && resizeOf(pod).Pending != "":
		return false, fmt.Sprintf("resize %s: %s", resizeOf(pod).Pending, resizeOf(pod).Message)
	case resizeOf(pod) != nil && resizeOf(pod).InProgress:
		return false, "resize in progress"
	case st == nil:
		return false, "no status yet"
	case st.Resources != spec.Resources:
		return false, fmt.Sprintf("runs with %q, resized to %q", st.Resources, spec.Resources)
	case !st.Ready:
		return false, "resized, not ready yet"
	}
	return true, ""
}

// Failing says whether one of the named containers of a pod cannot start on the image of its spec (it waits
// for one of the failing reasons Progress fails an update for), and which, whatever wrote that image: the
// webhook at creation, or an update.
func Failing(pod *podview.View, names []string) (string, bool) {
	for _, name := range slices.Sorted(slices.Values(names)) {
		spec, st := specContainer(pod, name), statusOf(pod, name)
		if spec != nil && st != nil && slices.Contains(failingReasons, st.WaitingReason) && sameImage(st.Image, spec.Image) {
			return fmt.Sprintf("container %s is in %s: %s", name, st.WaitingReason, st.WaitingMessage), true
		}
	}
	return "", false
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
// change differs in more than images, resources and metadata, so it cannot be made in place, and every pod that carries the
// SidecarSet's sidecars (injection skipped none of them) at a revision other than toRevision keeps them until
// it is recreated. A change of images, resources and metadata alone leaves none behind. states are the pods' states for the
// SidecarSet, as the pod cache has them (ok false when a pod has none).
func LeftBehind(from, to revision.Injected, toRevision string, states []podstate.SidecarSetState) int {
	if _, ok := Diff(from, to); ok {
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

// statusResources is what the kubelet reports container name runs with, "" when it reports nothing.
func statusResources(pod *podview.View, name string) string {
	if st := statusOf(pod, name); st != nil {
		return st.Resources
	}
	return ""
}

// resizeOf is where the kubelet stands with resizing the pod, nil when it has nothing to say.
func resizeOf(pod *podview.View) *podview.Resize {
	if pod.Injected == nil {
		return nil
	}
	return pod.Injected.Resize
}
