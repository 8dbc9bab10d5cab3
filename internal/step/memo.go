package step

import (
	"maps"
	"slices"
	"strings"
	"time"
	"unique"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

// Memo is what the decisions of one SidecarSet keep between its reconciles, so that a reconcile's work on
// each pod follows the pods that changed since the one before (docs/design.md, section 1.2).
//
// The pod cache replaces a pod's view when the pod changes and never modifies one. What Decide works out of
// a view alone (whether it is tracked, its state for the SidecarSet, what its sidecars cost) therefore holds
// for as long as the view is the cache's; what it works out of the view and the rollout (what the planner and
// the status count of the pod, what an in-place update changes) holds until the target, the known revisions,
// the progress deadline or the recreate policy change too. An observation that reads the clock (an update not
// done yet) holds until the update's deadline or twice it, the instants its progress turns on
// (inplace.ProgressHolds); one of a write the cache does not show yet is worked out again every time; an
// update done stays done. Decide gives the same decision with a memo as with none (TestMemoDecidesAsWithout):
// the memo saves work, never changes it.
//
// A Memo belongs to one SidecarSet and serves one Decide at a time: the controller never reconciles a
// SidecarSet twice at once. It also lends Decide its per-pod slices, so a reconcile of thousands of pods
// allocates them once. The zero Memo is empty and ready; Input.Memo nil uses a new one.
type Memo struct {
	set string
	// key is what the observations hold for, and keyID its number: an observation made under another key
	// is made again.
	key   observationKey
	keyID uint64
	// epoch counts the decisions; an entry not read in the last one belongs to a view the cache replaced.
	epoch uint64
	// states counts the states the decision kept of the entries it made (keptStates).
	states int
	pods   map[*podview.View]*memoPod

	// placed are the views of the last decision's pods and their entries, in the order of its input: the
	// reconciler gives a SidecarSet's pods in the same order from one reconcile to the next but for the pods
	// that came and went, so most views find their entry at their place rather than by a lookup of the map,
	// which, for 10,000 pods spread through the heap, was a tenth of a decision.
	placed []placedPod

	current []currentPod
	// counted are what the planner and the status count of each pod, in the order of the decision's tracked
	// pods. A record stays where the decision left it, and is the memo's record of its pod too: an entry names
	// its place (memoPod.slot), and the next decision takes the record where it is when the pod is at the same
	// place, as it is unless pods came or went. Kept in the entries as well, the records were a quarter of the
	// memo, and copied from them into this slice by every decision.
	counted []status.Pod
	deltas  []*inplace.Delta
	// planned are what the planner plans: each of counted where it is, then the pods leaving.
	planned []*rollout.Pod

	// rankGen counts the numberings of the pods in their order by "namespace/name" (rollout.Pod.Rank,
	// Memo.rank); 0 before the first.
	rankGen uint32
}

// placedPod is a view of the last decision's input and its entry.
type placedPod struct {
	view  *podview.View
	entry *memoPod
}

// observationKey is what an observation depends on besides the pod's view.
type observationKey struct {
	target string
	// known are the names of the revisions the pods may be compared with, sorted and joined: a revision's
	// name is the hash of its content, so equal names are equal contents.
	known     string
	deadline  time.Duration
	replacing bool
}

// memoPod is what the memo keeps of one view. Kept for every matched pod through a rollout, it is laid out
// small (96 bytes): the shares of what pods have alike (a cost, a delta) rather than copies, the instant as a
// number, the flags together.
type memoPod struct {
	// used is the epoch of the last decision that read the entry.
	used uint64
	// revision is of the pod's state for the SidecarSet (ok).
	revision string
	// node is the view's node, read with the rest of the view: a candidate's zone is looked up by it, and
	// reading it from the view again, for thousands of candidates spread through the heap, was a tenth of a
	// decision.
	node string
	// cost is what the pod's sidecars cost (status.PodCostOf), interned: the pods of a workload cost alike.
	cost unique.Handle[status.PodCost]
	// observed is the keyID the pod's counted record and delta hold for, 0 when none; until is when they stop
	// holding, in Unix nanoseconds, 0 when they hold for good (an update in progress holds until its
	// deadline: inplace.ProgressHolds). delta is the observer's, shared by the pods of one revision.
	observed uint64
	until    int64
	delta    *inplace.Delta
	// slotEpoch is the epoch of the last decision that placed the pod's counted record, and slot where in
	// Memo.counted it did.
	slotEpoch uint64
	slot      int32
	// rank is the pod's in the numbering rankGen. A new view of a pod at the place of its view before (the
	// cache replaced it) takes it over (Memo.of).
	rank    int32
	rankGen uint32
	tracked bool
	// ok says the pod has a state for the SidecarSet; revision and conflicted are of that state.
	ok         bool
	conflicted bool
}

// holdsAt says whether the entry's observation holds at now, as observed under the memo's key.
func (e *memoPod) holdsAt(now time.Time) bool {
	return e.until == 0 || now.UnixNano() <= e.until
}

// instant is t in Unix nanoseconds, 0 for the zero time (memoPod.until).
func instant(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// recordAt says whether Memo.counted holds the entry's counted record at i: the decision before this one, or
// this one, placed it there, and no other pod's record took the place since (each place holds one pod's
// record per decision).
func (m *Memo) recordAt(e *memoPod, i int) bool {
	return e.slotEpoch+1 >= m.epoch && int(e.slot) == i && i < len(m.counted)
}

// begin readies the memo for a decision of set over n pods.
func (m *Memo) begin(set string, n int) {
	if m.set != set {
		*m = Memo{set: set}
	}
	if m.pods == nil && n > 0 {
		// A SidecarSet that selects no pod (most of thousands do) keeps no map.
		m.pods = make(map[*podview.View]*memoPod, n)
	}
	m.epoch++
	m.states = 0
}

// end forgets the views the decision did not read, once they are an eighth of the ones it did: the cache
// replaced them. Sweeping every few reconciles keeps the memo, and the old views it holds, near the size of
// the matched pods. A quiet decision (nothing in progress) also forgets the pods' numbers by name, which only
// a rollout needs. The per-pod slices stay lent: a SidecarSet at rest is reconciled again on its pods'
// events, and allocating them afresh each time made most of such a reconcile's garbage. The memo as a whole
// is dropped once no reconcile took it for a while (the reconciler's sweep).
func (m *Memo) end(read int, quiet bool) {
	// The decision's pods hold the states it read again (currentPod.state) of the pods it writes. Kept in the
	// lent slice until the next decision, they were live at the collections between.
	clear(m.current[:cap(m.current)])
	if quiet {
		m.rankGen++ // numbered again when a rollout comes
	}
	if read == 0 {
		m.pods = nil // the SidecarSet selects no pod now
		m.placed, m.current, m.counted, m.deltas, m.planned = nil, nil, nil, nil, nil
		return
	}
	if len(m.pods) <= read+read/8+64 {
		return
	}
	maps.DeleteFunc(m.pods, func(_ *podview.View, e *memoPod) bool { return e.used != m.epoch })
}

// Len is how many pod views the memo holds an entry for.
func (m *Memo) Len() int { return len(m.pods) }

// keptStates is how many of the states a decision decodes to make entries it keeps for their observation.
// The others are decoded again when their pods are observed: a target's first decision makes an entry for
// every pod, and their states, kept until each pod was observed (1.3 KB a pod updated in place before, its
// own maps), were 12 of the 50 MB of the operator's heap as a resize of 10,000 pods began. A decision after a
// pod event makes a few. A variable, so that tests play decisions that keep some and read the rest again.
var keptStates = 256

// of returns the entry of a view as the cache shows it, the i-th of the decision's input, working out what
// the view alone gives when the memo has no entry for it. An entry at its place in the last decision's input
// (placed) is the memo's: that decision read it, so end kept it. A new entry takes over the number by name
// (Memo.rank) of the pod's view before when that view was at the same place, as the pod's is when the cache
// replaced its view. state is the pod's state for the SidecarSet when a new entry was made with it and the
// decision keeps it (keptStates), nil otherwise.
func (m *Memo) of(i int, v *podview.View) (e *memoPod, state *podstate.SidecarSetState) {
	var before *placedPod
	if i < len(m.placed) {
		before = &m.placed[i]
	}
	if before != nil && before.view == v {
		e = before.entry
	} else {
		e = m.pods[v]
	}
	if e == nil {
		e = &memoPod{tracked: Tracked(v)}
		if before != nil && before.entry != nil && before.view.Name == v.Name && before.view.Namespace == v.Namespace {
			e.rank, e.rankGen = before.entry.rank, before.entry.rankGen
			// The view before is the cache's no longer: forgotten now rather than by end's sweep, which
			// kept up to an eighth more views than the pods, each with its containers, through a rollout.
			delete(m.pods, before.view)
		}
		if e.tracked {
			e.node = v.Node()
			st, ok := v.StateOf(m.set)
			e.ok, e.revision, e.conflicted = ok, st.Revision, len(st.Conflicts) > 0
			e.cost = unique.Make(status.PodCostOf(st, ok, v))
			if m.states < keptStates {
				m.states++
				state = &st
			}
		}
		m.pods[v] = e
	}
	e.used = m.epoch
	return e, state
}

// rank numbers the pods in their order by "namespace/name" (rollout.CompareNames), so that the planner orders
// them, and the status picks the pods its messages name, without comparing names (rollout.Pod.Rank). A pod
// keeps its number while it stays: its view's entry keeps it, and a new view of the pod at the same place
// takes it over (Memo.of). A pod with no number of the last numbering (a new pod, or a new view at another
// place, as when a pod went and the last took its place, which the kept pods do) numbers them all again,
// sorting them by name; a pod gone leaves a gap, which keeps the order. An index of the numbers by name, which
// would spare those, was a tenth of the memo at 10,000 pods.
func (m *Memo) rank(pods []currentPod) {
	renumber := m.rankGen == 0
	for i := 0; i < len(pods) && !renumber; i++ {
		e := pods[i].memo
		if e.rankGen != m.rankGen {
			renumber = true
			break
		}
		pods[i].rank = e.rank
	}
	if !renumber {
		return
	}
	order := make([]int, len(pods))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := pods[a].pod, pods[b].pod
		return rollout.CompareNames(pa.Namespace, pa.Name, pb.Namespace, pb.Name)
	})
	m.rankGen++
	for r, i := range order {
		p := &pods[i]
		p.rank = int32(r + 1)
		p.memo.rank, p.memo.rankGen = p.rank, m.rankGen
	}
}

