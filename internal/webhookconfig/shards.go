package webhookconfig

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// The operator's entries are spread over as many MutatingWebhookConfigurations as they need, its shards, each
// well under what one object may hold: the storage's request limit (etcd's, 1.5 MiB by default) and the API
// server's request body limit (3 MiB). A configuration of about 1,000 entries no longer fits, and a
// configuration that cannot be written leaves every SidecarSet created after it without injection.

// Limits bound the operator's entries in one configuration.
type Limits struct {
	// Entries is the most entries of the operator's a configuration holds.
	Entries int
	// Bytes is the most a configuration with a new entry may weigh, as JSON: a third of the storage's
	// default request limit, whatever the entries' selectors hold.
	Bytes int
}

// DefaultLimits: about 2.3 KB an entry with its caBundle, 200 entries make about 460 KB.
var DefaultLimits = Limits{Entries: 200, Bytes: 512 << 10}

// ShardName is the name of the configuration at index i of the configurations named base: base itself first
// (the name of the one configuration earlier versions kept, which is so adopted as it is), then base-1,
// base-2...
func ShardName(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "-" + strconv.Itoa(i)
}

// ShardIndex is the index of the configuration named name among those named base; ok is false when name is
// not one of them.
func ShardIndex(base, name string) (i int, ok bool) {
	if name == base {
		return 0, true
	}
	rest, found := strings.CutPrefix(name, base+"-")
	if !found {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 1 || strconv.Itoa(i) != rest {
		return 0, false
	}
	return i, true
}

// ShardWrite is the write PlanShards decides for one configuration.
type ShardWrite struct {
	Index    int
	Write    Write
	Webhooks []admissionregistrationv1.MutatingWebhook
	// Entries is how many of the operator's entries the configuration holds after the write.
	Entries int
}

// PlanShards decides the writes that bring the operator's configurations in step with desired, its entries
// (Desired's, in its order). existing are the configurations as stored, their webhooks by index.
//
// Every entry has a stable place: an entry stays in the configuration that holds it (the first, when an edit
// left it in two), and a new one goes to the configuration with the lowest index that has room for it (fewer
// than limits.Entries of the operator's entries and, with it, under limits.Bytes), created when none has. So
// adding or removing one SidecarSet rewrites one configuration, never all, and nothing moves between them: an
// entry that moved would be missing from both for a moment. A configuration left without a webhook is
// deleted (PlanMutating), the one of index 0 too. The writes are sorted by index; configurations in step are
// left out.
func PlanShards(existing map[int][]admissionregistrationv1.MutatingWebhook, desired []admissionregistrationv1.MutatingWebhook, limits Limits) []ShardWrite {
	limits.Entries = max(limits.Entries, 1)
	wanted := make(map[string]int, len(desired)) // entry name -> index in desired
	for i := range desired {
		wanted[desired[i].Name] = i
	}
	place := make(map[string]int, len(desired)) // entry name -> shard
	count := map[int]int{}
	for _, idx := range slices.Sorted(maps.Keys(existing)) {
		for _, w := range existing[idx] {
			if _, ok := wanted[w.Name]; !ok || !strings.HasSuffix(w.Name, NameSuffix) {
				continue
			}
			if _, placed := place[w.Name]; !placed {
				place[w.Name] = idx
				count[idx]++
			}
		}
	}
	// Sizes are worked out only for configurations a new entry may go to.
	size := map[int]int{}
	sizeOf := func(idx int) int {
		if s, ok := size[idx]; ok {
			return s
		}
		var held []admissionregistrationv1.MutatingWebhook
		for _, w := range desired {
			if p, ok := place[w.Name]; ok && p == idx {
				held = append(held, w)
			}
		}
		size[idx] = jsonSize(Merge(existing[idx], held))
		return size[idx]
	}
	for i := range desired {
		w := &desired[i]
		if _, placed := place[w.Name]; placed {
			continue
		}
		add := jsonSize([]admissionregistrationv1.MutatingWebhook{*w})
		idx := 0
		for count[idx] >= limits.Entries || (count[idx] > 0 && sizeOf(idx)+add > limits.Bytes) {
			idx++
		}
		place[w.Name] = idx
		count[idx]++
		if _, known := size[idx]; known {
			size[idx] += add
		}
	}

	held := map[int][]admissionregistrationv1.MutatingWebhook{}
	for _, w := range desired {
		held[place[w.Name]] = append(held[place[w.Name]], w)
	}
	indexes := slices.Sorted(maps.Keys(existing))
	for idx := range held {
		if _, ok := existing[idx]; !ok {
			indexes = append(indexes, idx)
		}
	}
	slices.Sort(indexes)
	var out []ShardWrite
	for _, idx := range indexes {
		current, exists := existing[idx]
		write, webhooks := PlanMutating(exists, current, held[idx])
		if write != NoWrite {
			out = append(out, ShardWrite{Index: idx, Write: write, Webhooks: webhooks, Entries: len(held[idx])})
		}
	}
	return out
}

// jsonSize is how many bytes the webhooks take as JSON.
func jsonSize(webhooks []admissionregistrationv1.MutatingWebhook) int {
	data, err := json.Marshal(webhooks)
	if err != nil {
		// Webhooks hold only plain values: they always marshal.
		panic(fmt.Sprintf("encoding webhooks: %v", err))
	}
	return len(data)
}

// Registrations says whether a SidecarSet's entry is in one of the operator's configurations, for every
// SidecarSet a reconcile asks about: the names of the entries are worked out again only when a configuration
// comes, goes or changes (its resourceVersion), not on every question. With thousands of SidecarSets, looking
// for one entry through every configuration on every reconcile cost more than the rest of a first reconcile.
// The zero value is ready to use; it is safe for concurrent use.
type Registrations struct {
	mu       sync.Mutex
	versions map[string]string // configuration name -> the resourceVersion the names are of
	names    map[string]bool
}

// In says whether one of configs holds the SidecarSet's entry.
func (r *Registrations) In(configs []*admissionregistrationv1.MutatingWebhookConfiguration, sidecarSet string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	same := len(r.versions) == len(configs)
	for _, c := range configs {
		same = same && r.versions[c.Name] == c.ResourceVersion
	}
	if !same {
		r.versions, r.names = make(map[string]string, len(configs)), map[string]bool{}
		for _, c := range configs {
			r.versions[c.Name] = c.ResourceVersion
			for i := range c.Webhooks {
				r.names[c.Webhooks[i].Name] = true
			}
		}
	}
	return r.names[EntryName(sidecarSet)]
}
