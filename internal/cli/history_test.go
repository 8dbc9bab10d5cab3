package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

func TestStoredOfLeavesOutOtherSidecarSetsRevisions(t *testing.T) {
	stored := storedRevisions(t)
	if got := fixture.Names(stored, func(s revision.Stored) string { return s.Name }); got !=
		strings.Join([]string{revisionName(t, "r0"), revisionName(t, "r1"), revisionName(t, "latest")}, ",") {
		t.Errorf("stored %s: want r0, r1 and the latest, oldest first, without the deleted SidecarSet's", got)
	}
}

func TestHistoryGolden(t *testing.T) {
	set := sidecarSet(t, logsSet)
	set.Status.Revisions = []appsv1alpha1.RevisionPodCount{{Name: revisionName(t, "latest"), Pods: 8}, {Name: revisionName(t, "r1"), Pods: 2}}
	set.Spec.InjectionStrategy.RevisionName = ptr.To(revisionName(t, "r1"))
	var out bytes.Buffer
	if err := HistoryTable(History(set, storedRevisions(t))).Write(&out); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/history.golden", out.String(), "go test ./internal/cli -run TestHistoryGolden")
}

func TestRollbackTarget(t *testing.T) {
	stored := storedRevisions(t)
	for _, tc := range []struct {
		name    string
		to      int64
		spec    string
		want    string
		wantErr string
	}{
		{"the previous revision by default", 0, logsSet, revisionName(t, "r1"), ""},
		{"a revision by number", 1, logsSet, revisionName(t, "r0"), ""},
		{"a number not stored", 9, logsSet, "", "SidecarSet logs has no revision 9: stored are 1, 2, 3"},
		{"the revision the spec injects", 3, logsSet, revisionName(t, "latest"), ErrSameRevision.Error()},
		// After a rollback to r1 the spec injects r1 again: the previous revision is the newest other one.
		{"after a rollback", 0, strings.Replace(logsSet, "image: shipper:2", "image: shipper:1", 1), revisionName(t, "latest"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RollbackTarget(sidecarSet(t, tc.spec), stored, tc.to)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && got.Name != tc.want {
				t.Errorf("target %s, want %s", got.Name, tc.want)
			}
		})
	}
	if _, err := RollbackTarget(sidecarSet(t, logsSet), stored, 3); !errors.Is(err, ErrSameRevision) {
		t.Errorf("not ErrSameRevision: %v", err)
	}
}

// apply applies a JSON patch to the JSON document doc, as the API server does.
func apply(t *testing.T, doc string, patch []byte) (string, error) {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decoding %s: %v", patch, err)
	}
	out, err := p.Apply([]byte(doc))
	return string(out), err
}

