package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// Pod is what the planner knows of one matched pod. The controller fills it in from the pod, its state
// annotation and the SidecarSet's revisions.
type Pod struct {
	Namespace, Name string
	Labels          map[string]string
	// Workload is the pod's controller, "Kind/name" (a ReplicaSet's pod is its Deployment's); "" when it has
	// none, and the pod is a workload of its own.
	Workload string
	// Budgets are the indexes, in the budgets given to ComputeWithBudgets, of the PodDisruptionBudgets that
	// select the pod.
	Budgets []int
	// Zone is the topology.kubernetes.io/zone of the pod's node, "" when unknown. Only a pod off target (a
	// candidate) is spread by it: step sets it for those alone.
	Zone string
	// Rank, when the caller numbers the pods, is the pod's place in the order of the pods by "namespace/name"
	// (CompareNames; any increasing numbering of that order; a leaving pod, never a candidate, needs none): the
	// planner then orders pods of equal priority by it rather than by comparing their names, which gives the
	// same order. Zero for every pod leaves it to the names.
	Rank int32

	// OnTarget: the pod's state annotation names the target revision. An update written but not finished
	// is on target too (Updating says it is not done).
	OnTarget bool
	// Updatable: off target, and its revision differs from the target only in the images, resources and metadata of
	// sidecar containers and native sidecars, so it can be updated in place. Otherwise it needs to be
	// recreated.
	Updatable bool
	// Replaceable: off target and not updatable in place (or without the sidecars), and its controller (a
	// ReplicaSet, StatefulSet or DaemonSet) creates a replacement when it is evicted. Evicted only when the
	// strategy's recreate policy is Evict.
	Replaceable bool
	// Leaving: the pod is going away (being deleted, or evicted by the rollout and not yet gone): it is not
	// matched, but unavailable to its workload and the fleet until its replacement is ready, and the rollout
	// waits for it.
	Leaving bool
	// Evicted: Leaving because the rollout evicted it. The rollout is in progress until it is gone and its
	// replacement created.
	Evicted bool
	// Updating: an in-place update was written and the kubelet has not yet restarted the sidecars with the
	// new images.
	Updating bool
	// Ready: the pod's Ready condition is true; ReadySince is when it last became so.
	Ready bool
	// Failed: an updated sidecar is failing (image pull, crash loop, or not ready within the deadline).
	Failed bool
	// UpdatedAt is when the in-place update that brought the pod to the target was written; zero for a pod
	// created on the target.
	UpdatedAt  Instant
	ReadySince Instant
}

// Instant is a point in time in Unix nanoseconds, 0 for none: a Pod is kept for every matched pod through a
// rollout, and an Instant takes 8 bytes where a time.Time takes 24.
type Instant int64

// At is t as an Instant; the zero time is 0.
func At(t time.Time) Instant {
	if t.IsZero() {
		return 0
	}
	return Instant(t.UnixNano())
}

// Time is the instant as a time.Time; 0 is the zero time.
func (i Instant) Time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i)).UTC()
}

// IsZero says the instant is none.
func (i Instant) IsZero() bool { return i == 0 }

// available is ready for at least minReadySeconds, not being updated, and not failed: a failed update holds
// its share of the budget until it is fixed, even when the pod stays ready (a resize the kubelet found
// Infeasible leaves the container running), or the rollout would go on failing pods one budget at a time
// past maxFailedPods.
func (p *Pod) available(minReady time.Duration, now time.Time) bool {
	return p.Ready && !p.Updating && !p.Failed && !now.Before(p.ReadySince.Time().Add(minReady))
}

// StopReason says why a rollout updates nothing.
type StopReason string

const (
	// StopFailurePolicy: failedPods reached failurePolicy.maxFailedPods.
	StopFailurePolicy StopReason = "FailurePolicy"
	// StopNotUpdate: updateStrategy.type is NotUpdate.
	StopNotUpdate StopReason = "NotUpdate"
	// StopPaused: updateStrategy.paused.
	StopPaused StopReason = "Paused"
)

