package controllers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inflight"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/pace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

// +kubebuilder:rbac:groups=apps.sidecarset.io,resources=sidecarsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps.sidecarset.io,resources=sidecarsets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,namespace=sidecarset-system,resources=controllerrevisions,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// SidecarSetReconciler rolls a SidecarSet's sidecars out to its matched pods in place and reports the drift.
// It only does I/O: reading the SidecarSet, its revisions and pods, writing revisions, one patch per updated
// pod, and the status; every decision is made by the pure packages under internal/.
type SidecarSetReconciler struct {
	Client client.Client
	// Pods is the operator's pod cache; the Client's cache holds no pods.
	Pods *PodCache
	// Namespace is the operator's: it holds the revisions and is never injected.
	Namespace string
	Recorder  record.EventRecorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// writes are the in-place updates written that the pod cache may not show yet.
	writes inflight.Writes
	// statusWritten is when each SidecarSet's status was last written, by name.
	statusWritten sync.Map
	// pace spaces the reconciles of each SidecarSet that pod events start by what they cost.
	pace pace.Pacer
	// selectors are the SidecarSets' parsed pod selectors, for the pod event handler.
	selectors selectorCache
}

// Reconcile runs one step of the rollout and writes the status once, if it changed.
func (r *SidecarSetReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	set := &appsv1alpha1.SidecarSet{}
	if err := r.Client.Get(ctx, req.NamespacedName, set); err != nil {
		if apierrors.IsNotFound(err) {
			forgetSidecarSet(req.Name)
			r.writes.Forget(req.Name)
			r.statusWritten.Delete(req.Name)
			r.pace.Forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if set.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	r.pace.Start(set.Name, time.Now())
	defer func() { r.pace.Done(set.Name, time.Now()) }()
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}

	// An unreadable state is treated as none: the pod then counts as missing its sidecars. The states are
	// the cache's, shared: copied before they are changed.
	pods, states, err := r.matchedPods(ctx, set)
	if err != nil {
		return reconcile.Result{}, err
	}
	r.writes.Expire(now)
	inUse := map[string]bool{}
	for i := range pods {
		if change, ok := r.writes.Pending(set.Name, pods[i].Namespace, pods[i].Name, pods[i].ResourceVersion, now); ok {
			// The cache does not show an update written a moment ago yet: decide on what was written, so the
			// pod holds its share of the budget and is not planned again. The pod is this reconcile's own
			// expansion of the cache's view; its state is the cache's, so it is copied.
			inplace.Apply(&pods[i], change)
			states[i] = maps.Clone(states[i])
			if states[i] == nil {
				states[i] = podstate.State{}
			}
			states[i][set.Name] = change.State
		}
		if st, ok := states[i][set.Name]; ok {
			inUse[st.Revision] = true
		}
	}

	stored, err := r.revisions(ctx, set)
	if err != nil {
		return reconcile.Result{}, err
	}
	latest := revision.For(set)
	current := revision.InjectedOf(&set.Spec)
	pinned := ptrValue(set.Spec.InjectionStrategy.RevisionName)
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	history := revision.Plan(latest, current, stored, inUse, pinned, limit)
	if history.Collision {
		next := ptrValue(set.Status.CollisionCount) + 1
		log.Info("Revision hash collision; salting the next hash", "revision", latest, "collisionCount", next)
		set.Status.CollisionCount = &next
		// The status write triggers no reconcile (SetupWithManager): come back to create the salted revision.
		return reconcile.Result{RequeueAfter: time.Millisecond}, r.Client.Status().Update(ctx, set)
	}
	if err := r.applyHistory(ctx, set, history); err != nil {
		return reconcile.Result{}, err
	}

	contents := map[string]revision.Injected{latest: current}
	var order []string // newest first
	slices.SortFunc(stored, func(a, b revision.Stored) int { return int(b.Number - a.Number) })
	order = append(order, latest)
	for _, s := range stored {
		contents[s.Name] = s.Injected
		if s.Name != latest && !slices.Contains(history.Delete, s.Name) {
			order = append(order, s.Name)
		}
	}
	var stall *status.Stall
	if pinned != "" {
		if _, ok := contents[pinned]; !ok {
			stall = &status.Stall{Reason: appsv1alpha1.ReasonRevisionNotFound, Message: fmt.Sprintf(
				"injectionStrategy.revisionName %q names no revision of this SidecarSet; known: %s", pinned, strings.Join(order, ", "))}
		}
	}

	deadline := 600 * time.Second
	if d := set.Spec.UpdateStrategy.ProgressDeadlineSeconds; d != nil {
		deadline = time.Duration(*d) * time.Second
	}
	lookup := func(name string) (revision.Injected, bool) { in, ok := contents[name]; return in, ok }
	observe := func(target string) ([]status.Observed, []rollout.Pod, []status.Pod, rollout.Plan, error) {
		observed := make([]status.Observed, len(pods))
		views := make([]rollout.Pod, len(pods))
		statusPods := make([]status.Pod, len(pods))
		observer := status.NewObserver(lookup)
		for i := range pods {
			observed[i] = observer.Observe(&pods[i], states[i], set.Name, target, deadline, now)
			views[i], statusPods[i] = observed[i].Pod.Pod, observed[i].Pod
		}
		if len(set.Spec.UpdateStrategy.ScatterStrategy) == 0 { // a scatterStrategy replaces the zones
			if err := r.zones(ctx, views, pods); err != nil {
				return nil, nil, nil, rollout.Plan{}, err
			}
		}
		budgets, err := r.disruptionBudgets(ctx, views)
		if err != nil {
			return nil, nil, nil, rollout.Plan{}, err
		}
		plan, err := rollout.ComputeWithBudgets(&set.Spec.UpdateStrategy, views, budgets, now)
		return observed, views, statusPods, plan, err
	}

	// The rollout's target is the latest revision, unless the failure policy rolled back for this generation.
	target := ""
	if rb := set.Status.RolledBackTo; rb != "" && set.Status.ObservedGeneration == set.Generation {
		if _, ok := contents[rb]; ok {
			target = rb
		}
	}
	rolledBack := target != ""
	if !rolledBack {
		target = latest
	}
	observed, _, statusPods, plan, err := observe(target)
	if err != nil {
		// The API validates the strategy; an object that bypassed validation can never roll out.
		return reconcile.Result{}, reconcile.TerminalError(fmt.Errorf("planning the rollout of %s: %w", klog.KObj(set), err))
	}
	if !rolledBack && plan.Stopped == rollout.StopFailurePolicy && set.Spec.UpdateStrategy.FailurePolicy.Action == appsv1alpha1.FailureActionRollback &&
		history.Previous != "" {
		log.Info("Failure policy tripped; rolling back", "failed", plan.Failed, "to", history.Previous)
		target, rolledBack = history.Previous, true
		if observed, _, statusPods, plan, err = observe(target); err != nil {
			return reconcile.Result{}, reconcile.TerminalError(err)
		}
	}
	if latched := status.FailurePolicyLatched(&set.Status, set.Generation); latched != nil && !rolledBack {
		// Paused by the failure policy for this generation: it holds until the spec changes.
		plan.Stopped, stall = rollout.StopFailurePolicy, latched
	}
	rolledBackTo := ""
	if rolledBack {
		rolledBackTo = target
		stall = &status.Stall{Reason: appsv1alpha1.ReasonRolledBack, Message: fmt.Sprintf(
			"failurePolicy.maxFailedPods reached on revision %s: pods returned to revision %s, which new pods get too; change the spec to roll out again",
			latest, target)}
	}
	if stall == nil {
		stall = status.ProgressStall(&set.Status, set.Generation, observed, plan, deadline, now)
	}
	// A stall is a report: updates go on, and progress clears it. Only the failure policy, a pause and
	// NotUpdate stop them.
	if plan.Stopped == "" && len(plan.Update) > 0 {
		log.Info("Updating sidecars in place", "revision", target, "pods", len(plan.Update), "budget", plan.BudgetReason)
		r.update(ctx, set.Name, target, plan.Update, pods, observed, now)
	}

	newStatus := status.Compute(&set.Status, status.Input{
		Generation: set.Generation, LatestRevision: latest, Revisions: order, CollisionCount: set.Status.CollisionCount,
		Pods: statusPods, Plan: plan, Stall: stall, RolledBackTo: rolledBackTo,
	}, metav1.NewTime(now))
	recordPods(set.Name, &newStatus)
	if !equality.Semantic.DeepEqual(newStatus, set.Status) {
		// The write's pace is the API server's, so it is kept by the wall clock, not by the reconciler's.
		last, _ := r.statusWritten.Load(set.Name)
		lastWrite, _ := last.(time.Time)
		if wait := status.WriteDelay(&set.Status, &newStatus, lastWrite, time.Now(), status.ProgressInterval); wait > 0 {
			// Only the rollout's progress moved since the last write: come back to write it.
			log.V(1).Info("Holding back a status that only reports progress", "for", wait)
			return reconcile.Result{RequeueAfter: wait}, nil
		}
		transition := status.Transitions(&set.Status, &newStatus, now)
		set.Status = newStatus
		if err := r.Client.Status().Update(ctx, set); err != nil {
			if apierrors.IsConflict(err) {
				// The cache has not caught up with the last status write yet: this reconcile decided on a
				// stale status. Its pod writes stand (each was guarded by the pod's resourceVersion); decide
				// again in a moment, without an error's backoff.
				log.V(1).Info("Status write conflicted; reconciling again", "error", err.Error())
				return reconcile.Result{RequeueAfter: 50 * time.Millisecond}, nil
			}
			return reconcile.Result{}, fmt.Errorf("writing the status of %s: %w", klog.KObj(set), err)
		}
		r.statusWritten.Store(set.Name, time.Now())
		for _, e := range transition.Events {
			log.Info("Rollout event", "reason", e.Reason, "message", e.Message)
			if r.Recorder != nil {
				r.Recorder.Event(set, e.Type, e.Reason, e.Message)
			}
		}
		if transition.Finished {
			rolloutDuration.WithLabelValues(set.Name).Observe(transition.Duration.Seconds())
		}
	}
	if !plan.Done() && plan.Stopped == "" {
		// Pod events drive the rollout; the requeue covers what no event announces: minReadySeconds
		// elapsing and progress deadlines passing.
		return reconcile.Result{RequeueAfter: 5 * time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// zones records in each planner's pod the zone of its node (label topology.kubernetes.io/zone), read from the
// cache's metadata of nodes; pods holds the matched pods in the same order.
func (r *SidecarSetReconciler) zones(ctx context.Context, views []rollout.Pod, pods []corev1.Pod) error {
	scheduled := false
	for i := range pods {
		if pods[i].Spec.NodeName != "" {
			scheduled = true
			break
		}
	}
	if !scheduled {
		return nil
	}
	var nodes metav1.PartialObjectMetadataList
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	// Read, never modified: no copy of the cache's objects.
	if err := r.Client.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	zoneOf := make(map[string]string, len(nodes.Items))
	for i := range nodes.Items {
		zoneOf[nodes.Items[i].Name] = nodes.Items[i].Labels[corev1.LabelTopologyZone]
	}
	for i := range pods {
		views[i].Zone = zoneOf[pods[i].Spec.NodeName]
	}
	return nil
}

// disruptionBudgets reads the PodDisruptionBudgets of the namespaces of the matched pods from the cache, works
// out what each allows now (rollout.BudgetAllowed, counting the healthy pods it selects, a pod the operator
// is updating as unhealthy), and records in each matched pod the budgets selecting it.
func (r *SidecarSetReconciler) disruptionBudgets(ctx context.Context, pods []rollout.Pod) ([]rollout.Budget, error) {
	byNamespace := map[string][]int{}
	updating := map[types.NamespacedName]bool{}
	for i := range pods {
		byNamespace[pods[i].Namespace] = append(byNamespace[pods[i].Namespace], i)
		if pods[i].Updating {
			updating[types.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}] = true
		}
	}
	if len(byNamespace) == 0 {
		return nil, nil
	}
	var list policyv1.PodDisruptionBudgetList
	// Read, never modified: no copy of the cache's objects.
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing PodDisruptionBudgets: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b policyv1.PodDisruptionBudget) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	var budgets []rollout.Budget
	for i := range list.Items {
		pdb := &list.Items[i]
		matched := byNamespace[pdb.Namespace]
		if len(matched) == 0 || pdb.Spec.Selector == nil {
			continue // a nil selector selects no pod
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue // the disruption controller cannot use it either
		}
		all, err := r.Pods.InNamespace(pdb.Namespace)
		if err != nil {
			return nil, err
		}
		healthy := 0
		for _, v := range all {
			if v.DeletionTimestamp == nil && v.Ready == corev1.ConditionTrue && sel.Matches(labels.Set(v.Labels)) &&
				!updating[types.NamespacedName{Namespace: v.Namespace, Name: v.Name}] {
				healthy++
			}
		}
		idx := len(budgets)
		budgets = append(budgets, rollout.Budget{Name: pdb.Namespace + "/" + pdb.Name,
			Allowed: rollout.BudgetAllowed(pdb.Status, pdb.Generation, healthy)})
		for _, j := range matched {
			if sel.Matches(labels.Set(pods[j].Labels)) {
				pods[j].Budgets = append(pods[j].Budgets, idx)
			}
		}
	}
	return budgets, nil
}

// matchedPods lists the pods the SidecarSet selects, from the cache, leaving out the namespaces and pods
// never injected, with their decoded states (shared with the cache: never modify one).
func (r *SidecarSetReconciler) matchedPods(ctx context.Context, set *appsv1alpha1.SidecarSet) ([]corev1.Pod, []podstate.State, error) {
	matcher, err := inject.NewMatcher(&set.Spec)
	if err != nil {
		return nil, nil, nil // no pod is selected by a selector that cannot be parsed
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		return nil, nil, nil
	}
	views, err := r.Pods.List(sel)
	if err != nil {
		return nil, nil, fmt.Errorf("listing pods: %w", err)
	}
	var nsLabels map[string]map[string]string
	if matcher.NeedsNamespaceLabels() {
		var nss metav1.PartialObjectMetadataList
		nss.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
		if err := r.Client.List(ctx, &nss); err != nil {
			return nil, nil, fmt.Errorf("listing namespaces: %w", err)
		}
		nsLabels = map[string]map[string]string{}
		for _, ns := range nss.Items {
			nsLabels[ns.Name] = ns.Labels
		}
	}
	// The decisions read corev1.Pods: each view is expanded once per reconcile, into one slice.
	out := make([]corev1.Pod, len(views))
	states := make([]podstate.State, len(views))
	n := 0
	for _, v := range views {
		if inject.Excluded(v.Namespace, v.Labels, r.Namespace) != "" {
			continue
		}
		if matcher.NeedsNamespaceLabels() && !matcher.MatchesNamespace(nsLabels[v.Namespace]) {
			continue
		}
		v.Expand(&out[n])
		if status.Tracked(&out[n]) {
			states[n] = v.State()
			n++
		}
	}
	return out[:n], states[:n], nil
}

// revisions reads the SidecarSet's stored revisions.
func (r *SidecarSetReconciler) revisions(ctx context.Context, set *appsv1alpha1.SidecarSet) ([]revision.Stored, error) {
	var list appsv1.ControllerRevisionList
	if err := r.Client.List(ctx, &list, client.InNamespace(r.Namespace),
		client.MatchingLabels{appsv1alpha1.SidecarSetNameLabel: set.Name}); err != nil {
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

// applyHistory creates, renumbers and deletes revisions as planned.
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
		if err := r.Client.Create(ctx, cr); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating revision %s: %w", h.Create.Name, err)
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

// writeTimeout bounds one pod write, below inflight.TTL: an expectation outlives the write it stands for.
const writeTimeout = 10 * time.Second

// update starts the in-place update of each chosen pod: one strategic merge patch per pod with the new images
// and the state annotation, all at once (the planner already bounded them by maxUnavailable), and returns
// without waiting for them, so that the next batch is planned the moment a pod becomes available rather than
// once the slowest write of this batch returns. Each write is recorded in flight before it is sent: the
// reconciles that run while it is on its way, or before the pod cache shows it, count the pod as updating. A
// failed write is logged and dropped; a later reconcile (the requeue of a rollout in progress, or the pod's
// next event) plans the pod again.
func (r *SidecarSetReconciler) update(ctx context.Context, setName, target string, decisions []rollout.Decision,
	pods []corev1.Pod, observed []status.Observed, now time.Time) {
	index := map[types.NamespacedName]int{}
	for i := range pods {
		index[types.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}] = i
	}
	log := ctrl.LoggerFrom(ctx)
	// The writes outlive this reconcile, not the process.
	ctx = context.WithoutCancel(ctx)
	for _, d := range decisions {
		i, ok := index[types.NamespacedName{Namespace: d.Namespace, Name: d.Name}]
		if !ok {
			continue
		}
		pod := &pods[i]
		w, err := inPlaceWrite(pod, observed[i], setName, target, now)
		if err != nil {
			log.Error(err, "Updating sidecars in place failed", "pod", klog.KObj(pod))
			continue
		}
		if w == nil {
			continue
		}
		r.writes.Record(setName, pod.Namespace, pod.Name, pod.ResourceVersion, w.change, now)
		go func(reason string) {
			ctx, cancel := context.WithTimeout(ctx, writeTimeout)
			defer cancel()
			if err := r.Client.Patch(ctx, pod.DeepCopy(), client.RawPatch(types.StrategicMergePatchType, w.patch)); err != nil {
				r.writes.Drop(setName, pod.Namespace, pod.Name)
				inplaceUpdates.WithLabelValues(setName, "error").Inc()
				log.Error(err, "Updating sidecars in place failed", "pod", klog.KObj(pod))
				return
			}
			inplaceUpdates.WithLabelValues(setName, "written").Inc()
			if r.Recorder != nil {
				r.Recorder.Eventf(pod, corev1.EventTypeNormal, "SidecarUpdated", "SidecarSet %s: %s updated in place to revision %s (%s)",
					setName, strings.Join(w.containers, ", "), target, reason)
			}
		}(d.Reason)
	}
}

// podWrite is one in-place update's write: the patch, the change it makes, and the containers it changes.
type podWrite struct {
	patch      []byte
	change     inplace.Change
	containers []string
}

// inPlaceWrite works out the write that updates the pod's sidecars to the target revision in place, or nil
// when the pod cannot be updated so (inplace.Plan).
func inPlaceWrite(pod *corev1.Pod, o status.Observed, setName, target string, now time.Time) (*podWrite, error) {
	change, ok := inplace.Plan(pod, o.State, target, o.Images, now)
	if !ok {
		return nil, nil
	}
	patch, err := inplace.Patch(pod, setName, change)
	if err != nil {
		return nil, err
	}
	return &podWrite{patch: patch, change: change, containers: sortedNames(change.Images)}, nil
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// SetupWithManager watches SidecarSets, their revisions and the pods they may select.
func (r *SidecarSetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("sidecarset").
		// A SidecarSet's own status writes are not events to act on: the reconcile that wrote the status
		// already decided on everything it holds, and pod events drive the rollout. Reconciling on them would
		// double the reconciles of a rollout, each over every matched pod.
		For(&appsv1alpha1.SidecarSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.ControllerRevision{}).
		WatchesRawSource(r.Pods.Source(pacedHandler{mapFunc: r.sidecarSetsOfPod, pacer: &r.pace})).
		// A budget allowing a disruption again lets a rollout waiting on it go on: its status changes a
		// moment after the pod that became healthy, whose own event found the budget still spent.
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

// rollingSidecarSets maps an event to the SidecarSets rolling out or stalled, the ones a budget can hold.
func (r *SidecarSetReconciler) rollingSidecarSets(ctx context.Context, _ client.Object) []reconcile.Request {
	var sets appsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &sets, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range sets.Items {
		conditions := sets.Items[i].Status.Conditions
		if meta.IsStatusConditionTrue(conditions, appsv1alpha1.ConditionReconciling) ||
			meta.IsStatusConditionTrue(conditions, appsv1alpha1.ConditionStalled) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: sets.Items[i].Name}})
		}
	}
	return out
}

// sidecarSetsOfPod maps a pod to the SidecarSets whose selector matches it or whose sidecars it carries.
func (r *SidecarSetReconciler) sidecarSetsOfPod(ctx context.Context, obj client.Object) []reconcile.Request {
	var sets appsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &sets, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var st podstate.State
	if v, ok := obj.(*podview.View); ok {
		st = v.State()
	} else {
		st, _ = podstate.Read(obj)
	}
	selectors := r.selectors.of(sets.Items)
	podLabels := labels.Set(obj.GetLabels())
	var out []reconcile.Request
	for i := range sets.Items {
		set := &sets.Items[i]
		sel := selectors[i]
		if _, carried := st[set.Name]; carried || (sel != nil && !sel.Empty() && sel.Matches(podLabels)) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: set.Name}})
		}
	}
	return out
}

