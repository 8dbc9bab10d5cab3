// Package derived keeps what is derived from each SidecarSet's spec (its parsed selectors, its revision
// name), worked out once per change of the SidecarSet rather than once per pod. The pod event handler matches
// every pod change in the cluster against the SidecarSets that may select it, and the webhook every new pod;
// the webhook configuration controller works out every SidecarSet's entry at each change of one: parsing a
// selector costs far more than matching it (BenchmarkPodEvent: 758 µs per event with 1,000 SidecarSets when
// each was parsed every time).
package derived

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// Cache keeps a value derived from each SidecarSet, by UID. A value is derived again when the SidecarSet's
// generation, collisionCount (which renames its revision) or deletion changes. The zero value is ready to use;
// it is safe for concurrent use.
type Cache[V any] struct {
	mu      sync.Mutex
	entries map[types.UID]entry[V]
	// reads counts the Gets since the last sweep, and epoch the sweeps.
	reads uint64
	epoch uint64
}

type entry[V any] struct {
	version version
	value   V
	// used is the epoch of the last Get or Visit that read the entry.
	used uint64
}

// SweepEvery is how many Gets pass between two sweeps of the entries no Get read since the sweep before.
const SweepEvery = 4096

type version struct {
	generation     int64
	collisionCount int32
	deleting       bool
}

func versionOf(set *appsv1alpha1.SidecarSet) version {
	return version{set.Generation, ptr.Deref(set.Status.CollisionCount, 0), set.DeletionTimestamp != nil}
}

// Visit calls visit with each SidecarSet, in order, and its value, derived by derive when the cache holds none
// for its version; it takes the lock once for the whole list, and forgets the SidecarSets no longer listed.
// visit runs under the lock: it must not call the cache.
func (c *Cache[V]) Visit(sets []*appsv1alpha1.SidecarSet, derive func(*appsv1alpha1.SidecarSet) V, visit func(*appsv1alpha1.SidecarSet, V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, set := range sets {
		visit(set, c.get(set, derive))
	}
	if len(c.entries) > len(sets) {
		live := make(map[types.UID]bool, len(sets))
		for _, set := range sets {
			live[set.UID] = true
		}
		for uid := range c.entries {
			if !live[uid] {
				delete(c.entries, uid)
			}
		}
	}
}

// Get returns the value of set, derived by derive when the cache holds none for its version. Get is for
// callers that read a few SidecarSets at a time (those an index found): it cannot tell a SidecarSet deleted
// from one not read, so every SweepEvery Gets it forgets the entries no Get read since the sweep before. A
// deleted SidecarSet's entry goes within two sweeps; a live one's is derived again when next read.
func (c *Cache[V]) Get(set *appsv1alpha1.SidecarSet, derive func(*appsv1alpha1.SidecarSet) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reads++; c.reads >= SweepEvery {
		for uid, e := range c.entries {
			if e.used != c.epoch {
				delete(c.entries, uid)
			}
		}
		c.reads = 0
		c.epoch++
	}
	return c.get(set, derive)
}

// get is Get under the lock.
func (c *Cache[V]) get(set *appsv1alpha1.SidecarSet, derive func(*appsv1alpha1.SidecarSet) V) V {
	if c.entries == nil {
		c.entries = map[types.UID]entry[V]{}
	}
	v := versionOf(set)
	e, ok := c.entries[set.UID]
	if !ok || e.version != v {
		e = entry[V]{version: v, value: derive(set)}
	}
	e.used = c.epoch
	c.entries[set.UID] = e
	return e.value
}

// Len is the number of SidecarSets the cache holds a value for.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
