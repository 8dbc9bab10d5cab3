package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/derived"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
)

func TestPodEventSelectorsFollowTheSpec(t *testing.T) {
	set := func(uid string, generation int64, app string) appsv1alpha1.SidecarSet {
		return appsv1alpha1.SidecarSet{
			ObjectMeta: metav1.ObjectMeta{Name: "logs-" + uid, UID: types.UID(uid), Generation: generation},
			Spec:       appsv1alpha1.SidecarSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		}
	}
	web, db := map[string]string{"app": "web"}, map[string]string{"app": "db"}
	var c derived.Cache[*inject.Matcher]
	of := func(sets ...appsv1alpha1.SidecarSet) []*inject.Matcher {
		var out []*inject.Matcher
		ptrs := make([]*appsv1alpha1.SidecarSet, len(sets))
		for i := range sets {
			ptrs[i] = &sets[i]
		}
		c.Visit(ptrs, parseSelectors, func(_ *appsv1alpha1.SidecarSet, m *inject.Matcher) { out = append(out, m) })
		return out
	}

	got := of(set("a", 1, "web"), set("b", 1, "db"))
	if !got[0].MatchesPod(web) || got[0].MatchesPod(db) || !got[1].MatchesPod(db) {
		t.Fatalf("selectors %v do not match as their specs say", got)
	}
	// A new generation with another selector is parsed again.
	got = of(set("a", 2, "db"))
	if got[0].MatchesPod(web) || !got[0].MatchesPod(db) {
		t.Errorf("after its selector changed, SidecarSet a's selector is %v", got[0])
	}
	// A selector that cannot be parsed selects nothing, and neither does an empty one.
	bad := set("c", 1, "web")
	bad.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}}
	empty := set("d", 1, "web")
	empty.Spec.Selector = &metav1.LabelSelector{}
	if got := of(bad, empty); got[0] != nil || got[1].MatchesPod(web) || got[1].MatchesPod(map[string]string{}) {
		t.Errorf("an unparsable selector gave %v, an empty one %v", got[0], got[1])
	}
}
