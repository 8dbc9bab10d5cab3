package step

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRanksFollowTheNames plays pods coming, going and changing (new views) over many decisions and wants the
// memo's numbering to order the pods of each decision as their namespaces and names do.
func TestRanksFollowTheNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 5))
	m := &Memo{}
	live := map[string]currentPod{}
	renumbered, compared := 0, 0
	for step := range 300 {
		arrivals := max(0, rng.IntN(8)-5) // pods come, now and then
		if step == 0 {
			arrivals = 60
		}
		for range arrivals {
			ns, name := fmt.Sprintf("ns-%d", rng.IntN(3)), fmt.Sprintf("web-%d", rng.IntN(500))
			live[ns+"/"+name] = currentPod{pod: view(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, nil)}
		}
		for _, key := range slices.Sorted(maps.Keys(live)) { // in order: the same draw each run
			p := live[key]
			switch rng.IntN(40) {
			case 0: // a pod goes
				delete(live, key)
			case 1, 2, 3, 4: // the cache replaces its view
				copied := *p.pod
				live[key] = currentPod{pod: &copied}
			}
		}
		m.begin("logs", len(live))
		pods := make([]currentPod, 0, len(live))
		for i, key := range slices.Sorted(maps.Keys(live)) {
			p := live[key]
			e, _ := m.of(i, p.pod)
			if rng.IntN(10) == 0 {
				e = nil // a write in flight: the pod is not the cache's view
			}
			pods = append(pods, currentPod{pod: p.pod, memo: e})
		}
		before := m.rankGen
		m.rank(pods)
		if m.rankGen != before {
			renumbered++
		}
		slices.SortFunc(pods, func(a, b currentPod) int { return cmp.Compare(a.rank, b.rank) })
		for i := 1; i < len(pods); i++ {
			compared++
			a, b := pods[i-1].pod, pods[i].pod
			if pods[i-1].rank == pods[i].rank || cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name)) >= 0 {
				t.Fatalf("decision %d: %s/%s ranked %d before %s/%s ranked %d", step, a.Namespace, a.Name, pods[i-1].rank, b.Namespace, b.Name, pods[i].rank)
			}
		}
		m.end(len(pods), rng.IntN(10) == 0) // a quiet decision forgets the numbers
	}
	if compared < 3000 || renumbered < 50 || renumbered > 250 {
		t.Fatalf("the pods were numbered again in %d of 300 decisions, %d pairs compared: the test does not exercise both paths",
			renumbered, compared)
	}
}
