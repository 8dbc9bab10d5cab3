package inject

import (
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// Patch returns the JSON patch that turns original into injected, where injected is what Inject returned for
// original. Inject only inserts list items and sets map keys, so the patch is made of insertions at exact
// indexes and key-level adds: applied to the raw pod the API server holds, it leaves every other byte alone,
// including fields this build of the Kubernetes API types does not know. (A whole-object diff would replace
// those fields by their typed re-encoding and drop what it does not know.)
func Patch(original, injected *corev1.Pod) []jsonpatch.Operation {
	var ops []jsonpatch.Operation
	ops = append(ops, insertions("/spec/initContainers", original.Spec.InitContainers, injected.Spec.InitContainers, containerName)...)
	ops = append(ops, insertions("/spec/containers", original.Spec.Containers, injected.Spec.Containers, containerName)...)
	ops = append(ops, insertions("/spec/volumes", original.Spec.Volumes, injected.Spec.Volumes, func(v corev1.Volume) string { return v.Name })...)
	ops = append(ops, insertions("/spec/imagePullSecrets", original.Spec.ImagePullSecrets, injected.Spec.ImagePullSecrets,
		func(s corev1.LocalObjectReference) string { return s.Name })...)
	ops = append(ops, mapChanges("/metadata/labels", original.Labels, injected.Labels)...)
	ops = append(ops, mapChanges("/metadata/annotations", original.Annotations, injected.Annotations)...)
	return ops
}

func containerName(c corev1.Container) string { return c.Name }

// insertions returns the adds that turn before into after, given that after is before with items inserted.
// Each add names the index the item has in after; applied in order, every earlier insertion is already in
// place, so the indexes are right.
func insertions[T any](path string, before, after []T, key func(T) string) []jsonpatch.Operation {
	if len(after) == len(before) {
		return nil
	}
	if len(before) == 0 {
		// The field may be absent from the raw pod: add the whole list.
		return []jsonpatch.Operation{jsonpatch.NewOperation("add", path, after)}
	}
	var ops []jsonpatch.Operation
	j := 0
	for i, item := range after {
		if j < len(before) && key(before[j]) == key(item) {
			j++
			continue
		}
		ops = append(ops, jsonpatch.NewOperation("add", path+"/"+strconv.Itoa(i), item))
	}
	return ops
}

// mapChanges returns the adds that turn before into after, given that after has every key of before.
func mapChanges(path string, before, after map[string]string) []jsonpatch.Operation {
	if len(after) == 0 {
		return nil
	}
	if len(before) == 0 {
		return []jsonpatch.Operation{jsonpatch.NewOperation("add", path, after)}
	}
	var keys []string
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			keys = append(keys, k)
		}
	}
	// Sorted, so equal inputs give equal patches.
	slices.Sort(keys)
	ops := make([]jsonpatch.Operation, 0, len(keys))
	for _, k := range keys {
		// "add" on an existing key replaces its value (RFC 6902, 4.1).
		ops = append(ops, jsonpatch.NewOperation("add", path+"/"+escapePointer(k), after[k]))
	}
	return ops
}

// escapePointer escapes a map key for a JSON pointer (RFC 6901): "~" as "~0", "/" as "~1".
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
