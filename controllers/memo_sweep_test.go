package controllers

import (
	"testing"
	"time"

	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// TestIdleMemosAreForgotten: a memo no reconcile took within memoIdleTTL is dropped, one taken since is kept,
// and the sweep counts the pod entries it dropped (what decides whether their memory is returned at once).
func TestIdleMemosAreForgotten(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var r SidecarSetReconciler
	keep := func(name string, used time.Time, entries int64) {
		k := &keptMemo{memo: &step.Memo{}}
		k.used.Store(used.UnixNano())
		k.entries.Store(entries)
		r.memos.Store(name, k)
	}
	keep("at-rest", t0, 700)
	keep("also-at-rest", t0.Add(-time.Hour), 400)
	keep("rolling", t0.Add(memoIdleTTL-time.Second), 5000)
	if dropped := r.forgetIdleMemos(t0.Add(memoIdleTTL + time.Second)); dropped != 1100 {
		t.Errorf("the sweep dropped memos of %d pod entries, want 1100 (the two at rest)", dropped)
	}
	if _, ok := r.memos.Load("at-rest"); ok {
		t.Error("the memo of a SidecarSet not reconciled for longer than memoIdleTTL was kept")
	}
	if _, ok := r.memos.Load("rolling"); !ok {
		t.Error("the memo of a SidecarSet reconciled within memoIdleTTL was dropped")
	}
}
