package controllers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/derived"
	"github.com/sidecarset/sidecarset-operator/internal/inflight"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/pace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/step"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// +kubebuilder:rbac:groups=apps.sidecarset.io,resources=sidecarsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps.sidecarset.io,resources=sidecarsets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,namespace=sidecarset-system,resources=controllerrevisions,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods/resize,verbs=patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// SidecarSetReconciler rolls a SidecarSet's sidecars out to its matched pods in place and reports the drift.
// Each reconcile gathers what the decision reads, lets step.Decide decide everything, and applies the
// decision: revisions, one patch per updated pod, the status, its events (docs/design.md, section 3).
type SidecarSetReconciler struct {
	Client client.Client
	// APIReader reads a pod from the API server itself, when a write after a resize meets the kubelet's
	// status write (the Client's cache holds no pods, and reading one through it would start a cache).
	APIReader client.Reader
	// Pods is the operator's pod cache; the Client's cache holds no pods.
	Pods *PodCache
	// SidecarSets finds the SidecarSets that may select a pod, for the pod event handler, and lists them for
	// the status metrics (statusMetrics); SetupWithManager indexes the manager's cache when nil.
	SidecarSets SidecarSetLookup
	// Namespace is the operator's: it holds the revisions and is never injected.
	Namespace string
	Recorder  record.EventRecorder
	// Clock is the one clock of the reconciler; the real one when nil.
	Clock clock.PassiveClock
	// WebhookConfigName is the operator's MutatingWebhookConfiguration, in which each injecting SidecarSet
	// must have its entry to be Ready; "" does not check.
	WebhookConfigName string
	// Workers is how many SidecarSets are reconciled at once (never one SidecarSet twice at once); 1 when 0.
	Workers int

	// writes are the in-place updates written that the pod cache may not show yet.
	writes inflight.Writes
	// evictions are the pods evicted to be recreated, until their replacements exist.
	evictions evictions
	// conflicts are the name conflicts reported as events.
	conflicts conflictEvents
	// statusWritten is when each SidecarSet's status was last written, by name.
	statusWritten sync.Map
	// nodeZones is the zone of each node, built again when nodes change.
	nodeZones nodeZones
	// pace spaces the reconciles of each SidecarSet that pod events start by what they cost.
	pace pace.Pacer
	// selectors are the SidecarSets' parsed pod selectors, for the pod event handler.
	selectors derived.Cache[*inject.Matcher]
	// registered are the entries of the webhook configurations, by their versions.
	registered webhookconfig.Registrations
	// memos are what each SidecarSet's decisions keep between its reconciles (step.Memo), by name, each with
	// when a reconcile last took it (*keptMemo).
	memos sync.Map
	// writeSlots bound the pod writes in flight (maxConcurrentWrites).
	writeSlotsOnce sync.Once
	writeSlots     chan struct{}
}

// keptMemo is a SidecarSet's memo, when a reconcile last took it (Unix nanoseconds), how many pod views it
// held when that reconcile was done, and the SidecarSet's selected pods with those that had an event since
// (podSet), which go with the memo.
type keptMemo struct {
	memo    *step.Memo
	used    atomic.Int64
	entries atomic.Int64
	pods    podSet
	// input is the slice of the decision's pods, lent from one reconcile to the next and cleared in between
	// (it holds no view then): 16 bytes a matched pod, which each reconcile of a rollout allocated anew.
	input []step.Pod
}

// memoIdleTTL is how long a SidecarSet's memo is kept without a reconcile. The memo holds about 0.7 KB a
// matched pod (an entry, and the slices it lends each decision): kept while its SidecarSet is reconciled
// (at least every step.WhileRolling during a rollout, and on its pods' events at rest), so memory follows the
// work rather than the pods. The reconcile after it fills the memo again, about as much work as the memo
// saves that one reconcile.
const memoIdleTTL = 30 * time.Second

// memoSweepEvery is how often idle memos are looked for.
const memoSweepEvery = memoIdleTTL / 5

// releaseAfterEntries is how many pod entries the dropped memos of one sweep must have held for the sweep to
// hand their memory back to the operating system at once (debug.FreeOSMemory, a collection and a scavenge)
// rather than after the next collection, which an operator at rest may not run for two minutes: about 1 MB.
const releaseAfterEntries = 1000

// forgetIdleMemos drops the memos no reconcile took in the last memoIdleTTL, and returns how many pod
// entries they held. A reconcile holding one still uses it; the next makes a new one.
func (r *SidecarSetReconciler) forgetIdleMemos(now time.Time) int {
	dropped := 0
	r.memos.Range(func(name, kept any) bool {
		k := kept.(*keptMemo)
		if now.Sub(time.Unix(0, k.used.Load())) > memoIdleTTL && r.memos.CompareAndDelete(name, kept) {
			dropped += int(k.entries.Load())
		}
		return true
	})
	return dropped
}

// revisionsBySidecarSet indexes the cached ControllerRevisions by the SidecarSet they are of, so that a
// reconcile reads its own revisions without going through every SidecarSet's.
const revisionsBySidecarSet = "sidecarset.io/revision-of"

