package derived

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

func TestCacheDerivesOncePerChange(t *testing.T) {
	set := func(uid string, generation int64) appsv1alpha1.SidecarSet {
		return appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: k8stypes.UID("uid-" + uid), Generation: generation}}
	}
	var c Cache[int64]
	derived := 0
	derive := func(s *appsv1alpha1.SidecarSet) int64 { derived++; return s.Generation * 10 }
	visit := func(sets []appsv1alpha1.SidecarSet) []int64 {
		var got []int64
		c.Visit(pointers(sets), derive, func(_ *appsv1alpha1.SidecarSet, v int64) { got = append(got, v) })
		return got
	}

	sets := []appsv1alpha1.SidecarSet{set("a", 1), set("b", 1)}
	if got := visit(sets); len(got) != 2 || got[0] != 10 || got[1] != 10 || derived != 2 {
		t.Fatalf("first visit: %v, derived %d times", got, derived)
	}
	visit(sets)
	if derived != 2 {
		t.Errorf("an unchanged SidecarSet was derived again (%d derivations)", derived)
	}

	sets[0].Generation = 2
	sets[1].Status.CollisionCount = ptr.To[int32](1)
	if got := visit(sets); got[0] != 20 || derived != 4 {
		t.Errorf("after a spec change and a collision: %v, derived %d times; want both derived again", got, derived)
	}
	now := metav1.Now()
	sets[0].DeletionTimestamp = &now
	visit(sets)
	if derived != 5 {
		t.Errorf("a SidecarSet being deleted was not derived again (%d derivations)", derived)
	}

	visit(sets[1:])
	if _, ok := c.entries[sets[0].UID]; ok || len(c.entries) != 1 {
		t.Errorf("a SidecarSet no longer listed is still cached: %v", c.entries)
	}
}

// TestGetForgetsWhatNoGetReads: Get keeps an entry as long as Gets read it, and forgets one no Get read for a
// sweep, as it does a deleted SidecarSet's.
func TestGetForgetsWhatNoGetReads(t *testing.T) {
	var c Cache[string]
	derived := 0
	derive := func(s *appsv1alpha1.SidecarSet) string { derived++; return s.Name }
	read := appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "read", UID: "uid-read", Generation: 1}}
	gone := appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "gone", UID: "uid-gone", Generation: 1}}
	if c.Get(&gone, derive) != "gone" || c.Get(&read, derive) != "read" {
		t.Fatal("Get does not give the derived values")
	}
	for range 2 * SweepEvery {
		if c.Get(&read, derive) != "read" {
			t.Fatal("Get does not give the derived value")
		}
	}
	if derived != 2 {
		t.Errorf("an entry read at every Get was derived %d times in all, want once each", derived)
	}
	if _, ok := c.entries[gone.UID]; ok || c.Len() != 1 {
		t.Errorf("an entry no Get read for two sweeps is still kept: %v", c.entries)
	}
}

func pointers(sets []appsv1alpha1.SidecarSet) []*appsv1alpha1.SidecarSet {
	out := make([]*appsv1alpha1.SidecarSet, len(sets))
	for i := range sets {
		out[i] = &sets[i]
	}
	return out
}
