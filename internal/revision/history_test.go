package revision

import (
	"fmt"
	"strings"
	"testing"
)

func stored(t *testing.T, image string, number int64) Stored {
	t.Helper()
	in := InjectedOf(specFrom(t, strings.Replace(base, "shipper:1.0", image, 1)))
	return Stored{Name: "logs-" + image, Number: number, Injected: in}
}

func describe(h History) string {
	var parts []string
	if h.Collision {
		parts = append(parts, "collision")
	}
	if h.Create != nil {
		parts = append(parts, fmt.Sprintf("create %s #%d", h.Create.Name, h.Create.Number))
	}
	if h.Renumber != nil {
		parts = append(parts, fmt.Sprintf("renumber %s #%d", h.Renumber.Name, h.Renumber.Number))
	}
	if len(h.Delete) > 0 {
		parts = append(parts, "delete "+strings.Join(h.Delete, ","))
	}
	if h.Previous != "" {
		parts = append(parts, "previous "+h.Previous)
	}
	return strings.Join(parts, "; ")
}

func TestHistory(t *testing.T) {
	v := func(image string) (string, Injected) {
		s := stored(t, image, 0)
		return s.Name, s.Injected
	}
	tests := []struct {
		name    string
		current string
		stored  []Stored
		inUse   []string
		pinned  string
		limit   int
		want    string
	}{
		{"the first revision", "v1", nil, nil, "", 10, "create logs-v1 #1"},
		{"an unchanged spec does nothing", "v1", []Stored{stored(t, "v1", 1)}, nil, "", 10, ""},
		{"a new image gets the next number", "v2", []Stored{stored(t, "v1", 1)}, nil, "", 10, "create logs-v2 #2; previous logs-v1"},
		{"re-applying an old spec reuses and renumbers its revision", "v1",
			[]Stored{stored(t, "v1", 1), stored(t, "v2", 2)}, nil, "", 10, "renumber logs-v1 #3; previous logs-v2"},
		{"the previous revision is the newest older one", "v3",
			[]Stored{stored(t, "v1", 1), stored(t, "v2", 2), stored(t, "v3", 3)}, nil, "", 10, "previous logs-v2"},
		{"old revisions beyond the limit go, oldest first", "v4",
			[]Stored{stored(t, "v2", 2), stored(t, "v1", 1), stored(t, "v3", 3)}, nil, "", 1, "create logs-v4 #4; delete logs-v1,logs-v2; previous logs-v3"},
		{"a revision a pod runs is kept", "v4",
			[]Stored{stored(t, "v1", 1), stored(t, "v2", 2), stored(t, "v3", 3), stored(t, "v4", 4)}, []string{"logs-v1"}, "", 1,
			"delete logs-v2; previous logs-v3"},
		{"a pinned revision is kept", "v4",
			[]Stored{stored(t, "v1", 1), stored(t, "v2", 2), stored(t, "v3", 3), stored(t, "v4", 4)}, nil, "logs-v1", 1,
			"delete logs-v2; previous logs-v3"},
		{"nothing to delete when every old revision is in use", "v3",
			[]Stored{stored(t, "v1", 1), stored(t, "v2", 2), stored(t, "v3", 3)}, []string{"logs-v1", "logs-v2"}, "", 1, "previous logs-v2"},
		{"the current revision is never deleted, however old its number", "v1",
			[]Stored{stored(t, "v1", 1), stored(t, "v2", 2), stored(t, "v3", 3)}, nil, "", 1, "renumber logs-v1 #4; delete logs-v2; previous logs-v3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, current := v(tt.current)
			inUse := map[string]bool{}
			for _, r := range tt.inUse {
				inUse[r] = true
			}
			if got := describe(Plan(name, current, tt.stored, inUse, tt.pinned, tt.limit)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHistoryCollision(t *testing.T) {
	other := stored(t, "v2", 1)
	other.Name = "logs-v1" // another content stored under the current spec's name
	name, current := "logs-v1", stored(t, "v1", 0).Injected
	if h := Plan(name, current, []Stored{other}, nil, "", 10); !h.Collision || h.Create != nil || len(h.Delete) != 0 {
		t.Errorf("history = %+v", h)
	}
}