// requeueAfterConflict is how soon a reconcile whose status write conflicted runs again: the cache had not
// caught up with the previous write, and will have in a moment. An error's backoff would wait far longer.
const requeueAfterConflict = 50 * time.Millisecond

// Reconcile runs one step of the rollout: gather, decide (step.Decide), apply.
func (r *SidecarSetReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	set := &appsv1alpha1.SidecarSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	r.pace.Start(set.Name, r.now())
	quiet := false
	defer func() { r.pace.Done(set.Name, r.now(), quiet) }()

	start := time.Now()
	in, err := r.gather(ctx, set)
	if err != nil {
		r.decided(set.Name, in) // nothing is decided: the pods' slice goes back all the same
		return reconcile.Result{}, err
	}
	gathered := time.Now()
	reconcilePhase.WithLabelValues("gather").Observe(gathered.Sub(start).Seconds())
	d := step.Decide(in)
	quiet = d.Quiet()
	r.decided(set.Name, in)
	decided := time.Now()
	reconcilePhase.WithLabelValues("decide").Observe(decided.Sub(gathered).Seconds())
	defer func() { reconcilePhase.WithLabelValues("apply").Observe(time.Since(decided).Seconds()) }()
	return r.apply(ctx, set, d)
}

// decided gives back to the SidecarSet's kept memo what a decision on in is done with: the count of the
// memo's entries, and the slice of its pods, cleared, for the next reconcile to fill (keptMemo.input).
func (r *SidecarSetReconciler) decided(set string, in step.Input) {
	kept, ok := r.memos.Load(set)
	if !ok || kept.(*keptMemo).memo != in.Memo {
		return
	}
	kept.(*keptMemo).entries.Store(int64(in.Memo.Len()))
	clear(in.Pods) // the decision keeps no pointer into it
	kept.(*keptMemo).input = in.Pods[:0]
}

func (r *SidecarSetReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// forget drops what the reconciler keeps of a deleted SidecarSet.
func (r *SidecarSetReconciler) forget(name string) {
	forgetSidecarSet(name)
	r.writes.Forget(name)
	r.evictions.forget(name)
	r.conflicts.forget(name)
	r.statusWritten.Delete(name)
	r.pace.Forget(name)
	r.memos.Delete(name)
}

// gather reads everything step.Decide reads, from the caches.
func (r *SidecarSetReconciler) gather(ctx context.Context, set *appsv1alpha1.SidecarSet) (step.Input, error) {
	in := step.Input{SidecarSet: set, Now: r.now()}
	// The controller never reconciles a SidecarSet twice at once, so its memo serves one decision at a time.
	kept, ok := r.memos.Load(set.Name)
	if !ok {
		kept, _ = r.memos.LoadOrStore(set.Name, &keptMemo{memo: &step.Memo{}})
	}
	kept.(*keptMemo).used.Store(in.Now.UnixNano())
	in.Memo = kept.(*keptMemo).memo
	in.Evictions = r.evictions.of(set.Name, in.Now)
	if last, ok := r.statusWritten.Load(set.Name); ok {
		in.StatusWritten = last.(time.Time)
	}
	var err error
	if in.Pods, err = r.matchedPods(ctx, set, &kept.(*keptMemo).pods, kept.(*keptMemo).input, in.Now); err != nil {
		return in, err
	}
	if in.Stored, err = r.revisions(ctx, set); err != nil {
		return in, err
	}
	if in.Zones, err = r.zones(ctx, in.Pods); err != nil {
		return in, err
	}
	if in.Budgets, err = r.disruptionBudgets(ctx, in.Pods); err != nil {
		return in, err
	}
	in.WebhookConfiguration = r.WebhookConfigName
	in.EntryMissing, err = r.entryMissing(ctx, set)
	return in, err
}

// entryMissing reads the operator's MutatingWebhookConfigurations from the cache and says whether none holds
// the SidecarSet's entry (webhookconfig.Registrations).
func (r *SidecarSetReconciler) entryMissing(ctx context.Context, set *appsv1alpha1.SidecarSet) (bool, error) {
	if r.WebhookConfigName == "" {
		return false, nil
	}
	var list admissionregistrationv1.MutatingWebhookConfigurationList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return false, fmt.Errorf("listing MutatingWebhookConfigurations: %w", err)
	}
	var ours []*admissionregistrationv1.MutatingWebhookConfiguration
	for i := range list.Items {
		if _, ok := webhookconfig.ShardIndex(r.WebhookConfigName, list.Items[i].Name); ok {
			ours = append(ours, &list.Items[i])
		}
	}
	return !r.registered.In(ours, set.Name), nil
}

