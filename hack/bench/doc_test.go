package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidecarset/sidecarset-operator/localcluster/benchmark"
)

func report(runs ...benchmark.Result) Report {
	return Report{Date: "2026-12-03", Machine: Machine{CPU: "CPU", Cores: 2, MemoryGiB: 8},
		Version:  map[string]string{"go": "go1.26.8", "kubernetes": "v1.37.2", "etcd": "v3.6.16", "kwok": "v0.8.0"},
		Settings: map[string]string{"maxUnavailable": "10%", "restartDelay": "500ms", "resizeCPURequest": "10m → 20m"},
		Runs:     runs}
}

// rowOf returns the table row whose first cell starts with name.
func rowOf(t *testing.T, doc, name string) string {
	t.Helper()
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| "+name) {
			return line
		}
	}
	t.Fatalf("no row %q in:\n%s", name, doc)
	return ""
}

func TestRenderShowsTheResizeRollout(t *testing.T) {
	doc := render(report(benchmark.Result{Pods: 1000, Budget: 100, BoundSeconds: 5, ResizeRolloutSeconds: 6.5,
		ResizeRatioToBound: 1.3, ResizeMostInFlight: 100, ResizePodWrites: 1000, ResizeSubresourceWrites: 1000,
		ResizeWritesPerPod: 2, ResizeWriteConflicts: 12, ResizeRSSPeakMiB: 70.25}))
	for name, want := range map[string]string{
		"resize rollout time (":                "| 6.50 s |",
		"operator RSS peak, during the resize": "| 70.2 MiB |",
		"resize rollout time / bound":          "| 1.30 |",
		"most pods being resized at once":      "| 100 of 100 allowed ✓ |",
		"writes per resized pod":               "| 2.000 (1,000 + 1,000 writes) ✓ |",
		"pod and resize writes the API":        "| 12 |",
	} {
		if row := rowOf(t, doc, name); !strings.Contains(row, want) {
			t.Errorf("row %q = %q, want it to hold %q", name, row, want)
		}
	}
	if !strings.Contains(doc, "the sidecar's CPU request goes from 10m to 20m") {
		t.Errorf("the page does not say how the resize rollout is measured:\n%s", doc)
	}

	bad := render(report(benchmark.Result{Pods: 1000, Budget: 100, ResizeRolloutSeconds: 6.5, ResizeMostInFlight: 101,
		ResizePodWrites: 1000, ResizeSubresourceWrites: 1001, ResizeWritesPerPod: 2.001}))
	for _, name := range []string{"most pods being resized at once", "writes per resized pod"} {
		if row := rowOf(t, bad, name); !strings.Contains(row, "✗") {
			t.Errorf("row %q = %q, want a missed target", name, row)
		}
	}
}

func TestRenderLeavesTheResizeOutOfEarlierReports(t *testing.T) {
	doc := render(report(benchmark.Result{Pods: 1000, Budget: 100, RolloutSeconds: 14.5}))
	if row := rowOf(t, doc, "resize rollout time / bound"); row != "| resize rollout time / bound | - |  |" {
		t.Errorf("row of a report without a resize = %q", row)
	}
	if strings.Contains(doc, "The resize rollout follows") {
		t.Errorf("the page describes a resize rollout the report does not have:\n%s", doc)
	}
}

func TestWriteDocRewritesOnlyTheGeneratedSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	page := "# Benchmarks\n\nby hand\n\n" + beginMarker + "\nold\n" + endMarker + "\n\nafter\n"
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeDoc(path, report(benchmark.Result{Pods: 100, Budget: 10, ResizeRolloutSeconds: 1})); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	if !strings.HasPrefix(got, "# Benchmarks\n\nby hand\n\n"+beginMarker+"\n") || !strings.HasSuffix(got, endMarker+"\n\nafter\n") ||
		strings.Contains(got, "\nold\n") || !strings.Contains(got, "| resize rollout time / bound |") {
		t.Errorf("the page after writeDoc:\n%s", got)
	}
}

func TestRenderShowsThePairedRollouts(t *testing.T) {
	r := report(benchmark.Result{Pods: 1000, Budget: 100, RolloutSeconds: 15},
		benchmark.Result{Pods: 1000, Budget: 100, RolloutSeconds: 13, OperatorFlags: "--kube-api-qps=1000"})
	r.Paired = &benchmark.PairedResult{Pods: 1000, ClusterPods: 10000, Budget: 100, BoundSeconds: 5,
		Columns: []string{"defaults", "tuned"}, Flags: []string{"", "--kube-api-qps=1000"},
		Rollouts: []benchmark.PairedRollout{
			{Column: 0, RolloutSeconds: 15, ClusterCPUSeconds: 20, MostUnavailable: 100},
			{Column: 1, RolloutSeconds: 14, ClusterCPUSeconds: 22, MostUnavailable: 100},
			{Column: 1, RolloutSeconds: 16, ClusterCPUSeconds: 24, MostUnavailable: 99},
			{Column: 0, RolloutSeconds: 17, ClusterCPUSeconds: 26, MostUnavailable: 101},
		},
		Ratios: []float64{1.07, 1.06}, Ratio: 1.07}
	doc := render(r)
	if row := rowOf(t, doc, "rollout time / the same rollout at the tuned"); !strings.Contains(row, "(one rollout each; the paired rollouts below decide)") {
		t.Errorf("the single-rollout ratio does not defer to the paired rollouts: %q", row)
	}
	paired := doc[strings.Index(doc, "**Paired rollouts**"):]
	for name, want := range map[string]string{
		"rollout time, in the order they ran":            "| 15.00 s, 17.00 s | 14.00 s, 16.00 s |",
		"the machine's floor: the cluster's CPU / cores": "| 10.0 s, 13.0 s | 11.0 s, 12.0 s |",
		"most pods unavailable at once":                  "| 100 ✓, 101 ✗ | 100 ✓, 99 ✓ |",
		"rollout time, the defaults / `--kube-api-qps":   "| 1.07 ✓ (1.07, 1.06) | | ≤ 1.1 |",
	} {
		if row := rowOf(t, paired, name); !strings.Contains(row, want) {
			t.Errorf("row %q = %q, want it to hold %q", name, row, want)
		}
	}
	if !strings.Contains(doc, "of 1,000 pods among 10,000, made 4 times more") {
		t.Errorf("the page does not say how the paired rollouts ran:\n%s", doc)
	}
	r.Paired.Ratio = 1.12
	if row := rowOf(t, render(r), "rollout time, the defaults"); !strings.Contains(row, "1.12 ✗") {
		t.Errorf("a ratio over 1.1 is not a missed target: %q", row)
	}
	r.Paired = nil
	if doc := render(r); strings.Contains(doc, "Paired rollouts") {
		t.Errorf("a report without the paired phase shows it:\n%s", doc)
	}
}
