package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sidecarset/sidecarset-operator/localcluster/benchmark"
)

func manyReport(many ...benchmark.ManyResult) Report {
	r := report(benchmark.Result{Pods: 1000, Budget: 100})
	r.Settings["manySidecarSetsWorkers"] = "16"
	r.ManySidecarSets = many
	return r
}

func TestRenderShowsTheManySidecarSets(t *testing.T) {
	doc := render(manyReport(
		benchmark.ManyResult{SidecarSets: 100, Created: 100, CreateSeconds: 0.5, RegisteredSeconds: 0.8, ReadySeconds: 1.2,
			ConfigWriteRequests: 12, ConfigBodyBytes: 200_000, ConfigWriteConflicts: 1, ConfigVersions: 11, ConfigVersionJSONBytes: 300_000,
			Configurations: 1, LargestConfigurationBytes: 240 << 10, NewInjectingSeconds: 0.35, NewInjectingPods: 6,
			AdmissionPods: 20, AdmissionMatchedP50Ms: 12.5, AdmissionUnmatchedP50Ms: 8.25, RSSMiB: 45.5, CPUSeconds: 1.25},
		benchmark.ManyResult{SidecarSets: 10000, Created: 8999, CreateSeconds: 40, RegisteredSeconds: 45, ReadySeconds: 60,
			ConfigWriteRequests: 300, ConfigBodyBytes: 20 << 20, Configurations: 50, LargestConfigurationBytes: 800 << 10,
			NewInjectingSeconds: 2.5, NewInjectingPods: 50, AdmissionPods: 20, AdmissionMatchedP50Ms: 20, AdmissionUnmatchedP50Ms: 15,
			RSSMiB: 120, CPUSeconds: 30}))
	if !strings.Contains(doc, "| | 100 SidecarSets | 10,000 SidecarSets | target |") {
		t.Errorf("no header of the many-SidecarSets table:\n%s", doc)
	}
	if !strings.Contains(doc, "(16 creates at once)") {
		t.Errorf("the page does not say how many creates were in flight:\n%s", doc)
	}
	for name, want := range map[string]string{
		"SidecarSets created in the batch":     "| 100 | 8,999 |",
		"time to create them":                  "| 0.5 s (200 a second) | 40.0 s (225 a second) |",
		"from the batch's start":               "| 0.8 / 1.2 s | 45.0 / 60.0 s |",
		"bytes written to the MutatingWebhook": "| 195.3 KiB in 12 writes (1 refused) | 20.00 MiB in 300 writes (0 refused) |",
		"the same per SidecarSet created":      "| 2,000 B | 2,330 B | about the same in every batch",
		"configuration versions stored":        "| 11, 293.0 KiB, 3,000 B |",
		"configurations, and the largest":      "| 1; 240.0 KiB ✓ | 50; 800.0 KiB ✗ | ≤ 768 KiB",
		"one more SidecarSet":                  "| 0.35 s (6 pods) ✓ | 2.50 s (50 pods) ✗ | ≤ 2 s with 10,000 in place |",
		"a pod's create, one at a time, p50":   "| 12.50 vs 8.25 ms (20 each) | 20.00 vs 15.00 ms (20 each) |",
		"operator RSS with them in place":      "| 45.5 MiB | 120.0 MiB |",
		"operator CPU during the batch":        "| 1.2 s | 30.0 s |",
	} {
		if row := rowOf(t, doc, name); !strings.Contains(row, want) {
			t.Errorf("row %q = %q, want it to hold %q", name, row, want)
		}
	}
}

func TestRenderShowsDashesForReportsWithoutManySidecarSets(t *testing.T) {
	// A report of before the phase, as docs/benchmarks.json holds it.
	var r Report
	if err := json.Unmarshal([]byte(`{"date":"2026-12-02","versions":{},"settings":{},"runs":[{"pods":1000,"maxUnavailablePods":100}]}`), &r); err != nil {
		t.Fatal(err)
	}
	doc := render(r)
	if !strings.Contains(doc, "| | 100 SidecarSets | 1,000 SidecarSets | 10,000 SidecarSets | target |") {
		t.Errorf("no many-SidecarSets table with the default counts:\n%s", doc)
	}
	for _, name := range []string{"SidecarSets created in the batch", "time to create them", "the same per SidecarSet created",
		"configurations, and the largest", "one more SidecarSet", "operator RSS with them in place"} {
		row := rowOf(t, doc, name)
		cells := strings.Split(row, "|")
		// "", name, three counts, target, ""
		if len(cells) != 7 || strings.TrimSpace(cells[2]) != "-" || strings.TrimSpace(cells[3]) != "-" || strings.TrimSpace(cells[4]) != "-" {
			t.Errorf("row %q of a report without the phase = %q, want - in every count", name, row)
		}
	}
	// A count measured only in part (the injection failed) shows - where nothing was measured.
	part := render(manyReport(benchmark.ManyResult{SidecarSets: 100, Created: 100, CreateSeconds: 1, ReadySeconds: 2}))
	if row := rowOf(t, part, "one more SidecarSet"); !strings.Contains(row, "| - |") {
		t.Errorf("row of an injection not measured = %q", row)
	}
}

func TestByteSize(t *testing.T) {
	for b, want := range map[float64]string{0: "0 B", 2330.4: "2,330 B", 10 << 10: "10.0 KiB", 768 << 10: "768.0 KiB", 1888100: "1.80 MiB", 25 << 20: "25.00 MiB"} {
		if got := byteSize(b); got != want {
			t.Errorf("byteSize(%v) = %q, want %q", b, got, want)
		}
	}
}

func TestParseCounts(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": nil, "100,1000,10000": {100, 1000, 10000}, " 100, 300 ": {100, 300}} {
		got, err := parseCounts(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseCounts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"300,100", "100,100", "-5", "x", "100,,300"} {
		if got, err := parseCounts(in); err == nil {
			t.Errorf("parseCounts(%q) = %v, want an error", in, got)
		}
	}
}
