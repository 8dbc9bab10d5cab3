package inplace

import (
	"encoding/json"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
)

// Metadata is a change of what a SidecarSet adds to its pods' labels and annotations (patchPodMetadata),
// from one revision's patches to another's. Labels and annotations can change on a running pod, so such a
// change is made in place, in the update's one patch of the pod; what it writes depends on the pod's own
// labels and annotations at the time (MetadataPatch).
type Metadata struct {
	From, To []appsv1alpha1.PodMetadataPatch
}

// metadataOf is the metadata change from one revision to another, nil when they add the same.
func metadataOf(from, to []appsv1alpha1.PodMetadataPatch) *Metadata {
	if equality.Semantic.DeepEqual(from, to) {
		return nil
	}
	return &Metadata{From: from, To: to}
}

// MetadataPatch returns what the change writes to a pod with the given labels and annotations: each key to
// set with its value, and each key to remove with nil; empty maps when nothing changes. A key the pod holds
// with the value the old patches added is the SidecarSet's: it is replaced by the new patches' value, or
// removed when they no longer add it. Any other value is the pod's own, which Retain never overwrites and
// Overwrite does, as at injection (inject.PatchMetadata).
func MetadataPatch(labels, annotations map[string]string, m Metadata) (setLabels, setAnnotations map[string]*string) {
	// What the pod would have without the old patches: the keys holding their values taken out.
	var added metav1.ObjectMeta
	inject.PatchMetadata(&added, m.From)
	without := metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: maps.Clone(annotations)}
	for k, v := range added.Labels {
		if cur, ok := without.Labels[k]; ok && cur == v {
			delete(without.Labels, k)
		}
	}
	for k, v := range added.Annotations {
		if cur, ok := without.Annotations[k]; ok && cur == v {
			delete(without.Annotations, k)
		}
	}
	inject.PatchMetadata(&without, m.To)
	return changes(labels, without.Labels), changes(annotations, without.Annotations)
}

// changes is what turns before into after: the keys set, and nil for the keys removed.
func changes(before, after map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range after {
		if cur, ok := before[k]; !ok || cur != v {
			out[k] = &v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

// WithMetadata returns patch, a patch Patch made, also setting and removing the given labels and
// annotations.
func WithMetadata(patch []byte, labels, annotations map[string]*string) ([]byte, error) {
	if len(labels) == 0 && len(annotations) == 0 {
		return patch, nil
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	meta, ok := p["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the patch has no metadata")
	}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	if len(annotations) > 0 {
		own, _ := meta["annotations"].(map[string]any)
		merged := map[string]any{}
		for k, v := range annotations {
			merged[k] = v
		}
		// The state annotation is the operator's, written by the patch itself.
		maps.Copy(merged, own)
		meta["annotations"] = merged
	}
	return json.Marshal(p)
}