// apply does what the decision says, in order: the revisions, the pod writes, the status and its events.
func (r *SidecarSetReconciler) apply(ctx context.Context, set *appsv1alpha1.SidecarSet, d step.Decision) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	if d.Terminal != nil {
		// The API validates the strategy; an object that bypassed validation can never roll out.
		return reconcile.Result{}, reconcile.TerminalError(fmt.Errorf("%s: %w", klog.KObj(set), d.Terminal))
	}
	if d.CollisionCount != nil {
		log.Info("Revision hash collision; salting the next hash", "collisionCount", *d.CollisionCount)
		set.Status.CollisionCount = d.CollisionCount
		return reconcile.Result{RequeueAfter: d.Requeue}, r.Client.Status().Update(ctx, set)
	}
	if err := r.applyHistory(ctx, set, d.History); err != nil {
		return reconcile.Result{}, err
	}
	if d.Rollback != nil {
		log.Info("Failure policy tripped; rolling back", "failed", d.Rollback.Failed, "from", d.Rollback.From, "to", d.Rollback.To)
	}
	if len(d.Updates) > 0 {
		log.Info("Updating sidecars in place", "revision", d.Target, "pods", len(d.Updates), "budget", d.Plan.BudgetReason)
		r.update(ctx, set.Name, d.Target, d.Updates)
	}
	if len(d.Evictions) > 0 {
		log.Info("Recreating pods that cannot be updated in place", "revision", d.Target, "pods", len(d.Evictions), "budget", d.Plan.BudgetReason)
		if r.evict(ctx, set.Name, d.Target, d.Evictions) > 0 && (d.Requeue == 0 || d.Requeue > evictionRetry) {
			d.Requeue, d.RequeueReason = evictionRetry, "a PodDisruptionBudget refused an eviction"
		}
	}
	r.reportConflicts(set, d.Conflicts)
	if !d.Write {
		log.V(1).Info("Status not written", "requeueAfter", d.Requeue, "reason", d.RequeueReason)
		return reconcile.Result{RequeueAfter: d.Requeue}, nil
	}
	set.Status = d.Computed
	if err := r.Client.Status().Update(ctx, set); err != nil {
		if apierrors.IsConflict(err) {
			// This reconcile decided on a stale status. Its pod writes stand (each was guarded by the pod's
			// resourceVersion); decide again in a moment.
			log.V(1).Info("Status write conflicted; reconciling again", "error", err.Error())
			return reconcile.Result{RequeueAfter: requeueAfterConflict}, nil
		}
		return reconcile.Result{}, fmt.Errorf("writing the status of %s: %w", klog.KObj(set), err)
	}
	r.statusWritten.Store(set.Name, r.now())
	for _, e := range d.Events {
		log.Info("Rollout event", "reason", e.Reason, "message", e.Message)
		if r.Recorder != nil {
			r.Recorder.Event(set, e.Type, e.Reason, e.Message)
		}
	}
	if d.RolloutFinished {
		rolloutDuration.WithLabelValues(set.Name).Observe(d.RolloutDuration.Seconds())
	}
	return reconcile.Result{RequeueAfter: d.Requeue}, nil
}

// zones gives the zone of each node (label topology.kubernetes.io/zone), from the table built from the
// cache's metadata of nodes (nodeZones); nil when no pod is scheduled yet. The table is shared: never modify it.
func (r *SidecarSetReconciler) zones(ctx context.Context, pods []step.Pod) (map[string]string, error) {
	if !slices.ContainsFunc(pods, func(p step.Pod) bool { return p.View.Node() != "" }) {
		return nil, nil
	}
	return r.nodeZones.get(func() (map[string]string, error) { return listZones(ctx, r.Client) })
}

// disruptionBudgets reads the PodDisruptionBudgets of the namespaces of the pods, each with the pods it
// selects in its namespace, from the caches.
func (r *SidecarSetReconciler) disruptionBudgets(ctx context.Context, pods []step.Pod) ([]step.Budget, error) {
	if len(pods) == 0 {
		return nil, nil
	}
	var list policyv1.PodDisruptionBudgetList
	// Read, never modified: no copy of the cache's objects.
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing PodDisruptionBudgets: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, nil // no budget anywhere: no namespaces to work out
	}
	namespaces := map[string]bool{}
	for _, p := range pods {
		namespaces[p.View.Namespace] = true
	}
	slices.SortFunc(list.Items, func(a, b policyv1.PodDisruptionBudget) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	var budgets []step.Budget
	read := newBudgetPods(r.Pods)
	for i := range list.Items {
		pdb := &list.Items[i]
		if !namespaces[pdb.Namespace] {
			continue
		}
		b := step.Budget{Name: pdb.Namespace + "/" + pdb.Name, Generation: pdb.Generation, Status: pdb.Status}
		// A nil selector selects no pod, and neither does one the disruption controller cannot parse.
		if pdb.Spec.Selector != nil {
			if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil {
				b.Selector = sel
			}
		}
		if b.Selector != nil {
			selected, err := read.of(pdb.Namespace, b.Selector, pdb.Spec.Selector)
			if err != nil {
				return nil, err
			}
			b.Selected = selected
		}
		budgets = append(budgets, b)
	}
	return budgets, nil
}

// budgetPods reads the pods the budgets of one reconcile select. Each is read from the pods with the label its
// selector requires, or from its namespace's pods when it requires none (an empty budget selector selects
// every pod of its namespace). Each label's pods, across the cluster, are read from the pod cache's index once
// a reconcile, whatever the number of budgets that name it, and kept by namespace; each namespace's pods too.
// Read for each budget, a label most applications carry (app=web, in every team's namespace) was read whole
// for every budget: a reconcile of 10,000 pods with a budget in each of their 20 namespaces read 200,000
// views (BenchmarkReconcileBudgets).
type budgetPods struct {
	pods *PodCache
	// labelled are the pods under each label index key, by namespace; inNamespace each namespace's pods.
	labelled    map[string]map[string][]*podview.View
	inNamespace map[string][]*podview.View
}

