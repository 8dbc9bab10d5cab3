package status

// tallyFew is how many distinct names a Tally keeps in a slice before it takes a map.
const tallyFew = 16

// Tally counts names of which there are few distinct ones, as the revisions thousands of pods run: most pods
// share one of a handful, so a count is a comparison with the name counted last or a scan of a short slice
// rather than a map assignment, which made a tenth of a decision's work over 10,000 pods. Past tallyFew
// distinct names it counts in a map. The zero Tally is empty and ready.
type Tally struct {
	names  []string
	counts []int32
	last   int
	many   map[string]int32
}

// Add counts name once.
func (t *Tally) Add(name string) {
	if t.many != nil {
		t.many[name]++
		return
	}
	if t.last < len(t.names) && t.names[t.last] == name {
		t.counts[t.last]++
		return
	}
	for i, n := range t.names {
		if n == name {
			t.counts[i]++
			t.last = i
			return
		}
	}
	if len(t.names) == tallyFew {
		t.many = make(map[string]int32, 2*tallyFew)
		for i, n := range t.names {
			t.many[n] = t.counts[i]
		}
		t.names, t.counts = nil, nil
		t.many[name]++
		return
	}
	t.names, t.counts, t.last = append(t.names, name), append(t.counts, 1), len(t.names)
}

// Count is how many times name was added; ok is false when it never was.
func (t *Tally) Count(name string) (n int32, ok bool) {
	if t.many != nil {
		n, ok = t.many[name]
		return n, ok
	}
	for i, c := range t.names {
		if c == name {
			return t.counts[i], true
		}
	}
	return 0, false
}

// Names are the names added, each once, in no particular order.
func (t *Tally) Names() []string {
	if t.many == nil {
		return t.names
	}
	out := make([]string, 0, len(t.many))
	for n := range t.many {
		out = append(out, n)
	}
	return out
}
