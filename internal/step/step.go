// Package step decides one reconcile of a SidecarSet. Decide takes everything the reconcile gathered (the
// SidecarSet, its stored revisions, the matched pods as the pod cache keeps them, the writes in flight, the
// disruption budgets, the time) and returns everything to do: the revision history to write, the pods to
// update in place and their patches, the status, the events that announce its transitions, and when to look
// again, each with its reason. The controller gathers and applies; every decision between is made here, so
// rollback, pinning, the failure policy and stall precedence are table-tested without an API server.
//
// Invariants: Decide reads its input and modifies none of it but Input.Memo (the pod views are the cache's,
// shared); the same input gives the same decision, with a memo or without; one clock, Input.Now, is the only
// time read.
package step

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// When to look again.
const (
	// AfterCollision: a revision hash collided and the salted collisionCount is being written. A SidecarSet's
	// own status writes start no reconcile, so the one that stores the salted revision is asked for.
	AfterCollision = time.Millisecond
	// WhileRolling: pod events drive a rollout; this covers what no event announces, minReadySeconds
	// elapsing and progress deadlines passing.
	WhileRolling = 5 * time.Second
)

// Input is what one reconcile gathered.
type Input struct {
	SidecarSet *appsv1alpha1.SidecarSet
	// Stored are the SidecarSet's stored revisions (its ControllerRevisions), in any order.
	Stored []revision.Stored
	// Pods are the pods the SidecarSet selects, as the pod cache keeps them; pods being deleted or finished
	// are left out of the decision (Tracked).
	Pods []Pod
	// Zones is the topology.kubernetes.io/zone of each node, by node name; nil when no pod is scheduled.
	Zones map[string]string
	// Budgets are the PodDisruptionBudgets of the namespaces of the pods.
	Budgets []Budget
	// Now is the reconcile's clock reading.
	Now time.Time
	// StatusWritten is when this process last wrote the SidecarSet's status; zero when it has not.
	StatusWritten time.Time
	// EntryMissing says the SidecarSet's entry is not in the MutatingWebhookConfiguration named
	// WebhookConfiguration, as the cache has it: the API server does not call the webhook for its pods.
	EntryMissing         bool
	WebhookConfiguration string
	// Evictions are the pods this process evicted for the SidecarSet in the last EvictionTTL.
	Evictions []Eviction
	// Memo is what earlier decisions of the SidecarSet worked out of its pods, reused for the pods that did
	// not change and updated by Decide; nil works everything out.
	Memo *Memo
}

// EvictionTTL is how long an eviction stands for the pod it took until its replacement shows: past it, the
// cache is trusted again.
const EvictionTTL = 2 * time.Minute

// Eviction is a pod the rollout evicted: it is unavailable to its workload until it is gone and its
// controller created the replacement.
type Eviction struct {
	Namespace, Name string
	UID             types.UID
	// Workload is the pod's (rollout.WorkloadOf), and Pods how many pods the rollout tracked of it when the
	// pod was evicted.
	Workload string
	Pods     int
	At       time.Time
}

// Pod is a matched pod and the in-place update written to it that the cache does not show yet.
type Pod struct {
	// View is the cache's: shared, never modified.
	View *podview.View
	// Written is the update in flight (inflight.Snapshot.Pending), nil when none is: the record's, shared
	// with the writes in flight; read it, never modify it.
	Written *inplace.Change
}

// Budget is a PodDisruptionBudget with the pods it selects in its namespace.
type Budget struct {
	// Name is "namespace/name".
	Name       string
	Generation int64
	Status     policyv1.PodDisruptionBudgetStatus
	// Selector is the budget's selector, parsed; nil selects no pod.
	Selector labels.Selector
	// Selected are the pods of the budget's namespace its selector selects, matched or not.
	Selected []*podview.View
}