// Decision is one pod to update and why: in place, or, Recreate, by evicting it for its controller to
// replace.
type Decision struct {
	Namespace, Name string
	Reason          string
	Recreate        bool
	// Index is the pod's index in the pods the plan was computed from.
	Index int
}

// Plan is what to do now, and the numbers behind it.
type Plan struct {
	// Update lists the pods to update now, in update order.
	Update []Decision
	// Stopped is why nothing is updated, when the strategy or the failure policy stops the rollout.
	Stopped StopReason

	Matched, OnTarget, Unavailable, Failed int
	// OnTargetUnavailable are pods on target not available: being updated, not ready (for
	// minReadySeconds) since, or not ready for reasons of their own.
	OnTargetUnavailable int
	// InProgress are the updates the rollout still waits for: pods being updated, and pods updated in place
	// that became ready less than minReadySeconds ago. A pod on target that is not ready for reasons of its
	// own (its app failing, a pod just created) is not among them: it takes budget, but a rollout does not
	// wait for it to finish.
	InProgress int
	// Candidates are off-target, updatable, not held by updateStrategy.selector.
	Candidates int
	// HeldByPartition and HeldBySelector are updatable pods left behind on purpose.
	HeldByPartition, HeldBySelector int
	// NotUpgradable pods are off target by more than images, resources and metadata (or without the sidecars), and
	// not recreated: the strategy does not recreate, or, NotReplaceable of them, no controller would
	// replace them (bare pods, Job pods).
	NotUpgradable, NotReplaceable int
	// Leaving are pods going away (Pod.Leaving).
	Leaving int
	// HeldByWorkload are candidates this step leaves behind, with budget to spare, because their workload
	// already has maxUnavailablePerWorkload pods unavailable; FullWorkloads names those workloads,
	// "namespace/Kind/name", sorted.
	HeldByWorkload int
	FullWorkloads  []string
	// HeldByBudget are candidates this step leaves behind, with budget to spare, because a
	// PodDisruptionBudget selecting them allows no more disruption; FullBudgets names those budgets, with the
	// first pod each holds back: "namespace/name (pod)", sorted.
	HeldByBudget int
	FullBudgets  []string
	// MaxUnavailable, MaxFailed and Partition are the resolved strategy numbers.
	MaxUnavailable, MaxFailed, Partition int
	// Budget is how many available pods this plan may make unavailable, and how that was worked out.
	Budget       int
	BudgetReason string
}

// Done reports whether the rollout reached its target: every pod the strategy allows to be updated in place
// is on target, no update is in progress, and nothing failed. Pods held back by a partition or a selector,
// pods that are not upgradable, and pods on target not ready for reasons of their own do not count against
// it.
func (p *Plan) Done() bool {
	return p.Candidates == 0 && p.InProgress == 0 && p.Failed == 0
}

// settling says whether a pod the rollout updated in place became ready after its update and less than
// minReadySeconds ago, within the progress deadline of the update: the rollout waits for it to become
// available. Readiness gained later (the app recovering from a crash of its own) is not the update's.
func (p *Pod) settling(minReady, deadline time.Duration, now time.Time) bool {
	if !p.OnTarget || p.Updating || !p.Ready || p.UpdatedAt.IsZero() {
		return false
	}
	readySince, updatedAt := p.ReadySince.Time(), p.UpdatedAt.Time()
	return !readySince.Before(updatedAt) && readySince.Sub(updatedAt) <= deadline && now.Before(readySince.Add(minReady))
}

