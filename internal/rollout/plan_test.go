package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type podOption func(*Pod)

// pod builds an available, updatable pod off target in namespace "ns", ready for an hour.
func pod(name string, opts ...podOption) Pod {
	p := Pod{Namespace: "ns", Name: name, Updatable: true, Ready: true, ReadySince: At(now.Add(-time.Hour))}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func onTarget() podOption      { return func(p *Pod) { p.OnTarget = true } }
func updating() podOption      { return func(p *Pod) { p.OnTarget, p.Updating = true, true } }
func unready() podOption       { return func(p *Pod) { p.Ready = false } }
func notUpgradable() podOption { return func(p *Pod) { p.Updatable = false } }
func failed() podOption        { return func(p *Pod) { p.OnTarget, p.Failed, p.Ready = true, true, false } }
func readyFor(d time.Duration) podOption {
	return func(p *Pod) { p.ReadySince = At(now.Add(-d)) }
}
func inNamespace(ns string) podOption { return func(p *Pod) { p.Namespace = ns } }
func withLabels(kv ...string) podOption {
	return func(p *Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

// pods builds n pods named prefix-00, prefix-01, ...
func pods(prefix string, n int, opts ...podOption) []Pod {
	out := make([]Pod, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("%s-%02d", prefix, i), opts...)
	}
	return out
}

func strategy(t testing.TB, manifest string) *appsv1alpha1.UpdateStrategy {
	t.Helper()
	s := &appsv1alpha1.UpdateStrategy{}
	if err := yaml.UnmarshalStrict([]byte(manifest), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func names(ds []Decision) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return strings.Join(out, ",")
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		pods     []Pod
		want     string // names of the pods to update, in order
		stopped  StopReason
		check    func(t *testing.T, p Plan)
	}{
		{
			name: "the default maxUnavailable of 1 updates one pod", strategy: `{}`,
			pods: pods("p", 5), want: "p-00",
		},
		{
			name: "an integer maxUnavailable", strategy: `{maxUnavailable: 3}`,
			pods: pods("p", 5), want: "p-00,p-01,p-02",
		},
		{
			name: "a percentage is of the matched pods, rounded up: 10% of 25 is 3", strategy: `{maxUnavailable: 10%}`,
			pods: pods("p", 25), want: "p-00,p-01,p-02",
			check: func(t *testing.T, p Plan) {
				if p.MaxUnavailable != 3 || p.Budget != 3 {
					t.Errorf("maxUnavailable %d, budget %d", p.MaxUnavailable, p.Budget)
				}
			},
		},
		{
			name: "1% of 10 pods still allows one", strategy: `{maxUnavailable: 1%}`,
			pods: pods("p", 10), want: "p-00",
		},
		{
			name: "pods already unavailable use up the budget", strategy: `{maxUnavailable: 2}`,
			pods: append(pods("p", 3), pod("q", onTarget(), unready())), want: "p-00",
			check: func(t *testing.T, p Plan) {
				if p.Budget != 1 || p.BudgetReason != "maxUnavailable 2 of 4 matched pods, 1 unavailable now: budget 1" {
					t.Errorf("budget %d: %s", p.Budget, p.BudgetReason)
				}
			},
		},
		{
			name: "pods being updated count as unavailable", strategy: `{maxUnavailable: 2}`,
			pods: append(pods("p", 3), pod("u1", updating()), pod("u2", updating())), want: "",
		},
		{
			name: "an unavailable candidate goes first and costs nothing", strategy: `{maxUnavailable: 1}`,
			pods: append(pods("p", 3), pod("z", unready())), want: "z",
			check: func(t *testing.T, p Plan) {
				if p.Update[0].Reason != "already unavailable: updating it costs no availability" {
					t.Errorf("reason %q", p.Update[0].Reason)
				}
			},
		},
		{
			name: "unavailable candidates go even with no budget left", strategy: `{maxUnavailable: 1}`,
			pods: []Pod{pod("a", unready()), pod("b", unready()), pod("c")}, want: "a,b",
		},
		{
			name: "an unready pod on target uses the budget without being a candidate", strategy: `{maxUnavailable: 2}`,
			pods: []Pod{pod("a", onTarget(), unready()), pod("b"), pod("c")}, want: "b",
		},
		{
			name: "minReadySeconds: a pod ready for less is still unavailable", strategy: `{maxUnavailable: 2, minReadySeconds: 30}`,
			pods: []Pod{pod("a", onTarget(), readyFor(10*time.Second)), pod("b"), pod("c"), pod("d", onTarget(), readyFor(time.Minute))}, want: "b",
		},
		{
			name: "pods on target are not updated again", strategy: `{maxUnavailable: 5}`,
			pods: []Pod{pod("a", onTarget()), pod("b"), pod("c", onTarget())}, want: "b",
		},
		{
			name: "pods behind by more than images are not upgradable", strategy: `{maxUnavailable: 5}`,
			pods: []Pod{pod("a", notUpgradable()), pod("b")}, want: "b",
			check: func(t *testing.T, p Plan) {
				if p.NotUpgradable != 1 || p.Candidates != 1 {
					t.Errorf("notUpgradable %d, candidates %d", p.NotUpgradable, p.Candidates)
				}
			},
		},
		{
			name: "namespace then name order", strategy: `{maxUnavailable: 3}`,
			pods: []Pod{pod("a", inNamespace("zz")), pod("b", inNamespace("aa")), pod("a", inNamespace("aa")), pod("c", inNamespace("mm"))},
			want: "a,b,c",
			check: func(t *testing.T, p Plan) {
				if p.Update[0].Namespace != "aa" || p.Update[1].Namespace != "aa" || p.Update[2].Namespace != "mm" {
					t.Errorf("update = %+v", p.Update)
				}
			},
		},
		{
			name: "a partition keeps the last pods in order behind", strategy: `{maxUnavailable: 10, partition: 3}`,
			pods: pods("p", 5), want: "p-00,p-01",
			check: func(t *testing.T, p Plan) {
				if p.HeldByPartition != 3 || p.Candidates != 2 {
					t.Errorf("held %d, candidates %d", p.HeldByPartition, p.Candidates)
				}
			},
		},
		{
			name: "a partition counts pods already on target", strategy: `{maxUnavailable: 10, partition: 2}`,
			pods: append(pods("p", 3), pod("t1", onTarget()), pod("t2", onTarget())), want: "p-00",
		},
		{
			name: "a partition reached updates nothing", strategy: `{maxUnavailable: 10, partition: 3}`,
			pods: append(pods("p", 3), pod("t1", onTarget()), pod("t2", onTarget())), want: "",
			check: func(t *testing.T, p Plan) {
				if !p.Done() || p.HeldByPartition != 3 {
					t.Errorf("done %v, held %d", p.Done(), p.HeldByPartition)
				}
			},
		},
		{
			name: "a percentage partition rounds up: 90% of 25 keeps 23", strategy: `{maxUnavailable: 10, partition: 90%}`,
			pods: pods("p", 25), want: "p-00,p-01",
		},
		{
			name: "the worked numbers of the doc comment", strategy: `{maxUnavailable: 10%, partition: 20%}`,
			pods: slices.Concat(pods("t", 11, onTarget()), []Pod{pod("u", updating()), pod("z", unready())}, pods("p", 12)),
			want: "z,p-00",
			check: func(t *testing.T, p Plan) {
				if p.MaxUnavailable != 3 || p.Partition != 5 || p.Unavailable != 2 || p.Budget != 1 || p.Candidates != 8 || p.HeldByPartition != 5 {
					t.Errorf("plan = %+v", p)
				}
			},
		},
		{
			name: "a selector leaves unselected pods behind", strategy: `{maxUnavailable: 10, selector: {matchLabels: {canary: "true"}}}`,
			pods: []Pod{pod("a", withLabels("canary", "true")), pod("b"), pod("c", withLabels("canary", "true"))}, want: "a,c",
			check: func(t *testing.T, p Plan) {
				if p.HeldBySelector != 1 {
					t.Errorf("heldBySelector %d", p.HeldBySelector)
				}
			},
		},
		{
			name: "higher weights go first", strategy: `{maxUnavailable: 2, priorityStrategy: {weightPriority: [
				{weight: 50, matchSelector: {matchLabels: {zone: b}}}, {weight: 100, matchSelector: {matchLabels: {zone: c}}}]}}`,
			pods: []Pod{pod("a", withLabels("zone", "a")), pod("b", withLabels("zone", "b")), pod("c", withLabels("zone", "c"))}, want: "c,b",
		},
		{
			name: "a pod gets the weight of the first term it matches", strategy: `{maxUnavailable: 1, priorityStrategy: {weightPriority: [
				{weight: 10, matchSelector: {matchLabels: {tier: web}}}, {weight: 90, matchSelector: {matchLabels: {zone: a}}}]}}`,
			pods: []Pod{pod("a", withLabels("tier", "web", "zone", "a")), pod("b", withLabels("zone", "a"))}, want: "b",
		},
		{
			name: "unavailable beats weight", strategy: `{maxUnavailable: 1, priorityStrategy: {weightPriority: [{weight: 100, matchSelector: {matchLabels: {zone: c}}}]}}`,
			pods: []Pod{pod("c", withLabels("zone", "c")), pod("x", unready())}, want: "x",
		},
		{
			name:     "a priority term with an unusable selector matches nothing and stops nothing",
			strategy: `{maxUnavailable: 1, priorityStrategy: {weightPriority: [{weight: 100, matchSelector: {matchExpressions: [{key: zone, operator: Inn, values: [c]}]}}]}}`,
			pods:     []Pod{pod("c", withLabels("zone", "c")), pod("a")}, want: "a",
		},
		{
			name: "scatter spreads a label's pods through the order", strategy: `{maxUnavailable: 2, scatterStrategy: [{key: app, value: checkout}]}`,
			pods: []Pod{pod("a1", withLabels("app", "checkout")), pod("a2", withLabels("app", "checkout")),
				pod("b1"), pod("b2")}, want: "a1,b1",
		},
		{
			name: "scatter keeps the order within a term's pods", strategy: `{maxUnavailable: 6, scatterStrategy: [{key: app, value: checkout}]}`,
			pods: []Pod{pod("a1", withLabels("app", "checkout")), pod("a2", withLabels("app", "checkout")), pod("a3", withLabels("app", "checkout")),
				pod("b1"), pod("b2"), pod("b3")}, want: "a1,b1,a2,b2,a3,b3",
		},
		{
			name: "paused updates nothing but counts", strategy: `{maxUnavailable: 3, paused: true}`,
			pods: pods("p", 4), want: "", stopped: StopPaused,
			check: func(t *testing.T, p Plan) {
				if p.Candidates != 4 || p.Done() {
					t.Errorf("candidates %d, done %v", p.Candidates, p.Done())
				}
			},
		},
		{
			name: "NotUpdate updates nothing", strategy: `{type: NotUpdate, maxUnavailable: 3}`,
			pods: pods("p", 4), want: "", stopped: StopNotUpdate,
		},
		{
			name: "the failure policy stops at maxFailedPods", strategy: `{maxUnavailable: 3, failurePolicy: {maxFailedPods: 2}}`,
			pods: append(pods("p", 4), pod("f1", failed()), pod("f2", failed())), want: "", stopped: StopFailurePolicy,
		},
		{
			name: "below maxFailedPods the rollout goes on within the budget", strategy: `{maxUnavailable: 3, failurePolicy: {maxFailedPods: 2}}`,
			pods: append(pods("p", 4), pod("f1", failed())), want: "p-00,p-01",
		},
		{
			name: "the failure policy wins over a pause", strategy: `{paused: true}`,
			pods: append(pods("p", 2), pod("f", failed())), want: "", stopped: StopFailurePolicy,
		},
		{
			name: "a finished rollout is done", strategy: `{}`,
			pods: pods("t", 3, onTarget()), want: "",
			check: func(t *testing.T, p Plan) {
				if !p.Done() || p.OnTarget != 3 {
					t.Errorf("plan = %+v", p)
				}
			},
		},
		{
			name: "an unready pod held back does not keep a rollout from being done", strategy: `{partition: 1}`,
			pods: []Pod{pod("t", onTarget()), pod("held", unready())}, want: "",
			check: func(t *testing.T, p Plan) {
				if !p.Done() || p.HeldByPartition != 1 {
					t.Errorf("plan = %+v", p)
				}
			},
		},
		{
			name: "an updated pod not yet available keeps a rollout from being done", strategy: `{}`,
			pods: []Pod{pod("t", onTarget()), pod("u", updating())}, want: "",
			check: func(t *testing.T, p Plan) {
				if p.Done() || p.OnTargetUnavailable != 1 {
					t.Errorf("plan = %+v", p)
				}
			},
		},
		{
			name: "no pods", strategy: `{maxUnavailable: 10%}`, pods: nil, want: "",
			check: func(t *testing.T, p Plan) {
				if !p.Done() || p.MaxUnavailable != 1 {
					t.Errorf("plan = %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := strategy(t, tt.strategy)
			p, err := Compute(s, tt.pods, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(p.Update); got != tt.want {
				t.Errorf("update %q, want %q", got, tt.want)
			}
			if p.Stopped != tt.stopped {
				t.Errorf("stopped %q, want %q", p.Stopped, tt.stopped)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
			// The same pods in reverse order give the same plan.
			reversed := slices.Clone(tt.pods)
			slices.Reverse(reversed)
			again, err := Compute(s, reversed, now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(again.Update, p.Update, func(a, b Decision) bool {
				return a.Namespace == b.Namespace && a.Name == b.Name && a.Reason == b.Reason && a.Recreate == b.Recreate &&
					reversed[a.Index].Name == a.Name && tt.pods[b.Index].Name == b.Name
			}) {
				t.Errorf("input order changed the plan: %q vs %q", names(again.Update), names(p.Update))
			}
		})
	}
}

func TestComputeRefusesAnInvalidStrategy(t *testing.T) {
	for _, tt := range []struct{ strategy, wantErr string }{
		{`{maxUnavailable: "lots"}`, `maxUnavailable: "lots" is neither an integer nor a percentage`},
		{`{partition: "200%"}`, `partition: "200%" is not a percentage from 0% to 100%`},
		{`{selector: {matchExpressions: [{key: a, operator: Inn}]}}`, `updateStrategy.selector: `},
	} {
		_, err := Compute(strategy(t, tt.strategy), pods("p", 3), now)
		if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want %q", tt.strategy, err, tt.wantErr)
		}
	}
}

// TestDoneWaitsForUpdatesOnly: a rollout is done once every update it made has landed; pods on target that
// are not ready for reasons of their own take budget but are not waited for.
func TestDoneWaitsForUpdatesOnly(t *testing.T) {
	updatedAt := func(ago time.Duration) podOption {
		return func(p *Pod) { p.OnTarget, p.UpdatedAt = true, At(now.Add(-ago)) }
	}
	tests := []struct {
		name       string
		strategy   string
		pods       []Pod
		done       bool
		inProgress int
	}{
		{"every pod on target and ready", `{}`, pods("p", 3, onTarget()), true, 0},
		{"an update in flight", `{}`, append(pods("p", 2, onTarget()), pod("u", updating())), false, 1},
		{"a pod on target not ready for reasons of its own", `{}`,
			append(pods("p", 2, onTarget()), pod("crashing", onTarget(), unready())), true, 0},
		{"a pod updated in place, not ready for its app's reasons once its sidecar restarted", `{}`,
			append(pods("p", 2, onTarget()), pod("u", updatedAt(time.Minute), unready())), true, 0},
		{"a pod updated in place and ready for less than minReadySeconds", `{minReadySeconds: 30}`,
			append(pods("p", 2, onTarget()), pod("u", updatedAt(time.Minute), readyFor(10*time.Second))), false, 1},
		{"a pod updated in place and ready for minReadySeconds", `{minReadySeconds: 30}`,
			append(pods("p", 2, onTarget()), pod("u", updatedAt(time.Minute), readyFor(40*time.Second))), true, 0},
		{"ready again long after its update: the app recovered, the update had landed", `{minReadySeconds: 30, progressDeadlineSeconds: 60}`,
			append(pods("p", 2, onTarget()), pod("u", updatedAt(time.Hour), readyFor(10*time.Second))), true, 0},
		{"a pod created on target, ready for less than minReadySeconds", `{minReadySeconds: 30}`,
			append(pods("p", 2, onTarget()), pod("new", onTarget(), readyFor(10*time.Second))), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compute(strategy(t, tt.strategy), tt.pods, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.Done() != tt.done || p.InProgress != tt.inProgress {
				t.Errorf("done %v with %d in progress, want %v with %d (plan %+v)", p.Done(), p.InProgress, tt.done, tt.inProgress, p)
			}
		})
	}
}
