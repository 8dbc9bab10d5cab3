package rollout

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

// TestRolloutSequences runs whole rollouts: the planner decides each step, a fake kubelet finishes each
// update after a random number of steps, and random outside disruptions make available pods unready for a
// while. Every run must converge, and no step may make more pods unavailable than maxUnavailable allows
// (or than were already unavailable, when disruptions alone exceed it). The log of each scenario is compared
// with a golden file, and the same scenario with the pods handed to the planner in five other random
// orders must give the same log; with workloads, no step may take a workload past maxUnavailablePerWorkload,
// nor below the minAvailable of its PodDisruptionBudget, either. Run with -update to rewrite the golden files after an intended change.
func TestRolloutSequences(t *testing.T) {
	scenarios := []struct {
		name      string
		strategy  string
		pods      int
		seed      int64
		disrupt   float64 // chance per step that an available pod is disrupted
		wantFinal int     // pods on target at the end
		workloads []int   // the sizes of the workloads the pods belong to, in order; none: each pod its own
		// minAvailable, when set, gives each workload a PodDisruptionBudget of that minAvailable, whose status a
		// disruption controller without lag computes at every step.
		minAvailable int
	}{
		{"25-pods-maxunavailable-10pct", `{maxUnavailable: 10%}`, 25, 1, 0, 25, nil, 0},
		{"30-pods-maxunavailable-3-with-disruptions", `{maxUnavailable: 3}`, 30, 2, 0.3, 30, nil, 0},
		{"20-pods-partition-5", `{maxUnavailable: 4, partition: 5}`, 20, 3, 0.1, 15, nil, 0},
		{"18-pods-priority-and-scatter", `{maxUnavailable: 25%, minReadySeconds: 20, priorityStrategy: {weightPriority: [
			{weight: 100, matchSelector: {matchLabels: {zone: a}}}]}, scatterStrategy: [{key: app, value: checkout}]}`, 18, 4, 0.2, 18, nil, 0},
		{"12-pods-maxunavailable-1", `{}`, 12, 5, 0.15, 12, nil, 0},
		{"30-pods-ten-deployments-of-3-maxunavailable-50pct", `{maxUnavailable: 50%}`, 30, 6, 0.2, 30,
			[]int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, 0},
		{"56-pods-workloads-of-1-2-3-50", `{maxUnavailable: 20%}`, 56, 7, 0.2, 56, []int{1, 2, 3, 50}, 0},
		{"24-pods-budgets-minavailable-4-of-6", `{maxUnavailable: 50%, maxUnavailablePerWorkload: 100%}`, 24, 8, 0.2, 24,
			[]int{6, 6, 6, 6}, 4},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := strategy(t, sc.strategy)
			log := simulate(t, sc.seed, s, sc.pods, sc.disrupt, sc.wantFinal, sc.workloads, sc.minAvailable, nil)
			for order := int64(1); order <= 5; order++ {
				shuffle := rand.New(rand.NewSource(order))
				if again := simulate(t, sc.seed, s, sc.pods, sc.disrupt, sc.wantFinal, sc.workloads, sc.minAvailable, shuffle); again != log {
					t.Fatalf("handing the pods over in another order (seed %d) changed the rollout", order)
				}
			}
			golden.Compare(t, filepath.Join("testdata", "sequences", sc.name+".golden"), log, "go test ./internal/rollout -run TestRolloutSequences")
		})
	}
}

// simPod is a pod of the simulation: the planner's view plus when its update or disruption ends.
type simPod struct {
	Pod
	updateDoneAt, disruptedUntil int
}

