package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

func TestSelectorCacheFollowsTheSpec(t *testing.T) {
	set := func(uid string, generation int64, app string) appsv1alpha1.SidecarSet {
		return appsv1alpha1.SidecarSet{
			ObjectMeta: metav1.ObjectMeta{Name: "logs-" + uid, UID: types.UID(uid), Generation: generation},
			Spec:       appsv1alpha1.SidecarSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		}
	}
	web, db := labels.Set{"app": "web"}, labels.Set{"app": "db"}
	var c selectorCache

	got := c.of([]appsv1alpha1.SidecarSet{set("a", 1, "web"), set("b", 1, "db")})
	if !got[0].Matches(web) || got[0].Matches(db) || !got[1].Matches(db) {
		t.Fatalf("selectors %v do not match as their specs say", got)
	}
	// A new generation with another selector is parsed again.
	got = c.of([]appsv1alpha1.SidecarSet{set("a", 2, "db")})
	if got[0].Matches(web) || !got[0].Matches(db) {
		t.Errorf("after its selector changed, SidecarSet a's selector is %v", got[0])
	}
	if len(c.entries) != 1 {
		t.Errorf("the cache keeps %d entries for 1 SidecarSet listed", len(c.entries))
	}
	// A selector that cannot be parsed selects nothing.
	bad := set("c", 1, "web")
	bad.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}}
	if got := c.of([]appsv1alpha1.SidecarSet{bad}); got[0] != nil {
		t.Errorf("an unparsable selector gave %v", got[0])
	}
}