// Compute plans one step of a rollout of the target revision over the matched pods.
//
// Rules, in order (docs/design.md, 3.4):
//  1. Stop when failedPods reached maxFailedPods, the type is NotUpdate, or the strategy is paused: counts
//     are still computed, nothing is updated.
//  2. Candidates are the pods off target, updatable in place, not being updated, and selected by
//     updateStrategy.selector.
//  3. Candidates are ordered: pods already unavailable first (updating them costs no availability), then
//     higher weightPriority, then workloads interleaved (each workload's candidates spread evenly through
//     the order, so a batch takes a little of many workloads rather than all of a few), then
//     scatterStrategy spreading, or, without a scatterStrategy, zones spread the same way, then
//     namespace/name. Nothing is chosen by ranging over a map.
//  4. partition: at most matched-partition pods may be on target; the candidates last in that order stay
//     behind.
//  5. Budget: maxUnavailable minus the pods unavailable now (updating pods included). Unavailable
//     candidates do not consume it.
//  6. Per workload: a candidate that would make its workload's unavailable pods exceed
//     maxUnavailablePerWorkload (of that workload's matched pods) waits, even with budget left.
//  7. PodDisruptionBudgets: a candidate waits while a budget selecting it allows no more disruption; each
//     update spends one disruption of every budget selecting the pod. An in-place restart is not an
//     eviction, so the API server does not enforce budgets on it: the planner does.
//
// Worked numbers, 25 matched pods, maxUnavailable "10%" and partition "20%":
//
//	maxUnavailable = ceil(2.5) = 3; partition = ceil(5) = 5, so at most 20 pods on target.
//	With 12 on target, 1 of them still updating, and 1 other pod not ready: 2 unavailable now, budget 3-2 = 1.
//	20-12 = 8 of the 13 candidates may move; the unready one (if a candidate) goes first for free, then 1 more.
//
// And per workload, ten Deployments of 3 pods (30 matched), maxUnavailable "50%", the default
// maxUnavailablePerWorkload "25%":
//
//	maxUnavailable = 15; per workload ceil(0.75) = 1. All available: the budget is 15, the order takes the
//	first pod of each Deployment, then the second of each, and so on; each Deployment's first pod uses its
//	limit, so the step updates 10 pods (one per Deployment) and holds the other 20 back (HeldByWorkload).
//	Each Deployment keeps 2 of 3 pods serving throughout.
//
// Invariants: the returned plan never makes more than max(MaxUnavailable, Unavailable) pods unavailable,
// nor more than max(its limit, its unavailable pods) of any workload, nor more than its Allowed of the
// available pods of any budget, and the same inputs in any order give the same plan.
func Compute(s *appsv1alpha1.UpdateStrategy, pods []Pod, now time.Time) (Plan, error) {
	return ComputeWithBudgets(s, pods, nil, now)
}

// Budget is a PodDisruptionBudget selecting matched pods, and how many more of its pods may be disrupted now
// (BudgetAllowed).
type Budget struct {
	// Name is "namespace/name".
	Name    string
	Allowed int
}

// BudgetAllowed is how many more of a PodDisruptionBudget's pods the operator may make unavailable: the
// disruptions its status allows, but no more than the healthy pods the operator counts above the budget's
// desiredHealthy, where a pod being updated in place counts as unhealthy. The status is the disruption
// controller's, a moment behind: the second figure counts the operator's own updates in flight, which the
// status may not show yet. A status older than the budget's spec (generation) allows nothing until the
// disruption controller catches up. Worked numbers, 4 pods, minAvailable 3 (desiredHealthy 3):
//
//	all 4 ready, status allows 1             -> 1
//	1 being updated, still ready, status 1   -> 0   (3 healthy as the operator counts them)
//	status not computed yet (allows 0)       -> 0
func BudgetAllowed(st policyv1.PodDisruptionBudgetStatus, generation int64, healthy int) int {
	if st.ObservedGeneration < generation {
		return 0
	}
	return max(0, min(int(st.DisruptionsAllowed), healthy-int(st.DesiredHealthy)))
}

// ComputeWithBudgets is Compute honouring the PodDisruptionBudgets of the pods (Pod.Budgets index budgets).
func ComputeWithBudgets(s *appsv1alpha1.UpdateStrategy, pods []Pod, budgets []Budget, now time.Time) (Plan, error) {
	return compute(s, pointers(pods), budgets, now, true)
}

