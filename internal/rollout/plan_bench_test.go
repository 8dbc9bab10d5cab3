package rollout

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkCompute plans one step over 10,000 matched pods of 400 workloads (25 pods each, over 20
// namespaces): half on target, a few updating or unready, the rest candidates, with a percentage budget, a
// partition, priority weights, scatter and the default per-workload limit.
func BenchmarkCompute(b *testing.B) { benchmarkCompute(b, false) }

// BenchmarkComputeRanked is BenchmarkCompute with the pods numbered in their order by name (Pod.Rank), as a
// reconcile numbers them: the candidates are then ordered by their numbers (orderByRank).
func BenchmarkComputeRanked(b *testing.B) { benchmarkCompute(b, true) }

func benchmarkCompute(b *testing.B, ranked bool) {
	s := strategy(b, `{maxUnavailable: 10%, partition: 5%, minReadySeconds: 10, priorityStrategy: {weightPriority: [
		{weight: 100, matchSelector: {matchLabels: {zone: a}}}, {weight: 50, matchSelector: {matchExpressions: [{key: tier, operator: In, values: [web]}]}}]},
		scatterStrategy: [{key: app, value: checkout}]}`)
	const n = 10_000
	ps := make([]Pod, n)
	for i := range ps {
		opts := []podOption{withLabels("zone", []string{"a", "b", "c"}[i%3], "app", []string{"checkout", "catalog"}[i%2], "tier", "web")}
		switch {
		case i%2 == 0:
			opts = append(opts, onTarget())
		case i%97 == 0:
			opts = append(opts, updating())
		case i%89 == 0:
			opts = append(opts, unready())
		}
		ps[i] = pod(fmt.Sprintf("pod-%05d", i), opts...)
		ps[i].Namespace = fmt.Sprintf("ns-%02d", i%20)
		ps[i].Workload = fmt.Sprintf("Deployment/app-%02d", i/20%20)
	}
	if ranked {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(x, y int) int {
			return CompareNames(ps[x].Namespace, ps[x].Name, ps[y].Namespace, ps[y].Name)
		})
		for r, i := range order {
			ps[i].Rank = int32(r + 1)
		}
	}
	p, err := Compute(s, ps, now)
	if err != nil || len(p.Update) == 0 {
		b.Fatalf("plan %+v, error %v", p, err)
	}
	at := pointers(ps) // as a reconcile plans them (ComputeAt)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ComputeAt(s, at, nil, now.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}
