package rollout

import (
	"strings"
	"testing"
)

func replaceableOf(workload string) podOption {
	return func(p *Pod) { p.Updatable, p.Replaceable, p.Workload = false, true, workload }
}
func ofWorkload(workload string) podOption { return func(p *Pod) { p.Workload = workload } }
func leavingOf(workload string, evicted bool) podOption {
	return func(p *Pod) { p.Leaving, p.Evicted, p.Workload = true, evicted, workload }
}

func TestRecreate(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		pods     []Pod
		// want lists the pods chosen, "name" in place or "name!" recreated.
		want           string
		notUpgradable  int
		notReplaceable int
		inProgress     int
		candidates     int
	}{
		{"without a recreate policy nothing is evicted", `{maxUnavailable: 5}`,
			pods("a", 3, replaceableOf("Deployment/a")), "", 3, 0, 0, 0},
		{"recreate.policy Never evicts nothing", `{maxUnavailable: 5, recreate: {policy: Never}}`,
			pods("a", 3, replaceableOf("Deployment/a")), "", 3, 0, 0, 0},
		{"Evict takes one pod of a workload at a time by default", `{maxUnavailable: 5, maxUnavailablePerWorkload: 100%, recreate: {policy: Evict}}`,
			append(pods("a", 3, replaceableOf("Deployment/a")), pods("b", 2, replaceableOf("StatefulSet/b"))...), "a-00! b-00!", 0, 0, 0, 5},
		{"maxPerWorkload allows more, within maxUnavailablePerWorkload", `{maxUnavailable: 5, maxUnavailablePerWorkload: 2, recreate: {policy: Evict, maxPerWorkload: 3}}`,
			pods("a", 4, replaceableOf("Deployment/a")), "a-00! a-01!", 0, 0, 0, 4},
		{"in place and recreated pods share maxUnavailable", `{maxUnavailable: 2, maxUnavailablePerWorkload: 100%, recreate: {policy: Evict}}`,
			append(pods("a", 2, replaceableOf("Deployment/a")), pods("b", 2, ofWorkload("Deployment/b"))...), "a-00! b-00", 0, 0, 0, 4},
		{"bare pods and Job pods are reported, never evicted", `{maxUnavailable: 5, recreate: {policy: Evict}}`,
			[]Pod{pod("bare", notUpgradable()), pod("job", notUpgradable(), ofWorkload("Job/j"))}, "", 2, 2, 0, 0},
		{"a pod evicted and leaving holds its workload's place, and the rollout waits for it", `{maxUnavailable: 5, maxUnavailablePerWorkload: 100%, recreate: {policy: Evict}}`,
			append(pods("a", 2, replaceableOf("Deployment/a")), pod("a-gone", leavingOf("Deployment/a", true))), "", 0, 0, 1, 2},
		{"a pod deleted by someone else takes budget but is not the rollout's", `{maxUnavailable: 1, recreate: {policy: Evict}}`,
			append(pods("b", 2, ofWorkload("Deployment/b")), pod("x-gone", leavingOf("Deployment/x", false))), "", 0, 0, 0, 2},
		{"an unavailable pod is recreated first, within its workload's limit", `{maxUnavailable: 1, maxUnavailablePerWorkload: 100%, recreate: {policy: Evict}}`,
			append(pods("a", 2, replaceableOf("Deployment/a")), pod("a-sick", replaceableOf("Deployment/a"), unready())), "a-sick!", 0, 0, 0, 3},
		{"pause holds evictions too", `{maxUnavailable: 5, paused: true, recreate: {policy: Evict}}`,
			pods("a", 3, replaceableOf("Deployment/a")), "", 0, 0, 0, 3},
		{"a partition holds recreated pods back like the others", `{maxUnavailable: 5, maxUnavailablePerWorkload: 100%, partition: 2, recreate: {policy: Evict, maxPerWorkload: 5}}`,
			pods("a", 3, replaceableOf("Deployment/a")), "a-00!", 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(strategy(t, tt.strategy), tt.pods, now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range p.Update {
				n := d.Name
				if d.Recreate {
					n += "!"
				}
				got = append(got, n)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("chosen %q, want %q", g, tt.want)
			}
			if p.NotUpgradable != tt.notUpgradable || p.NotReplaceable != tt.notReplaceable || p.InProgress != tt.inProgress || p.Candidates != tt.candidates {
				t.Errorf("notUpgradable %d notReplaceable %d inProgress %d candidates %d, want %d %d %d %d", p.NotUpgradable, p.NotReplaceable,
					p.InProgress, p.Candidates, tt.notUpgradable, tt.notReplaceable, tt.inProgress, tt.candidates)
			}
			if p.Matched != len(tt.pods)-p.Leaving {
				t.Errorf("matched %d counts leaving pods", p.Matched)
			}
		})
	}
}

func TestAFailedPodThatStaysReadyHoldsItsBudget(t *testing.T) {
	// A resize the kubelet found Infeasible: the update failed, the pod still ready.
	failedReady := func(p *Pod) { p.OnTarget, p.Failed = true, true }
	p, err := Compute(strategy(t, `{maxUnavailable: 2, failurePolicy: {maxFailedPods: 3}}`),
		append(pods("a", 4), pod("f", failedReady)), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Update) != 1 || p.Unavailable != 1 {
		t.Errorf("updates %v with %d unavailable: the failed pod must take one of the two", p.Update, p.Unavailable)
	}
}