func newBudgetPods(pods *PodCache) budgetPods {
	return budgetPods{pods: pods, labelled: map[string]map[string][]*podview.View{}, inNamespace: map[string][]*podview.View{}}
}

// of returns the pods of namespace that sel, parsed from spec, selects. The slice may be shared with the other
// budgets of the reconcile: read it only.
func (b *budgetPods) of(namespace string, sel labels.Selector, spec *metav1.LabelSelector) ([]*podview.View, error) {
	keys := inject.SelectorIndexKeys(spec)
	if len(keys) == 0 || slices.Contains(keys, inject.AnyPod) {
		all, ok := b.inNamespace[namespace]
		if !ok {
			var err error
			if all, err = b.pods.InNamespace(namespace); err != nil {
				return nil, err
			}
			b.inNamespace[namespace] = all
		}
		return matching(nil, all, sel), nil
	}
	exact := byKeysAlone(sel)
	var out []*podview.View
	// The keys of one selector are values of one label: a pod is under one of them at most.
	for _, key := range keys {
		byNamespace, ok := b.labelled[key]
		if !ok {
			var err error
			if byNamespace, err = b.pods.LabelledByNamespace(key); err != nil {
				return nil, err
			}
			b.labelled[key] = byNamespace
		}
		if exact && len(keys) == 1 {
			return byNamespace[namespace], nil
		}
		if exact {
			out = append(out, byNamespace[namespace]...)
			continue
		}
		out = matching(out, byNamespace[namespace], sel)
	}
	return out, nil
}

// matching appends to out the views sel matches.
func matching(out, views []*podview.View, sel labels.Selector) []*podview.View {
	for _, v := range views {
		if sel.Matches(labels.Set(v.Labels)) {
			out = append(out, v)
		}
	}
	return out
}

// matchedPods lists the pods the SidecarSet selects, kept from its last reconcile and patched with the pods
// that had an event since (podSet), else read from the pods of the cache with the label its selector requires
// (PodCache.Selected); leaving out the namespaces and pods never injected, each with the update written to it
// that the cache does not show yet. The views are the cache's, shared: never modify one. The list is made in
// lent's array when it is large enough (keptMemo.input).
func (r *SidecarSetReconciler) matchedPods(ctx context.Context, set *appsv1alpha1.SidecarSet, kept *podSet, lent []step.Pod, now time.Time) ([]step.Pod, error) {
	matcher, err := inject.NewMatcher(&set.Spec)
	if err != nil {
		return nil, nil // no pod is selected by a selector that cannot be parsed
	}
	injectable := func(v *podview.View) bool { return inject.Excluded(v.Namespace, v.Labels, r.Namespace) == "" }
	views, at, err := kept.take(r.Pods, matcher.PodSelector(), inject.SelectorIndexKeys(set.Spec.Selector), injectable, now)
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	var nsLabels map[string]map[string]string
	if matcher.NeedsNamespaceLabels() {
		var nss metav1.PartialObjectMetadataList
		nss.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
		if err := r.Client.List(ctx, &nss); err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		nsLabels = map[string]map[string]string{}
		for _, ns := range nss.Items {
			nsLabels[ns.Name] = ns.Labels
		}
	}
	r.writes.Expire(now)
	out := slices.Grow(lent[:0], len(views))[:len(views)]
	for i, v := range views {
		out[i] = step.Pod{View: v}
	}
	writes := r.writes.Of(set.Name) // nil when none stands: no pod is asked for
	defer writes.Done()
	// Only the pods with a write are asked for it, each found by name.
	for namespace, name := range writes.Pods() {
		i, ok := at.get(views, namespace, name)
		if !ok {
			continue
		}
		v := views[i]
		state := func() podstate.SidecarSetState { st, _ := v.StateOf(set.Name); return st }
		out[i].Written = writes.Pending(namespace, name, v.ResourceVersion, state, now)
	}
	if matcher.NeedsNamespaceLabels() {
		out = slices.DeleteFunc(out, func(p step.Pod) bool { return !matcher.MatchesNamespace(nsLabels[p.View.Namespace]) })
	}
	return out, nil
}

