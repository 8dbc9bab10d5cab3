// Package inflight remembers the in-place updates the operator writes, from the moment a write is sent until
// its pod cache shows it.
//
// The rollout decides on pods as the cache shows them, and the cache lags the API server: a reconcile that
// starts right after another wrote a batch can see those pods still on the old revision, available. Deciding
// on that view would count them as available candidates, so the budget would be overstated by the writes in
// flight and the same pods planned again (the second write is refused, since each write carries the
// resourceVersion it was decided on, but the budget it stood for was spent on nothing). With the writes
// remembered, a pod the cache still shows as it was before the write is taken as what was written: on
// target, updating, unavailable.
//
// Expectations are bounded, never waited on: one ends when the cache shows the pod at any other
// resourceVersion (the write, or anything after it, or the pod recreated), or after TTL, whatever the cache
// says by then. The type has no client and takes the clock as an argument.
package inflight

import (
	"iter"
	"maps"
	"sync"
	"time"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// TTL is how long a write stands in for a cache that does not show it. A write is bounded by a shorter
// timeout, and a watch delivers it in well under a second even under load; past this the cache is trusted
// again, and at worst a pod is planned twice, its second write refused by its resourceVersion guard.
const TTL = 30 * time.Second

// Writes is the set of in-place updates written and not yet seen in the cache. The zero value is ready to
// use; it is safe for concurrent use.
type Writes struct {
	mu sync.Mutex
	// m holds the writes of each SidecarSet by pod. A record is never modified once in m (Resizing replaces
	// it), so a snapshot copies pointers, and hands out the changes they hold.
	m map[string]map[podKey]*write
}

type podKey struct{ namespace, name string }

type write struct {
	// from is the pod's resourceVersion the write was decided on (and guarded by).
	from   string
	change inplace.Change
	at     time.Time
	// resizing: the write resizes the pod first, and the pod goes through versions the write did not make
	// (the resize, the kubelet's status as it resizes) before the patch of the pod lands.
	resizing bool
}

// Record notes that the pod namespace/name, at resourceVersion from, is being written the change for
// sidecarSet (its images and its state). It is called before the write is sent, and Drop when the write
// fails.
func (w *Writes) Record(sidecarSet, namespace, name, from string, change inplace.Change, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]map[podKey]*write{}
	}
	pods := w.m[sidecarSet]
	if pods == nil {
		pods = map[podKey]*write{}
		w.m[sidecarSet] = pods
	}
	pods[podKey{namespace, name}] = &write{from: from, change: change, at: now}
}

// Resizing notes that the write to the pod namespace/name for sidecarSet resizes it first: the write stands
// in until the cache shows its state, whatever versions the pod goes through meanwhile, until Drop or TTL.
func (w *Writes) Resizing(sidecarSet, namespace, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := podKey{namespace, name}
	if wr, ok := w.m[sidecarSet][k]; ok {
		resizing := *wr
		resizing.resizing = true
		w.m[sidecarSet][k] = &resizing
	}
}

// Pending returns the change written for sidecarSet to the pod namespace/name when the cache, which shows the
// pod at resourceVersion version with state for the SidecarSet (read only when a write to the pod stands),
// does not show the write yet. It forgets the write once the cache shows the pod at another version (after
// a resize: with the state written), or the write is older than TTL. The decision (step.Decide) then takes
// the cached pod as the change made it (inplace.Apply): its state and its spec images both, or its old
// container statuses would be judged against its old spec. A reconcile asking for each of its pods takes
// Of's snapshot instead.
func (w *Writes) Pending(sidecarSet, namespace, name, version string, state func() podstate.SidecarSetState, now time.Time) (inplace.Change, bool) {
	s := w.Of(sidecarSet)
	change := s.Pending(namespace, name, version, state, now)
	s.Done()
	if change == nil {
		return inplace.Change{}, false
	}
	return *change, true
}

// Of returns the writes that stand for sidecarSet now, for one reconcile to ask of each of its pods
// (Snapshot.Pending) without locking the set and looking up the SidecarSet for each: with thousands of
// pods, that was a fourth of gathering them. Nil when none stands: a reconcile then asks nothing of each pod.
// The snapshot copies the records' pointers, not the records: a step of a thousand pods made each reconcile
// copy about 240 KB of them.
func (w *Writes) Of(sidecarSet string) *Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.m[sidecarSet]) == 0 {
		return nil
	}
	return &Snapshot{w: w, sidecarSet: sidecarSet, pods: maps.Clone(w.m[sidecarSet])}
}

// Snapshot is the writes of one SidecarSet as they stood when taken (Writes.Of). It serves one goroutine.
type Snapshot struct {
	w          *Writes
	sidecarSet string
	pods       map[podKey]*write
	// done are the writes Pending found shown by the cache or expired, to forget (Done).
	done []podKey
}

// Pending is Writes.Pending, answered from the snapshot: the change written, nil when none stands; Done
// forgets the writes it found done. The change is the record's, shared: read it, never modify it. A nil
// snapshot has none.
func (s *Snapshot) Pending(namespace, name, version string, state func() podstate.SidecarSetState, now time.Time) *inplace.Change {
	if s == nil {
		return nil
	}
	k := podKey{namespace, name}
	wr, ok := s.pods[k]
	if !ok {
		return nil
	}
	moved := wr.from != version && (!wr.resizing || shows(state(), wr.change.State))
	if moved || now.Sub(wr.at) > TTL {
		s.done = append(s.done, k)
		return nil
	}
	return &wr.change
}

// Pods yields the namespace and name of each pod a write stands for in the snapshot, so that a reconcile asks
// Pending of those pods alone. A nil snapshot has none.
func (s *Snapshot) Pods() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if s == nil {
			return
		}
		for k := range s.pods {
			if !yield(k.namespace, k.name) {
				return
			}
		}
	}
}

// Done forgets the writes Pending found shown by the cache or expired, unless one was recorded again since
// the snapshot was taken.
func (s *Snapshot) Done() {
	if s == nil || len(s.done) == 0 {
		return
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	pods := s.w.m[s.sidecarSet]
	for _, k := range s.done {
		if now, ok := pods[k]; ok && now == s.pods[k] { // not recorded again since
			delete(pods, k)
		}
	}
	if len(pods) == 0 {
		delete(s.w.m, s.sidecarSet)
	}
	s.done = nil
}

// shows says whether a pod's state records the state a write wrote: its revision and, to the second the
// annotation keeps, when its update started.
func shows(state, written podstate.SidecarSetState) bool {
	if state.Revision != written.Revision || (state.Update == nil) != (written.Update == nil) {
		return false
	}
	return state.Update == nil || state.Update.StartedAt.Unix() == written.Update.StartedAt.Unix()
}

// Drop forgets the write to the pod namespace/name for sidecarSet: it failed.
func (w *Writes) Drop(sidecarSet, namespace, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m[sidecarSet], podKey{namespace, name})
	if len(w.m[sidecarSet]) == 0 {
		delete(w.m, sidecarSet)
	}
}

// Expire forgets the writes older than TTL, those of pods deleted before the cache showed their write
// included, and returns how many are left.
func (w *Writes) Expire(now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	left := 0
	for set, pods := range w.m {
		for k, wr := range pods {
			if now.Sub(wr.at) > TTL {
				delete(pods, k)
			}
		}
		if len(pods) == 0 {
			delete(w.m, set)
		}
		left += len(pods)
	}
	return left
}

// Forget drops the writes of a SidecarSet, when it is deleted.
func (w *Writes) Forget(sidecarSet string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, sidecarSet)
}
