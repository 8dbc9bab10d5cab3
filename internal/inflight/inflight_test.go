package inflight

import (
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func written(rev string) inplace.Change {
	return inplace.Change{Images: map[string]string{"agent": "agent:2"},
		State: podstate.SidecarSetState{Revision: rev, Images: map[string]string{"agent": "agent:2"}}}
}

func TestPending(t *testing.T) {
	tests := []struct {
		name string
		// the pod's resourceVersion in the cache, and how long after the write it is read
		version string
		after   time.Duration
		want    bool
	}{
		{name: "cache still at the version the write was decided on", version: "10", after: time.Second, want: true},
		{name: "cache shows the write", version: "11", after: time.Second},
		{name: "cache shows a later change, or the pod recreated", version: "57", after: time.Second},
		{name: "write just inside the TTL", version: "10", after: TTL, want: true},
		{name: "write older than the TTL: the cache is trusted again", version: "10", after: TTL + time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Writes
			w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
			st, ok := w.Pending("logs", "shop", "web-1", tt.version, none, t0.Add(tt.after))
			if ok != tt.want {
				t.Fatalf("Pending = %v, want %v", ok, tt.want)
			}
			if ok && st.State.Revision != "logs-2" {
				t.Errorf("Pending state revision = %q, want logs-2", st.State.Revision)
			}
			// An expectation that ended is forgotten: the same version later is not pending again.
			if !tt.want {
				if _, again := w.Pending("logs", "shop", "web-1", "10", none, t0.Add(time.Second)); again {
					t.Errorf("an ended expectation came back")
				}
			}
		})
	}
}

func TestPendingIsPerSidecarSetAndPod(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	for _, k := range []struct{ set, ns, name string }{
		{"metrics", "shop", "web-1"}, {"logs", "shop", "web-2"}, {"logs", "bank", "web-1"},
	} {
		if _, ok := w.Pending(k.set, k.ns, k.name, "10", none, t0); ok {
			t.Errorf("Pending(%s, %s/%s) = true for a pod that was not written for it", k.set, k.ns, k.name)
		}
	}
	if _, ok := w.Pending("logs", "shop", "web-1", "10", none, t0); !ok {
		t.Errorf("the written pod is not pending")
	}
}

func TestExpireAndForget(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	w.Record("logs", "shop", "web-2", "12", written("logs-2"), t0.Add(20*time.Second))
	w.Record("metrics", "shop", "web-1", "10", written("metrics-5"), t0.Add(20*time.Second))
	if left := w.Expire(t0.Add(TTL + time.Second)); left != 2 {
		t.Fatalf("Expire left %d writes, want 2 (the first is older than the TTL)", left)
	}
	w.Forget("logs")
	if left := w.Expire(t0.Add(TTL + time.Second)); left != 1 {
		t.Fatalf("after Forget(logs) %d writes are left, want 1 (metrics')", left)
	}
	if _, ok := w.Pending("metrics", "shop", "web-1", "10", none, t0.Add(21*time.Second)); !ok {
		t.Errorf("Forget(logs) dropped another SidecarSet's write")
	}
}

func TestConcurrentRecord(t *testing.T) {
	var w Writes
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Record("logs", "shop", string(rune('a'+i%26))+string(rune('a'+i/26)), "1", written("logs-2"), t0)
		}()
	}
	wg.Wait()
	if left := w.Expire(t0); left != 100 {
		t.Fatalf("%d writes recorded, want 100", left)
	}
}

func TestDropForgetsAFailedWrite(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	w.Record("logs", "shop", "web-2", "10", written("logs-2"), t0)
	w.Drop("logs", "shop", "web-1")
	if _, ok := w.Pending("logs", "shop", "web-1", "10", none, t0); ok {
		t.Errorf("a dropped write is still pending: the pod would hold budget for nothing until the TTL")
	}
	if _, ok := w.Pending("logs", "shop", "web-2", "10", none, t0); !ok {
		t.Errorf("Drop dropped another pod's write")
	}
}

func TestPendingAfterAResizeHoldsUntilTheStateShows(t *testing.T) {
	var w Writes
	change := written("logs-2")
	change.State.Update = &podstate.Update{From: "logs-1", StartedAt: metav1.NewTime(t0.Add(500 * time.Millisecond))}
	w.Record("logs", "shop", "web-1", "10", change, t0)
	w.Resizing("logs", "shop", "web-1")
	before := podstate.SidecarSetState{Revision: "logs-1"}
	// The resize (11) and the kubelet's status writes (12) are versions the write did not make.
	for _, version := range []string{"10", "11", "12"} {
		if _, ok := w.Pending("logs", "shop", "web-1", version, is(before), t0.Add(time.Second)); !ok {
			t.Fatalf("at version %s, before the state shows, the write is not pending", version)
		}
	}
	landed := podstate.SidecarSetState{Revision: "logs-2", Update: &podstate.Update{From: "logs-1", StartedAt: metav1.NewTime(t0)}}
	if _, ok := w.Pending("logs", "shop", "web-1", "13", is(landed), t0.Add(time.Second)); ok {
		t.Error("the state written shows in the cache, and the write is still pending")
	}

	w.Record("logs", "shop", "web-2", "10", change, t0)
	w.Resizing("logs", "shop", "web-2")
	if _, ok := w.Pending("logs", "shop", "web-2", "12", is(before), t0.Add(TTL+time.Second)); ok {
		t.Error("a resized write outlived the TTL")
	}
}

