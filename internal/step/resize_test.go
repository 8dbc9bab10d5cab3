package step

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// resizeFixture is a SidecarSet "logs" whose latest revision changes shipper's CPU request from 100m to
// 200m, and its image only when image2 differs from shipper:1.
func resizeFixture(t *testing.T, strategy, image2 string) *fixture {
	t.Helper()
	const base = `{selector: {matchLabels: {app: web}}, containers: [{name: shipper, image: %s, resources: {requests: {cpu: %s}}}], updateStrategy: %s}`
	return fixtureOf(t, fmt.Sprintf(base, "shipper:1", "100m", strategy), fmt.Sprintf(base, image2, "200m", strategy))
}

// sizedPod is a ready pod running shipper at image, sized cpu in its spec and runningCPU in its status, with
// its state for logs at rev and the given pod conditions besides Ready.
func sizedPod(t *testing.T, name, rev, image, cpu, runningCPU string, update *podstate.Update, conditions ...corev1.PodCondition) *podview.View {
	t.Helper()
	requests := func(q string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}}
	}
	running := requests(runningCPU)
	return view(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: "100", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: image, Resources: requests(cpu)}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: append([]corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}, conditions...),
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "shipper", Image: image, ContainerID: "c://" + name + "-shipper", Ready: true, Resources: &running},
				{Name: "app", Image: "app:1", ContainerID: "c://" + name + "-app", Ready: true},
			},
		},
	}, podstate.State{"logs": {Revision: rev, Images: map[string]string{"shipper": image}, Update: update}})
}

func TestAResourcesChangeRollsOutInPlace(t *testing.T) {
	f := resizeFixture(t, `{maxUnavailable: 1}`, "shipper:1")
	pods := []Pod{{View: sizedPod(t, "web-0", f.previous, "shipper:1", "100m", "100m", nil)},
		{View: sizedPod(t, "web-1", f.previous, "shipper:1", "100m", "100m", nil)}}
	d := Decide(f.input(pods...))
	if d.Computed.OutdatedPods != 2 || d.Computed.NotUpgradablePods != 0 {
		t.Fatalf("outdated %d, not upgradable %d: a resources change is made in place", d.Computed.OutdatedPods, d.Computed.NotUpgradablePods)
	}
	if len(d.Updates) != 1 {
		t.Fatalf("updates %q, want one within maxUnavailable", names(d.Updates))
	}
	u := d.Updates[0]
	if _, resize, err := u.Writes(f.set.Name); err != nil || resize == nil || !u.Resizes() || len(u.Resized) != 1 || u.Resized[0] != "shipper" || len(u.Containers) != 0 || len(u.Change.Images) != 0 {
		t.Errorf("update %+v: want shipper resized without a restart", u)
	}
	if up := u.Change.State.Update; up == nil || len(up.Resized) != 1 || up.From != f.previous {
		t.Errorf("recorded update %+v", up)
	}
}

func TestAnImageAndResourcesChangeMakesOneUpdate(t *testing.T) {
	f := resizeFixture(t, `{maxUnavailable: 1}`, "shipper:2")
	d := Decide(f.input(Pod{View: sizedPod(t, "web-0", f.previous, "shipper:1", "100m", "100m", nil)}))
	if len(d.Updates) != 1 {
		t.Fatalf("updates %q", names(d.Updates))
	}
	u := d.Updates[0]
	if patch, resize, err := u.Writes(f.set.Name); err != nil || resize == nil || len(patch) == 0 || u.Change.Images["shipper"] != "shipper:2" || len(u.Resized) != 1 || len(u.Containers) != 1 {
		t.Errorf("update %+v: want one resize and one patch of the pod", u)
	}
}

func TestResizeProgressInTheStatus(t *testing.T) {
	updating := func() *podstate.Update {
		return &podstate.Update{StartedAt: metav1.NewTime(now.Add(-time.Minute)), Containers: map[string]podstate.ContainerMark{}, Resized: []string{"shipper"}}
	}
	infeasible := corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: "Infeasible",
		Message: "Node didn't have enough capacity: cpu, requested: 200, capacity: 100"}
	tests := []struct {
		name     string
		strategy string
		pod      func(f *fixture) *podview.View
		failed   int32 // before a rollback
		updating bool
		stall    string
	}{
		{"in progress", `{}`, func(f *fixture) *podview.View {
			return sizedPod(t, "web-0", f.latest, "shipper:1", "200m", "100m", updating(),
				corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue})
		}, 0, true, ""},
		{"done", `{}`, func(f *fixture) *podview.View {
			return sizedPod(t, "web-0", f.latest, "shipper:1", "200m", "200m", updating())
		}, 0, false, ""},
		{"infeasible counts as failed, and pauses at maxFailedPods", `{failurePolicy: {maxFailedPods: 1}}`, func(f *fixture) *podview.View {
			return sizedPod(t, "web-0", f.latest, "shipper:1", "200m", "100m", updating(), infeasible)
		}, 1, false, appsv1alpha1.ReasonFailurePolicyPaused},
		{"infeasible under Rollback resizes back", `{failurePolicy: {action: Rollback, maxFailedPods: 1}}`, func(f *fixture) *podview.View {
			return sizedPod(t, "web-0", f.latest, "shipper:1", "200m", "100m", updating(), infeasible)
		}, 1, false, appsv1alpha1.ReasonRolledBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := resizeFixture(t, tt.strategy, "shipper:1")
			d := Decide(f.input(Pod{View: tt.pod(f)}))
			// Rolled back, the pod is counted against the revision rolled back to, where it is not failed.
			if tt.stall != appsv1alpha1.ReasonRolledBack && d.Computed.FailedPods != tt.failed {
				t.Errorf("failed %d, want %d", d.Computed.FailedPods, tt.failed)
			}
			stalled := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionStalled)
			switch {
			case tt.stall == "" && stalled != nil:
				t.Errorf("stalled %s: %s", stalled.Reason, stalled.Message)
			case tt.stall != "" && (stalled == nil || stalled.Reason != tt.stall):
				t.Errorf("stalled %+v, want %s", stalled, tt.stall)
			case tt.stall == appsv1alpha1.ReasonFailurePolicyPaused && !strings.Contains(stalled.Message, "shop/web-0: the kubelet cannot resize shipper (Infeasible): Node didn't have enough capacity"):
				t.Errorf("the pause does not say why the pod failed: %s", stalled.Message)
			}
			ready := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReady)
			if wantReady := !tt.updating && tt.stall == ""; (ready.Status == metav1.ConditionTrue) != wantReady {
				t.Errorf("Ready %s (%s: %s), want ready %v", ready.Status, ready.Reason, ready.Message, wantReady)
			}
			if tt.stall == appsv1alpha1.ReasonRolledBack {
				if d.Target != f.previous || len(d.Updates) != 1 || !d.Updates[0].Resizes() {
					t.Fatalf("target %s, updates %+v: want the pod resized back to %s", d.Target, d.Updates, f.previous)
				}
				if got := podview.ResourcesOf(new(d.Updates[0].Change.Resources["shipper"])); got != "requests cpu=100m" {
					t.Errorf("resized back to %q", got)
				}
			}
		})
	}
}
