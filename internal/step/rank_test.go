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

	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// TestRanksFollowTheNames plays pods coming, going and changing (new views) over many decisions and wants the
// memo's numbering to order the pods of each decision as their namespaces and names do. The pods are given
// in the order the controller's kept pods give them: a new pod last, a pod gone replaced at its place by the
// last.
func TestRanksFollowTheNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 5))
	m := &Memo{}
	var order []*podview.View // the decision's input
	at := map[string]int{}    // where each pod is in it
	renumbered, compared := 0, 0
	for step := range 300 {
		arrivals := max(0, rng.IntN(8)-5) // pods come, now and then
		if step == 0 {
			arrivals = 60
		}
		for range arrivals {
			ns, name := fmt.Sprintf("ns-%d", rng.IntN(3)), fmt.Sprintf("web-%d", rng.IntN(500))
			v := view(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, nil)
			if i, ok := at[ns+"/"+name]; ok {
				order[i] = v // created again under its name
				continue
			}
			at[ns+"/"+name] = len(order)
			order = append(order, v)
		}
		for _, key := range slices.Sorted(maps.Keys(at)) { // in order: the same draw each run
			i := at[key]
			switch rng.IntN(40) {
			case 0: // a pod goes; the last takes its place
				last := len(order) - 1
				order[i] = order[last]
				at[order[i].Namespace+"/"+order[i].Name] = i
				order = order[:last]
				delete(at, key)
			case 1, 2, 3, 4: // the cache replaces its view
				copied := *order[i]
				order[i] = &copied
			}
		}
		m.begin("logs", len(order))
		pods := make([]currentPod, 0, len(order))
		placed := make([]placedPod, len(order))
		for i, v := range order {
			e, _ := m.of(i, v)
			placed[i] = placedPod{view: v, entry: e}
			// now and then a write in flight: the pod is not the cache's view, its entry the view's all the same
			pods = append(pods, currentPod{pod: v, memo: e, written: rng.IntN(10) == 0})
		}
		m.placed = placed // as current leaves them
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
