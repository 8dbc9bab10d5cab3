package webhookconfig

import (
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func entries(names ...string) []admissionregistrationv1.MutatingWebhook {
	out := make([]admissionregistrationv1.MutatingWebhook, len(names))
	for i, n := range names {
		out[i] = admissionregistrationv1.MutatingWebhook{Name: EntryName(n)}
	}
	return out
}

// layout renders writes as "index:write[sets]".
func layout(ws []ShardWrite) string {
	var out []string
	for _, w := range ws {
		var names []string
		for _, h := range w.Webhooks {
			names = append(names, strings.TrimSuffix(h.Name, NameSuffix))
		}
		out = append(out, fmt.Sprintf("%d:%s%v", w.Index, w.Write, names))
	}
	return strings.Join(out, " ")
}

func TestPlanShards(t *testing.T) {
	big := Limits{Entries: 3, Bytes: 1 << 20}
	tests := []struct {
		name     string
		existing map[int][]admissionregistrationv1.MutatingWebhook
		desired  []admissionregistrationv1.MutatingWebhook
		limits   Limits
		want     string
	}{
		{"the first entries fill the first configuration", nil, entries("a", "b"), big, "0:create[a b]"},
		{"past the limit, a second configuration", nil, entries("a", "b", "c", "d", "e"), big, "0:create[a b c] 1:create[d e]"},
		{"one more SidecarSet rewrites one configuration", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("a", "b", "c"), 1: entries("d")},
			entries("a", "b", "c", "d", "e"), big, "1:update[d e]"},
		{"entries stay where they are, a new one takes the first free place", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("b", "c", "z"), 1: entries("a")},
			entries("a", "b", "c", "d"), big, "0:update[b c d]"},
		{"removing one rewrites its configuration only", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("a", "b", "c"), 1: entries("d", "e")},
			entries("a", "b", "c", "e"), big, "1:update[e]"},
		{"an emptied configuration is deleted, the first one too", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("a"), 1: entries("d")},
			entries("d"), big, "0:delete[]"},
		{"the single configuration of an earlier version is adopted over its limit, nothing moves", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("a", "b", "c", "d", "e")},
			entries("a", "b", "c", "d", "e", "f"), big, "1:create[f]"},
		{"an entry an edit left in two configurations stays in the first", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("a"), 2: entries("a", "b")},
			entries("a", "b"), big, "2:update[b]"},
		{"a configuration in step is not written", map[int][]admissionregistrationv1.MutatingWebhook{0: entries("a", "b")}, entries("a", "b"), big, ""},
		{"the byte limit opens a configuration before the entry limit", nil, entries("a", "b", "c"),
			Limits{Entries: 100, Bytes: jsonSize(entries("a", "b")) + 5}, "0:create[a b] 1:create[c]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := layout(PlanShards(tt.existing, tt.desired, tt.limits)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPlanShardsKeepsOthersEntries(t *testing.T) {
	theirs := admissionregistrationv1.MutatingWebhook{Name: "theirs.example.com"}
	existing := map[int][]admissionregistrationv1.MutatingWebhook{0: append([]admissionregistrationv1.MutatingWebhook{theirs}, entries("a")...)}
	if got := layout(PlanShards(existing, nil, DefaultLimits)); got != "0:update[theirs.example.com]" {
		t.Errorf("got %s: a configuration holding someone else's entry is updated, never deleted", got)
	}
}

func TestShardNames(t *testing.T) {
	for i, name := range []string{"op", "op-1", "op-12"} {
		if got := ShardName("op", []int{0, 1, 12}[i]); got != name {
			t.Errorf("ShardName = %s, want %s", got, name)
		}
		if idx, ok := ShardIndex("op", name); !ok || ShardName("op", idx) != name {
			t.Errorf("ShardIndex(%s) = %d, %v", name, idx, ok)
		}
	}
	for _, name := range []string{"other", "op-", "op-0", "op-01", "op-x", "op-1-2", "opx"} {
		if i, ok := ShardIndex("op", name); ok {
			t.Errorf("ShardIndex(%s) = %d, a configuration of the operator's", name, i)
		}
	}
}

// TestRegistrationsFollowTheConfigurations: the names are worked out again when a configuration changes,
// comes or goes, never answered from a version gone.
func TestRegistrationsFollowTheConfigurations(t *testing.T) {
	config := func(name, rv string, sets ...string) *admissionregistrationv1.MutatingWebhookConfiguration {
		c := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
		for _, s := range sets {
			c.Webhooks = append(c.Webhooks, admissionregistrationv1.MutatingWebhook{Name: EntryName(s)})
		}
		return c
	}
	var e Registrations
	steps := []struct {
		configs []*admissionregistrationv1.MutatingWebhookConfiguration
		set     string
		want    bool
	}{
		{nil, "logs", false},
		{[]*admissionregistrationv1.MutatingWebhookConfiguration{config("c", "1", "logs")}, "logs", true},
		{[]*admissionregistrationv1.MutatingWebhookConfiguration{config("c", "1", "logs")}, "metrics", false},
		{[]*admissionregistrationv1.MutatingWebhookConfiguration{config("c", "2", "logs", "metrics")}, "metrics", true},
		{[]*admissionregistrationv1.MutatingWebhookConfiguration{config("c", "2", "logs", "metrics"), config("c-1", "3", "tracing")}, "tracing", true},
		{[]*admissionregistrationv1.MutatingWebhookConfiguration{config("c-1", "3", "tracing")}, "logs", false},
		{[]*admissionregistrationv1.MutatingWebhookConfiguration{config("c", "4"), config("c-1", "3", "tracing")}, "metrics", false},
	}
	for i, s := range steps {
		if got := e.In(s.configs, s.set); got != s.want {
			t.Errorf("step %d: In(%s) = %v, want %v", i, s.set, got, s.want)
		}
	}
}
