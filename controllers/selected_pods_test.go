package controllers

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// TestKeptPodsFollowTheCache plays random pod creations, label changes into and out of a selector (and into
// the opt-out label), and deletions through a pod cache whose events note the pods a selector matched before
// or after them, as the controller's pod event handler does; and wants a podSet patched from those notes
// alone to hold exactly the pods the cache's index selects and the filter keeps, each where its position says.
// The clock never moves and few pods change between takes, so no take reads the pods in full after the first:
// a pod an event left out would stay wrong. It plays each game twice: with the index's hash, and with one under
// which the pods' names collide in three values, so that most pods are kept by name (podIndex).
func TestKeptPodsFollowTheCache(t *testing.T) {
	hashes := map[string]func(maphash.Seed, string, string) uint64{
		"maphash":   hashPod,
		"colliding": func(_ maphash.Seed, _, name string) uint64 { return uint64(name[len(name)-1] % 3) },
	}
	for run := range uint64(8) {
		seed, hashName := run/2, []string{"maphash", "colliding"}[run%2]
		t.Run(fmt.Sprintf("%d/%s", seed, hashName), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			ctx := context.Background()
			scheme := runtime.NewScheme()
			_ = clientgoscheme.AddToScheme(scheme)
			c := fake.NewClientBuilder().WithScheme(scheme).Build()
			cache := startPodCache(t, c)

			spec := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			sel, err := metav1.LabelSelectorAsSelector(spec)
			if err != nil {
				t.Fatal(err)
			}
			keys := inject.SelectorIndexKeys(spec)
			keep := func(v *podview.View) bool { return inject.Excluded(v.Namespace, v.Labels, "sidecarset-system") == "" }
			var set podSet
			set.at.hash = hashes[hashName]
			noted := 0
			matched := func(obj any) (string, string, bool) {
				if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				v := obj.(*podview.View)
				return v.Namespace, v.Name, sel.Matches(labels.Set(v.Labels))
			}
			note := func(objs ...any) {
				for _, obj := range objs {
					if namespace, name, ok := matched(obj); ok {
						set.note(namespace, name)
						noted++
					}
				}
			}
			if _, err := cache.informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { note(obj) },
				UpdateFunc: func(old, obj any) { note(old, obj) },
				DeleteFunc: func(obj any) { note(obj) },
			}); err != nil {
				t.Fatal(err)
			}

			model := map[podKey]map[string]string{} // the pods as the API holds them: their labels
			somePod := func() podKey {
				ks := slices.SortedFunc(maps.Keys(model), func(a, b podKey) int {
					return cmp.Or(strings.Compare(a.namespace, b.namespace), strings.Compare(a.name, b.name))
				})
				return ks[rng.IntN(len(ks))]
			}
			randomLabels := func() map[string]string {
				l := map[string]string{"app": []string{"web", "web", "api"}[rng.IntN(3)]}
				if rng.IntN(6) == 0 {
					l[appsv1alpha1.InjectLabel] = "false"
				}
				return l
			}
			want := func() []string {
				var out []string
				for k, l := range model {
					if sel.Matches(labels.Set(l)) && l[appsv1alpha1.InjectLabel] != "false" {
						out = append(out, k.namespace+"/"+k.name)
					}
				}
				slices.Sort(out)
				return out
			}
			now := time.Now()
			next := 0
			for round := range 30 {
				for range 1 + rng.IntN(6) {
					switch op := rng.IntN(4); {
					case op == 0 || len(model) < 10: // a new pod
						k := podKey{[]string{"shop", "cart", "kube-system"}[rng.IntN(3)], fmt.Sprintf("pod-%03d", next)}
						next++
						l := randomLabels()
						if err := c.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: k.namespace, Name: k.name, Labels: l}}); err != nil {
							t.Fatal(err)
						}
						if k.namespace != "kube-system" {
							model[k] = l
						}
					case op == 3: // a pod deleted
						k := somePod()
						if err := c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: k.namespace, Name: k.name}}); err != nil {
							t.Fatal(err)
						}
						delete(model, k)
					default: // a pod relabelled: into the selector, out of it, opted out, or the same
						k := somePod()
						pod := &corev1.Pod{}
						if err := c.Get(ctx, client.ObjectKey{Namespace: k.namespace, Name: k.name}, pod); err != nil {
							t.Fatal(err)
						}
						pod.Labels = randomLabels()
						if err := c.Update(ctx, pod); err != nil {
							t.Fatal(err)
						}
						model[k] = pod.Labels
					}
				}
				// The cache and the notes follow the API in a moment: take until the set holds what the model
				// selects, or fail.
				var got []string
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					views, at, err := set.take(cache, sel, keys, keep, now)
					if err != nil {
						t.Fatal(err)
					}
					got = got[:0]
					for i, v := range views {
						got = append(got, v.Namespace+"/"+v.Name)
						if j, ok := at.get(views, v.Namespace, v.Name); !ok || j != i || at.len() != len(views) {
							t.Fatalf("round %d: %s is at %d, its position says %d (%v) among %d for %d pods", round, v.Name, i, j, ok, at.len(), len(views))
						}
					}
					for k := range model { // a pod not kept has no place
						if j, ok := at.get(views, k.namespace, k.name); ok && (views[j].Namespace != k.namespace || views[j].Name != k.name) {
							t.Fatalf("round %d: %s/%s is said to be at %d, where %s is", round, k.namespace, k.name, j, views[j].Name)
						}
					}
					slices.Sort(got)
					if slices.Equal(got, want()) || time.Now().After(deadline) {
						break
					}
				}
				if w := want(); !slices.Equal(got, w) {
					t.Fatalf("round %d: the kept pods are\n%v\nthe cache selects\n%v", round, got, w)
				}
			}
			if noted == 0 || !set.built.Equal(now) {
				t.Fatalf("noted %d pods; built at %v: the test does not exercise the notes", noted, set.built)
			}
			if hashName == "colliding" && len(set.at.collided) == 0 {
				t.Fatal("no pod is kept by name: the test does not exercise the collisions")
			}
		})
	}
}

