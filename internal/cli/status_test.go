package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

// statusOf is SidecarSet logs with the status of the YAML.
func statusOf(t *testing.T, status string) *appsv1alpha1.SidecarSet {
	t.Helper()
	return sidecarSet(t, logsSet+"status:\n"+indent(status))
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

const (
	readyComplete = `{type: Ready, status: "True", reason: RolloutComplete, message: "10 of 10 pods on revision logs-f5db53b851", lastTransitionTime: "2026-11-25T11:48:00Z"}`
	readyPaused   = `{type: Ready, status: "True", reason: Paused, message: "4 of 10 pods on revision logs-f5db53b851, 6 held back by updateStrategy.paused", lastTransitionTime: "2026-11-25T11:59:00Z"}`
	readyRolling  = `{type: Ready, status: "False", reason: RollingOut, message: "4 of 10 pods on revision logs-f5db53b851; 6 left to update", lastTransitionTime: "2026-11-25T11:59:00Z"}`
	stalled       = `{type: Stalled, status: "True", reason: FailurePolicyPaused, message: "failurePolicy.maxFailedPods (1) reached", lastTransitionTime: "2026-11-25T11:59:00Z"}`
)

func TestRolloutOf(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         Phase
		says         string
	}{
		{"not observed yet", "observedGeneration: 1\nconditions: [" + readyComplete + "]", PhaseProgressing,
			"Progressing: waiting for the operator to observe generation 2 (observed 1)"},
		{"no status", "observedGeneration: 2", PhaseProgressing, "Progressing: no Ready condition yet"},
		{"rolling out", "observedGeneration: 2\nconditions: [" + readyRolling + "]", PhaseProgressing, "Progressing (RollingOut): 4 of 10"},
		{"complete", "observedGeneration: 2\nconditions: [" + readyComplete + "]", PhaseComplete, "Complete (RolloutComplete): 10 of 10"},
		{"paused", "observedGeneration: 2\nconditions: [" + readyPaused + "]", PhasePaused, "Paused: 4 of 10 pods"},
		{"stalled", "observedGeneration: 2\nconditions: [" + readyRolling + ", " + stalled + "]", PhaseStalled,
			"Stalled (FailurePolicyPaused): failurePolicy.maxFailedPods (1) reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := RolloutOf(statusOf(t, tc.status))
			if r.Phase != tc.want || !strings.HasPrefix(r.String(), tc.says) {
				t.Errorf("got %s, want %s: %s...", r, tc.want, tc.says)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		status  string
		elapsed time.Duration
		want    string
	}{
		// 14 of 25 fill 14*25/25 = 14 cells.
		{"{observedGeneration: 2, matchedPods: 25, readyPods: 24, updatedReadyPods: 14, driftedPods: 11}", 7600 * time.Millisecond,
			"[##############...........] 14/25 pods updated and ready, 1 not ready, 11 drifted     7.6s"},
		// 1 of 3 fills 1*25/3 = 8 cells (8.3, cut down).
		{"{observedGeneration: 2, matchedPods: 3, readyPods: 3, updatedReadyPods: 1, driftedPods: 2}", 0,
			"[########.................] 1/3 pods updated and ready, 0 not ready, 2 drifted     0.0s"},
		// A status of the previous generation counts nothing updated.
		{"{observedGeneration: 1, matchedPods: 3, readyPods: 3, updatedReadyPods: 3}", 12 * time.Second,
			"[.........................] 0/3 pods updated and ready, waiting for the operator to observe generation 2    12.0s"},
		{"{observedGeneration: 2}", 0, "[.........................] 0/0 pods updated and ready, 0 not ready, 0 drifted     0.0s"},
	} {
		if got := ProgressLine(statusOf(t, tc.status), tc.elapsed); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.status, got, tc.want)
		}
	}
}

func TestStatusGolden(t *testing.T) {
	var out bytes.Buffer
	for _, tc := range []struct{ title, status string }{
		{"rolled out", `
observedGeneration: 2
latestRevision: logs-f5db53b851
matchedPods: 10
updatedPods: 10
readyPods: 10
updatedReadyPods: 10
revisions: [{name: logs-f5db53b851, pods: 10}]
sidecarResources: {pods: 10, requests: {cpu: 200m, memory: 320Mi}, podRequests: {cpu: "2", memory: 2560Mi}, requestShare: {cpu: 10.0%, memory: 12.5%}}
conditions:
- ` + readyComplete + `
- {type: Drifted, status: "False", reason: UpToDate, message: "10 of 10 pods on revision logs-f5db53b851", lastTransitionTime: "2026-11-25T11:48:00Z"}`},
		{"stalled by the failure policy", `
observedGeneration: 2
latestRevision: logs-f5db53b851
matchedPods: 10
updatedPods: 3
readyPods: 9
updatedReadyPods: 2
driftedPods: 7
outdatedPods: 7
failedPods: 1
revisions: [{name: logs-f5db53b851, pods: 3}, {name: logs-d35ee1c22f, pods: 7}]
conditions:
- ` + readyRolling + `
- ` + stalled + `
- {type: Drifted, status: "True", reason: Outdated, message: "7 of 10 pods not on revision logs-f5db53b851", lastTransitionTime: "2026-11-25T11:50:00Z"}`},
		{"never reconciled", "{}"},
	} {
		out.WriteString("# " + tc.title + "\n")
		if err := WriteStatus(&out, statusOf(t, tc.status), now); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	golden.Compare(t, "testdata/status.golden", out.String(), "go test ./internal/cli -run TestStatusGolden")
}