func TestSetImagePatchChangesTheImageAndNothingElse(t *testing.T) {
	const stored = `{"metadata":{"name":"logs"},"spec":{"selector":{"matchLabels":{"app":"web"}},` +
		`"containers":[{"name":"shipper","image":"shipper:1","args":["--x"],"futureField":true},{"name":"agent","image":"agent:1"}],` +
		`"initContainers":[{"name":"proxy","image":"proxy:1","restartPolicy":"Always"}]}}`
	set := sidecarSet(t, `
metadata: {name: logs}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: shipper, image: shipper:1, args: [--x]}, {name: agent, image: agent:1}]
  initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}]`)
	images, err := ParseImageAssignments([]string{"agent=agent:2", "proxy=proxy:2", "shipper=shipper:1"})
	if err != nil {
		t.Fatal(err)
	}
	patch, changed, err := SetImagePatch(&set.Spec, images)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(changed, ","); got != "agent,proxy" {
		t.Errorf("changed %s, want agent,proxy (shipper has its image already)", got)
	}
	got, err := apply(t, stored, patch)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(`"image":"agent:1"`, `"image":"agent:2"`, `"image":"proxy:1"`, `"image":"proxy:2"`).Replace(stored)
	if !jsonpatch.Equal([]byte(got), []byte(want)) {
		t.Errorf("patched:\n%s\nwant:\n%s", got, want)
	}

	// Read before someone reordered the containers: the test fails the patch rather than change another.
	reordered := strings.Replace(stored, `{"name":"shipper","image":"shipper:1","args":["--x"],"futureField":true},{"name":"agent","image":"agent:1"}`,
		`{"name":"agent","image":"agent:1"},{"name":"shipper","image":"shipper:1","args":["--x"],"futureField":true}`, 1)
	if _, err := apply(t, reordered, patch); err == nil {
		t.Error("the patch applied to containers reordered since they were read")
	}

	if _, _, err := SetImagePatch(&set.Spec, []ImageAssignment{{Container: "nope", Image: "x:1"}}); err == nil ||
		err.Error() != "the SidecarSet has no sidecar nope: its sidecars are shipper, agent, proxy" {
		t.Errorf("a sidecar it does not have: %v", err)
	}
	if patch, _, err := SetImagePatch(&set.Spec, []ImageAssignment{{Container: "agent", Image: "agent:1"}}); err != nil || patch != nil {
		t.Errorf("no change: patch %s, %v", patch, err)
	}
	for _, bad := range [][]string{nil, {"agent"}, {"=x:1"}, {"agent="}, {"agent=a:1", "agent=a:2"}} {
		if _, err := ParseImageAssignments(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestRollbackPatchWritesTheRevisionBack(t *testing.T) {
	const current = `{"metadata":{"name":"logs","resourceVersion":"42"},"spec":{"selector":{"matchLabels":{"app":"web"}},` +
		`"updateStrategy":{"maxUnavailable":2},` +
		`"containers":[{"name":"shipper","image":"shipper:2"}],"volumes":[{"name":"logs","emptyDir":{}}],` +
		`"patchPodMetadata":[{"labels":{"a":"b"}}]}}`
	// The revision: another image, an init container, no volumes nor metadata, and a field this build does not know.
	const data = `{"containers":[{"name":"shipper","image":"shipper:1","futureField":"kept"}],` +
		`"initContainers":[{"name":"proxy","image":"proxy:1","restartPolicy":"Always"}]}`
	var doc map[string]any
	if err := json.Unmarshal([]byte(current), &doc); err != nil {
		t.Fatal(err)
	}
	patch, err := RollbackPatch(doc["spec"].(map[string]any), []byte(data), "42")
	if err != nil {
		t.Fatal(err)
	}
	got, err := apply(t, current, patch)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"metadata":{"name":"logs","resourceVersion":"42"},"spec":{"selector":{"matchLabels":{"app":"web"}},` +
		`"updateStrategy":{"maxUnavailable":2},` +
		`"containers":[{"name":"shipper","image":"shipper:1","futureField":"kept"}],` +
		`"initContainers":[{"name":"proxy","image":"proxy:1","restartPolicy":"Always"}]}}`
	if !jsonpatch.Equal([]byte(got), []byte(want)) {
		t.Errorf("rolled back:\n%s\nwant:\n%s", got, want)
	}
	// Changed since it was read: the patch fails.
	if _, err := apply(t, strings.Replace(current, `"42"`, `"43"`, 1), patch); err == nil {
		t.Error("the rollback applied to a SidecarSet changed since it was read")
	}
}

// TestInjectedFieldsAreTheRevisionsFields holds InjectedFields to what a revision stores.
func TestInjectedFieldsAreTheRevisionsFields(t *testing.T) {
	in := fixture.Injected(t, `
containers: [{name: a, image: a}]
initContainers: [{name: b, image: b}]
volumes: [{name: v, emptyDir: {}}]
imagePullSecrets: [{name: s}]
patchPodMetadata: [{labels: {k: v}}]`)
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	got, want := InjectedFields(), slices.Sorted(maps.Keys(fields))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("InjectedFields %v, a revision stores %v", got, want)
	}
}