// selectorCache keeps each SidecarSet's parsed pod selector, per generation: the pod event handler matches
// every pod change in the cluster against every SidecarSet, and parsing a selector costs far more than
// matching it (BenchmarkPodEvent: 758 µs per event with 1,000 SidecarSets when each was parsed every time).
type selectorCache struct {
	mu      sync.Mutex
	entries map[types.UID]parsedSelector
}

type parsedSelector struct {
	generation int64
	// selector is nil when the selector cannot be parsed: such a SidecarSet selects nothing.
	selector labels.Selector
}

// of returns the pod selector of each SidecarSet, in order, and forgets those no longer listed.
func (c *selectorCache) of(sets []appsv1alpha1.SidecarSet) []labels.Selector {
	out := make([]labels.Selector, len(sets))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[types.UID]parsedSelector{}
	}
	for i := range sets {
		set := &sets[i]
		e, ok := c.entries[set.UID]
		if !ok || e.generation != set.Generation {
			e = parsedSelector{generation: set.Generation}
			if sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector); err == nil {
				e.selector = sel
			}
			c.entries[set.UID] = e
		}
		out[i] = e.selector
	}
	forgetUnlisted(c.entries, sets)
	return out
}

// forgetUnlisted deletes the entries of SidecarSets no longer listed from a cache keyed by SidecarSet UID.
func forgetUnlisted[V any](entries map[types.UID]V, sets []appsv1alpha1.SidecarSet) {
	if len(entries) <= len(sets) {
		return
	}
	live := make(map[types.UID]bool, len(sets))
	for i := range sets {
		live[sets[i].UID] = true
	}
	for uid := range entries {
		if !live[uid] {
			delete(entries, uid)
		}
	}
}
