package status

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// TestSampleKeepsTheFirstNamesAsTheyWouldSort adds random pods, in namespaces that are prefixes of one
// another ("ns" and "ns-1", where "ns-1/b" sorts before "ns/a"), and wants the sample to keep exactly the
// first maxExamples of their sorted "namespace/name" strings, with the count of all: by their names, and by
// their numbers when they are numbered in the order of those strings (rollout.Pod.Rank).
func TestSampleKeepsTheFirstNamesAsTheyWouldSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	namespaces := []string{"ns", "ns-1", "ns.a", "n", "nsa", "ns0", "a"}
	for round := range 500 {
		var pods []rollout.Pod
		seen := map[string]bool{}
		for range rng.IntN(20) {
			ns := namespaces[rng.IntN(len(namespaces))]
			name := fmt.Sprintf("p-%d", rng.IntN(30))
			if !seen[ns+"/"+name] { // a pod is matched once
				seen[ns+"/"+name] = true
				pods = append(pods, rollout.Pod{Namespace: ns, Name: name})
			}
		}
		var all []string
		for _, p := range pods {
			all = append(all, p.Namespace+"/"+p.Name)
		}
		slices.Sort(all)
		want := all[:min(len(all), maxExamples)]
		for _, numbered := range []bool{false, true} {
			var s sample
			for _, p := range pods {
				if numbered {
					p.Rank = int32(slices.Index(all, p.Namespace+"/"+p.Name) + 1)
				}
				s.add(&p, "why "+p.Name)
			}
			var got []string
			for _, p := range s.first {
				got = append(got, p.String())
				if p.why != "why "+p.name {
					t.Fatalf("round %d, numbered %t: %s kept why %q", round, numbered, p, p.why)
				}
			}
			if s.n != len(pods) || !slices.Equal(got, want) {
				t.Fatalf("round %d, numbered %t: sample %d %v, want %d %v", round, numbered, s.n, got, len(pods), want)
			}
		}
	}
}

func TestSampleExamples(t *testing.T) {
	var s sample
	for _, n := range []string{"g", "f", "e", "d", "c", "b", "a"} {
		s.add(&rollout.Pod{Namespace: "ns", Name: n}, "")
	}
	if got, want := s.examples(), "ns/a, ns/b, ns/c, ns/d, ns/e and 2 more"; got != want {
		t.Errorf("examples() = %q, want %q", got, want)
	}
}

// TestSampleOrdersNumberedPodsByTheirNumbers gives pods numbers in the reverse of their names' order: the
// sample follows the numbers, so a reconcile that numbered its pods never reads their names to pick them.
func TestSampleOrdersNumberedPodsByTheirNumbers(t *testing.T) {
	var s sample
	for i, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		s.add(&rollout.Pod{Namespace: "ns", Name: n, Rank: int32(7 - i)}, "")
	}
	if got, want := s.examples(), "ns/g, ns/f, ns/e, ns/d, ns/c and 2 more"; got != want {
		t.Errorf("examples() = %q, want %q", got, want)
	}
}
