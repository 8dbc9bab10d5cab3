package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sidecarset/sidecarset-operator/internal/pace"
)

func TestPacedHandler(t *testing.T) {
	// Pods labelled set=<name> concern the SidecarSet of that name.
	byLabel := func(_ context.Context, obj client.Object) []reconcile.Request {
		if name := obj.GetLabels()["set"]; name != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
		}
		return nil
	}
	pod := func(set string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{"set": set}}}
	}
	newQueue := func() queue {
		return workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	}
	ctx := context.Background()

	t.Run("an event for a SidecarSet not reconciled lately is enqueued at once", func(t *testing.T) {
		q := newQueue()
		defer q.ShutDown()
		pacedHandler{mapFunc: byLabel, pacer: &pace.Pacer{}}.Create(ctx, event.CreateEvent{Object: pod("logs")}, q)
		if q.Len() != 1 {
			t.Fatalf("queue holds %d requests, want 1", q.Len())
		}
	})

	t.Run("an event right after a slow reconcile waits, then is enqueued", func(t *testing.T) {
		q := newQueue()
		defer q.ShutDown()
		var p pace.Pacer
		now := time.Now()
		p.Start("logs", now.Add(-200*time.Millisecond))
		p.Done("logs", now, false)
		pacedHandler{mapFunc: byLabel, pacer: &p}.Create(ctx, event.CreateEvent{Object: pod("logs")}, q)
		if q.Len() != 0 {
			t.Fatalf("the event was enqueued at once, %v after a reconcile that took 200ms", time.Since(now))
		}
		deadline := time.Now().Add(5 * time.Second)
		for q.Len() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if q.Len() != 1 {
			t.Fatalf("the held-back event never reached the queue")
		}
		if waited := time.Since(now); waited < 150*time.Millisecond {
			t.Errorf("the event reached the queue %v after the reconcile, want about 200ms", waited)
		}
	})

	t.Run("an update enqueues the SidecarSets of the pod before and after, once each", func(t *testing.T) {
		q := newQueue()
		defer q.ShutDown()
		h := pacedHandler{mapFunc: byLabel, pacer: &pace.Pacer{}}
		h.Update(ctx, event.UpdateEvent{ObjectOld: pod("logs"), ObjectNew: pod("metrics")}, q)
		h.Update(ctx, event.UpdateEvent{ObjectOld: pod("logs"), ObjectNew: pod("logs")}, q)
		got := map[string]bool{}
		for q.Len() > 0 {
			req, _ := q.Get()
			got[req.Name] = true
			q.Done(req)
		}
		if len(got) != 2 || !got["logs"] || !got["metrics"] {
			t.Errorf("enqueued %v, want logs (the SidecarSet the pod left) and metrics", got)
		}
	})
}
