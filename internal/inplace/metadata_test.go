package inplace

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

func metadataPatches(t *testing.T, manifest string) []appsv1alpha1.PodMetadataPatch {
	t.Helper()
	var out []appsv1alpha1.PodMetadataPatch
	if err := yaml.UnmarshalStrict([]byte(manifest), &out); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if out[i].Policy == "" {
			out[i].Policy = appsv1alpha1.PodMetadataPatchRetain // the API's default
		}
	}
	return out
}

// written renders what MetadataPatch writes as "key=value" and "key-" (removed), sorted.
func written(m map[string]*string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] == nil {
			out = append(out, k+"-")
		} else {
			out = append(out, k+"="+*m[k])
		}
	}
	return strings.Join(out, " ")
}

func TestMetadataPatch(t *testing.T) {
	tests := []struct {
		name        string
		labels      map[string]string
		from, to    string
		wantLabels  string
		wantAnnots  string
		annotations map[string]string
	}{
		{name: "a value the SidecarSet added is replaced", labels: map[string]string{"app": "web", "mesh": "v1"},
			from: `[{labels: {mesh: v1}}]`, to: `[{labels: {mesh: v2}}]`, wantLabels: "mesh=v2"},
		{name: "Retain keeps a value the pod owns", labels: map[string]string{"mesh": "mine"},
			from: `[{labels: {mesh: v1}}]`, to: `[{labels: {mesh: v2}}]`, wantLabels: ""},
		{name: "Overwrite replaces a value the pod owns", labels: map[string]string{"mesh": "mine"},
			from: `[{labels: {mesh: v1}}]`, to: `[{labels: {mesh: v2}, policy: Overwrite}]`, wantLabels: "mesh=v2"},
		{name: "a new key is added where the pod has none", labels: map[string]string{"app": "web"},
			from: `[]`, to: `[{labels: {team: platform}}]`, wantLabels: "team=platform"},
		{name: "a new key under Retain leaves the pod's own value", annotations: map[string]string{"trace": "off"},
			from: `[]`, to: `[{annotations: {trace: "on"}}]`, wantAnnots: ""},
		{name: "a key no longer added is removed when it holds the SidecarSet's value", labels: map[string]string{"mesh": "v1", "app": "web"},
			annotations: map[string]string{"owner": "team-a", "note": "x"},
			from:        `[{labels: {mesh: v1}, annotations: {owner: team-a}}]`, to: `[{annotations: {note: y}}]`, wantLabels: "mesh-", wantAnnots: "owner-"},
		{name: "and kept when the pod changed it since", labels: map[string]string{"mesh": "mine"},
			from: `[{labels: {mesh: v1}}]`, to: `[{labels: {other: x}}]`, wantLabels: "other=x"},
		{name: "the first patch naming a key wins under Retain, as at injection", labels: map[string]string{},
			from: `[]`, to: `[{labels: {k: first}}, {labels: {k: second}}]`, wantLabels: "k=first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels, annots := MetadataPatch(tt.labels, tt.annotations, Metadata{From: metadataPatches(t, tt.from), To: metadataPatches(t, tt.to)})
			if got := written(labels); got != tt.wantLabels {
				t.Errorf("labels %q, want %q", got, tt.wantLabels)
			}
			if got := written(annots); got != tt.wantAnnots {
				t.Errorf("annotations %q, want %q", got, tt.wantAnnots)
			}
		})
	}
}

func TestWithMetadataKeepsTheStateAnnotation(t *testing.T) {
	patch := []byte(`{"metadata":{"annotations":{"sidecarset.io/state":"{}"},"resourceVersion":"7"}}`)
	v := "v2"
	got, err := WithMetadata(patch, map[string]*string{"mesh": &v, "old": nil}, map[string]*string{"note": &v})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Metadata struct {
			Labels          map[string]*string `json:"labels"`
			Annotations     map[string]*string `json:"annotations"`
			ResourceVersion string             `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(got, &p); err != nil {
		t.Fatal(err)
	}
	m := p.Metadata
	if *m.Labels["mesh"] != "v2" || m.Labels["old"] != nil || len(m.Labels) != 2 || *m.Annotations["note"] != "v2" ||
		*m.Annotations[appsv1alpha1.StateAnnotation] != "{}" || m.ResourceVersion != "7" {
		t.Errorf("patch %s", got)
	}
	if same, _ := WithMetadata(patch, nil, map[string]*string{}); string(same) != string(patch) {
		t.Errorf("nothing to write changed the patch: %s", same)
	}
}