func TestASnapshotIsPerSidecarSet(t *testing.T) {
	var w Writes
	if w.Of("logs") != nil {
		t.Fatal("an empty set has a write")
	}
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	if w.Of("logs") == nil || w.Of("mesh") != nil {
		t.Fatalf("Of(logs) = %v, Of(mesh) = %v after a write for logs", w.Of("logs"), w.Of("mesh"))
	}
	w.Drop("logs", "shop", "web-1")
	if w.Of("logs") != nil {
		t.Fatal("a dropped write still stands")
	}
}

// none is the state of a pod with none for the SidecarSet.
func none() podstate.SidecarSetState { return podstate.SidecarSetState{} }

// is reads as st.
func is(st podstate.SidecarSetState) func() podstate.SidecarSetState {
	return func() podstate.SidecarSetState { return st }
}

func TestPendingReadsTheStateOnlyForAWriteThatStands(t *testing.T) {
	var w Writes
	read := 0
	state := func() podstate.SidecarSetState { read++; return podstate.SidecarSetState{} }
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	w.Resizing("logs", "shop", "web-1")
	w.Pending("logs", "shop", "web-2", "11", state, t0)
	if read != 0 {
		t.Fatalf("the state of a pod with no write was read %d times", read)
	}
	w.Pending("logs", "shop", "web-1", "11", state, t0)
	if read != 1 {
		t.Fatalf("the state of a resized pod at another version was read %d times, want once", read)
	}
}

// TestASnapshotAnswersAsTheWrites: a reconcile's snapshot (Of) answers each pod as Pending would, forgets the
// writes it found done only once Done is called, and keeps a write recorded again since it was taken.
func TestASnapshotAnswersAsTheWrites(t *testing.T) {
	var w Writes
	if w.Of("logs") != nil {
		t.Fatal("a snapshot of no writes is not nil")
	}
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	w.Record("logs", "shop", "web-2", "20", written("logs-2"), t0)
	w.Record("logs", "shop", "web-3", "30", written("logs-2"), t0)
	w.Record("metrics", "shop", "web-1", "10", written("metrics-2"), t0)
	s := w.Of("logs")
	if c := s.Pending("shop", "web-1", "10", none, t0.Add(time.Second)); c == nil || c.State.Revision != "logs-2" {
		t.Error("a write the cache does not show is not pending in the snapshot")
	}
	if s.Pending("shop", "web-2", "21", none, t0.Add(time.Second)) != nil {
		t.Error("a write the cache shows is pending in the snapshot")
	}
	if s.Pending("shop", "web-3", "31", none, t0.Add(time.Second)) != nil {
		t.Error("a write the cache shows is pending in the snapshot")
	}
	if s.Pending("shop", "web-4", "1", none, t0.Add(time.Second)) != nil {
		t.Error("a pod never written is pending")
	}
	// web-3 is written again before the reconcile ends: its new write stands.
	w.Record("logs", "shop", "web-3", "31", written("logs-3"), t0.Add(time.Second))
	if _, ok := w.Pending("logs", "shop", "web-2", "20", none, t0.Add(time.Second)); !ok {
		t.Error("the snapshot forgot a write before Done")
	}
	s.Done()
	if _, ok := w.Pending("logs", "shop", "web-2", "20", none, t0.Add(time.Second)); ok {
		t.Error("Done kept a write the snapshot found shown")
	}
	if c, ok := w.Pending("logs", "shop", "web-3", "31", none, t0.Add(time.Second)); !ok || c.State.Revision != "logs-3" {
		t.Errorf("Done forgot the write recorded after the snapshot: %v %v", ok, c.State.Revision)
	}
	if _, ok := w.Pending("metrics", "shop", "web-1", "10", none, t0.Add(time.Second)); !ok {
		t.Error("another SidecarSet's write was forgotten")
	}
	var nothing *Snapshot
	if nothing.Pending("shop", "web-1", "10", none, t0) != nil {
		t.Error("a nil snapshot has a write")
	}
	nothing.Done()
}

// TestASnapshotSharesTheRecords: snapshots hand out the recorded change itself, not a copy, and a record is
// never modified once taken: Resizing replaces it, so a change handed out before still reads as recorded,
// and Done, finding the record replaced since, keeps it.
func TestASnapshotSharesTheRecords(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	first, second := w.Of("logs"), w.Of("logs")
	a, b := first.Pending("shop", "web-1", "10", none, t0), second.Pending("shop", "web-1", "10", none, t0)
	if a == nil || a != b {
		t.Fatalf("two snapshots hand out %p and %p for one record", a, b)
	}
	first.Done()
	second.Done()
	held := w.Of("logs")
	if held.Pending("shop", "web-1", "11", none, t0) != nil { // the cache shows the pod moved: done
		t.Fatal("a write the cache shows is pending")
	}
	w.Resizing("logs", "shop", "web-1")
	held.Done()
	if _, ok := w.Pending("logs", "shop", "web-1", "10", none, t0); !ok {
		t.Error("Done forgot a record replaced after the snapshot was taken")
	}
	if a.State.Revision != "logs-2" {
		t.Errorf("the change handed out reads %q", a.State.Revision)
	}
}
