// Package golden compares what a test produced with a file of the expected output, kept beside the test in
// testdata/, and rewrites the file when the test runs with -update: for logs of whole rollouts, where a
// change of behaviour is easiest to review as a diff of the log.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the tests produce")

// Compare fails the test when got differs from the file at path; with -update it writes got to the file
// first. rerun is the command that rewrites it, named in the failure.
func Compare(t *testing.T, path, got, rerun string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run %s -update to create it)", err, rerun)
	}
	if got != string(want) {
		t.Errorf("the output differs from %s (rerun %s -update if the change is intended):\n%s", path, rerun, got)
	}
}