// revisions reads the SidecarSet's stored revisions.
func (r *SidecarSetReconciler) revisions(ctx context.Context, set *appsv1alpha1.SidecarSet) ([]revision.Stored, error) {
	var list appsv1.ControllerRevisionList
	// Read, never modified: no copy of the cache's objects, which every reconcile of a rollout made of each
	// revision's data.
	if err := r.Client.List(ctx, &list, client.InNamespace(r.Namespace),
		client.MatchingFields{revisionsBySidecarSet: set.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the revisions of %s: %w", klog.KObj(set), err)
	}
	var out []revision.Stored
	for _, cr := range list.Items {
		if !metav1.IsControlledBy(&cr, set) {
			continue // a revision of an earlier SidecarSet of the same name, left to garbage collection
		}
		var in revision.Injected
		if err := json.Unmarshal(cr.Data.Raw, &in); err != nil {
			ctrl.LoggerFrom(ctx).Info("Ignoring an unreadable revision", "revision", cr.Name, "error", err.Error())
			continue
		}
		out = append(out, revision.Stored{Name: cr.Name, Number: cr.Revision, Injected: in})
	}
	return out, nil
}

// applyHistory creates, renumbers and deletes revisions as decided.
func (r *SidecarSetReconciler) applyHistory(ctx context.Context, set *appsv1alpha1.SidecarSet, h revision.History) error {
	if h.Create != nil {
		data, err := json.Marshal(h.Create.Injected)
		if err != nil {
			return err
		}
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: h.Create.Name, Labels: map[string]string{
				appsv1alpha1.SidecarSetNameLabel: set.Name,
				appsv1alpha1.RevisionHashLabel:   strings.TrimPrefix(h.Create.Name, set.Name+"-"),
			}},
			Data:     runtime.RawExtension{Raw: data},
			Revision: h.Create.Number,
		}
		if err := controllerutil.SetControllerReference(set, cr, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.createRevision(ctx, set, cr); err != nil {
			return err
		}
	}
	if h.Renumber != nil {
		patch := []byte(fmt.Sprintf(`{"revision":%d}`, h.Renumber.Number))
		cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: h.Renumber.Name}}
		if err := r.Client.Patch(ctx, cr, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("renumbering revision %s: %w", h.Renumber.Name, err)
		}
	}
	for _, name := range h.Delete {
		cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, cr); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting revision %s: %w", name, err)
		}
	}
	return nil
}

// createRevision stores a revision of the SidecarSet. One of that name already stored is the SidecarSet's
// own (stored by an earlier reconcile), or was left by a deleted SidecarSet of the same name that the garbage
// collector has not removed yet: that one is deleted and the revision stored again, or the SidecarSet would
// never have its own, and its pods would be taken for pods of a revision no longer stored.
func (r *SidecarSetReconciler) createRevision(ctx context.Context, set *appsv1alpha1.SidecarSet, cr *appsv1.ControllerRevision) error {
	err := r.Client.Create(ctx, cr)
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("creating revision %s: %w", cr.Name, err)
		}
		return nil
	}
	stored := &appsv1.ControllerRevision{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(cr), stored); err != nil {
		return fmt.Errorf("reading revision %s: %w", cr.Name, err)
	}
	if metav1.IsControlledBy(stored, set) {
		return nil
	}
	ctrl.LoggerFrom(ctx).Info("Replacing a revision left by a deleted SidecarSet of the same name", "revision", cr.Name,
		"owner", metav1.GetControllerOfNoCopy(stored))
	if err := r.Client.Delete(ctx, stored, client.Preconditions{UID: &stored.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting revision %s of a deleted SidecarSet: %w", cr.Name, err)
	}
	cr.ResourceVersion = ""
	if err := r.Client.Create(ctx, cr); err != nil {
		return fmt.Errorf("creating revision %s: %w", cr.Name, err)
	}
	return nil
}

// writeTimeout bounds one pod write from the moment it is recorded in flight, the wait for a write slot
// included, below inflight.TTL: an expectation outlives the write it stands for.
const writeTimeout = 10 * time.Second

// maxConcurrentWrites bounds the pod writes in flight across the operator. A step writes up to maxUnavailable
// pods; a thousand writes at once held a thousand goroutines with their requests and responses, a third of the
// operator's memory at its peak, for no speed: the client's rate limit (--kube-api-qps, 500 a second by
// default) paces them anyway, and 200 writes of up to 400 ms each keep up with it.
const maxConcurrentWrites = 200

// update sends the in-place update of each chosen pod: its one strategic merge patch, at most
// maxConcurrentWrites at once across the operator (the decision already bounded them by maxUnavailable), and
// returns without waiting for them, so that the next batch is planned the moment a pod becomes available
// rather than once the slowest write of this batch returns. Each write is recorded in flight before update
// returns: the reconciles that run while it is on its way, or before the pod cache shows it, count the pod as
// updating. A write the API server refused is logged and dropped, and a later reconcile (the requeue of a
// rollout in progress, or the pod's next event) plans the pod again; one that got no answer keeps its record
// (send). update takes the slice over: each update is cleared from it as it is handed to its write.
func (r *SidecarSetReconciler) update(ctx context.Context, setName, target string, send []step.PodUpdate) {
	// The writes outlive this reconcile, not the process.
	ctx = context.WithoutCancel(ctx)
	now := r.now()
	for _, u := range send {
		r.writes.Record(setName, u.Namespace, u.Name, u.ResourceVersion, u.Change, now)
		if u.Resizes() {
			// The cache shows the resized pod, then the kubelet's status, before the patch of the pod: the
			// update is still in flight there. Noted before the resize is sent, which the cache may show
			// before its response arrives.
			r.writes.Resizing(setName, u.Namespace, u.Name)
		}
	}
	if len(send) == 0 {
		return
	}
	// Each write must be done by writeTimeout after it was recorded, waiting for a slot included: the
	// expectation that stands for it (inflight.TTL) must outlive it, or a write still queued when it expired
	// would land after the pod was planned again, and more pods than the budget be updating at once.
	deadline := time.Now().Add(writeTimeout)
	r.writeSlotsOnce.Do(func() { r.writeSlots = make(chan struct{}, maxConcurrentWrites) })
	go func() {
		for i := range send {
			r.writeSlots <- struct{}{}
			// Handed to its write alone, the update goes with it: otherwise the updates of a large step (1,000
			// at 10,000 pods) were all kept, patches and states, until the last of them was sent.
			u := send[i]
			send[i] = step.PodUpdate{}
			go func() {
				defer func() { <-r.writeSlots }()
				r.send(ctx, setName, target, u, deadline)
			}()
		}
	}()
}

