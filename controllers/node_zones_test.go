package controllers

import (
	"context"
	"errors"
	"maps"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/step"
)

var _ = Describe("The zones of the nodes a reconcile reads", func() {
	It("follow the nodes as they come, change zone and go, as the operator's manager watches them", func() {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("zoned-node"),
			Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}}
		view, err := podview.Compact(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "any", Name: "scheduled"},
			Spec: corev1.PodSpec{NodeName: node.Name}})
		Expect(err).NotTo(HaveOccurred())
		pods := []step.Pod{{View: view.(*podview.View)}}
		zones := func() (map[string]string, error) { return reconciler.zones(ctx, pods) }
		// Read once before the node exists: the table is built, then must follow the node's events.
		Eventually(zones).ShouldNot(HaveKey(node.Name))

		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		Eventually(zones).Should(HaveKeyWithValue(node.Name, "zone-a"), "a node created")

		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
				return err
			}
			node.Labels[corev1.LabelTopologyZone] = "zone-b"
			return k8sClient.Update(ctx, node)
		}).Should(Succeed())
		Eventually(zones).Should(HaveKeyWithValue(node.Name, "zone-b"), "a node moved to another zone")

		Expect(k8sClient.Delete(ctx, node)).To(Succeed())
		Eventually(zones).ShouldNot(HaveKey(node.Name), "a node deleted")
	})
})

// TestNodeZonesAreListedWhenNodesChange: the table of zones is listed once, then again only after a node
// came, went or changed its zone label; a node event that leaves its zone as it was lists nothing; a failed
// list is reported and listed again at the next read; a change noted while the list runs lists again.
func TestNodeZonesAreListedWhenNodesChange(t *testing.T) {
	var z nodeZones
	cluster := map[string]string{"node-a": "zone-1"}
	lists := 0
	var during func()
	var fail error
	list := func() (map[string]string, error) {
		lists++
		if during != nil {
			during()
		}
		if fail != nil {
			return nil, fail
		}
		return maps.Clone(cluster), nil
	}
	read := func(want map[string]string, wantLists int, after string) {
		t.Helper()
		got, err := z.get(list)
		if err != nil {
			t.Fatalf("after %s: %v", after, err)
		}
		if !maps.Equal(got, want) || lists != wantLists {
			t.Fatalf("after %s: zones %v after %d lists, want %v after %d", after, got, lists, want, wantLists)
		}
	}
	node := func(name, zone string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone, "other": zone + "-x"}}}
	}
	h := z.changes()
	ctx := context.Background()

	read(map[string]string{"node-a": "zone-1"}, 1, "the first read")
	read(map[string]string{"node-a": "zone-1"}, 1, "a second read with no node event")

	cluster["node-b"] = "zone-2"
	h.Create(ctx, event.CreateEvent{Object: node("node-b", "zone-2")}, nil)
	read(map[string]string{"node-a": "zone-1", "node-b": "zone-2"}, 2, "a node created")

	changedOther := node("node-b", "zone-2")
	changedOther.Labels["other"] = "y"
	changedOther.ResourceVersion = "2"
	h.Update(ctx, event.UpdateEvent{ObjectOld: node("node-b", "zone-2"), ObjectNew: changedOther}, nil)
	read(map[string]string{"node-a": "zone-1", "node-b": "zone-2"}, 2, "a node updated in its zone")

	cluster["node-b"] = "zone-3"
	h.Update(ctx, event.UpdateEvent{ObjectOld: node("node-b", "zone-2"), ObjectNew: node("node-b", "zone-3")}, nil)
	read(map[string]string{"node-a": "zone-1", "node-b": "zone-3"}, 3, "a node moved to another zone")

	delete(cluster, "node-a")
	h.Delete(ctx, event.DeleteEvent{Object: node("node-a", "zone-1")}, nil)
	fail = errors.New("the cache is not synced")
	if got, err := z.get(list); err == nil {
		t.Fatalf("a failed list gave zones %v and no error", got)
	}
	fail = nil
	read(map[string]string{"node-b": "zone-3"}, 5, "a node deleted, its first list failed")

	// A node created while the table is listed may be missing from it: the next read lists again.
	cluster["node-c"] = "zone-1"
	h.Create(ctx, event.CreateEvent{Object: node("node-c", "zone-1")}, nil)
	during = func() {
		during = nil
		h.Create(ctx, event.CreateEvent{Object: node("node-d", "zone-2")}, nil)
	}
	read(map[string]string{"node-b": "zone-3", "node-c": "zone-1"}, 6, "a node created, another during its list")
	cluster["node-d"] = "zone-2"
	read(map[string]string{"node-b": "zone-3", "node-c": "zone-1", "node-d": "zone-2"}, 7, "the read after a node created during the list")
	read(map[string]string{"node-b": "zone-3", "node-c": "zone-1", "node-d": "zone-2"}, 7, "one more read")
}