// ComputeAt is ComputeWithBudgets over pods where the caller keeps them: a reconcile of thousands of pods
// plans the records it counts its status from rather than a copy of each (internal/step).
func ComputeAt(s *appsv1alpha1.UpdateStrategy, pods []*Pod, budgets []Budget, now time.Time) (Plan, error) {
	return compute(s, pods, budgets, now, true)
}

// pointers points at each of pods.
func pointers(pods []Pod) []*Pod {
	out := make([]*Pod, len(pods))
	for i := range pods {
		out[i] = &pods[i]
	}
	return out
}

// candidateBuffers lend compute the slice of its candidates: with thousands of pods off target, making it
// anew for every plan was half the garbage of a reconcile in a rollout.
var candidateBuffers = sync.Pool{New: func() any { return new([]candidate) }}

// rankBuffers lend orderByRank its scratch: the candidates by number, then the order they are moved to.
var rankBuffers = sync.Pool{New: func() any { return new([]int32) }}

// compute plans the step. With shortcuts, it orders only the candidates that can be chosen: none when the
// rollout is stopped, only the unavailable ones when there is no budget and no partition to cut the order.
// The plan is the same either way (TestShortcutsPlanAsTheFullOrder); ordering thousands of candidates was
// most of a plan's cost.
func compute(s *appsv1alpha1.UpdateStrategy, pods []*Pod, budgets []Budget, now time.Time, shortcuts bool) (Plan, error) {
	var p Plan
	matched := 0
	for i := range pods {
		if !pods[i].Leaving {
			matched++
		}
	}
	var err error
	if p.MaxUnavailable, err = MaxUnavailable(s.MaxUnavailable, matched); err != nil {
		return p, err
	}
	if p.Partition, err = Partition(s.Partition, matched); err != nil {
		return p, err
	}
	if p.MaxFailed, err = MaxFailedPods(s.FailurePolicy.MaxFailedPods, matched); err != nil {
		return p, err
	}
	selected := labels.Everything()
	if s.Selector != nil {
		if selected, err = metav1.LabelSelectorAsSelector(s.Selector); err != nil {
			return p, fmt.Errorf("updateStrategy.selector: %w", err)
		}
	}
	weights := weightTerms(s.PriorityStrategy)
	minReady := time.Duration(s.MinReadySeconds) * time.Second
	deadline := time.Duration(ptr.Deref(s.ProgressDeadlineSeconds, appsv1alpha1.DefaultProgressDeadlineSeconds)) * time.Second

	// The workloads of the pods that have one; a pod without is a workload of its own (one pod, limit 1),
	// which its own unavailability alone can fill, so it needs no counting.
	recreate := s.Recreate != nil && s.Recreate.Policy == appsv1alpha1.RecreateEvict
	recreateLimit := int(appsv1alpha1.DefaultRecreateMaxPerWorkload)
	if s.Recreate != nil && s.Recreate.MaxPerWorkload != nil {
		recreateLimit = int(*s.Recreate.MaxPerWorkload)
	}
	workloads := map[workloadID]*workload{}
	offTarget := 0
	for i := range pods {
		if !pods[i].OnTarget && !pods[i].Leaving {
			offTarget++
		}
	}
	// At most the pods off target: none once a rollout is done. Lent by candidateBuffers.
	buf := candidateBuffers.Get().(*[]candidate)
	if cap(*buf) < offTarget {
		*buf = make([]candidate, 0, offTarget)
	}
	candidates := (*buf)[:0]
	filled := 0 // how many this plan wrote: the pool is every SidecarSet's, and a plan of none clears none
	defer func() {
		clear((*buf)[:filled]) // holds no pod of this plan while lent
		candidateBuffers.Put(buf)
	}()
	var last *workload // the workload of the pod before
	for i, pod := range pods {
		if pod.Leaving {
			p.Leaving++
			p.Unavailable++
			if pod.Evicted {
				p.InProgress++
			}
			if pod.Workload != "" {
				id := workloadID{pod.Namespace, pod.Workload}
				if workloads[id] == nil {
					workloads[id] = &workload{id: id}
				}
				workloads[id].unavailable++
			}
			continue
		}
		p.Matched++
		unavailable := !pod.available(minReady, now)
		var w *workload
		if pod.Workload != "" {
			id := workloadID{pod.Namespace, pod.Workload}
			// Most pods are of the workload of the pod before: a SidecarSet selects the pods of a few workloads,
			// and the strings of a workload's pods are one (podview interns them), so comparing them is cheap
			// where the lookup hashed them.
			if w = last; w == nil || w.id != id {
				if w = workloads[id]; w == nil {
					w = &workload{id: id}
					workloads[id] = w
				}
				last = w
			}
			w.pods++
			if unavailable {
				w.unavailable++
			}
		}
		if unavailable {
			p.Unavailable++
		}
		if pod.Failed {
			p.Failed++
		}
		switch {
		case pod.OnTarget:
			p.OnTarget++
			if unavailable {
				p.OnTargetUnavailable++
			}
			if pod.Updating || pod.settling(minReady, deadline, now) {
				p.InProgress++
			}
		case !pod.Updatable && !(recreate && pod.Replaceable):
			p.NotUpgradable++
			if recreate {
				p.NotReplaceable++
			}
		case !selected.Matches(labels.Set(pod.Labels)):
			p.HeldBySelector++
		default:
			candidates = append(candidates, candidate{pod: pod, index: i, unavailable: unavailable, weight: weightOf(weights, pod.Labels), workload: w,
				recreate: !pod.Updatable})
		}
	}
	filled = len(candidates)
	for _, w := range workloads {
		if w.limit, err = MaxUnavailablePerWorkload(s.MaxUnavailablePerWorkload, max(w.pods, 1)); err != nil {
			return p, err
		}
		w.recreateLimit = min(w.limit, recreateLimit)
	}
	switch {
	case p.Failed >= p.MaxFailed:
		p.Stopped = StopFailurePolicy
	case s.Type == appsv1alpha1.NotUpdateStrategyType:
		p.Stopped = StopNotUpdate
	case s.Paused:
		p.Stopped = StopPaused
	}
	p.Budget = max(0, p.MaxUnavailable-p.Unavailable)
	p.BudgetReason = fmt.Sprintf("maxUnavailable %d of %d matched pods, %d unavailable now: budget %d",
		p.MaxUnavailable, p.Matched, p.Unavailable, p.Budget)
	quota := max(0, p.Matched-p.Partition-p.OnTarget)
	cut := s.Partition != nil && len(candidates) > quota
	if cut {
		p.HeldByPartition = len(candidates) - quota
	}
	p.Candidates = len(candidates) - p.HeldByPartition
	if p.Stopped != "" && shortcuts {
		return p, nil // nothing is chosen
	}
	if p.Budget == 0 && !cut && shortcuts {
		// Without budget only unavailable candidates can be chosen. They come first in the order, in runs of
		// their own, so leaving the available ones out does not change their order.
		candidates = slices.DeleteFunc(candidates, func(c candidate) bool { return !c.unavailable })
	}
	order(candidates, s.ScatterStrategy)
	if cut {
		candidates = candidates[:quota]
	}
	if p.Stopped != "" {
		return p, nil
	}

	budget := p.Budget
	allowed := make([]int, len(budgets))
	for i, b := range budgets {
		allowed[i] = b.Allowed
	}
	spent := make([]bool, len(budgets)) // a budget already named in FullBudgets
	for _, c := range candidates {
		w := c.workload
		limit := 0
		if w != nil {
			limit = w.limit
			if c.recreate {
				limit = w.recreateLimit
			}
		}
		switch {
		case c.unavailable && !c.recreate:
			p.Update = append(p.Update, Decision{c.pod.Namespace, c.pod.Name, "already unavailable: updating it costs no availability", false, c.index})
		case c.unavailable && w.unavailable <= limit:
			// An unavailable pod of a workload within its limit: evicting it costs no availability. Past the
			// limit (pods of the workload leaving, replacements not ready), the workload settles first.
			p.Update = append(p.Update, Decision{c.pod.Namespace, c.pod.Name, "already unavailable: recreating it costs no availability", true, c.index})
		case c.unavailable:
			p.HeldByWorkload++
			if !w.full {
				w.full = true
				p.FullWorkloads = append(p.FullWorkloads, w.id.namespace+"/"+w.id.name)
			}
		case budget > 0 && w != nil && w.unavailable >= limit:
			p.HeldByWorkload++
			if !w.full {
				w.full = true
				p.FullWorkloads = append(p.FullWorkloads, w.id.namespace+"/"+w.id.name)
			}
		case budget > 0 && heldByBudget(c.pod.Budgets, allowed):
			p.HeldByBudget++
			for _, b := range c.pod.Budgets {
				if allowed[b] <= 0 && !spent[b] {
					spent[b] = true
					p.FullBudgets = append(p.FullBudgets, fmt.Sprintf("%s (%s/%s)", budgets[b].Name, c.pod.Namespace, c.pod.Name))
				}
			}
		case budget > 0:
			budget--
			reason := fmt.Sprintf("within maxUnavailable: %d of %d unavailable with it", p.MaxUnavailable-budget, p.MaxUnavailable)
			if w != nil {
				w.unavailable++
				reason += fmt.Sprintf("; %d of its workload's %d pods (limit %d)", w.unavailable, w.pods, w.limit)
			}
			for _, b := range c.pod.Budgets {
				allowed[b]--
				reason += fmt.Sprintf("; PodDisruptionBudget %s allows %d more", budgets[b].Name, allowed[b])
			}
			if c.recreate {
				reason = "recreated, " + reason + fmt.Sprintf("; recreate.maxPerWorkload %d", w.recreateLimit)
			}
			p.Update = append(p.Update, Decision{c.pod.Namespace, c.pod.Name, reason, c.recreate, c.index})
		}
	}
	slices.Sort(p.FullWorkloads)
	slices.Sort(p.FullBudgets)
	return p, nil
}

