package controllers

import (
	"testing"
	"time"

	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// TestIdleMemosAreForgotten: a memo no reconcile took within memoIdleTTL is dropped, one taken since is kept.
func TestIdleMemosAreForgotten(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var r SidecarSetReconciler
	keep := func(name string, used time.Time) {
		k := &keptMemo{memo: &step.Memo{}}
		k.used.Store(used.UnixNano())
		r.memos.Store(name, k)
	}
	keep("at-rest", t0)
	keep("rolling", t0.Add(memoIdleTTL-time.Second))
	r.forgetIdleMemos(t0.Add(memoIdleTTL + time.Second))
	if _, ok := r.memos.Load("at-rest"); ok {
		t.Error("the memo of a SidecarSet not reconciled for longer than memoIdleTTL was kept")
	}
	if _, ok := r.memos.Load("rolling"); !ok {
		t.Error("the memo of a SidecarSet reconciled within memoIdleTTL was dropped")
	}
}
