package step

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// BenchmarkDecide is one reconcile's decision for a SidecarSet with 10,000 matched pods in the middle of a
// rollout, as a pod event finds it: observe every pod's view (its state, its update's progress), plan the
// step with maxUnavailable 10%, work out the write of the pod chosen and compute the status. Half the pods
// are on the latest revision, 999 of those still being updated (the kubelet has not restarted their
// sidecar), so the budget of 1,000 has room for one more pod; the rest are on the revision before. No memo:
// every pod is observed, as in a SidecarSet's first reconcile.
func BenchmarkDecide(b *testing.B) {
	in := rolloutInput(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Decide(in)
	}
}

// BenchmarkDecideMemo is the same decision as the controller makes it, with the SidecarSet's memo kept from
// the reconcile before, and 100 of the 10,000 pods (1%) given new views in between, as the pod cache replaces
// the views of the pods that changed: the pods updating and the changed ones are observed again, the others
// are taken from the memo.
func BenchmarkDecideMemo(b *testing.B) { benchmarkDecideMemo(b, nil) }

// BenchmarkDecideMemoCold is BenchmarkDecideMemo with the processor's caches filled with other memory before
// each decision, as in a cluster, where the API server, etcd and the kubelets run between two reconciles of a
// SidecarSet: the pod views, the memo's entries and the names they hold are read from memory, not from a
// cache that the benchmark's loop keeps warm. Filling the caches is not timed.
func BenchmarkDecideMemoCold(b *testing.B) {
	other := make([]byte, 64<<20) // twice the largest last-level cache of the machines the benchmark runs on
	benchmarkDecideMemo(b, func() {
		b.StopTimer()
		for j := 0; j < len(other); j += 64 {
			other[j]++
		}
		b.StartTimer()
	})
}

// benchmarkDecideMemo runs BenchmarkDecideMemo, calling between, when not nil, before each decision.
func benchmarkDecideMemo(b *testing.B, between func()) {
	in := rolloutInput(b)
	in.Memo = &Memo{}
	Decide(in)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		for range 100 {
			p := &in.Pods[i%len(in.Pods)]
			copied := *p.View // a new view of the same pod, as after an event that changed nothing the decision reads
			p.View = &copied
			i += 97
		}
		if between != nil {
			between()
		}
		Decide(in)
	}
}

// BenchmarkDecideWriting is a decision as a rollout's step begins: 10,000 pods on the revision before, of
// which the decision before chose 1,000 (maxUnavailable 10%) and their writes are in flight, not yet shown by
// the pod cache (Pod.Written). Each such pod is judged as its write will make it (inplace.Apply), in every
// reconcile until the cache shows the write. The memo is kept from the decision before.
func BenchmarkDecideWriting(b *testing.B) {
	f := newFixture(b, `{maxUnavailable: 10%}`)
	ready := metav1.NewTime(now.Add(-time.Hour))
	pods := make([]Pod, 10_000)
	for i := range pods {
		state := podstate.SidecarSetState{Revision: f.previous, Images: map[string]string{"shipper": "shipper:1"}}
		pods[i] = Pod{View: benchView(b, i, "shipper:1", "c://s", corev1.ConditionTrue, ready, state)}
	}
	in := inZones(f.input(pods...))
	in.Memo = &Memo{}
	first := Decide(in)
	written := map[string]*inplace.Change{}
	for _, u := range first.Updates {
		written[u.Namespace+"/"+u.Name] = &u.Change
	}
	for i := range in.Pods {
		v := in.Pods[i].View
		in.Pods[i].Written = written[v.Namespace+"/"+v.Name]
	}
	if len(written) != 1000 {
		b.Fatalf("the first decision chose %d pods, want 1,000", len(written))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := Decide(in); len(d.Updates) != 0 {
			b.Fatalf("a decision with the budget in flight chose %d more pods", len(d.Updates))
		}
	}
}

// BenchmarkDecideNewTarget is the first decision of a rollout over 10,000 pods that were all updated in place
// before: a new memo (a SidecarSet at rest has none), so every pod gets an entry and is observed, and each
// pod's state is its own (its update's record names its containers), decoded for it alone. Besides time and
// allocations it reports peak-MB, the most the heap's objects grew over the decision, read every 50 µs with
// the collector run at GOGC=5 so that garbage counts little: what the decision holds at once, which the
// operator's heap grows by at a rollout's start.
func BenchmarkDecideNewTarget(b *testing.B) {
	in := updatedInput(b)
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	var peak uint64
	for b.Loop() {
		in.Memo = nil
		runtime.GC()
		base := heapObjects()
		stop, done := make(chan struct{}), make(chan uint64)
		go func() {
			high := base
			for {
				select {
				case <-stop:
					done <- high
					return
				case <-time.After(50 * time.Microsecond):
					high = max(high, heapObjects())
				}
			}
		}()
		in.Memo = &Memo{}
		d := Decide(in)
		close(stop)
		peak = max(peak, <-done-base)
		if len(d.Updates) == 0 {
			b.Fatal("the decision updates no pod: the input is not a rollout's start")
		}
	}
	b.ReportMetric(float64(peak)/1e6, "peak-MB")
}