// heldByBudget says whether one of the budgets allows no more disruption.
func heldByBudget(budgets []int, allowed []int) bool {
	for _, b := range budgets {
		if allowed[b] <= 0 {
			return true
		}
	}
	return false
}

// workloadID is a workload: its namespace and "Kind/name".
type workloadID struct{ namespace, name string }

// workload counts the matched pods of one workload. inRun and seen are order's scratch counters.
type workload struct {
	id                       workloadID
	pods, unavailable, limit int
	// recreateLimit is the most of its pods unavailable with one more evicted: limit, or
	// recreate.maxPerWorkload when lower.
	recreateLimit int
	full          bool
	inRun, seen   int
}

type candidate struct {
	pod         *Pod
	index       int
	unavailable bool
	// recreate: the candidate is evicted, not updated in place.
	recreate     bool
	weight       int32
	workload     *workload
	workloadRank float64
	zoneRank     float64
	scatterRank  float64
}

type weightTerm struct {
	weight   int32
	selector labels.Selector
}

// weightTerms parses the priority selectors. One that cannot be parsed matches nothing: the API cannot
// validate these within its CEL cost budget, and a bad term must not stop the rollout.
func weightTerms(ps *appsv1alpha1.UpdatePriorityStrategy) []weightTerm {
	if ps == nil {
		return nil
	}
	var out []weightTerm
	for _, t := range ps.WeightPriority {
		sel, err := metav1.LabelSelectorAsSelector(&t.MatchSelector)
		if err != nil {
			continue
		}
		out = append(out, weightTerm{t.Weight, sel})
	}
	return out
}