// simulate runs a rollout and returns its log. shuffle, when set, reorders the pods handed to the planner at
// every step; the simulation's own random draws go over the pods by name, so they do not depend on it.
func simulate(t *testing.T, seed int64, s *appsv1alpha1.UpdateStrategy, n int, disrupt float64, wantFinal int, workloads []int,
	minAvailable int, shuffle *rand.Rand) string {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	const step = 10 * time.Second
	start := now
	ps := make([]*simPod, n)
	for i := range ps {
		app := "catalog"
		if i%4 == 0 {
			app = "checkout"
		}
		zone := []string{"a", "b", "c"}[i%3]
		ps[i] = &simPod{Pod: pod(fmt.Sprintf("pod-%02d", i), withLabels("app", app, "zone", zone), readyFor(time.Hour))}
	}
	workloadOf := make([]int, n)
	for k, i := 0, 0; k < len(workloads); k++ {
		for range workloads[k] {
			ps[i].Workload = fmt.Sprintf("Deployment/w%d", k)
			workloadOf[i] = k
			i++
		}
	}
	var log strings.Builder
	for tick := 0; tick < 300; tick++ {
		clock := start.Add(time.Duration(tick) * step)
		// The kubelet: finished updates become ready; disruptions end; new disruptions start.
		for _, p := range ps {
			if p.Updating && tick >= p.updateDoneAt {
				p.Updating, p.Ready, p.ReadySince = false, true, At(clock)
				fmt.Fprintf(&log, "t=%03d ready   %s\n", tick, p.Name)
			}
			if !p.Updating && !p.Ready && p.disruptedUntil > 0 && tick >= p.disruptedUntil {
				p.Ready, p.ReadySince, p.disruptedUntil = true, At(clock), 0
				fmt.Fprintf(&log, "t=%03d healed  %s\n", tick, p.Name)
			}
		}
		if rng.Float64() < disrupt {
			p := ps[rng.Intn(len(ps))]
			if p.Ready && !p.Updating {
				p.Ready, p.disruptedUntil = false, tick+1+rng.Intn(3)
				fmt.Fprintf(&log, "t=%03d disrupt %s\n", tick, p.Name)
			}
		}

		view := make([]Pod, len(ps))
		for i, p := range ps {
			view[i] = p.Pod
		}
		var budgets []Budget
		healthyBefore := make([]int, len(workloads))
		if minAvailable > 0 {
			for i, p := range ps {
				if p.Ready && !p.Updating {
					healthyBefore[workloadOf[i]]++
				}
			}
			for k := range workloads {
				// The status as a disruption controller without lag writes it; the operator counts the same.
				status := policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DesiredHealthy: int32(minAvailable),
					DisruptionsAllowed: int32(max(0, healthyBefore[k]-minAvailable))}
				budgets = append(budgets, Budget{Name: fmt.Sprintf("ns/w%d", k), Allowed: BudgetAllowed(status, 1, healthyBefore[k])})
			}
			for i := range view {
				view[i].Budgets = []int{workloadOf[i]}
			}
		}
		if shuffle != nil {
			shuffle.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
		}
		plan, err := ComputeWithBudgets(s, view, budgets, clock)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Done() {
			if plan.OnTarget != wantFinal {
				t.Fatalf("done with %d pods on target, want %d", plan.OnTarget, wantFinal)
			}
			fmt.Fprintf(&log, "t=%03d done: %d of %d pods on target\n", tick, plan.OnTarget, n)
			return log.String()
		}

		assertWorkloadLimits(t, s, view, plan, clock)
		newlyUnavailable := 0
		byName := map[string]*simPod{}
		for _, p := range ps {
			byName[p.Name] = p
		}
		for _, d := range plan.Update {
			p := byName[d.Name]
			if p.Pod.available(time.Duration(s.MinReadySeconds)*time.Second, clock) {
				newlyUnavailable++
			}
			p.OnTarget, p.Updating, p.Ready, p.UpdatedAt = true, true, false, At(clock)
			p.disruptedUntil = 0
			p.updateDoneAt = tick + 1 + rng.Intn(3)
			fmt.Fprintf(&log, "t=%03d update  %s: %s\n", tick, p.Name, d.Reason)
		}
		if minAvailable > 0 {
			healthyAfter := make([]int, len(workloads))
			for i, p := range ps {
				if p.Ready && !p.Updating {
					healthyAfter[workloadOf[i]]++
				}
			}
			for k := range workloads {
				if healthyAfter[k] < min(minAvailable, healthyBefore[k]) {
					t.Fatalf("t=%d: workload %d has %d pods healthy after the step, its budget minAvailable %d, %d before",
						tick, k, healthyAfter[k], minAvailable, healthyBefore[k])
				}
			}
		}
		if after := plan.Unavailable + newlyUnavailable; after > max(plan.MaxUnavailable, plan.Unavailable) {
			t.Fatalf("t=%d: %d pods unavailable after the step, maxUnavailable %d, %d before", tick, after, plan.MaxUnavailable, plan.Unavailable)
		}
	}
	t.Fatalf("the rollout did not finish in 300 steps:\n%s", log.String())
	return ""
}
