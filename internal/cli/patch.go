package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// PausedPatch is the JSON merge patch that sets updateStrategy.paused. A merge patch of a field outside the
// lists keyed by name is safe (docs/user-guide.md, Changing a SidecarSet).
func PausedPatch(paused bool) []byte {
	return []byte(fmt.Sprintf(`{"spec":{"updateStrategy":{"paused":%t}}}`, paused))
}

// ImageAssignment is one CONTAINER=IMAGE argument of set image.
type ImageAssignment struct {
	Container, Image string
}

// ParseImageAssignments reads CONTAINER=IMAGE arguments; a container named twice is an error.
func ParseImageAssignments(args []string) ([]ImageAssignment, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("name at least one sidecar and its image, CONTAINER=IMAGE")
	}
	out := make([]ImageAssignment, 0, len(args))
	for _, arg := range args {
		name, image, ok := strings.Cut(arg, "=")
		if !ok || name == "" || image == "" {
			return nil, fmt.Errorf("%q is not CONTAINER=IMAGE", arg)
		}
		if slices.ContainsFunc(out, func(a ImageAssignment) bool { return a.Container == name }) {
			return nil, fmt.Errorf("sidecar %s is named twice", name)
		}
		out = append(out, ImageAssignment{Container: name, Image: image})
	}
	return out, nil
}

// SetImagePatch is the JSON patch that changes the images of the named sidecars and nothing else, as
// docs/user-guide.md recommends: for each, a test of the sidecar's name at its index, so that the patch fails
// rather than change another sidecar if the list changed since it was read, and a replace of its image.
// Sidecars are looked up among containers, then init containers (native sidecars). changed names the
// sidecars whose image differs from the spec's; the patch is nil when none does.
func SetImagePatch(spec *appsv1alpha1.SidecarSetSpec, images []ImageAssignment) (patch []byte, changed []string, err error) {
	var ops []jsonpatch.Operation
	for _, a := range images {
		path, image := "", ""
		for _, list := range []struct {
			path string
			in   []appsv1alpha1.SidecarContainer
		}{{"/spec/containers", spec.Containers}, {"/spec/initContainers", spec.InitContainers}} {
			if i := slices.IndexFunc(list.in, func(c appsv1alpha1.SidecarContainer) bool { return c.Name == a.Container }); i >= 0 {
				path, image = list.path+"/"+strconv.Itoa(i), list.in[i].Image
				break
			}
		}
		if path == "" {
			return nil, nil, fmt.Errorf("the SidecarSet has no sidecar %s: its sidecars are %s", a.Container, orNone(strings.Join(sidecarNames(spec), ", ")))
		}
		if image == a.Image {
			continue
		}
		changed = append(changed, a.Container)
		ops = append(ops, jsonpatch.NewOperation("test", path+"/name", a.Container),
			jsonpatch.NewOperation("replace", path+"/image", a.Image))
	}
	if len(ops) == 0 {
		return nil, nil, nil
	}
	patch, err = json.Marshal(ops)
	return patch, changed, err
}

func sidecarNames(spec *appsv1alpha1.SidecarSetSpec) []string {
	var names []string
	for _, c := range slices.Concat(spec.Containers, spec.InitContainers) {
		names = append(names, c.Name)
	}
	return names
}

// InjectedFields are the fields of a SidecarSet spec that make up a revision (revision.Injected), by their
// JSON names: what a rollback writes back.
func InjectedFields() []string {
	t := reflect.TypeFor[revision.Injected]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

// RollbackPatch is the JSON patch that writes a stored revision's content back into the spec, as kubectl
// rollout undo writes a ReplicaSet's template back into its Deployment: each injected field (InjectedFields)
// the revision holds is set to the revision's value, as stored, and each it does not hold is removed from
// the spec. The other fields of the spec (selectors, strategies) are left alone. The values are copied as
// JSON, so fields this build of the API types does not know survive. The patch first tests the
// SidecarSet's resourceVersion, so that it fails rather than undo a change made since spec was read.
//
// spec is the SidecarSet's spec as the API server returned it, data the ControllerRevision's data.
func RollbackPatch(spec map[string]any, data []byte, resourceVersion string) ([]byte, error) {
	var stored map[string]json.RawMessage
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("reading the revision: %w", err)
	}
	ops := []jsonpatch.Operation{jsonpatch.NewOperation("test", "/metadata/resourceVersion", resourceVersion)}
	for _, field := range InjectedFields() {
		if value, ok := stored[field]; ok {
			// "add" of an existing member replaces it (RFC 6902, 4.1).
			ops = append(ops, jsonpatch.NewOperation("add", "/spec/"+field, value))
		} else if _, ok := spec[field]; ok {
			ops = append(ops, jsonpatch.Operation{Operation: "remove", Path: "/spec/" + field})
		}
	}
	return json.Marshal(ops)
}