// Decision is everything one reconcile does, in the order the controller does it.
type Decision struct {
	// Terminal is set when the SidecarSet can never roll out (an update strategy that bypassed validation);
	// nothing else is set.
	Terminal error
	// CollisionCount, when set, is the collisionCount to write to the status, alone: the latest revision's
	// name collided with a stored revision of other content, and the salted name is stored next time.
	CollisionCount *int32
	// History is what to do with the stored revisions.
	History revision.History
	// Target is the revision the rollout moves pods to.
	Target string
	// Rollback is set when the failure policy rolls back in this reconcile.
	Rollback *Rollback
	// Plan is the rollout step, with the numbers behind it.
	Plan rollout.Plan
	// Updates are the pods to update in place now, each with its one write.
	Updates []PodUpdate
	// Evictions are the pods to evict now, for their controllers to recreate (updateStrategy.recreate).
	Evictions []Eviction
	// Conflicts are every tracked pod's sidecars left out for a name conflict, to report once each.
	Conflicts []Conflict
	// Computed is the status as this reconcile sees it, written or not.
	Computed appsv1alpha1.SidecarSetStatus
	// Write says whether to write Computed now.
	Write bool
	// Events are the transitions Computed announces, to record once it is written.
	Events []status.Event
	// RolloutFinished says Computed finishes a rollout, which took RolloutDuration.
	RolloutFinished bool
	RolloutDuration time.Duration
	// Requeue is when to look again without an event (0: not at all), and why.
	Requeue       time.Duration
	RequeueReason string
}

// Quiet says the decision found nothing in progress: the rollout done or stopped, no pod to write or evict, no
// rollback. A pod event can then only move the counts (pace.QuietWait).
func (d *Decision) Quiet() bool {
	return d.Terminal == nil && d.CollisionCount == nil && d.Rollback == nil && len(d.Updates) == 0 && len(d.Evictions) == 0 &&
		(d.Plan.Done() || d.Plan.Stopped != "")
}

// Rollback is the failure policy rolling a rollout back.
type Rollback struct {
	From, To string
	Failed   int
}

// PodUpdate is one pod's in-place update.
type PodUpdate struct {
	Namespace, Name string
	// Pod is the pod as the update was decided on: the cache's view, read only.
	Pod *podview.View
	// ResourceVersion is the pod's, which the patch is guarded by.
	ResourceVersion string
	// Change is what the write changes, remembered in flight until the cache shows it. Writes encodes it.
	Change inplace.Change
	// Containers are the containers the update restarts, sorted; Resized those it resizes; Reason is why
	// the pod was chosen now.
	Containers []string
	Resized    []string
	Reason     string
}

// Writes encodes the update for the SidecarSet named setName: patch, the strategic merge patch of the pod
// (inplace.Patch), and resize, the patch of its resize subresource, written first, nil when the update
// resizes nothing (inplace.ResizePatch). err says why the pod cannot be written (an unreadable state
// annotation); nothing is then sent.
//
// The decision leaves the encoding to the writer, just before each write: a step of a thousand pods (10% of
// 10,000) otherwise held its thousand patches, and the state annotations read to build them, until the last
// was sent, while the writer has a few hundred at most on their way at once.
func (u *PodUpdate) Writes(setName string) (patch, resize []byte, err error) {
	if patch, err = inplace.Patch(u.Pod, setName, u.Change); err != nil {
		return nil, nil, err
	}
	if resize, err = inplace.ResizePatch(u.Pod, u.Change); err != nil {
		return nil, nil, err
	}
	return patch, resize, nil
}

// Resizes says whether the update writes the pod's resize subresource: Writes returns a resize patch.
func (u *PodUpdate) Resizes() bool {
	return len(u.Change.Resources) > 0
}