// BenchmarkMemoHeld reports memo-B/pod: what a SidecarSet's memo holds between two reconciles of a rollout of
// 10,000 pods (BenchmarkDecide's), per pod: its entries, its counted records and the slices it lends. A
// SidecarSet at rest keeps no memo, so this is what its rollout adds to the operator's heap (docs/design.md
// 1.2). Measured as the live heap after a collection with the memo kept, over the same without it.
func BenchmarkMemoHeld(b *testing.B) {
	in := rolloutInput(b)
	var held uint64
	for b.Loop() {
		in.Memo = nil
		runtime.GC()
		base := heapObjects()
		m := &Memo{}
		in.Memo = m
		Decide(in)
		in.Memo = nil
		runtime.GC()
		held = heapObjects() - base
		if m.Len() != len(in.Pods) {
			b.Fatalf("the memo holds %d entries for %d pods", m.Len(), len(in.Pods))
		}
	}
	b.ReportMetric(float64(held)/float64(len(in.Pods)), "memo-B/pod")
}

// BenchmarkUpdatesHeld reports B/update: what the updates of a rollout's first step at 10,000 pods (1,000 of
// them) hold, per update, once the decision is made: each is kept until its write is sent, and its change
// in flight until the pod cache shows it. Measured as the live heap with the updates kept over the same
// without them.
func BenchmarkUpdatesHeld(b *testing.B) {
	in := updatedInput(b)
	var held uint64
	var n int
	for b.Loop() {
		in.Memo = &Memo{}
		updates := Decide(in).Updates
		in.Memo = nil
		n = len(updates)
		settle()
		with := heapObjects()
		runtime.KeepAlive(updates)
		updates = nil
		settle()
		held = with - heapObjects()
	}
	if n != 1000 {
		b.Fatalf("the first step updates %d pods, want 1,000", n)
	}
	b.ReportMetric(float64(held)/float64(n), "B/update")
}

// settle collects until the heap's objects stop shrinking: what a collection frees can free more at the next
// (the interned strings and shares, weakly held, go a collection after the last of their holders).
func settle() {
	runtime.GC()
	for before := heapObjects(); ; {
		runtime.GC()
		after := heapObjects()
		if after >= before {
			return
		}
		before = after
	}
}

// heapObjects is the bytes of the heap's objects, live or not yet collected.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// updatedInput is BenchmarkDecideNewTarget's input: 10,000 pods on the revision before the latest, each
// updated in place to it an hour ago (its sidecar restarted since), ready.
func updatedInput(b *testing.B) Input {
	f := newFixture(b, `{maxUnavailable: 10%}`)
	ready := metav1.NewTime(now.Add(-time.Hour))
	pods := make([]Pod, 10_000)
	for i := range pods {
		shipper := fmt.Sprintf("c://s-%05d", i)
		state := podstate.SidecarSetState{Revision: f.previous, Images: map[string]string{"shipper": "shipper:1"},
			Update: &podstate.Update{From: f.previous, StartedAt: ready,
				Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: shipper + "-before"}}}}
		pods[i] = Pod{View: benchView(b, i, "shipper:1", shipper, corev1.ConditionTrue, ready, state)}
	}
	return inZones(f.input(pods...))
}

// benchView is the benchmarks' i-th pod: in one of 20 namespaces, on one of 22 nodes, running shipper on
// image (its container shipperID) beside an app, with the Ready condition ready since since, and the state
// st for SidecarSet logs.
func benchView(b *testing.B, i int, image, shipperID string, ready corev1.ConditionStatus, since metav1.Time, st podstate.SidecarSetState) *podview.View {
	return view(b, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%02d", i%20), Name: fmt.Sprintf("web-%05d", i),
			Labels: map[string]string{"app": "web"}, ResourceVersion: "1"},
		Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%02d", i%22),
			Containers: []corev1.Container{{Name: "shipper", Image: image}, {Name: "app", Image: "web:1"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: since}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "shipper", Image: image, ContainerID: shipperID, Ready: true},
				{Name: "app", Image: "web:1", ContainerID: "c://a", Ready: true},
			},
		},
	}, podstate.State{"logs": st})
}

// inZones spreads the 22 nodes of the benchmarks' pods over 3 zones.
func inZones(in Input) Input {
	in.Zones = map[string]string{}
	for i := range 22 {
		in.Zones[fmt.Sprintf("node-%02d", i)] = fmt.Sprintf("zone-%d", i%3)
	}
	return in
}

// rolloutInput is BenchmarkDecide's input: the pods are spread over 22 nodes in 3 zones.
func rolloutInput(b *testing.B) Input {
	const n = 10_000
	f := newFixture(b, `{maxUnavailable: 10%}`)
	ready := metav1.NewTime(now.Add(-time.Hour))
	pods := make([]Pod, n)
	for i := range pods {
		rev, image := f.previous, "shipper:1"
		if i%2 == 0 {
			rev, image = f.latest, "shipper:2"
		}
		state := podstate.SidecarSetState{Revision: rev, Images: map[string]string{"shipper": image}}
		podReady := corev1.ConditionTrue
		if i%10 == 0 && i < 9990 {
			state.Update = &podstate.Update{From: f.previous, StartedAt: metav1.NewTime(now.Add(-time.Second)),
				Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://s"}}}
			podReady = corev1.ConditionFalse
		}
		pods[i] = Pod{View: benchView(b, i, image, "c://s", podReady, ready, state)}
	}
	in := inZones(f.input(pods...))
	if d := Decide(in); d.Computed.UpdatedPods != n/2 || d.Computed.OutdatedPods != n/2 || len(d.Updates) != 1 {
		b.Fatalf("status %+v with %d updates: the pods are not what the benchmark means them to be", d.Computed, len(d.Updates))
	}
	return in
}
