package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// evictions remembers the pods the reconciler evicted, by SidecarSet, for step.EvictionTTL: a pod is
// unavailable to its workload from its eviction until its replacement exists (step.Input.Evictions), which
// the pod cache alone does not show in between. Safe for concurrent use.
type evictions struct {
	mu sync.Mutex
	m  map[string][]step.Eviction
}

func (e *evictions) record(sidecarSet string, ev step.Eviction) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string][]step.Eviction{}
	}
	e.m[sidecarSet] = append(e.m[sidecarSet], ev)
}

// of returns the SidecarSet's evictions younger than step.EvictionTTL, and forgets the older ones.
func (e *evictions) of(sidecarSet string, now time.Time) []step.Eviction {
	e.mu.Lock()
	defer e.mu.Unlock()
	var live []step.Eviction
	for _, ev := range e.m[sidecarSet] {
		if now.Sub(ev.At) <= step.EvictionTTL {
			live = append(live, ev)
		}
	}
	if len(live) == 0 {
		delete(e.m, sidecarSet)
	} else {
		e.m[sidecarSet] = live
	}
	return live
}

func (e *evictions) forget(sidecarSet string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, sidecarSet)
}

// evictionRetry is how soon a rollout looks again after an eviction a PodDisruptionBudget refused: the budget
// allows it again once a pod it selects is healthy, an event the rollout may not see.
const evictionRetry = 5 * time.Second

// evict evicts the pods the decision recreates, through the Eviction API, guarded by each pod's UID, and
// remembers each eviction made. It returns how many a PodDisruptionBudget refused: those are tried again
// later, never counted as failures.
func (r *SidecarSetReconciler) evict(ctx context.Context, setName, target string, evs []step.Eviction) (refused int) {
	log := ctrl.LoggerFrom(ctx)
	for _, ev := range evs {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: ev.Name}}
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: ev.Name},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ev.UID}}}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err := r.Client.SubResource("eviction").Create(wctx, pod, eviction)
		cancel()
		switch {
		case err == nil:
			r.evictions.record(setName, ev)
			evictionsTotal.WithLabelValues(setName, "evicted").Inc()
			log.Info("Evicted a pod to recreate it", "pod", klog.KRef(ev.Namespace, ev.Name), "workload", ev.Workload)
			if r.Recorder != nil {
				r.Recorder.Eventf(pod, corev1.EventTypeNormal, "SidecarRecreate",
					"SidecarSet %s: evicted for %s to recreate it with revision %s, which cannot be applied in place", setName, ev.Workload, target)
			}
		case apierrors.IsTooManyRequests(err):
			// A PodDisruptionBudget allows no disruption now: the planner's view of it was a moment behind.
			refused++
			evictionsTotal.WithLabelValues(setName, "refused").Inc()
			log.Info("Eviction refused by a PodDisruptionBudget; trying again later", "pod", klog.KRef(ev.Namespace, ev.Name), "reason", err.Error())
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Gone, or another pod of the same name since: nothing to recreate.
		default:
			evictionsTotal.WithLabelValues(setName, "error").Inc()
			log.Error(fmt.Errorf("evicting: %w", err), "Recreating a pod failed", "pod", klog.KRef(ev.Namespace, ev.Name))
		}
	}
	return refused
}