// Decide decides one reconcile of in.SidecarSet.
func Decide(in Input) Decision {
	set := in.SidecarSet
	memo := in.Memo
	if memo == nil {
		memo = &Memo{}
	}
	memo.begin(set.Name, len(in.Pods))
	pods, inUse, cost := current(memo, in.Pods)

	latest := revision.For(set)
	content := revision.InjectedOf(&set.Spec)
	pinned := ptr.Deref(set.Spec.InjectionStrategy.RevisionName, "")
	limit := int(ptr.Deref(set.Spec.RevisionHistoryLimit, appsv1alpha1.DefaultRevisionHistoryLimit))
	history := revision.Plan(latest, content, in.Stored, inUse, pinned, limit)
	if history.Collision {
		next := ptr.Deref(set.Status.CollisionCount, 0) + 1
		return Decision{CollisionCount: &next, Requeue: AfterCollision, RequeueReason: fmt.Sprintf(
			"revision %s collided with a stored revision of other content: storing it under collisionCount %d", latest, next)}
	}
	contents, order := known(latest, content, in.Stored, history.Delete)
	stored := func(name string) bool { _, ok := contents[name]; return ok }

	deadline := time.Duration(ptr.Deref(set.Spec.UpdateStrategy.ProgressDeadlineSeconds,
		appsv1alpha1.DefaultProgressDeadlineSeconds)) * time.Second
	d := Decision{History: history, Conflicts: conflicts(set.Name, pods)}
	d.Target, _ = revision.Target(set, latest, stored)
	gone := leaving(in, pods)
	seen, plan, err := observeAndPlan(memo, set, pods, gone, in, contents, d.Target, deadline)
	if err != nil {
		return Decision{Terminal: fmt.Errorf("planning the rollout: %w", err)}
	}
	rolledBack := d.Target != latest
	if !rolledBack && plan.Stopped == rollout.StopFailurePolicy &&
		set.Spec.UpdateStrategy.FailurePolicy.Action == appsv1alpha1.FailureActionRollback && history.Previous != "" {
		d.Rollback = &Rollback{From: latest, To: history.Previous, Failed: plan.Failed}
		d.Target, rolledBack = history.Previous, true
		if seen, plan, err = observeAndPlan(memo, set, pods, gone, in, contents, d.Target, deadline); err != nil {
			return Decision{Terminal: fmt.Errorf("planning the rollback: %w", err)}
		}
	}
	stall, latched := stallOf(set, stallInput{plan: plan, pods: seen.counted, rolledBack: rolledBack, latest: latest,
		target: d.Target, pinned: pinned, stored: stored, known: order, deadline: deadline, now: in.Now})
	if latched {
		plan.Stopped = rollout.StopFailurePolicy
	}
	d.Plan = plan
	// A stall is a report: updates go on, and progress clears it. Only the failure policy, a pause and
	// NotUpdate stop them.
	if plan.Stopped == "" {
		d.Updates = updates(set.Name, d.Target, plan.Update, pods, seen.deltas, in.Now)
		d.Evictions = evictions(plan.Update, pods, in.Now)
	}

	rolledBackTo := ""
	if rolledBack {
		rolledBackTo = d.Target
	}
	notRegistered := ""
	if injecting, _ := inject.Injecting(set); injecting && in.EntryMissing {
		notRegistered = fmt.Sprintf("the SidecarSet's webhook entry %s is not in MutatingWebhookConfiguration %s yet: "+
			"the API server does not call the webhook for its pods, which are created without its sidecars",
			webhookconfig.EntryName(set.Name), in.WebhookConfiguration)
	}
	d.Computed = status.Compute(&set.Status, status.Input{
		Generation: set.Generation, LatestRevision: latest, Revisions: order, CollisionCount: set.Status.CollisionCount,
		Pods: seen.counted, Plan: plan, Stall: stall, RolledBackTo: rolledBackTo, NotRegistered: notRegistered,
		Cost: cost,
	}, metav1.NewTime(in.Now))
	d.decideWrite(&set.Status, in)
	if notRegistered != "" && d.Requeue == 0 {
		d.Requeue, d.RequeueReason = WhileRolling, "the webhook entry is not written yet"
	}
	memo.end(len(in.Pods), d.Quiet())
	return d
}