// send writes one pod's update by deadline and reports it; past the deadline it is not sent at all, and a
// later reconcile plans the pod again.
func (r *SidecarSetReconciler) send(ctx context.Context, setName, target string, u step.PodUpdate, deadline time.Time) {
	log := ctrl.LoggerFrom(ctx)
	pod := podMetadata(u.Namespace, u.Name)
	if time.Now().After(deadline) {
		r.writes.Drop(setName, u.Namespace, u.Name)
		inplaceUpdates.WithLabelValues(setName, "error").Inc()
		log.Error(errors.New("waited for a write slot past the write's deadline"), "Updating sidecars in place not sent; the pod is planned again",
			"pod", klog.KObj(pod), "writesInFlight", maxConcurrentWrites)
		return
	}
	// Encoded only now, the patches of a large step are not all held until the last is sent.
	patch, resize, err := u.Writes(setName)
	if err != nil {
		r.writes.Drop(setName, u.Namespace, u.Name)
		inplaceUpdates.WithLabelValues(setName, "error").Inc()
		log.Error(err, "Updating sidecars in place failed", "pod", klog.KObj(pod))
		return
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	refused, err := r.write(ctx, setName, pod, u, patch, resize)
	if err != nil {
		inplaceUpdates.WithLabelValues(setName, "error").Inc()
		if !writeRefused(err) {
			// Timed out, or cut off: the API server may have made the write all the same. Dropping its
			// expectation would let the pod be planned as available while it restarts, one more pod than the
			// budget; it stands until the pod cache shows the pod changed, or inflight.TTL passes.
			log.Error(err, "Updating sidecars in place: no answer, the write may have been made; the pod keeps its share of the budget until the pod cache shows it",
				"pod", klog.KObj(pod), "atMost", inflight.TTL)
			return
		}
		r.writes.Drop(setName, u.Namespace, u.Name)
		log.Error(err, "Updating sidecars in place failed", "pod", klog.KObj(pod))
		return
	}
	inplaceUpdates.WithLabelValues(setName, "written").Inc()
	switch {
	case r.Recorder == nil:
	case refused != "":
		r.Recorder.Eventf(pod, corev1.EventTypeWarning, "SidecarResizeRefused", "SidecarSet %s: the API server refused to resize %s for revision %s, so the update failed: %s",
			setName, strings.Join(u.Resized, ", "), target, refused)
	default:
		r.Recorder.Eventf(pod, corev1.EventTypeNormal, "SidecarUpdated", "SidecarSet %s: %s in place to revision %s (%s)",
			setName, updatedContainers(u), target, u.Reason)
	}
}

// podMetadata is the object a pod write is sent with and its answer read into: the pod's metadata alone. The
// API server answers a write of it with the metadata (its resourceVersion is all a write reads back), not the
// whole pod, which the client decoded for each of the writes in flight, only to drop it: a tenth of the
// operator's heap at a rollout's start.
func podMetadata(namespace, name string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
}

// writeRefused says whether a failed write was refused by the API server (a 4xx answer: a conflict, an invalid
// patch, a forbidden resize), so that nothing was written. A timeout, a cut connection or a server error
// leaves it unknown.
func writeRefused(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	code := status.Status().Code
	return code >= 400 && code < 500 && !apierrors.IsTimeout(err) && code != 408
}

// write makes one pod's update: the resize first, when there is one, then the patch of the pod guarded by
// the resourceVersion the resize returned. A resize the API server refuses (a pod whose QoS class it would
// change, for example) is recorded in the pod's state, which fails the update, rather than retried forever;
// refused says why then.
func (r *SidecarSetReconciler) write(ctx context.Context, setName string, pod *metav1.PartialObjectMetadata, u step.PodUpdate, patch, resize []byte) (refused string, err error) {
	if u.Change.Metadata != nil {
		if patch, err = r.withMetadata(ctx, pod, u, patch); err != nil {
			return "", err
		}
	}
	if resize != nil {
		resized := pod.DeepCopy()
		err := r.Client.SubResource("resize").Patch(ctx, resized, client.RawPatch(types.StrategicMergePatchType, resize))
		switch {
		case err == nil:
			if patch, err = inplace.Guard(patch, resized.ResourceVersion); err != nil {
				return "", err
			}
		case apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err):
			ctrl.LoggerFrom(ctx).Info("Resize refused; the update fails", "pod", klog.KObj(pod), "error", err.Error())
			refused = refusal(err)
			if patch, err = inplace.Refuse(patch, setName, refused); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("resizing: %w", err)
		}
	}
	err = r.Client.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, patch))
	// The kubelet writes the pod's status as soon as it sees the resize, so the patch guarded by the version
	// the resize returned often meets a newer one. It is sent again, guarded by the pod's version now, as
	// long as the pod is still what the update was decided on.
	for attempt := 0; resize != nil && apierrors.IsConflict(err) && attempt < 3; attempt++ {
		if patch, err = r.reguard(ctx, pod, u, patch, err); err != nil {
			return "", err
		}
		err = r.Client.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, patch))
	}
	return refused, err
}

