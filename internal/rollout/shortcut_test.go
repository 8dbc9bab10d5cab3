package rollout

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestShortcutsPlanAsTheFullOrder plans random steps twice, ordering only the candidates that can be chosen
// (as ComputeWithBudgets does) and ordering every candidate, and wants the same plan: the shortcuts save
// work and change nothing. The steps mix workloads, zones, namespaces, budgets, priorities, scatter terms,
// partitions, pauses, failures and recreation, with many steps where no budget is left. It also numbers the
// pods by Rank (the order of their "namespace/name" strings, with gaps) and wants the plan the names give.
func TestShortcutsPlanAsTheFullOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	strategies := []string{
		`{maxUnavailable: 2}`,
		`{maxUnavailable: 10%, partition: 30%}`,
		`{maxUnavailable: 3, partition: 4}`,
		`{maxUnavailable: 1, paused: true}`,
		`{type: NotUpdate}`,
		`{maxUnavailable: 25%, maxUnavailablePerWorkload: 1, priorityStrategy: {weightPriority: [{weight: 10, matchSelector: {matchLabels: {tier: web}}}]}}`,
		`{maxUnavailable: 4, scatterStrategy: [{key: tier, value: web}]}`,
		`{maxUnavailable: 2, failurePolicy: {maxFailedPods: 1}}`,
		`{maxUnavailable: 3, recreate: {policy: Evict}}`,
	}
	zeroBudget := 0
	for i := range 3000 {
		s := strategy(t, strategies[i%len(strategies)])
		n := 1 + rng.IntN(40)
		pods := make([]Pod, n)
		for j := range pods {
			p := Pod{Namespace: []string{"ns-0", "ns-1", "ns", "ns.a"}[rng.IntN(4)], Name: fmt.Sprintf("pod-%02d-%d", rng.IntN(60), j),
				Labels: map[string]string{"tier": []string{"web", "db"}[rng.IntN(2)]}, Zone: []string{"", "a", "b"}[rng.IntN(3)],
				Ready: rng.IntN(5) > 0, ReadySince: At(now.Add(-time.Hour))}
			if rng.IntN(4) > 0 {
				p.Workload = fmt.Sprintf("Deployment/app-%d", rng.IntN(4))
			}
			switch rng.IntN(6) {
			case 0:
				p.OnTarget = true
			case 1:
				p.OnTarget, p.Updating, p.UpdatedAt = true, true, At(now.Add(-time.Second))
			case 2:
				p.OnTarget, p.Failed = true, rng.IntN(3) == 0
			case 3:
				p.Replaceable = p.Workload != "" // only a pod a controller replaces is replaceable
			default:
				p.Updatable = true
			}
			if rng.IntN(10) == 0 {
				p.Leaving, p.Evicted = true, rng.IntN(2) == 0
			}
			if rng.IntN(3) == 0 {
				p.Budgets = []int{rng.IntN(2)}
			}
			pods[j] = p
		}
		budgets := []Budget{{Name: "ns-0/a", Allowed: rng.IntN(3)}, {Name: "ns-1/b", Allowed: rng.IntN(2)}}
		fast, errFast := compute(s, pointers(clonePods(pods)), budgets, now, true)
		full, errFull := compute(s, pointers(clonePods(pods)), budgets, now, false)
		if fmt.Sprint(errFast) != fmt.Sprint(errFull) {
			t.Fatalf("step %d: errors differ: %v, %v", i, errFast, errFull)
		}
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("step %d (%s): the plan with shortcuts\n%+v\ndiffers from the plan ordering every candidate\n%+v", i, strategies[i%len(strategies)], fast, full)
		}
		if full.Budget == 0 && full.Stopped == "" {
			zeroBudget++
		}
		// Numbered by the order of their "namespace/name" strings, with gaps, the pods are planned as by their
		// names: "ns-0/b" sorts before "ns/a".
		ranked := clonePods(pods)
		byName := make([]int, n)
		for j := range byName {
			byName[j] = j
		}
		slices.SortFunc(byName, func(a, b int) int {
			return strings.Compare(pods[a].Namespace+"/"+pods[a].Name, pods[b].Namespace+"/"+pods[b].Name)
		})
		next := int32(0)
		for _, j := range byName {
			next += 1 + int32(rng.IntN(3))
			ranked[j].Rank = next
		}
		byRank, err := compute(s, pointers(ranked), budgets, now, true)
		if fmt.Sprint(err) != fmt.Sprint(errFast) || !reflect.DeepEqual(byRank, fast) {
			t.Fatalf("step %d (%s): the plan of the pods numbered by rank\n%+v\ndiffers from the plan by their names\n%+v", i, strategies[i%len(strategies)], byRank, fast)
		}
	}
	if zeroBudget < 100 {
		t.Fatalf("only %d steps had no budget left: the test does not exercise the shortcut", zeroBudget)
	}
}

func clonePods(in []Pod) []Pod {
	out := make([]Pod, len(in))
	copy(out, in)
	return out
}