// current takes each tracked pod as it is now: as the cache shows it, or, when the cache does not show an
// update written a moment ago yet, as that write made it, so the pod holds its share of the budget and is
// not planned again (inflight). It returns the revisions the pods run, which the history keeps, and what the
// SidecarSet's sidecars cost of the pods as the cache shows them: an in-place resize counts once the cache
// shows it, a moment after it is written.
func current(memo *Memo, in []Pod) ([]currentPod, map[string]bool, status.Cost) {
	pods := reuse(memo.current, 0, len(in))
	// Each pod's place is read (Memo.of) before it is written: the array is reused without clearing it first.
	placed := memo.placed
	if cap(placed) < len(in) {
		placed = make([]placedPod, len(in), len(in)+len(in)/8)
	} else {
		clear(placed[len(in):cap(placed)]) // holds no view of the decision before
		placed = placed[:len(in)]
	}
	var revisions status.Tally
	var cost status.Cost
	for i, p := range in {
		e, state := memo.of(i, p.View)
		placed[i] = placedPod{view: p.View, entry: e}
		if !e.tracked {
			continue
		}
		cost.Add(e.cost.Value())
		c := currentPod{pod: p.View, ok: e.ok, revision: e.revision, conflicted: e.conflicted, state: state, memo: e}
		if p.Written != nil {
			c.pod = inplace.Apply(p.View, *p.Written)
			c.ok, c.revision, c.conflicted, c.state, c.written = true, p.Written.State.Revision, len(p.Written.State.Conflicts) > 0, &p.Written.State, true
		}
		if c.ok {
			revisions.Add(c.revision)
		}
		pods = append(pods, c)
	}
	memo.current, memo.placed = pods, placed
	inUse := map[string]bool{}
	for _, r := range revisions.Names() {
		inUse[r] = true
	}
	return pods, inUse, cost
}

// known returns the content of each revision a pod may be moved to, by name (the latest and the stored ones),
// and their names, newest first, leaving out those the history deletes.
func known(latest string, content revision.Injected, stored []revision.Stored, deleted []string) (map[string]revision.Injected, []string) {
	contents := map[string]revision.Injected{latest: content}
	order := []string{latest}
	sorted := slices.Clone(stored)
	slices.SortFunc(sorted, func(a, b revision.Stored) int { return int(b.Number - a.Number) })
	for _, s := range sorted {
		contents[s.Name] = s.Injected
		if s.Name != latest && !slices.Contains(deleted, s.Name) {
			order = append(order, s.Name)
		}
	}
	return contents, order
}

// observation is every pod observed for a rollout to one target, in the order of the pods.
type observation struct {
	// counted is what the planner and the status count of each pod.
	counted []status.Pod
	// deltas are what an in-place update changes, of each updatable pod: the observer's, shared by the pods
	// of one revision; nil for a pod on target or not updatable.
	deltas []*inplace.Delta
}

