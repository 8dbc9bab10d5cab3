package status

import (
	"testing"
	"time"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

func TestTransitions(t *testing.T) {
	done := Compute(&appsv1alpha1.SidecarSetStatus{}, input(t, `{}`, podsOf(2, "p"), nil), nowMeta)
	rolling := Compute(&done, input(t, `{}`, append(podsOf(1, "p"), pod("o", outdated())), nil), nowMeta)
	later := now.Add(90 * time.Second)
	finished := Compute(&rolling, input(t, `{}`, podsOf(2, "p"), nil), nowMetaAt(later))
	someSkipped := Compute(&done, input(t, `{}`, append(podsOf(1, "p"), pod("s", skipped("the pod would be invalid: x"))), nil), nowMeta)
	moreSkipped := Compute(&someSkipped, input(t, `{}`, append(podsOf(1, "p"), pod("s", skipped("x")), pod("t", skipped("y"))), nil), nowMeta)
	stalled := Compute(&rolling, input(t, `{}`, podsOf(2, "p"), &Stall{Reason: appsv1alpha1.ReasonProgressDeadlineExceeded, Message: "no progress"}), nowMetaAt(later))

	reasons := func(tr Transition) []string {
		var out []string
		for _, e := range tr.Events {
			out = append(out, e.Type+"/"+e.Reason)
		}
		return out
	}
	tests := []struct {
		name     string
		old, new appsv1alpha1.SidecarSetStatus
		want     []string
		finished bool
	}{
		{"a rollout starts", done, rolling, []string{"Normal/RolloutStarted"}, false},
		{"a rollout goes on", rolling, rolling, nil, false},
		{"a rollout finishes", rolling, finished, []string{"Normal/RolloutFinished"}, true},
		{"nothing happens", done, done, nil, false},
		{"a rollout stalls", rolling, stalled, []string{"Warning/ProgressDeadlineExceeded"}, false},
		{"a stall is recorded once", stalled, stalled, nil, false},
		{"pods are skipped at injection", done, someSkipped, []string{"Warning/InjectionSkipped"}, false},
		{"more pods are skipped: the event is not repeated", someSkipped, moreSkipped, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := Transitions(&tt.old, &tt.new, later)
			if got := reasons(tr); len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			if tr.Finished != tt.finished {
				t.Errorf("finished %v", tr.Finished)
			}
			if tt.finished && tr.Duration != 90*time.Second {
				t.Errorf("duration %v, want 1m30s", tr.Duration)
			}
		})
	}
}
