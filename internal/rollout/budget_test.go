package rollout

import (
	"strings"
	"testing"

	policyv1 "k8s.io/api/policy/v1"
)

func TestBudgetAllowed(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		disruptions, desired int32
		observed, generation int64
		healthy, want        int
	}{
		{"4 pods, minAvailable 3, all ready", 1, 3, 1, 1, 4, 1},
		{"one being updated and still ready: the status does not show it yet", 1, 3, 1, 1, 3, 0},
		{"the status not computed yet", 0, 0, 0, 1, 4, 0},
		{"a status older than the spec", 2, 2, 1, 2, 4, 0},
		{"more pods unhealthy than the budget allows", 0, 3, 1, 1, 2, 0},
		{"maxUnavailable 50% of 10", 5, 5, 1, 1, 10, 5},
	} {
		st := policyv1.PodDisruptionBudgetStatus{ObservedGeneration: tt.observed, DisruptionsAllowed: tt.disruptions, DesiredHealthy: tt.desired}
		if got := BudgetAllowed(st, tt.generation, tt.healthy); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func withBudgets(b ...int) podOption { return func(p *Pod) { p.Budgets = b } }

func TestPodDisruptionBudgets(t *testing.T) {
	budgets := []Budget{{Name: "ns/web", Allowed: 1}, {Name: "ns/none-left", Allowed: 0}, {Name: "ns/two", Allowed: 2}}
	tests := []struct {
		name     string
		strategy string
		pods     []Pod
		want     string
		held     int
		full     string
	}{
		{"a budget allowing one: one pod a step", `{maxUnavailable: 10, maxUnavailablePerWorkload: 100%}`,
			pods("web", 4, withBudgets(0)), "web-00", 3, "ns/web (ns/web-01)"},
		{"a budget allowing none holds every pod it selects", `{maxUnavailable: 10}`,
			append(pods("a", 2, withBudgets(1)), pod("other")), "other", 2, "ns/none-left (ns/a-00)"},
		{"a pod under two budgets spends both", `{maxUnavailable: 10}`,
			[]Pod{pod("p1", withBudgets(0, 2)), pod("p2", withBudgets(2)), pod("p3", withBudgets(2))}, "p1,p2", 1, "ns/two (ns/p3)"},
		{"an unavailable pod is updated whatever its budget allows", `{maxUnavailable: 10}`,
			[]Pod{pod("down", withBudgets(1), unready()), pod("up", withBudgets(1))}, "down", 1, "ns/none-left (ns/up)"},
		{"the fleet budget spent first: nothing is held by the PodDisruptionBudget", `{maxUnavailable: 1}`,
			pods("web", 3, withBudgets(2)), "web-00", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ComputeWithBudgets(strategy(t, tt.strategy), tt.pods, budgets, now)
			if err != nil {
				t.Fatal(err)
			}
			if names(p.Update) != tt.want || p.HeldByBudget != tt.held || strings.Join(p.FullBudgets, ",") != tt.full {
				t.Errorf("update %s, held %d, full %q; want %s, %d, %q", names(p.Update), p.HeldByBudget, strings.Join(p.FullBudgets, ","),
					tt.want, tt.held, tt.full)
			}
		})
	}
}
