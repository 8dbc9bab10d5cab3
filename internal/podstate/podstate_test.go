package podstate

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podWithState(raw string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"sidecarset.io/state": raw}}}
}

func TestReadEncodeRoundTrip(t *testing.T) {
	s := State{
		"b-set": {Revision: "b-set-2", Images: map[string]string{"z": "z:1", "a": "a:1"}},
		"a-set": {Revision: "a-set-1", Conflicts: []string{"proxy"}},
	}
	raw := s.Encode()
	want := `{"a-set":{"revision":"a-set-1","conflicts":["proxy"]},"b-set":{"revision":"b-set-2","images":{"a":"a:1","z":"z:1"}}}`
	if raw != want {
		t.Fatalf("encoded %s, want %s", raw, want)
	}
	got, err := Read(podWithState(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got.Encode() != raw {
		t.Errorf("round trip changed the state: %s", got.Encode())
	}
	if owners := got.SidecarNames(); owners["a"] != "b-set" || owners["z"] != "b-set" || len(owners) != 2 {
		t.Errorf("SidecarNames = %v", owners)
	}
}

func TestReadWithoutAnnotationIsEmpty(t *testing.T) {
	for _, pod := range []*corev1.Pod{{}, podWithState(""), podWithState("null")} {
		s, err := Read(pod)
		if err != nil || s == nil || len(s) != 0 {
			t.Errorf("Read(%v) = %v, %v; want an empty state", pod.Annotations, s, err)
		}
	}
}

func TestReadRefusesAnInvalidAnnotation(t *testing.T) {
	for _, raw := range []string{"{", `["a"]`, `{"a":{"revision":3}}`} {
		_, err := Read(podWithState(raw))
		if err == nil || !strings.Contains(err.Error(), "annotation sidecarset.io/state is not a valid sidecar state") {
			t.Errorf("Read(%q) error = %v", raw, err)
		}
	}
}

// TestParseInternsTheRevisions wants equal revisions parsed from two annotations to share one array, so that
// a decision over thousands of pods compares them without reading each pod's copy, even with a collection
// between them; the state is unchanged.
func TestParseInternsTheRevisions(t *testing.T) {
	raw := State{"logs": {Revision: "logs-7d9f", Images: map[string]string{"shipper": "shipper:2"},
		Update: &Update{From: "logs-5c4b"}}}.Encode()
	a, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()                         // interned strings outlive a collection
	b, err := Parse(string([]byte(raw))) // another copy of the same bytes
	if err != nil {
		t.Fatal(err)
	}
	if a["logs"].Revision != "logs-7d9f" || a["logs"].Update.From != "logs-5c4b" || a.Encode() != raw {
		t.Fatalf("parsed %+v", a["logs"])
	}
	if unsafe.StringData(a["logs"].Revision) != unsafe.StringData(b["logs"].Revision) ||
		unsafe.StringData(a["logs"].Update.From) != unsafe.StringData(b["logs"].Update.From) {
		t.Error("equal revisions parsed twice are two strings")
	}
}