// observeUnder makes the key the observations hold for the one of this decision, forgetting them when it
// changed.
func (m *Memo) observeUnder(target string, contents map[string]revision.Injected, deadline time.Duration, replacing bool) {
	k := observationKey{target: target, known: strings.Join(slices.Sorted(maps.Keys(contents)), ","), deadline: deadline, replacing: replacing}
	if k != m.key || m.keyID == 0 {
		m.key = k
		m.keyID++
	}
}

// observationSlices returns the memo's per-pod slices, sized for n pods and, for planned, room for extra more.
func (m *Memo) observationSlices(n, extra int) ([]status.Pod, []*inplace.Delta, []*rollout.Pod) {
	m.counted = keep(m.counted, n)
	m.deltas = reuse(m.deltas, n, 0)
	m.planned = reuse(m.planned, n, extra)
	return m.counted, m.deltas, m.planned
}

// keep returns s with length n, its records kept where they are (a new array takes them along), and the
// records past n cleared: they would keep the label maps of views the cache replaced.
func keep[T any](s []T, n int) []T {
	if cap(s) < n {
		s = append(make([]T, 0, n+n/8), s...)
	}
	clear(s[min(n, len(s)):cap(s)])
	return s[:n]
}

// reuse returns s with length n and room for extra more, zeroed, reusing its array when it is large enough.
// A new array has an eighth more room: while pods are created, each reconcile has a few more than the last,
// and an array of exactly their number was allocated again by every one.
func reuse[T any](s []T, n, extra int) []T {
	if cap(s) < n+extra {
		return make([]T, n, n+extra+n/8)
	}
	clear(s[:cap(s)]) // nor does it keep the views of an earlier reconcile
	return s[:n]
}
