package controllers

import (
	"context"
	"testing"

	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// TestTheDecisionsPodsAreLentBetweenReconciles: the slice of a decision's pods goes back to the SidecarSet's
// kept memo once decided, cleared so that it holds no view between reconciles, and the next gather fills it
// again rather than allocating another.
func TestTheDecisionsPodsAreLentBetweenReconciles(t *testing.T) {
	const n = 100
	c, set := reconcileWorld(t, n)
	r := &SidecarSetReconciler{Client: c, Pods: startPodCache(t, c), Namespace: "sidecarset-system"}
	in, err := r.gather(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Pods) != n {
		t.Fatalf("gathered %d pods, want %d", len(in.Pods), n)
	}
	step.Decide(in)
	r.decided(set.Name, in)
	kept, _ := r.memos.Load(set.Name)
	lent := kept.(*keptMemo).input
	if len(lent) != 0 || cap(lent) < n {
		t.Fatalf("the kept memo lends %d pods in room for %d, want none in room for %d", len(lent), cap(lent), n)
	}
	for _, p := range lent[:n] {
		if p.View != nil || p.Written != nil {
			t.Fatal("the lent slice holds a view between reconciles")
		}
	}
	again, err := r.gather(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Pods) != n || &again.Pods[0] != &lent[:1][0] {
		t.Fatal("the next gather did not fill the lent slice")
	}
	for i, p := range again.Pods {
		if p.View == nil {
			t.Fatalf("pod %d of the refilled slice has no view", i)
		}
	}
}
