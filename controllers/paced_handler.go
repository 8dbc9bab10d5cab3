package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sidecarset/sidecarset-operator/internal/pace"
)

// pacedHandler maps pod events to the SidecarSets they concern, as handler.EnqueueRequestsFromMapFunc does,
// and enqueues each SidecarSet no sooner than its pacer allows (internal/pace): events coalesce while a
// SidecarSet's last reconcile is recent, instead of each starting another reconcile over every matched pod.
//
// Before it queues a SidecarSet, it notes the pod for it (noted, when set): the reconcile the event starts
// looks at that pod again (podSet).
type pacedHandler struct {
	mapFunc func(context.Context, client.Object) []reconcile.Request
	pacer   *pace.Pacer
	noted   func(sidecarSet string, pod client.Object)
}

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func (h pacedHandler) Create(ctx context.Context, e event.CreateEvent, q queue) {
	h.enqueue(ctx, q, e.Object)
}

// Update maps the pod as it was and as it is: a pod whose labels no longer match still concerns the
// SidecarSet it left.
func (h pacedHandler) Update(ctx context.Context, e event.UpdateEvent, q queue) {
	h.enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
}

func (h pacedHandler) Delete(ctx context.Context, e event.DeleteEvent, q queue) {
	h.enqueue(ctx, q, e.Object)
}

func (h pacedHandler) Generic(ctx context.Context, e event.GenericEvent, q queue) {
	h.enqueue(ctx, q, e.Object)
}

func (h pacedHandler) enqueue(ctx context.Context, q queue, objs ...client.Object) {
	now := time.Now()
	var seen map[reconcile.Request]bool
	for _, obj := range objs {
		if obj == nil {
			continue
		}
		for _, req := range h.mapFunc(ctx, obj) {
			if h.noted != nil {
				h.noted(req.Name, obj) // the pod as it was and as it is: one pod, noted twice at most
			}
			if seen[req] {
				continue
			}
			if seen == nil {
				seen = map[reconcile.Request]bool{}
			}
			seen[req] = true
			if wait := h.pacer.Wait(req.Name, now); wait > 0 {
				q.AddAfter(req, wait)
			} else {
				q.Add(req)
			}
		}
	}
}
