package status

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTallyCountsAsAMap adds random names, from few distinct ones to more than a Tally keeps in its slice,
// in runs and shuffled, and wants every count, the names and the names never added as a map has them.
func TestTallyCountsAsAMap(t *testing.T) {
	for _, distinct := range []int{1, 2, 5, tallyFew, tallyFew + 1, 100} {
		for seed := range uint64(4) {
			rng := rand.New(rand.NewPCG(seed, uint64(distinct)))
			var tally Tally
			want := map[string]int32{}
			for range 2000 {
				name := fmt.Sprintf("rev-%d", rng.IntN(distinct))
				for range 1 + rng.IntN(3) { // runs of the same name, as pods listed one after another
					tally.Add(name)
					want[name]++
				}
			}
			for name, n := range want {
				if got, ok := tally.Count(name); !ok || got != n {
					t.Errorf("%d distinct, seed %d: %s counted %d (%v), want %d", distinct, seed, name, got, ok, n)
				}
			}
			if got, ok := tally.Count("never"); ok || got != 0 {
				t.Errorf("%d distinct: a name never added counted %d (%v)", distinct, got, ok)
			}
			names := slices.Sorted(slices.Values(tally.Names()))
			var wantNames []string
			for n := range want {
				wantNames = append(wantNames, n)
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Errorf("%d distinct: names %v, want %v", distinct, names, wantNames)
			}
		}
	}
	var empty Tally
	if len(empty.Names()) != 0 {
		t.Error("an empty tally has names")
	}
}