// withMetadata returns the update's patch with the labels and annotations its metadata change writes, worked
// out from the pod's own (inplace.MetadataPatch), which the pod cache does not keep: they are read from the
// API server. A pod recreated since the update was decided is not written.
func (r *SidecarSetReconciler) withMetadata(ctx context.Context, pod *metav1.PartialObjectMetadata, u step.PodUpdate, patch []byte) ([]byte, error) {
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), live); err != nil {
		return nil, fmt.Errorf("reading the pod's labels and annotations: %w", err)
	}
	if live.UID != u.Pod.UID {
		return nil, fmt.Errorf("the pod was recreated since the update was decided")
	}
	labels, annotations := inplace.MetadataPatch(live.Labels, live.Annotations, *u.Change.Metadata)
	return inplace.WithMetadata(patch, labels, annotations)
}

// reguard returns the patch guarded by the pod's version now, or the conflict when the pod changed in what
// the update depends on since it was decided.
func (r *SidecarSetReconciler) reguard(ctx context.Context, pod *metav1.PartialObjectMetadata, u step.PodUpdate, patch []byte, conflict error) ([]byte, error) {
	now := &corev1.Pod{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), now); err != nil {
		return nil, err
	}
	view, err := podview.Compact(now)
	if err != nil {
		return nil, err
	}
	if why := inplace.Changed(u.Pod, view.(*podview.View)); why != "" {
		return nil, fmt.Errorf("the pod changed since the update was decided (%s): %w", why, conflict)
	}
	return inplace.Guard(patch, now.ResourceVersion)
}

// refusal is the API server's reason for refusing a write, without the object's name it repeats.
func refusal(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if causes := status.Status().Details; causes != nil && len(causes.Causes) > 0 {
			msgs := make([]string, len(causes.Causes))
			for i, c := range causes.Causes {
				msgs[i] = strings.TrimSpace(c.Field + ": " + c.Message)
			}
			return strings.Join(msgs, "; ")
		}
	}
	return err.Error()
}

// updatedContainers says what an update did to which containers, for the pod's event.
func updatedContainers(u step.PodUpdate) string {
	var parts []string
	if len(u.Containers) > 0 {
		parts = append(parts, strings.Join(u.Containers, ", ")+" restarted")
	}
	if len(u.Resized) > 0 {
		parts = append(parts, strings.Join(u.Resized, ", ")+" resized")
	}
	if len(parts) == 0 {
		return "state recorded"
	}
	return strings.Join(parts, "; ")
}

// SetupWithManager watches SidecarSets, their revisions and the pods they may select.
func (r *SidecarSetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.SidecarSets == nil {
		index, err := NewSidecarSetIndex(context.Background(), mgr.GetCache())
		if err != nil {
			return err
		}
		r.SidecarSets = index
	}
	statusMetrics.setSource(r.SidecarSets, mgr.Elected())
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &appsv1.ControllerRevision{}, revisionsBySidecarSet,
		func(o client.Object) []string {
			if name, ok := o.GetLabels()[appsv1alpha1.SidecarSetNameLabel]; ok {
				return []string{name}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("indexing the revisions by SidecarSet: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		tick := time.NewTicker(memoSweepEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				if dropped := r.forgetIdleMemos(r.now()); dropped >= releaseAfterEntries {
					ctrl.LoggerFrom(ctx).V(1).Info("Dropped the memos of SidecarSets at rest; returning their memory", "podEntries", dropped)
					debug.FreeOSMemory()
				}
			}
		}
	})); err != nil {
		return fmt.Errorf("adding the sweep of idle memos: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("sidecarset").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		// A SidecarSet's own status writes are not events to act on: the reconcile that wrote the status
		// already decided on everything it holds, and pod events drive the rollout. Reconciling on them would
		// double the reconciles of a rollout, each over every matched pod.
		For(&appsv1alpha1.SidecarSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.ControllerRevision{}).
		WatchesRawSource(r.Pods.Source(pacedHandler{mapFunc: r.sidecarSetsOfPod, pacer: &r.pace, noted: r.notePod})).
		// A budget allowing a disruption again lets a rollout waiting on it go on: its status changes a
		// moment after the pod that became healthy, whose own event found the budget still spent.
		// A SidecarSet waiting for its webhook entry is Ready once the entry is written.
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, handler.EnqueueRequestsFromMapFunc(r.unregisteredSidecarSets),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				_, ours := webhookconfig.ShardIndex(r.WebhookConfigName, o.GetName())
				return ours
			}))).
		// Nodes that come, go or change zone: noted for the next reconciles, which read their zones.
		WatchesMetadata(&corev1.Node{}, r.nodeZones.changes()).
		Watches(&policyv1.PodDisruptionBudget{}, handler.EnqueueRequestsFromMapFunc(r.rollingSidecarSets),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				DeleteFunc:  func(event.DeleteEvent) bool { return true },
				GenericFunc: func(event.GenericEvent) bool { return false },
				UpdateFunc: func(e event.UpdateEvent) bool {
					before, ok1 := e.ObjectOld.(*policyv1.PodDisruptionBudget)
					after, ok2 := e.ObjectNew.(*policyv1.PodDisruptionBudget)
					return ok1 && ok2 && after.Status.DisruptionsAllowed > before.Status.DisruptionsAllowed
				},
			})).
		Complete(r)
}

