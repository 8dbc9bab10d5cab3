package controllers

import (
	"hash/maphash"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// podSetRebuildEvery is how long a SidecarSet's kept pods (podSet) are patched from pod events before they
// are read from the cache's index again in full. The events name every pod that can have entered or left the
// selection (TestKeptPodsFollowTheCache), and a changed selector reads them in full at once (the SidecarSet
// index is in the store the reconcile reads the SidecarSet from, so an event mapped with the old selector
// changed the pod cache before that read). The minute is a safety net: it bounds how long a pod a note
// missed, through a fault of the operator's, could stay wrong.
const podSetRebuildEvery = time.Minute

// podKey is a pod's namespace and name.
type podKey struct{ namespace, name string }

// podSet is the pods a SidecarSet's selector selects, as its last reconcile gathered them, and the pods with
// an event since: the next reconcile looks again only at those, each read from the cache by name, rather
// than reading every selected pod from the cache's label index (docs/design.md 1.2). With 10,000 selected
// pods, that read was a sixth of the operator's CPU during a rollout.
//
// The pod event handler notes each pod it maps to the SidecarSet (note) before it queues the SidecarSet: the
// informer has stored the pod by then, so the reconcile it starts reads the pod as the event left it or
// later. A pod entering the selection has the selector match its new labels, and one leaving it matched its
// old ones, so every pod that can have changed the selection is noted. A reconcile takes the noted pods
// before it reads the cache; a pod noted meanwhile is looked at again by the next one.
//
// note is safe for concurrent use; take serves one reconcile at a time, as the controller never reconciles a
// SidecarSet twice at once.
type podSet struct {
	mu sync.Mutex
	// changed are the pods noted since the last take; nil until the first take, when nothing is kept yet.
	changed map[podKey]struct{}

	// The rest is take's.
	// selector is the selector the pods were selected by (its String()); built is when they were last
	// read in full.
	selector string
	built    time.Time
	views    []*podview.View
	at       podIndex
}

// note records that the pod namespace/name had an event that concerns the SidecarSet.
func (s *podSet) note(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		s.changed[podKey{namespace, name}] = struct{}{}
	}
}

// podReader is what a podSet reads: the pod cache.
type podReader interface {
	Selected(sel labels.Selector, keys []string) ([]*podview.View, error)
	Get(namespace, name string) (*podview.View, bool, error)
}

// take returns the pods sel selects (read in full under the index keys keys, as PodCache.Selected reads
// them) that keep also keeps, and where each one is in the slice, by namespace and name. The slice and the
// index are the set's: read them before the next take, never modify them.
func (s *podSet) take(src podReader, sel labels.Selector, keys []string, keep func(*podview.View) bool, now time.Time) ([]*podview.View, *podIndex, error) {
	selector := sel.String()
	s.mu.Lock()
	changed := s.changed
	s.changed = make(map[podKey]struct{}, len(changed)/2)
	s.mu.Unlock()

	if changed == nil || selector != s.selector || now.Sub(s.built) >= podSetRebuildEvery || 2*len(changed) >= len(s.views) {
		views, err := src.Selected(sel, keys)
		if err != nil {
			s.views = nil
			s.at.reset(0)
			s.markRebuild()
			return nil, nil, err
		}
		s.selector, s.built = selector, now
		s.views = views[:0]
		s.at.reset(len(views))
		for _, v := range views {
			if keep(v) {
				s.at.set(s.views, v.Namespace, v.Name, len(s.views))
				s.views = append(s.views, v)
			}
		}
		return s.views, &s.at, nil
	}
	for k := range changed {
		v, ok, err := src.Get(k.namespace, k.name)
		if err != nil {
			s.markRebuild()
			return nil, nil, err
		}
		i, kept := s.at.get(s.views, k.namespace, k.name)
		switch {
		case ok && sel.Matches(labels.Set(v.Labels)) && keep(v):
			if kept {
				s.views[i] = v
			} else {
				s.at.set(s.views, k.namespace, k.name, len(s.views))
				s.views = append(s.views, v)
			}
		case kept: // gone, or no longer selected: the last pod takes its place
			last := len(s.views) - 1
			moved := s.views[last]
			s.at.delete(k.namespace, k.name)
			if i != last {
				s.views[i] = moved
				s.at.set(s.views, moved.Namespace, moved.Name, i)
			}
			s.views[last] = nil
			s.views = s.views[:last]
		}
	}
	return s.views, &s.at, nil
}

// podIndex is where each kept pod is in the kept pods' slice, found by namespace and name. It keys the places
// by a 64-bit hash of the two rather than by the strings, whose keys took 40 bytes a slot: the kept pods of
// 10,000 hold 38 bytes a pod with it, against 87 (BenchmarkKeptPodsHeld). A place found by hash is the pod's
// only if the view there has its names; a pod whose hash another kept pod already has (about one chance in
// 10^11 among 10,000 pods) is kept by name, in a map of its own.
type podIndex struct {
	// hash is maphash's of the namespace and name, with the index's seed; a test gives one that collides.
	hash     func(seed maphash.Seed, namespace, name string) uint64
	seed     maphash.Seed
	at       map[uint64]int32
	collided map[podKey]int32
}

// hashPod is podIndex's hash of a pod's namespace and name.
func hashPod(seed maphash.Seed, namespace, name string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(namespace)
	h.WriteByte(0) // neither holds it
	h.WriteString(name)
	return h.Sum64()
}

// reset empties the index, with room for n pods. The table of a full read is kept for the next one (once a
// minute), rather than a second one made while the first is still live.
func (x *podIndex) reset(n int) {
	if x.hash == nil {
		x.hash = hashPod
	}
	x.seed, x.collided = maphash.MakeSeed(), nil
	if x.at == nil || n == 0 {
		x.at = make(map[uint64]int32, n)
	} else {
		clear(x.at)
	}
}

// len is how many pods the index holds.
func (x *podIndex) len() int { return len(x.at) + len(x.collided) }

// get returns the place of the pod namespace/name in views, the slice the index is of.
func (x *podIndex) get(views []*podview.View, namespace, name string) (int, bool) {
	if x == nil {
		return 0, false
	}
	if i, ok := x.at[x.hash(x.seed, namespace, name)]; ok && views[i].Namespace == namespace && views[i].Name == name {
		return int(i), true
	}
	i, ok := x.collided[podKey{namespace, name}]
	return int(i), ok
}

// set puts the pod namespace/name at place i; views is the slice the index is of, where every place the index
// holds has its pod's view.
func (x *podIndex) set(views []*podview.View, namespace, name string, i int) {
	k := podKey{namespace, name}
	if _, ok := x.collided[k]; ok {
		x.collided[k] = int32(i)
		return
	}
	h := x.hash(x.seed, namespace, name)
	if j, ok := x.at[h]; ok && (views[j].Namespace != namespace || views[j].Name != name) {
		if x.collided == nil {
			x.collided = map[podKey]int32{}
		}
		x.collided[k] = int32(i)
		return
	}
	x.at[h] = int32(i)
}

// delete forgets the pod namespace/name, which the index holds.
func (x *podIndex) delete(namespace, name string) {
	k := podKey{namespace, name}
	if _, ok := x.collided[k]; ok {
		delete(x.collided, k)
		return
	}
	delete(x.at, x.hash(x.seed, namespace, name))
}

// markRebuild has the next take read the pods in full.
func (s *podSet) markRebuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed = nil
}
