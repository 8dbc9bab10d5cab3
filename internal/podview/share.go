package podview

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"unique"
	"weak"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/intern"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// sharedMap is one map of labels or annotations shared by every view whose map has the same content: the
// pods of one ReplicaSet, DaemonSet or Job carry equal labels, and the pods on one revision often the same
// state annotation. A view holds its sharedMap, so the map lives as long as some view uses it; the table
// below only points at it weakly, and forgets it once no view does. A state annotation recording an update
// is each pod's own: its view holds it in a sharedMap of its own, kept out of the table.
type sharedMap struct {
	m map[string]string
	// own is a state annotation kept as each pod's own, without a map (m nil), in parts (ownState).
	own ownState

	// For views whose annotations these are, m's state annotation decoded on first use: the names of the
	// SidecarSets it has an entry for, sorted, and the state itself when no entry records an in-place update.
	// An update's record (when, and each container's run before it) makes a pod's annotation its own, and
	// every pod updated in place keeps one: decoded and kept for each, they were about 1.5 KB a pod, so
	// those are decoded again on each read instead.
	stateOnce sync.Once
	state     podstate.State
	kept      bool
	names     []string
}

// decoded returns the state annotation of m, decoded once (an unreadable one reads as none), and whether
// it is kept.
func (s *sharedMap) decoded() (podstate.State, bool) {
	s.stateOnce.Do(func() {
		value := s.own.String()
		if s.m != nil {
			value = s.m[appsv1alpha1.StateAnnotation]
		}
		st, _ := podstate.Parse(value)
		s.names = make([]string, 0, len(st))
		s.kept = true
		for name, e := range st {
			s.names = append(s.names, intern.String(name))
			if e.Update != nil {
				s.kept = false
			}
		}
		slices.Sort(s.names)
		if s.kept {
			s.state = st
		}
	})
	return s.state, s.kept
}

// stateNames returns the names of the SidecarSets m's state annotation has an entry for.
func (s *sharedMap) stateNames() []string {
	s.decoded()
	return s.names
}

var sharedMaps = struct {
	sync.Mutex
	byContent map[string]weak.Pointer[sharedMap]
}{byContent: map[string]weak.Pointer[sharedMap]{}}

// share returns the shared map equal to m, or makes m the shared one. A nil or empty map is not shared.
func share(m map[string]string) *sharedMap {
	if len(m) == 0 {
		return nil
	}
	key := content(m)
	sharedMaps.Lock()
	defer sharedMaps.Unlock()
	if s := sharedMaps.byContent[key].Value(); s != nil {
		return s
	}
	s := &sharedMap{m: m}
	sharedMaps.byContent[key] = weak.Make(s)
	runtime.AddCleanup(s, forget, key)
	return s
}

// forget drops a collected map's entry, unless an equal map has taken its place since.
func forget(key string) {
	sharedMaps.Lock()
	defer sharedMaps.Unlock()
	if sharedMaps.byContent[key].Value() == nil {
		delete(sharedMaps.byContent, key)
	}
}

// content is a map's entries in key order, each key and value ended by a NUL byte (which neither holds).
func content(m map[string]string) string {
	keys := make([]string, 0, len(m))
	n := 0
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	return b.String()
}

// ownState is a state annotation that records an in-place update, kept in three parts: what the pods
// updated from one revision to another have alike before the update's start time (the SidecarSet's name, the
// revisions, the images), interned; each pod's own, from the start time to the last container's image ID
// (when its update started, each container's run before it); and from that image ID on, which the pods of
// one update mostly have alike too, interned. Kept whole, the annotation was about 0.4 KB a pod for every pod
// updated in place since the operator started; its own part is a third of that.
type ownState struct {
	head, foot unique.Handle[string]
	own        string
}

// Where an update's record gives its start time, the first of what is each pod's own, and a container's
// image ID, the last.
const (
	startedAt = `"startedAt":"`
	imageID   = `"imageID":"`
)

// newOwnState splits the state annotation after its first startedAt and before its last imageID after that:
// the two ends are interned, the middle copied, so that none keeps the decoded pod's bytes. An annotation
// without a start time (which is not kept as a pod's own) is kept whole as the middle.
func newOwnState(state string) ownState {
	i := strings.Index(state, startedAt)
	if i < 0 {
		return ownState{own: strings.Clone(state)}
	}
	i += len(startedAt)
	o := ownState{head: unique.Make(state[:i])}
	j := strings.LastIndex(state, imageID)
	if j < i {
		j = len(state)
	} else {
		o.foot = unique.Make(state[j:])
	}
	o.own = strings.Clone(state[i:j])
	return o
}

// String is the annotation, joined again.
func (o ownState) String() string {
	var none unique.Handle[string]
	if o.head == none {
		return o.own
	}
	if o.foot == none {
		return o.head.Value() + o.own
	}
	return o.head.Value() + o.own + o.foot.Value()
}