// notePod records that a pod event concerns the SidecarSet, for its next reconcile to look at the pod again
// (podSet). A SidecarSet without a memo keeps no pods: its next reconcile reads them all.
func (r *SidecarSetReconciler) notePod(sidecarSet string, pod client.Object) {
	if kept, ok := r.memos.Load(sidecarSet); ok {
		kept.(*keptMemo).pods.note(pod.GetNamespace(), pod.GetName())
	}
}

// rollingSidecarSets maps an event to the SidecarSets rolling out or stalled, the ones a budget can hold.
func (r *SidecarSetReconciler) rollingSidecarSets(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.sidecarSetsWhere(ctx, func(conditions []metav1.Condition) bool {
		return meta.IsStatusConditionTrue(conditions, appsv1alpha1.ConditionReconciling) ||
			meta.IsStatusConditionTrue(conditions, appsv1alpha1.ConditionStalled)
	})
}

// unregisteredSidecarSets maps an event to the SidecarSets waiting for their webhook entry.
func (r *SidecarSetReconciler) unregisteredSidecarSets(ctx context.Context, obj client.Object) []reconcile.Request {
	config, ok := obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
	if !ok {
		return nil
	}
	// Only the SidecarSets whose entries the configuration holds can have become registered: a few hundred at
	// most, read one by one from the cache, rather than every SidecarSet at every write of a configuration. An
	// entry whose name was shortened (a SidecarSet name of over 230 characters) is not mapped back; its
	// SidecarSet looks again on its own (step.WhileRolling).
	var out []reconcile.Request
	for _, w := range config.Webhooks {
		name, ours := strings.CutSuffix(w.Name, webhookconfig.NameSuffix)
		if !ours {
			continue
		}
		set := &appsv1alpha1.SidecarSet{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
			continue
		}
		if c := meta.FindStatusCondition(set.Status.Conditions, appsv1alpha1.ConditionReady); c != nil && c.Reason == appsv1alpha1.ReasonWebhookNotRegistered {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
		}
	}
	return out
}

// sidecarSetsWhere lists, from the cache, the SidecarSets whose status conditions match.
func (r *SidecarSetReconciler) sidecarSetsWhere(ctx context.Context, match func([]metav1.Condition) bool) []reconcile.Request {
	var sets appsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &sets, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range sets.Items {
		if match(sets.Items[i].Status.Conditions) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: sets.Items[i].Name}})
		}
	}
	return out
}

// sidecarSetsOfPod maps a pod to the SidecarSets whose selector matches it or whose sidecars it carries. Only
// the SidecarSets the index finds by the pod's labels are matched, and those it carries looked up by name:
// the work of a pod event follows the SidecarSets that may concern the pod, not all of them.
func (r *SidecarSetReconciler) sidecarSetsOfPod(ctx context.Context, obj client.Object) []reconcile.Request {
	podLabels := obj.GetLabels()
	candidates, err := r.SidecarSets.Selecting(podLabels)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Pod event not mapped to SidecarSets", "pod", klog.KObj(obj))
		return nil
	}
	var out []reconcile.Request
	for _, set := range candidates {
		if m := r.selectors.Get(set, parseSelectors); m != nil && m.MatchesPod(podLabels) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: set.Name}})
		}
	}
	// The SidecarSets whose sidecars it carries, without decoding the pod's state for each event.
	var carries []string
	if v, ok := obj.(*podview.View); ok {
		carries = v.StateNames()
	} else {
		st, _ := podstate.Read(obj)
		carries = slices.Sorted(maps.Keys(st))
	}
	selected := len(out)
	for _, name := range carries {
		if slices.ContainsFunc(out[:selected], func(q reconcile.Request) bool { return q.Name == name }) {
			continue
		}
		if set, err := r.SidecarSets.Get(name); err == nil && set != nil {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
		}
	}
	return out
}

// parseSelectors parses a SidecarSet's selectors; nil when they cannot be parsed: it then selects nothing.
func parseSelectors(set *appsv1alpha1.SidecarSet) *inject.Matcher {
	m, err := inject.NewMatcher(&set.Spec)
	if err != nil {
		return nil
	}
	return &m
}
