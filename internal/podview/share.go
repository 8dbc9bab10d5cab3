package podview

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"weak"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// sharedMap is one map of labels or annotations shared by every view whose map has the same content: the
// pods of one ReplicaSet, DaemonSet or Job carry equal labels, and the pods on one revision often the same
// state annotation. A view holds its sharedMap, so the map lives as long as some view uses it; the table
// below only points at it weakly, and forgets it once no view does.
type sharedMap struct {
	m map[string]string

	// state is m's state annotation decoded, for views whose annotations these are: worked out once, on
	// first use, for every view sharing the map.
	stateOnce sync.Once
	state     podstate.State
}

// decodedState returns the state annotation of m, decoded once (an unreadable one reads as none).
func (s *sharedMap) decodedState() podstate.State {
	s.stateOnce.Do(func() {
		s.state, _ = podstate.Parse(s.m[appsv1alpha1.StateAnnotation])
	})
	return s.state
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
