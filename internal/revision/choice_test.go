package revision

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// TestWhichRevision holds the one rule for the revision new pods get and the one the rollout moves running
// pods to; the webhook and the reconciler both ask here.
func TestWhichRevision(t *testing.T) {
	stored := func(name string) bool { return name == "logs-old" || name == "logs-new" || name == "logs-pinned" }
	tests := []struct {
		name         string
		pin          string
		rolledBackTo string
		rolledBackIn int64 // the generation status.rolledBackTo was recorded for
		newPods      string
		target       string
	}{
		{name: "nothing set: the latest", newPods: "logs-new", target: "logs-new"},
		{name: "a pin: new pods get it, the rollout goes to the latest", pin: "logs-pinned", newPods: "logs-pinned", target: "logs-new"},
		{name: "a pin naming nothing stored: the latest", pin: "logs-gone", newPods: "logs-new", target: "logs-new"},
		{name: "rolled back for this generation: both get the revision rolled back to", rolledBackTo: "logs-old", rolledBackIn: 3,
			newPods: "logs-old", target: "logs-old"},
		{name: "a rollback wins over a pin", pin: "logs-pinned", rolledBackTo: "logs-old", rolledBackIn: 3, newPods: "logs-old", target: "logs-old"},
		{name: "a rollback of an older generation is over", pin: "logs-pinned", rolledBackTo: "logs-old", rolledBackIn: 2,
			newPods: "logs-pinned", target: "logs-new"},
		{name: "rolled back to a revision no longer stored: the latest", rolledBackTo: "logs-gone", rolledBackIn: 3,
			newPods: "logs-new", target: "logs-new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs", Generation: 3}}
			if tt.pin != "" {
				set.Spec.InjectionStrategy.RevisionName = ptr.To(tt.pin)
			}
			set.Status.RolledBackTo, set.Status.ObservedGeneration = tt.rolledBackTo, tt.rolledBackIn
			if got := ForNewPods(set, "logs-new", stored); got != tt.newPods {
				t.Errorf("new pods get %s, want %s", got, tt.newPods)
			}
			target, rolledBack := Target(set, "logs-new", stored)
			if target != tt.target || rolledBack != (tt.target != "logs-new") {
				t.Errorf("the rollout goes to %s (rolled back %v), want %s", target, rolledBack, tt.target)
			}
		})
	}
}