// weightOf is the weight of the first term the labels match, 0 if none.
func weightOf(terms []weightTerm, l map[string]string) int32 {
	for _, t := range terms {
		if t.selector.Matches(labels.Set(l)) {
			return t.weight
		}
	}
	return 0
}

// order sorts candidates by the priority ladder: unavailable first, higher weight, workloads interleaved,
// scatter spreading (or, without a scatterStrategy, zones), namespace/name (Pod.Rank, when numbered).
func order(cs []candidate, scatter []appsv1alpha1.UpdateScatterTerm) {
	if !orderByRank(cs) {
		sortCandidates(cs)
	}
	spread(cs, scatter)
}

// kind is what orders candidates before their pods' numbers and names: unavailable first, then higher weight.
type kind struct {
	unavailable bool
	weight      int32
}

func (c *candidate) kind() kind { return kind{c.unavailable, c.weight} }

func compareKinds(a, b kind) int {
	if a.unavailable != b.unavailable {
		if a.unavailable {
			return -1
		}
		return 1
	}
	return cmp.Compare(b.weight, a.weight)
}

// sortCandidates sorts candidates by (unavailable first, higher weight, Rank, "namespace/name").
func sortCandidates(cs []candidate) {
	slices.SortFunc(cs, func(a, b candidate) int {
		if c := compareKinds(a.kind(), b.kind()); c != 0 {
			return c
		}
		if a.pod.Rank != b.pod.Rank {
			return cmp.Compare(a.pod.Rank, b.pod.Rank)
		}
		return CompareNames(a.pod.Namespace, a.pod.Name, b.pod.Namespace, b.pod.Name)
	})
}

