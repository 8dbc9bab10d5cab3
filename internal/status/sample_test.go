package status

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSampleKeepsTheFirstNamesAsTheyWouldSort adds random pods, in namespaces that are prefixes of one
// another ("ns" and "ns-1", where "ns-1/b" sorts before "ns/a"), and wants the sample to keep exactly the
// first maxExamples of their sorted "namespace/name" strings, with the count of all.
func TestSampleKeepsTheFirstNamesAsTheyWouldSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	namespaces := []string{"ns", "ns-1", "ns.a", "n", "nsa", "ns0", "a"}
	for round := range 500 {
		var s sample
		var all []string
		for range rng.IntN(20) {
			ns := namespaces[rng.IntN(len(namespaces))]
			name := fmt.Sprintf("p-%d", rng.IntN(30))
			s.add(ns, name, "why "+name)
			all = append(all, ns+"/"+name)
		}
		slices.Sort(all)
		want := all[:min(len(all), maxExamples)]
		var got []string
		for _, p := range s.first {
			got = append(got, p.String())
			if p.why != "why "+p.name {
				t.Fatalf("round %d: %s kept why %q", round, p, p.why)
			}
		}
		if s.n != len(all) || !slices.Equal(got, want) {
			t.Fatalf("round %d: sample %d %v, want %d %v", round, s.n, got, len(all), want)
		}
	}
}

func TestSampleExamples(t *testing.T) {
	var s sample
	for _, n := range []string{"g", "f", "e", "d", "c", "b", "a"} {
		s.add("ns", n, "")
	}
	if got, want := s.examples(), "ns/a, ns/b, ns/c, ns/d, ns/e and 2 more"; got != want {
		t.Errorf("examples() = %q, want %q", got, want)
	}
}