// TestKeptPodsReadInFullWhenTheSelectorChanges wants a podSet to read the pods in full, without a note, when
// the selector it is taken with is another, or the last full read is podSetRebuildEvery old.
func TestKeptPodsReadInFullWhenTheSelectorChanges(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	for i, app := range []string{"web", "web", "api"} {
		if err := c.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprint("pod-", i),
			Labels: map[string]string{"app": app}}}); err != nil {
			t.Fatal(err)
		}
	}
	cache := startPodCache(t, c)
	keepAll := func(*podview.View) bool { return true }
	selector := func(app string) (labels.Selector, []string) {
		spec := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
		sel, _ := metav1.LabelSelectorAsSelector(spec)
		return sel, inject.SelectorIndexKeys(spec)
	}
	var set podSet
	now := time.Now()
	count := func(app string, at time.Time) int {
		sel, keys := selector(app)
		views, _, err := set.take(cache, sel, keys, keepAll, at)
		if err != nil {
			t.Fatal(err)
		}
		return len(views)
	}
	if n := count("web", now); n != 2 {
		t.Fatalf("app=web: %d pods, want 2", n)
	}
	if n := count("api", now); n != 1 {
		t.Fatalf("the selector changed to app=api: %d pods, want 1", n)
	}
	// A pod relabelled without a note: seen only once the full read is due.
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "pod-0"}, pod); err != nil {
		t.Fatal(err)
	}
	pod.Labels["app"] = "api"
	if err := c.Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if v, ok, _ := cache.Get("shop", "pod-0"); ok && v.Labels["app"] == "api" {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the cache did not show the relabelled pod")
		}
	}
	if n := count("api", now.Add(podSetRebuildEvery/2)); n != 1 {
		t.Fatalf("before a full read is due: %d pods, want the 1 kept", n)
	}
	if n := count("api", now.Add(podSetRebuildEvery)); n != 2 {
		t.Fatalf("a full read due: %d pods, want 2", n)
	}
}