// observeAndPlan observes every pod for a rollout to target and plans the step. An observation the memo
// holds for the pod's view under this target is taken as it is, until the clock passes the instant it holds
// to (an update in progress: inplace.ProgressHolds); one of a write the cache does not show yet is made again
// every time.
func observeAndPlan(memo *Memo, set *appsv1alpha1.SidecarSet, pods []currentPod, gone []rollout.Pod, in Input,
	contents map[string]revision.Injected, target string, deadline time.Duration) (observation, rollout.Plan, error) {
	ob := newObserver(contents, deadline, in.Now)
	ob.replacing = set.Spec.UpdateStrategy.Recreate != nil && set.Spec.UpdateStrategy.Recreate.Policy == appsv1alpha1.RecreateEvict
	memo.observeUnder(target, contents, deadline, ob.replacing)
	counted, deltas, planned := memo.observationSlices(len(pods), len(gone))
	seen := observation{counted: counted, deltas: deltas}
	offTarget := false
	for i := range pods {
		p := &pods[i]
		if e := p.observed(); e != nil && e.observed == memo.keyID && e.holdsAt(in.Now) && memo.recordAt(e, i) {
			// The record is where the decision before left it, with what that decision gave the planner.
			c := &seen.counted[i]
			c.Zone, c.Rank, c.Budgets = "", 0, nil
			seen.deltas[i] = e.delta
		} else {
			var until time.Time
			seen.counted[i], seen.deltas[i], _, until = ob.observe(p.pod, p.stateOf(set.Name), p.ok, target)
			if e != nil {
				e.observed, e.until, e.delta = memo.keyID, instant(until), seen.deltas[i]
				// Read again from the view by the few pods the step writes: kept for every pod until the
				// decision's end, the states of a target's first decision (1.3 KB a pod updated in place
				// before, their maps) were the operator's memory peak. A write in flight keeps its state,
				// which is not the view's.
				p.state = nil
			}
		}
		if e := p.observed(); e != nil {
			e.slotEpoch, e.slot = memo.epoch, int32(i)
		}
		// The planner plans the counted record where it is, not a copy: what it is given besides (the zone, the
		// number, the budgets) is this decision's, and the memo's entry keeps none of it.
		planned[i] = &seen.counted[i].Pod
		if !planned[i].OnTarget { // only candidates are spread across zones: most pods' nodes are not read
			planned[i].Zone = in.Zones[p.node()]
			offTarget = true
		}
	}
	if offTarget { // candidates to order: numbered by name, they are ordered without comparing names
		memo.rank(pods)
		for i := range pods {
			planned[i].Rank = pods[i].rank // the status picks the pods it names by them too
		}
	}
	for i := range gone {
		planned = append(planned, &gone[i])
	}
	budgets := disruptionBudgets(in.Budgets, planned)
	plan, err := rollout.ComputeAt(&set.Spec.UpdateStrategy, planned, budgets, in.Now)
	return seen, plan, err
}

// currentPod is a tracked pod as it is now, with its state for the SidecarSet (ok false when it has none).
type currentPod struct {
	pod *podview.View
	// ok says the pod has a state for the SidecarSet; revision and conflicted are of that state, and state
	// is the state itself once read (stateOf).
	revision string
	state    *podstate.SidecarSetState
	// memo is the memo's entry of the cache's view of the pod.
	memo *memoPod
	// rank is the pod's place in the order of the pods by "namespace/name" (Memo.rank).
	rank       int32
	ok         bool
	conflicted bool
	// written says pod is not the cache's view but as a write in flight makes it (inplace.Apply).
	written bool
}

// observed is the memo's entry that keeps the pod's observation: nil for a pod taken as a write in flight
// makes it, whose observation is not the cache's view's.
func (c *currentPod) observed() *memoPod {
	if c.written {
		return nil
	}
	return c.memo
}

// node is the name of the pod's node, from its memo entry (Memo.of): a write does not move a pod.
func (c *currentPod) node() string { return c.memo.node }

// stateOf is the pod's state for SidecarSet set, read from its view the first time (podview.View.State):
// most pods' observations are the memo's, and their states are not read at all.
func (c *currentPod) stateOf(set string) podstate.SidecarSetState {
	if c.state == nil {
		st, _ := c.pod.StateOf(set)
		c.state = &st
	}
	return *c.state
}