// CompareNames orders pods as their "namespace/name" strings sort, without building them: the order of the
// planner's tie-break, of Pod.Rank, and of the pods a status message names. Namespaces and names hold no
// '/', so where one namespace is a prefix of the other the '/' after the shorter decides ("ns-1/b" sorts
// before "ns/a").
func CompareNames(aNamespace, aName, bNamespace, bName string) int {
	if aNamespace == bNamespace {
		return strings.Compare(aName, bName)
	}
	n := min(len(aNamespace), len(bNamespace))
	if c := strings.Compare(aNamespace[:n], bNamespace[:n]); c != 0 {
		return c
	}
	if len(aNamespace) == n {
		return cmp.Compare('/', bNamespace[n])
	}
	return cmp.Compare(aNamespace[n], '/')
}

// orderByRank sorts candidates as sortCandidates does, in time linear in their number, when every one is
// numbered (Pod.Rank) with a distinct number and they fall into a few kinds of (unavailable, weight): it
// places them by number, then takes each kind in turn, in the order of their numbers. It returns false,
// having changed nothing, when they are not so.
func orderByRank(cs []candidate) bool {
	const maxKinds = 8
	var kinds []kind
	maxRank := int32(0)
	for i := range cs {
		r := cs[i].pod.Rank
		if r <= 0 {
			return false
		}
		maxRank = max(maxRank, r)
		k := cs[i].kind()
		if !slices.Contains(kinds, k) {
			if len(kinds) == maxKinds {
				return false
			}
			kinds = append(kinds, k)
		}
	}
	if len(cs) < 2 || int(maxRank) > 4*len(cs)+1024 {
		return len(cs) < 2
	}
	// Both lent (rankBuffers): made anew, they were a tenth of what the operator allocated in a rollout of
	// 10,000 pods, where every reconcile orders thousands of candidates.
	buf := rankBuffers.Get().(*[]int32)
	defer rankBuffers.Put(buf)
	if need := int(maxRank) + 1 + len(cs); cap(*buf) < need {
		*buf = make([]int32, need)
	}
	byRank := (*buf)[:maxRank+1] // 1 + the candidate's index, by number
	clear(byRank)
	for i := range cs {
		if byRank[cs[i].pod.Rank] != 0 {
			return false // two pods with one number: left to the names
		}
		byRank[cs[i].pod.Rank] = int32(i + 1)
	}
	slices.SortFunc(kinds, compareKinds)
	from := (*buf)[maxRank+1 : maxRank+1 : int(maxRank)+1+len(cs)] // the index of the candidate to take each place
	for _, k := range kinds {
		for _, i := range byRank {
			if i != 0 && cs[i-1].kind() == k {
				from = append(from, i-1)
			}
		}
	}
	// Moved in place along the permutation's cycles: a copy of thousands of candidates was half a plan's
	// garbage.
	for start := range from {
		if from[start] < 0 {
			continue
		}
		held := cs[start]
		for at := start; ; {
			next := int(from[at])
			from[at] = -1
			if next == start {
				cs[at] = held
				break
			}
			cs[at], at = cs[next], next
		}
	}
	return true
}

