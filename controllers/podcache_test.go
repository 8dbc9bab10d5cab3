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

	rng := rand.New(rand.NewPCG(18, 4))
	keys, values := []string{"app", "tier", "team"}, []string{"a", "b", "c"}
	randomLabels := func() map[string]string {
		l := map[string]string{}
		for _, k := range keys {
			if rng.IntN(3) > 0 {
				l[k] = values[rng.IntN(len(values))]
			}
		}
		return l
	}
	randomSelector := func() *metav1.LabelSelector {
		sel := &metav1.LabelSelector{}
		switch rng.IntN(4) {
		case 0:
			sel.MatchLabels = map[string]string{keys[rng.IntN(len(keys))]: values[rng.IntN(len(values))]}
		case 1:
			// Two requirements: the pods under the label's key are only candidates.
			sel.MatchLabels = map[string]string{keys[0]: values[rng.IntN(len(values))]}
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: keys[1+rng.IntN(len(keys)-1)],
				Operator: metav1.LabelSelectorOpNotIn, Values: []string{values[rng.IntN(len(values))]}}}
		case 2:
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: keys[rng.IntN(len(keys))],
				Operator: metav1.LabelSelectorOpIn, Values: []string{values[rng.IntN(len(values))], values[rng.IntN(len(values))]}}}
		default:
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: keys[rng.IntN(len(keys))], Operator: metav1.LabelSelectorOpExists}}
		}
		return sel
	}
	names := func(views []*podview.View) []string {
		out := make([]string, len(views))
		for i, v := range views {
			out[i] = v.Namespace + "/" + v.Name
		}
		slices.Sort(out)
		return out
	}
	checked := 0
	for round := range 30 {
		// Pods come, change their labels and go.
		for i := range 20 {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("pod-%d-%d", round, i), Labels: randomLabels()}}
			if err := c.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
		}
		var all corev1.PodList
		if err := c.List(ctx, &all); err != nil {
			t.Fatal(err)
		}
		for i := range all.Items {
			switch p := &all.Items[i]; rng.IntN(4) {
			case 0:
				p.Labels = randomLabels()
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
			spec := randomSelector()
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
			if l, s := names(listed), names(selected); !slices.Equal(l, s) {
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
	rng := rand.New(rand.NewPCG(18, 5))
	keys, values, namespaces := []string{"app", "tier", "team"}, []string{"a", "b", "c"}, []string{"ns-0", "ns-1", "ns-2", "ns-3"}
	for i := range 400 {
		l := map[string]string{}
		for _, k := range keys {
			if rng.IntN(3) > 0 {
				l[k] = values[rng.IntN(len(values))]
			}
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[rng.IntN(len(namespaces))], Name: fmt.Sprintf("pod-%d", i), Labels: l}}
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
	randomSelector := func() *metav1.LabelSelector {
		sel := &metav1.LabelSelector{}
		switch rng.IntN(6) {
		case 0, 1:
			sel.MatchLabels = map[string]string{keys[rng.IntN(len(keys))]: values[rng.IntN(len(values))]}
		case 2:
			sel.MatchLabels = map[string]string{keys[0]: values[rng.IntN(len(values))]}
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: keys[1+rng.IntN(len(keys)-1)],
				Operator: metav1.LabelSelectorOpNotIn, Values: []string{values[rng.IntN(len(values))]}}}
		case 3:
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: keys[rng.IntN(len(keys))],
				Operator: metav1.LabelSelectorOpIn, Values: []string{values[rng.IntN(len(values))], values[rng.IntN(len(values))]}}}
		case 4:
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: keys[rng.IntN(len(keys))], Operator: metav1.LabelSelectorOpExists}}
		default: // every pod of the namespace
		}
		return sel
	}
	names := func(views []*podview.View) []string {
		out := make([]string, len(views))
		for i, v := range views {
			out[i] = v.Namespace + "/" + v.Name
		}
		slices.Sort(out)
		return out
	}
	checked := 0
	for range 20 {
		read := newBudgetPods(pods) // one reconcile's
		for range 15 {
			namespace, spec := namespaces[rng.IntN(len(namespaces))], randomSelector()
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
			if g, w := names(got), names(want); !slices.Equal(g, w) {
				t.Fatalf("budget in %s with selector %v: read %v, a scan %v", namespace, spec, g, w)
			}
			checked += len(want)
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d selected pods compared: the draw is too narrow", checked)
	}
}