// disruptionBudgets works out what each budget allows now (rollout.BudgetAllowed, counting the healthy pods
// it selects, a pod the operator is updating as unhealthy), and records in each planned pod the budgets
// selecting it.
func disruptionBudgets(in []Budget, pods []*rollout.Pod) []rollout.Budget {
	if len(in) == 0 {
		return nil
	}
	type key struct{ namespace, name string }
	updating := map[key]bool{}
	// The pods of each namespace a budget is in, made to size: appended to one by one, the lists of 10,000
	// pods were grown again and again at every reconcile.
	counts := map[string]int{}
	for _, b := range in {
		namespace, _, _ := strings.Cut(b.Name, "/")
		counts[namespace] = 0
	}
	for i := range pods {
		if n, ok := counts[pods[i].Namespace]; ok {
			counts[pods[i].Namespace] = n + 1
		}
		if pods[i].Updating {
			updating[key{pods[i].Namespace, pods[i].Name}] = true
		}
	}
	byNamespace := make(map[string][]int, len(counts))
	for i := range pods {
		if n := counts[pods[i].Namespace]; n > 0 {
			if byNamespace[pods[i].Namespace] == nil {
				byNamespace[pods[i].Namespace] = make([]int, 0, n)
			}
			byNamespace[pods[i].Namespace] = append(byNamespace[pods[i].Namespace], i)
		}
	}
	// A pod's first budget is a slice of these, shared and full, so that a second budget appends to a copy:
	// a slice of its own for each pod was most of what a reconcile with budgets allocated.
	indexes := make([]int, len(in))
	for i := range indexes {
		indexes[i] = i
	}
	var out []rollout.Budget
	for _, b := range in {
		namespace, _, _ := strings.Cut(b.Name, "/")
		matched := byNamespace[namespace]
		if len(matched) == 0 || b.Selector == nil {
			continue
		}
		healthy := 0
		for _, v := range b.Selected {
			if v.DeletionTimestamp == nil && v.Ready == corev1.ConditionTrue && !updating[key{v.Namespace, v.Name}] {
				healthy++
			}
		}
		idx := len(out)
		out = append(out, rollout.Budget{Name: b.Name, Allowed: rollout.BudgetAllowed(b.Status, b.Generation, healthy)})
		for _, j := range matched {
			if !b.Selector.Matches(labels.Set(pods[j].Labels)) {
				continue
			}
			if pods[j].Budgets == nil {
				pods[j].Budgets = indexes[idx : idx+1 : idx+1]
			} else {
				pods[j].Budgets = append(pods[j].Budgets, idx)
			}
		}
	}
	return out
}

// updates works out the one write of each pod the plan updates, in the plan's order. A chosen pod that
// cannot be updated in place (a sidecar missing from it) gets none.
func updates(setName, target string, chosen []rollout.Decision, pods []currentPod, deltas []*inplace.Delta, now time.Time) []PodUpdate {
	var out []PodUpdate
	for _, c := range chosen {
		if c.Recreate {
			continue
		}
		p := &pods[c.Index] // the planner's pods begin with these, in this order
		var delta inplace.Delta
		if d := deltas[c.Index]; d != nil {
			delta = *d
		}
		change, ok := inplace.Plan(p.pod, p.stateOf(setName), target, delta, now)
		if !ok {
			continue
		}
		out = append(out, PodUpdate{Namespace: p.pod.Namespace, Name: p.pod.Name, Pod: p.pod, ResourceVersion: p.pod.ResourceVersion, Change: change,
			Containers: change.Restarts(delta), Resized: slices.Sorted(maps.Keys(change.Resources)), Reason: c.Reason})
	}
	return out
}

// decideWrite decides whether to write the computed status now (status.WriteDelay), and if so the events
// its transitions announce; and when to look again.
func (d *Decision) decideWrite(old *appsv1alpha1.SidecarSetStatus, in Input) {
	if !d.Plan.Done() && d.Plan.Stopped == "" {
		d.Requeue, d.RequeueReason = WhileRolling, "the rollout goes on: minReadySeconds and the progress deadline pass without an event"
	}
	if equality.Semantic.DeepEqual(d.Computed, *old) {
		return
	}
	if wait := status.WriteDelay(old, &d.Computed, in.StatusWritten, in.Now, status.ProgressInterval); wait > 0 {
		d.Requeue, d.RequeueReason = wait, "holding back a status that only reports progress"
		return
	}
	d.Write = true
	t := status.Transitions(old, &d.Computed, in.Now)
	d.Events = t.Events
	d.RolloutFinished, d.RolloutDuration = t.Finished, t.Duration
}
