package controllers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// nodeZones is the zone of each node (its topology.kubernetes.io/zone label), by name, as the cache's
// metadata of nodes gives it. Every reconcile of a SidecarSet with scheduled pods reads it, and it is built
// again only after a node came, went or changed its zone (noted by changes): listing every node's metadata
// at each reconcile cost in proportion to the cluster's nodes, thousands of copies a reconcile in a large
// cluster, for a table that changes when nodes do. The zero value is empty and ready; it is safe for
// concurrent use.
type nodeZones struct {
	// stale says a node came, went or changed zone since the table was built.
	stale atomic.Bool
	mu    sync.Mutex
	// table is read only once built, and shared by the decisions; nil before the first build.
	table map[string]string
}

// get returns the table, built by list when there is none yet or a change was noted since. A change noted
// while list runs builds it again at the next get.
func (z *nodeZones) get(list func() (map[string]string, error)) (map[string]string, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.table != nil && !z.stale.Load() {
		return z.table, nil
	}
	z.stale.Store(false)
	table, err := list()
	if err != nil {
		z.stale.Store(true)
		return nil, err
	}
	z.table = table
	return table, nil
}

// changes is the handler of the node metadata's events: it notes a node that came or went, or whose zone
// label changed, and asks for no reconcile (the next one of each SidecarSet reads the new table).
func (z *nodeZones) changes() handler.EventHandler {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.Funcs{
		CreateFunc: func(context.Context, event.CreateEvent, queue) { z.stale.Store(true) },
		DeleteFunc: func(context.Context, event.DeleteEvent, queue) { z.stale.Store(true) },
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ queue) {
			if e.ObjectOld.GetLabels()[corev1.LabelTopologyZone] != e.ObjectNew.GetLabels()[corev1.LabelTopologyZone] {
				z.stale.Store(true)
			}
		},
	}
}

// listZones reads the zone of every node from the cache's metadata of nodes.
func listZones(ctx context.Context, c client.Reader) (map[string]string, error) {
	var nodes metav1.PartialObjectMetadataList
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	// Read, never modified: no copy of the cache's objects.
	if err := c.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	table := make(map[string]string, len(nodes.Items))
	for i := range nodes.Items {
		table[nodes.Items[i].Name] = nodes.Items[i].Labels[corev1.LabelTopologyZone]
	}
	return table, nil
}
