// Package intern gives equal strings of the pod cache one copy: the names, images and revisions that
// thousands of pods repeat. Strings with one array compare equal without reading it, so a decision over
// thousands of pods compares them without a cache miss a pod, and each pod keeps a string header rather than
// its own bytes.
package intern

import (
	"sync"
	"unique"
)

// table holds the handles of the strings String interned: unique drops a value no handle holds, so without
// them a string interned after a garbage collection (every few seconds during a rollout) got a new array,
// and pods decoded at different times did not share their strings. The table is emptied when it reaches
// MaxStrings, so that pods naming ever new values cannot grow it without bound; strings interned before
// stay shared by the pods that hold them.
var table = struct {
	sync.Mutex
	handles map[string]unique.Handle[string]
}{handles: map[string]unique.Handle[string]{}}

// MaxStrings is how many strings the table holds before it is emptied: far more than the namespaces,
// container names, images and revisions of a cluster, and about 1 MB at most.
const MaxStrings = 1 << 14

// String returns the interned copy of s.
func String(s string) string {
	if s == "" {
		return ""
	}
	table.Lock()
	defer table.Unlock()
	if h, ok := table.handles[s]; ok {
		return h.Value()
	}
	if len(table.handles) >= MaxStrings {
		clear(table.handles)
	}
	h := unique.Make(s)
	table.handles[h.Value()] = h
	return h.Value()
}
