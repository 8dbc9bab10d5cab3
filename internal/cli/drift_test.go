package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/step"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

func driftOfFleet(t *testing.T, mutate func(*testing.T, *DriftInput)) DriftReport {
	t.Helper()
	in := DriftInput{set: sidecarSet(t, logsSet), stored: storedRevisions(t)}
	if mutate != nil {
		mutate(t, &in)
	}
	matched, err := Matched(in.set, fleet(t), namespaces, DefaultOperatorNamespace)
	if err != nil {
		t.Fatal(err)
	}
	return Drift(in.set, RevisionsOf(in.set, in.stored), matched, now)
}

func TestDriftGivesEveryMatchedPodItsCause(t *testing.T) {
	r := driftOfFleet(t, nil)
	got := map[string]Cause{}
	for _, p := range r.Pods {
		got[p.Name] = p.Cause
	}
	want := map[string]Cause{
		"web-old":      CauseOutdated,
		"web-args":     CauseNotUpgradable,
		"web-gone":     CauseNotUpgradable,
		"web-early":    CauseMissingSidecar,
		"web-late":     CauseMissingSidecar,
		"web-clash":    CauseConflict,
		"web-skipped":  CauseInjectionSkipped,
		"web-updating": CauseUpdating,
		"web-failed":   CauseFailed,
		"web-bare":     CauseMissingSidecar,
	}
	for name, cause := range want {
		if got[name] != cause {
			t.Errorf("%s: cause %q, want %q", name, got[name], cause)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is listed as drifted (%s), and should not be", name, got[name])
		}
	}
	// web-current runs the latest revision; web-optout, web-system and web-done are never matched.
	if r.Matched != 11 {
		t.Errorf("matched %d pods, want 11", r.Matched)
	}
}

// TestDriftListsThePodsTheStatusCounts runs the operator's own decision on the same pods and checks that
// drift's causes add up to the status's counts: the plugin lists what the status counts, pod by pod.
func TestDriftListsThePodsTheStatusCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*testing.T, *DriftInput)
	}{
		{"rolling out", nil},
		{"paused", func(_ *testing.T, in *DriftInput) { in.set.Spec.UpdateStrategy.Paused = true }},
		{"rolled back by the failure policy", func(t *testing.T, in *DriftInput) {
			in.set.Status.ObservedGeneration = in.set.Generation
			in.set.Status.RolledBackTo = revisionName(t, "r1")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := DriftInput{set: sidecarSet(t, logsSet), stored: storedRevisions(t)}
			if tc.mutate != nil {
				tc.mutate(t, &in)
			}
			matched, err := Matched(in.set, fleet(t), namespaces, DefaultOperatorNamespace)
			if err != nil {
				t.Fatal(err)
			}
			r := Drift(in.set, RevisionsOf(in.set, in.stored), matched, now)
			counts := map[Cause]int32{}
			for _, p := range r.Pods {
				counts[p.Cause]++
			}

			var pods []step.Pod
			for i := range matched {
				pods = append(pods, step.Pod{View: view(&matched[i])})
			}
			d := step.Decide(step.Input{SidecarSet: in.set, Stored: in.stored, Pods: pods, Now: now})
			st := d.Computed
			checks := []struct {
				what      string
				got, want int32
			}{
				{"matched", int32(r.Matched), st.MatchedPods},
				{"drifted (Updating and Failed pods run the latest revision for the status)",
					int32(len(r.Pods)) - counts[CauseUpdating] - counts[CauseFailed], st.DriftedPods},
				{"outdated (rolled back ones included)", counts[CauseOutdated] + counts[CauseRolledBack], st.OutdatedPods},
				{"not upgradable", counts[CauseNotUpgradable], st.NotUpgradablePods},
				{"missing (conflicted and skipped ones included)",
					counts[CauseMissingSidecar] + counts[CauseConflict] + counts[CauseInjectionSkipped], st.MissingPods},
				{"failed", counts[CauseFailed], st.FailedPods},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: drift lists %d, the status counts %d", c.what, c.got, c.want)
				}
			}
		})
	}
}

// DriftInput is a SidecarSet and its stored revisions, as a test changes them.
type DriftInput struct {
	set    *appsv1alpha1.SidecarSet
	stored []revision.Stored
}

func ptrIntOrString(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

func labelSelector(key, value string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}
}

