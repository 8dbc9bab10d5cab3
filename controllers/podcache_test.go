package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// TestSelectedPodsAreTheListedOnes: reading a selector's pods from the label index gives exactly the pods a
// scan of the whole cache gives, for random selectors, while pods are created, relabelled and deleted.
func TestSelectedPodsAreTheListedOnes(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	pods := startPodCache(t, c)

	draw := labelDraw{rand.New(rand.NewPCG(18, 4))}
	checked := 0
	for round := range 30 {
		// Pods come, change their labels and go.
		for i := range 20 {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("pod-%d-%d", round, i), Labels: draw.labels()}}
			if err := c.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
		}
		var all corev1.PodList
		if err := c.List(ctx, &all); err != nil {
			t.Fatal(err)
		}
		for i := range all.Items {
			switch p := &all.Items[i]; draw.rng.IntN(4) {
			case 0:
				p.Labels = draw.labels()
				if err := c.Update(ctx, p); err != nil {
					t.Fatal(err)
				}
			case 1:
				if err := c.Delete(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Once the cache shows what the client holds, both reads agree.
		want := map[string]bool{}
		if err := c.List(ctx, &all); err != nil {
			t.Fatal(err)
		}
		for _, p := range all.Items {
			want[p.Namespace+"/"+p.Name+"@"+p.ResourceVersion] = true
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			got := map[string]bool{}
			for _, obj := range pods.informer.GetStore().List() {
				v := obj.(*podview.View)
				got[v.Namespace+"/"+v.Name+"@"+v.ResourceVersion] = true
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the pod cache did not catch up with the client in 30 s")
			}
		}
		for range 20 {
			spec := draw.selector(false)
			sel, err := metav1.LabelSelectorAsSelector(spec)
			if err != nil {
				t.Fatal(err)
			}
			listed, err := pods.List(sel)
			if err != nil {
				t.Fatal(err)
			}
			selected, err := pods.Selected(sel, inject.SelectorIndexKeys(spec))
			if err != nil {
				t.Fatal(err)
			}
			if l, s := viewNames(listed), viewNames(selected); !slices.Equal(l, s) {
				t.Fatalf("selector %v: the index gives %v, a scan %v", spec, s, l)
			}
			checked += len(listed)
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d selected pods compared: the draw is too narrow", checked)
	}
}

// TestBudgetPodsAreTheScannedOnes: the pods of each PodDisruptionBudget of a reconcile, read through one read
// of each label's pods and each namespace's (budgetPods), are exactly those of the budget's namespace its
// selector matches in a scan of the whole cache, for random budgets in random namespaces, many of them naming
// the same labels, read in one reconcile.
func TestBudgetPodsAreTheScannedOnes(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	draw := labelDraw{rand.New(rand.NewPCG(18, 5))}
	namespaces := []string{"ns-0", "ns-1", "ns-2", "ns-3"}
	for i := range 400 {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[draw.rng.IntN(len(namespaces))], Name: fmt.Sprintf("pod-%d", i), Labels: draw.labels()}}
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	pods := startPodCache(t, c)
	for deadline := time.Now().Add(30 * time.Second); len(pods.informer.GetStore().List()) < 400; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pod cache did not show the 400 pods in 30 s")
		}
	}
	checked := 0
	for range 20 {
		read := newBudgetPods(pods) // one reconcile's
		for range 15 {
			namespace, spec := namespaces[draw.rng.IntN(len(namespaces))], draw.selector(true)
			sel, err := metav1.LabelSelectorAsSelector(spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := read.of(namespace, sel, spec)
			if err != nil {
				t.Fatal(err)
			}
			all, err := pods.List(sel)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(all, func(v *podview.View) bool { return v.Namespace != namespace })
			if g, w := viewNames(got), viewNames(want); !slices.Equal(g, w) {
				t.Fatalf("budget in %s with selector %v: read %v, a scan %v", namespace, spec, g, w)
			}
			checked += len(want)
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d selected pods compared: the draw is too narrow", checked)
	}
}

// labelDraw draws pods' labels and selectors over a few keys and values, for the tests that compare what the
// pod cache's indexes give with a scan.
type labelDraw struct{ rng *rand.Rand }

var drawnKeys, drawnValues = []string{"app", "tier", "team"}, []string{"a", "b", "c"}

// labels draws a pod's labels: each key, two times in three, with a value.
func (d labelDraw) labels() map[string]string {
	l := map[string]string{}
	for _, k := range drawnKeys {
		if d.rng.IntN(3) > 0 {
			l[k] = drawnValues[d.rng.IntN(len(drawnValues))]
		}
	}
	return l
}

// selector draws a selector: one matchLabels entry, one with a NotIn besides (its key's pods are only
// candidates), an In of two values, an Exists, and, when empty is set, the empty selector too.
func (d labelDraw) selector(empty bool) *metav1.LabelSelector {
	kinds := 4
	if empty {
		kinds = 5
	}
	value := func() string { return drawnValues[d.rng.IntN(len(drawnValues))] }
	sel := &metav1.LabelSelector{}
	switch d.rng.IntN(kinds) {
	case 0:
		sel.MatchLabels = map[string]string{drawnKeys[d.rng.IntN(len(drawnKeys))]: value()}
	case 1:
		sel.MatchLabels = map[string]string{drawnKeys[0]: value()}
		sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: drawnKeys[1+d.rng.IntN(len(drawnKeys)-1)],
			Operator: metav1.LabelSelectorOpNotIn, Values: []string{value()}}}
	case 2:
		sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: drawnKeys[d.rng.IntN(len(drawnKeys))],
			Operator: metav1.LabelSelectorOpIn, Values: []string{value(), value()}}}
	case 3:
		sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: drawnKeys[d.rng.IntN(len(drawnKeys))], Operator: metav1.LabelSelectorOpExists}}
	default: // every pod (of the namespace, for a budget)
	}
	return sel
}

// viewNames are the views' "namespace/name", sorted.
func viewNames(views []*podview.View) []string {
	out := make([]string, len(views))
	for i, v := range views {
		out[i] = v.Namespace + "/" + v.Name
	}
	slices.Sort(out)
	return out
}
