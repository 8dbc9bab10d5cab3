package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// HistoryEntry is one stored revision of a SidecarSet.
type HistoryEntry struct {
	// Number orders the revisions, higher is newer: what --to-revision names.
	Number int64  `json:"revision"`
	Name   string `json:"name"`
	// Pods counts the matched pods running it, from the status's histogram.
	Pods   int32    `json:"pods"`
	Images []string `json:"images"`
	// Notes say what the revision is to the SidecarSet: the latest, the one the failure policy rolled back
	// to, the one injectionStrategy.revisionName pins.
	Notes []string `json:"notes,omitempty"`
}

// History lists the stored revisions, oldest first.
func History(set *appsv1alpha1.SidecarSet, stored []revision.Stored) []HistoryEntry {
	pods := map[string]int32{}
	for _, r := range set.Status.Revisions {
		pods[r.Name] = r.Pods
	}
	latest := revision.For(set)
	sorted := slices.Clone(stored)
	slices.SortFunc(sorted, func(a, b revision.Stored) int { return int(a.Number - b.Number) })
	out := make([]HistoryEntry, 0, len(sorted))
	for _, s := range sorted {
		e := HistoryEntry{Number: s.Number, Name: s.Name, Pods: pods[s.Name], Images: ImagesOf(s.Injected)}
		if s.Name == latest {
			e.Notes = append(e.Notes, "latest")
		}
		if s.Name == set.Status.RolledBackTo {
			e.Notes = append(e.Notes, "rolled back to by the failure policy")
		}
		if s.Name == ptr.Deref(set.Spec.InjectionStrategy.RevisionName, "") {
			e.Notes = append(e.Notes, "pinned for new pods")
		}
		out = append(out, e)
	}
	return out
}

// HistoryTable is the history as a table.
func HistoryTable(entries []HistoryEntry) Table {
	t := Table{Header: []string{"REVISION", "NAME", "PODS", "IMAGES", "NOTES"}}
	for _, e := range entries {
		t.Rows = append(t.Rows, []string{strconv.FormatInt(e.Number, 10), e.Name, strconv.Itoa(int(e.Pods)),
			strings.Join(e.Images, ","), strings.Join(e.Notes, ", ")})
	}
	return t
}

// RollbackTarget picks the stored revision a rollback writes back: the one numbered toRevision, or, when
// toRevision is 0, the previous revision, as the failure policy's rollback picks it (revision.Plan's
// Previous: the newest stored revision other than the current spec's). It is an error when there is none,
// or ErrSameRevision, with the revision, when the spec already injects what it does.
func RollbackTarget(set *appsv1alpha1.SidecarSet, stored []revision.Stored, toRevision int64) (revision.Stored, error) {
	current := revision.InjectedOf(&set.Spec)
	var target revision.Stored
	if toRevision == 0 {
		h := revision.Plan(revision.For(set), current, stored, nil, "", len(stored))
		if h.Previous == "" {
			return target, fmt.Errorf("SidecarSet %s has no revision to roll back to: %d stored, none older than the current spec", set.Name, len(stored))
		}
		i := slices.IndexFunc(stored, func(s revision.Stored) bool { return s.Name == h.Previous })
		target = stored[i]
	} else {
		i := slices.IndexFunc(stored, func(s revision.Stored) bool { return s.Number == toRevision })
		if i < 0 {
			numbers := make([]string, len(stored))
			for j, s := range stored {
				numbers[j] = strconv.FormatInt(s.Number, 10)
			}
			return target, fmt.Errorf("SidecarSet %s has no revision %d: stored are %s", set.Name, toRevision, orNone(strings.Join(numbers, ", ")))
		}
		target = stored[i]
	}
	if equality.Semantic.DeepEqual(current, target.Injected) {
		return target, ErrSameRevision
	}
	return target, nil
}

// ErrSameRevision is the rollback to a revision the spec already injects: there is nothing to write.
var ErrSameRevision = errors.New("the spec already injects the revision")
