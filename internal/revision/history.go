package revision

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
)

// Stored is one stored revision of a SidecarSet (a ControllerRevision): its name, its number (higher is
// newer) and what it injects.
type Stored struct {
	Name     string
	Number   int64
	Injected Injected
}

// History is what to do with the stored revisions so the current spec has the newest one.
type History struct {
	// Collision: a stored revision has the current spec's name but other content. The controller bumps the
	// SidecarSet's collisionCount, which changes the name, and plans again; nothing else is done.
	Collision bool
	// Create is the revision to store for the current spec, when none is stored yet.
	Create *Stored
	// Renumber gives the current spec's stored revision the next number, when an older spec is applied
	// again: it becomes the newest again instead of being stored twice.
	Renumber *Stored
	// Delete names the revisions to delete, oldest first: the old revisions beyond the newest
	// revisionHistoryLimit ones, unless a pod runs them or injectionStrategy.revisionName pins them.
	Delete []string
	// Previous is the newest revision older than the current one, "" when there is none: what the failure
	// policy rolls back to.
	Previous string
}

// Plan decides what to do with the stored revisions. name is the current spec's revision name and current
// its content; inUse names the revisions matched pods run; pinned is injectionStrategy.revisionName ("" when
// unset); limit is revisionHistoryLimit, the number of old revisions kept besides the current one.
func Plan(name string, current Injected, stored []Stored, inUse map[string]bool, pinned string, limit int) History {
	var h History
	sorted := slices.Clone(stored)
	slices.SortFunc(sorted, func(a, b Stored) int { return cmp.Or(cmp.Compare(a.Number, b.Number), cmp.Compare(a.Name, b.Name)) })
	var newest int64
	for _, s := range sorted {
		newest = max(newest, s.Number)
	}

	var old []Stored
	found := false
	for _, s := range sorted {
		if s.Name != name {
			old = append(old, s)
			continue
		}
		if !equality.Semantic.DeepEqual(s.Injected, current) {
			return History{Collision: true}
		}
		found = true
		if s.Number != newest {
			h.Renumber = &Stored{Name: s.Name, Number: newest + 1, Injected: s.Injected}
		}
	}
	if !found {
		h.Create = &Stored{Name: name, Number: newest + 1, Injected: current}
	}
	if len(old) > 0 {
		h.Previous = old[len(old)-1].Name
	}
	// The newest limit old revisions stay (the previous one among them, for a rollback); older ones go
	// unless a pod runs them or the spec pins them.
	for _, s := range old[:max(0, len(old)-max(limit, 0))] {
		if !inUse[s.Name] && s.Name != pinned {
			h.Delete = append(h.Delete, s.Name)
		}
	}
	return h
}
