package podstate

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// encodedStates are states as the operator writes them: injected, conflicted, skipped, updating.
func encodedStates() []string {
	started := metav1.NewTime(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	states := []State{
		{},
		{"logs": {Revision: "logs-5f6d7c8b9a", Images: map[string]string{"shipper": "example.com/shipper:1"}}},
		{"logs": {Revision: "logs-5f6d7c8b9a", Images: map[string]string{}}},
		{"mesh": {Revision: "mesh-1", Images: map[string]string{"proxy": "proxy:2", "init": "init:2"}, Conflicts: []string{"proxy-debug", "x"}}},
		{"mesh": {Revision: "mesh-1", Skipped: "the pod would exceed its namespace's restricted Pod Security level"}},
		{
			"logs": {Revision: "logs-2", Images: map[string]string{"shipper": "shipper:2"}, Update: &Update{From: "logs-1", StartedAt: started,
				Containers: map[string]ContainerMark{
					"shipper": {ContainerID: "containerd://0123456789abcdef", RestartCount: 3, ImageID: "example.com/shipper@sha256:0123"},
					"other":   {RestartCount: 0},
				}}},
			"mesh": {Revision: "mesh-1", Images: map[string]string{"proxy": "proxy:2"}, Update: &Update{From: "mesh-0", StartedAt: started}},
		},
	}
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.Encode()
	}
	return out
}

// decodeJSON decodes raw as encoding/json does, and whether it could.
func decodeJSON(raw string) (State, bool) {
	var s State
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, false
	}
	if s == nil {
		s = State{}
	}
	return s, true
}

func TestParseCompactReadsWhatEncodeWrites(t *testing.T) {
	for _, raw := range encodedStates() {
		got, ok := parseCompact(raw)
		if !ok {
			t.Errorf("parseCompact refused %s, which Encode wrote", raw)
			continue
		}
		want, _ := decodeJSON(raw)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("parseCompact(%s) = %#v, encoding/json gives %#v", raw, got, want)
		}
		if again := got.Encode(); again != raw {
			t.Errorf("parseCompact(%s) encodes again as %s", raw, again)
		}
	}
}

func TestParseLeavesWhatIsNotCompactToEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		valid bool
	}{
		{`{ "logs":{"revision":"r"}}`, true},                                  // whitespace
		{`{"logs":{"revision":"r\u002d1"}}`, true},                            // an escape
		{`{"logs":{"revision":"ré"}}`, true},                                  // not ASCII
		{`{"logs":{"Revision":"r"}}`, true},                                   // encoding/json folds the case of keys
		{`{"logs":{"revision":"r","owner":"team"}}`, true},                    // an unknown field, ignored
		{`{"logs":{"revision":"a","revision":"b"}}`, true},                    // a field twice: the last wins
		{`{"logs":{"images":{"a":"1"},"images":{"b":"2"}}}`, true},            // ...or both, for a map
		{`{"logs":{"images":null}}`, true},                                    // null
		{`null`, true},                                                        // a state of null is none
		{`{"l":{"update":{"containers":{"c":{"restartCount":1.0}}}}}`, false}, // not an integer
		{`{"l":{"update":{"containers":{"c":{"restartCount":01}}}}}`, false},  // a leading zero
		{`{"l":{"update":{"containers":{"c":{"restartCount":4294967296}}}}}`, false},
		{`{"l":{"update":{"startedAt":"yesterday"}}}`, false},
		{`{"l":{"update":{"startedAt":null}}}`, true},
		{`{"logs":{"revision":"r"}} `, true}, // trailing space
		{`{"logs":{"revision":"r"}}x`, false},
		{`{"logs":{"revision":"r"}`, false},
		{`{"logs":{"revision":7}}`, false},
		{`{"logs":{"conflicts":["a",]}}`, false},
		{`[]`, false},
	} {
		if _, ok := parseCompact(tc.raw); ok {
			t.Errorf("parseCompact took %s", tc.raw)
		}
		want, valid := decodeJSON(tc.raw)
		got, err := Parse(tc.raw)
		if valid != tc.valid || (err == nil) != valid {
			t.Errorf("Parse(%s): error %v; encoding/json decodes it: %v, want %v", tc.raw, err, valid, tc.valid)
			continue
		}
		if valid && !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%s) = %#v, encoding/json gives %#v", tc.raw, got, want)
		}
	}
}

// FuzzParseCompactAsEncodingJSON checks that what parseCompact takes, encoding/json decodes alike.
func FuzzParseCompactAsEncodingJSON(f *testing.F) {
	for _, raw := range encodedStates() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := parseCompact(raw)
		if !ok {
			return
		}
		want, valid := decodeJSON(raw)
		if !valid {
			t.Fatalf("parseCompact took %q, which encoding/json refuses", raw)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parseCompact(%q) = %#v, encoding/json gives %#v", raw, got, want)
		}
	})
}

// TestEntryIsParsesEntry: Entry gives what Parse gives for the one SidecarSet, for what Encode writes and for
// what only encoding/json reads (a key twice included), and Parse's error for what is not a state.
func TestEntryIsParsesEntry(t *testing.T) {
	inputs := append(encodedStates(), "",
		`{ "logs":{"revision":"r"}}`, `{"logs":{"revision":"a"},"logs":{"revision":"b"}}`, `{"mesh":{"revision":"m"},"logs":{"revision":"l\u002d1"}}`,
		`null`, `{"logs":{"revision":7}}`, `{"logs":{"revision":"r"},"mesh":{"revision":"m"}`, `[]`)
	for _, raw := range inputs {
		checkEntry(t, raw)
	}
}

// checkEntry fails t unless Entry(raw, name) agrees with Parse(raw) for the SidecarSets it names, and one
// it does not.
func checkEntry(t *testing.T, raw string) {
	t.Helper()
	all, perr := Parse(raw)
	names := []string{"logs", "mesh", "absent"}
	for name := range all {
		names = append(names, name)
	}
	for _, name := range names {
		got, ok, err := Entry(raw, name)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Entry(%q, %q): error %v, Parse's %v", raw, name, err, perr)
		}
		want, wantOK := all[name]
		if ok != wantOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("Entry(%q, %q) = %#v, %v; Parse gives %#v, %v", raw, name, got, ok, want, wantOK)
		}
	}
}

// FuzzEntryAsParse checks Entry against Parse on any input.
func FuzzEntryAsParse(f *testing.F) {
	for _, raw := range encodedStates() {
		f.Add(raw)
	}
	f.Fuzz(checkEntry)
}

// BenchmarkEntry decodes BenchmarkParse's annotation for its one SidecarSet.
func BenchmarkEntry(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := Entry(benchAnnotation, "logs"); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// benchAnnotation is the annotation of a pod updated in place, as the operator writes it.
const benchAnnotation = `{"logs":{"images":{"shipper":"example.com/shipper:2"},"revision":"logs-5f6d7c8b9a","update":{"containers":{"shipper":` +
	`{"containerID":"containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",` +
	`"imageID":"example.com/shipper@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","restartCount":0}},` +
	`"from":"logs-1a2b3c4d5e","startedAt":"2026-12-04T10:00:00Z"}}}`

// BenchmarkParse decodes benchAnnotation.
func BenchmarkParse(b *testing.B) {
	raw := benchAnnotation
	if _, ok := parseCompact(raw); !ok {
		b.Fatal("the annotation is not compact")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