// spread orders each run of candidates of equal (unavailable, weight), sorted, by the spreading terms.
func spread(cs []candidate, scatter []appsv1alpha1.UpdateScatterTerm) {
	// Within each run of equal (unavailable, weight), spread the pods of each workload evenly, then, on top,
	// those of each scatter term: a pod's rank is its position among its group's pods in the run, as a
	// fraction, so each group's pods are interleaved through the run instead of coming in a block. Ties keep
	// the order before, so scatter spreading keeps the workloads interleaved where it can.
	for start := 0; start < len(cs); {
		end := start + 1
		for end < len(cs) && cs[end].unavailable == cs[start].unavailable && cs[end].weight == cs[start].weight {
			end++
		}
		run := cs[start:end]
		if len(scatter) == 0 {
			// Zones first, so that among pods of equal rank in their workloads the zones alternate.
			spreadZones(run)
		}
		spreadWorkloads(run)
		if len(scatter) > 0 {
			spreadScatter(run, scatter)
		}
		start = end
	}
}

// spreadWorkloads ranks each candidate of the run by its position among its workload's candidates in the
// run (centred fraction; a pod without a workload ranks in the middle) and sorts the run by it, stably.
func spreadWorkloads(run []candidate) {
	for i := range run {
		if w := run[i].workload; w != nil {
			w.inRun, w.seen = 0, 0
		}
	}
	for i := range run {
		if w := run[i].workload; w != nil {
			w.inRun++
		}
	}
	for i := range run {
		run[i].workloadRank = 0.5
		if w := run[i].workload; w != nil {
			run[i].workloadRank = (float64(w.seen) + 0.5) / float64(w.inRun)
			w.seen++
		}
	}
	slices.SortStableFunc(run, func(a, b candidate) int { return cmp.Compare(a.workloadRank, b.workloadRank) })
}

// spreadZones ranks each candidate of the run by its position among the candidates of its zone in the run and
// sorts the run by it, stably; pods of no known zone are a zone of their own.
func spreadZones(run []candidate) {
	sizes := map[string]int{}
	for i := range run {
		sizes[run[i].pod.Zone]++
	}
	if len(sizes) < 2 {
		return
	}
	seen := make(map[string]int, len(sizes))
	for i := range run {
		z := run[i].pod.Zone
		run[i].zoneRank = (float64(seen[z]) + 0.5) / float64(sizes[z])
		seen[z]++
	}
	slices.SortStableFunc(run, func(a, b candidate) int { return cmp.Compare(a.zoneRank, b.zoneRank) })
}

// spreadScatter does the same by scatter term: the pods of each term are spread through the run.
func spreadScatter(run []candidate, scatter []appsv1alpha1.UpdateScatterTerm) {
	sizes := make([]int, len(scatter)+1) // bucket -1 (no term) at index 0
	buckets := make([]int, len(run))
	for i := range run {
		buckets[i] = scatterBucket(scatter, run[i].pod.Labels) + 1
		sizes[buckets[i]]++
	}
	seen := make([]int, len(sizes))
	for i := range run {
		b := buckets[i]
		run[i].scatterRank = (float64(seen[b]) + 0.5) / float64(sizes[b])
		seen[b]++
	}
	slices.SortStableFunc(run, func(a, b candidate) int { return cmp.Compare(a.scatterRank, b.scatterRank) })
}

// scatterBucket is the index of the first scatter term the labels match, or -1.
func scatterBucket(terms []appsv1alpha1.UpdateScatterTerm, l map[string]string) int {
	for i, t := range terms {
		if v, ok := l[t.Key]; ok && v == t.Value {
			return i
		}
	}
	return -1
}
