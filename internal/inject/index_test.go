package inject

import (
	"math/rand/v2"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// TestIndexKeysFindEverySelectingSidecarSet draws random selectors and pods: whenever a selector matches a
// pod, one of its index keys is one of the pod's, so a lookup by the pod's keys never misses a SidecarSet
// that selects it.
func TestIndexKeysFindEverySelectingSidecarSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 3))
	keys, values := []string{"app", "tier", "team", "env", "pod-template-hash", "statefulset.kubernetes.io/pod-name"}, []string{"a", "b", "c"}
	ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn,
		metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}
	randomLabels := func() map[string]string {
		l := map[string]string{}
		for _, k := range keys {
			if rng.IntN(3) > 0 {
				l[k] = values[rng.IntN(len(values))]
			}
		}
		return l
	}
	matched, indexed := 0, 0
	for range 20_000 {
		sel := &metav1.LabelSelector{}
		if rng.IntN(2) == 0 {
			sel.MatchLabels = map[string]string{}
			for range 1 + rng.IntN(2) {
				sel.MatchLabels[keys[rng.IntN(len(keys))]] = values[rng.IntN(len(values))]
			}
		}
		for range rng.IntN(3) {
			e := metav1.LabelSelectorRequirement{Key: keys[rng.IntN(len(keys))], Operator: ops[rng.IntN(len(ops))]}
			if e.Operator == metav1.LabelSelectorOpIn || e.Operator == metav1.LabelSelectorOpNotIn {
				for range 1 + rng.IntN(2) {
					e.Values = append(e.Values, values[rng.IntN(len(values))])
				}
			}
			sel.MatchExpressions = append(sel.MatchExpressions, e)
		}
		m, err := NewMatcher(&appsv1alpha1.SidecarSetSpec{Selector: sel})
		if err != nil {
			t.Fatalf("selector %v: %v", sel, err)
		}
		setKeys := SelectorIndexKeys(sel)
		pod := randomLabels()
		found := slices.ContainsFunc(PodIndexKeys(pod), func(k string) bool { return slices.Contains(setKeys, k) })
		if found {
			indexed++
		}
		if m.MatchesPod(pod) {
			matched++
			if !found {
				t.Fatalf("selector %v matches pod %v, but its keys %v are none of the pod's %v", sel, pod, setKeys, PodIndexKeys(pod))
			}
		}
	}
	if matched < 1000 || indexed-matched < 1000 {
		t.Fatalf("the draw is too narrow: %d matches, %d candidates that did not match", matched, indexed-matched)
	}
}

func TestIndexKeysOfASelector(t *testing.T) {
	for _, c := range []struct {
		name string
		sel  *metav1.LabelSelector
		want []string
	}{
		{"nil selects nothing", nil, nil},
		{"empty selects nothing", &metav1.LabelSelector{}, nil},
		{"the first matchLabels key", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web", "app": "shop"}}, []string{"app=shop"}},
		{"an In expression, a key per value", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpExists},
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api", "web"}},
		}}, []string{"app=api", "app=web"}},
		{"no required value: every pod", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"db"}},
		}}, []string{AnyPod}},
		{"a template hash is passed over for an indexed label", &metav1.LabelSelector{
			MatchLabels: map[string]string{"controller-revision-hash": "7d9f", "web": "true"}}, []string{"web=true"}},
		{"a per-pod label is passed over for an In expression", &metav1.LabelSelector{
			MatchLabels: map[string]string{"statefulset.kubernetes.io/pod-name": "db-0"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "apps.kubernetes.io/pod-index", Operator: metav1.LabelSelectorOpIn, Values: []string{"0"}},
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}},
			}}, []string{"app=db"}},
		{"only per-pod labels: every pod", &metav1.LabelSelector{
			MatchLabels: map[string]string{"statefulset.kubernetes.io/pod-name": "db-0"}}, []string{AnyPod}},
	} {
		if got := SelectorIndexKeys(c.sel); !slices.Equal(got, c.want) {
			t.Errorf("%s: keys %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPodsAreNotIndexedByTheirOwnLabelValues: a StatefulSet's pod is indexed by its app label only, not by
// its name, its index or its template hash.
func TestPodsAreNotIndexedByTheirOwnLabelValues(t *testing.T) {
	got := LabelIndexKeys(map[string]string{"app": "db", "statefulset.kubernetes.io/pod-name": "db-0",
		"apps.kubernetes.io/pod-index": "0", "controller-revision-hash": "db-7d9f"})
	if !slices.Equal(got, []string{"app=db"}) {
		t.Errorf("index keys %v, want [app=db]", got)
	}
}