func TestDriftDetailsSayWhatHoldsAPodBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*testing.T, *DriftInput)
		pod    string
		want   string
	}{
		{"an image to update", nil, "web-old", "updatable in place: shipper image to shipper:2"},
		{"paused", func(_ *testing.T, in *DriftInput) { in.set.Spec.UpdateStrategy.Paused = true },
			"web-old", "held back: the rollout is paused (updateStrategy.paused)"},
		{"a partition", func(t *testing.T, in *DriftInput) {
			in.set.Spec.UpdateStrategy.Partition = ptrIntOrString("50%")
		}, "web-old", "updateStrategy.partition holds back 6 of the 11 pods, the last in update order"},
		{"an update selector", func(t *testing.T, in *DriftInput) {
			in.set.Spec.UpdateStrategy.Selector = labelSelector("canary", "true")
		}, "web-old", "held back: updateStrategy.selector does not select it"},
		{"more than an image", nil, "web-args", "differs from " + "{latest} by more than images, resources and metadata"},
		{"a revision gone", nil, "web-gone", "revision logs-0000000000 is no longer stored"},
		{"created before", nil, "web-early", "created before the SidecarSet (pod 2026-11-25T09:00:00Z, SidecarSet 2026-11-25T10:00:00Z)"},
		{"created after", nil, "web-late", "not injected at creation: created while injection was paused"},
		{"created in the same second", func(_ *testing.T, in *DriftInput) {
			in.set.CreationTimestamp = metav1.NewTime(time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC))
		}, "web-late", "created in the second the SidecarSet was (2026-11-25T11:00:00Z), before it or before its webhook entry took effect"},
		{"injection paused", func(_ *testing.T, in *DriftInput) { in.set.Spec.InjectionStrategy.Paused = true },
			"web-late", "injection is paused: pods created now get no sidecars"},
		{"a conflict", nil, "web-clash", `sidecar "shipper" was not injected: the pod already has a container named "shipper"`},
		{"skipped", nil, "web-skipped", `skipped at injection: the pod would be refused: violates PodSecurity "restricted:latest"`},
		{"updating", nil, "web-updating", "updating in place from {r1}: container shipper"},
		{"failed", nil, "web-failed", "container shipper is in ErrImagePull: not found"},
		{"rolled back", func(t *testing.T, in *DriftInput) {
			in.set.Status.ObservedGeneration = in.set.Generation
			in.set.Status.RolledBackTo = revisionName(t, "r1")
		}, "web-old", "returned to revision {r1} by the failure policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := driftOfFleet(t, tc.mutate)
			want := strings.NewReplacer("{latest}", revisionName(t, "latest"), "{r1}", revisionName(t, "r1")).Replace(tc.want)
			for _, p := range r.Pods {
				if p.Name == tc.pod {
					if !strings.Contains(p.Detail, want) {
						t.Errorf("detail %q does not say %q", p.Detail, want)
					}
					return
				}
			}
			t.Errorf("%s is not listed", tc.pod)
		})
	}
}

func TestDriftSortsAndFilters(t *testing.T) {
	r := driftOfFleet(t, nil)
	names := func(pods []PodDrift) string {
		var out []string
		for _, p := range pods {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		return strings.Join(out, ",")
	}
	if got, want := names(r.Pods), "batch/web-bare,shop/web-args,shop/web-clash,shop/web-early,shop/web-failed,shop/web-gone,"+
		"shop/web-late,shop/web-old,shop/web-skipped,shop/web-updating"; got != want {
		t.Errorf("by namespace and name:\n got %s\nwant %s", got, want)
	}
	causes, err := ParseCauses([]string{"missingsidecar,NOTUPGRADABLE", "MissingSidecar"})
	if err != nil {
		t.Fatal(err)
	}
	filtered := FilterDrift(r.Pods, causes, "shop")
	SortDrift(filtered, "cause")
	if got, want := names(filtered), "shop/web-early,shop/web-late,shop/web-args,shop/web-gone"; got != want {
		t.Errorf("MissingSidecar and NotUpgradable of shop, by cause:\n got %s\nwant %s", got, want)
	}
	if _, err := ParseCauses([]string{"Outdated,Stale"}); err == nil || !strings.Contains(err.Error(), `unknown cause "Stale"`) {
		t.Errorf("an unknown cause: %v", err)
	}
}

func TestDriftGolden(t *testing.T) {
	r := driftOfFleet(t, nil)
	var out bytes.Buffer
	out.WriteString(DriftSummary(r) + "\n\n")
	if err := DriftTable(r.Pods, false).Write(&out); err != nil {
		t.Fatal(err)
	}
	out.WriteString("\n-o wide:\n")
	if err := DriftTable(r.Pods, true).Write(&out); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, "testdata/drift.golden", out.String(), "go test ./internal/cli -run TestDriftGolden")
}
