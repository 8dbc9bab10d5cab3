package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// runCommand runs the plugin's command line without a cluster, and returns its exit status and output.
func runCommand(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestHelpDocumentsTheExitStatusesOfStatusWatch(t *testing.T) {
	code, out, _ := runCommand(t, "status", "--help")
	if code != 0 {
		t.Fatalf("status --help exited %d", code)
	}
	for _, want := range []string{"kubectl sidecarset status NAME [-w]", "0  complete", "1  an error", "2  stalled", "3  paused"} {
		if !strings.Contains(out, want) {
			t.Errorf("status --help does not say %q:\n%s", want, out)
		}
	}
}

func TestEveryCommandIsThere(t *testing.T) {
	code, out, _ := runCommand(t, "--help")
	if code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, cmd := range []string{"status", "drift", "why", "match", "pause", "resume", "history", "rollback", "set", "completion"} {
		if !strings.Contains(out, "\n  "+cmd+" ") {
			t.Errorf("--help lists no %s command:\n%s", cmd, out)
		}
	}
	for _, flag := range []string{"--kubeconfig", "--context", "--namespace", "--operator-namespace"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help lists no %s flag", flag)
		}
	}
	for _, shell := range []string{"bash", "zsh"} {
		if code, out, _ := runCommand(t, "completion", shell); code != 0 || !strings.Contains(out, "kubectl-sidecarset") {
			t.Errorf("completion %s exited %d:\n%.200s", shell, code, out)
		}
	}
}

func TestFailuresExitNonZero(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"drift", "logs", "--sort-by", "age"},
		{"drift", "logs", "--cause", "Stale"},
		{"drift", "logs", "-o", "name"},
		{"status", "logs", "-o", "wide"},
		{"set", "image", "logs", "shipper"},
		{"match"},
		{"status", "logs", "--kubeconfig", filepath.Join(t.TempDir(), "none")},
	} {
		code, _, errOut := runCommand(t, args...)
		if code != 1 || !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("%q: exit %d, %q; want 1 and an error", args, code, errOut)
		}
	}
}

func TestReadSidecarSets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	sets, err := readSidecarSets(write("two.yaml", `
apiVersion: v1
kind: ConfigMap
metadata: {name: config}
---
apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata: {name: a}
spec:
  selector: {matchLabels: {app: a}}
  containers: [{name: x, image: x:1}]
---
apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata: {name: b}
spec:
  selector: {matchLabels: {app: b}}
  containers: [{name: agent, image: agent:1}]
`), nil)
	if err != nil || len(sets) != 2 || sets[0].Name != "a" || sets[1].Spec.Containers[0].Image != "agent:1" {
		t.Fatalf("two SidecarSets among other objects: %v, %+v", err, sets)
	}
	sets, err = readSidecarSets("-", strings.NewReader(`{"apiVersion":"apps.sidecarset.io/v1alpha1","kind":"SidecarSet","metadata":{"name":"c"},"spec":{"selector":{"matchLabels":{"app":"c"}}}}`))
	if err != nil || len(sets) != 1 || sets[0].Name != "c" {
		t.Errorf("JSON from standard input: %v, %+v", err, sets)
	}
	for name, content := range map[string]string{
		"unknown field": "apiVersion: apps.sidecarset.io/v1alpha1\nkind: SidecarSet\nmetadata: {name: a}\nspec: {selectr: {}}\n",
		"none":          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
	} {
		if _, err := readSidecarSets(write(strings.ReplaceAll(name, " ", "-")+".yaml", content), nil); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}
