package step

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	fx "github.com/sidecarset/sidecarset-operator/internal/fixture" // renamed: fixture is this package's fixture type
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// failingPod is a pod on rev whose shipper, at image, cannot pull it and is not ready.
func (f *fixture) failingPod(t testing.TB, name, rev, image string, update *podstate.Update) *podview.View {
	t.Helper()
	return view(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: "100", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: image}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "shipper", Image: image, ContainerID: "c://" + name + "-shipper",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}},
				{Name: "app", Image: "app:1", ContainerID: "c://" + name + "-app", Ready: true},
			},
		},
	}, podstate.State{"logs": {Revision: rev, Images: map[string]string{"shipper": image}, Update: update}})
}

func (f *fixture) pods(t testing.TB, n int, rev string) []Pod {
	out := make([]Pod, n)
	for i := range out {
		out[i] = Pod{View: f.readyPod(t, fmt.Sprintf("web-%d", i), rev)}
	}
	return out
}

func names(us []PodUpdate) string {
	return fx.Names(us, func(u PodUpdate) string { return u.Name })
}

func withCondition(st appsv1alpha1.SidecarSetStatus, condType, reason string, generation int64, since time.Time) appsv1alpha1.SidecarSetStatus {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condType, Status: metav1.ConditionTrue, Reason: reason,
		Message: "recorded before", ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(since)})
	return st
}

// TestPendingWriteHoldsTheBudget is why writes are remembered in flight: a reconcile that reads the pods of a
// batch written a moment ago, before the cache shows the writes, must neither plan them again nor spend their
// budget on other pods.
func TestPendingWriteHoldsTheBudget(t *testing.T) {
	f := newFixture(t, `{maxUnavailable: 2}`)
	pods := f.pods(t, 10, f.previous)
	first := Decide(f.input(pods...))
	if len(first.Updates) != 2 {
		t.Fatalf("the first step updates %q, want 2 pods (maxUnavailable 2)", names(first.Updates))
	}

	// The cache still shows every pod as it was: without the writes, the same two pods are planned again.
	later := f.input(pods...)
	later.Now = now.Add(100 * time.Millisecond)
	if again := Decide(later); names(again.Updates) != names(first.Updates) {
		t.Fatalf("without the writes the stale cache plans %q; the test assumes it plans the first batch again", names(again.Updates))
	}
	withWrites := make([]Pod, len(pods))
	copy(withWrites, pods)
	for _, u := range first.Updates {
		for i := range withWrites {
			if withWrites[i].View.Name == u.Name {
				withWrites[i].Written = &u.Change
			}
		}
	}
	later.Pods = withWrites
	second := Decide(later)
	if len(second.Updates) != 0 {
		t.Errorf("with two updates in flight and maxUnavailable 2 the step updates %q, want none", names(second.Updates))
	}
	if second.Plan.Unavailable != 2 || second.Plan.OnTarget != 2 {
		t.Errorf("the plan counts %d unavailable and %d on target, want 2 and 2 (the writes in flight)", second.Plan.Unavailable, second.Plan.OnTarget)
	}
	for _, p := range pods {
		if p.View.Injected.Containers[0].Image != "shipper:1" {
			t.Fatalf("Decide modified the cache's view of %s", p.View.Name)
		}
	}
}

// TestPendingWriteOfAFixHidesTheOldFailure: a pod failing on a bad image is written the fixed one. Until the
// cache shows the write, its status still reports the bad image failing; taken as the write made it, with
// its new spec image, that status is about the image being replaced, and the pod is updating, not failed.
// (Judged against its old spec, it read as the fix failing, and the failure policy paused the rollout again.)
func TestPendingWriteOfAFixHidesTheOldFailure(t *testing.T) {
	f := newFixture(t, `{maxUnavailable: 1}`)
	pod := f.failingPod(t, "web-0", f.previous, "shipper:1", nil)
	update := &podstate.Update{From: f.previous, StartedAt: metav1.NewTime(now),
		Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://web-0-shipper"}}}
	written := podstate.SidecarSetState{Revision: f.latest, Images: map[string]string{"shipper": "shipper:2"}, Update: update}
	in := f.input(Pod{View: pod, Written: &inplace.Change{Images: map[string]string{"shipper": "shipper:2"}, State: written}})
	in.Now = now.Add(time.Second)
	if d := Decide(in); d.Computed.FailedPods != 0 || d.Plan.OnTargetUnavailable != 1 {
		t.Errorf("the pod being fixed counts %d failed, %d on target unavailable; want 0 and 1 (updating)",
			d.Computed.FailedPods, d.Plan.OnTargetUnavailable)
	}
	// With its state but not its new spec image, the same status reads as the fix failing: what the test
	// guards against.
	stale := f.failingPod(t, "web-0", f.latest, "shipper:1", update)
	in.Pods = []Pod{{View: stale}}
	if d := Decide(in); d.Computed.FailedPods != 1 {
		t.Fatalf("the test assumes the old spec makes the old failure read as the update's; got %d failed", d.Computed.FailedPods)
	}
}

// TestTargetRollbackPinAndStalls holds what the reconciler decides besides the rollout step itself: which
// revision the rollout moves pods to, when the failure policy rolls back or pauses and how long that holds,
// and which stall the status reports when several apply.
func TestTargetRollbackPinAndStalls(t *testing.T) {
	type want struct {
		target   string // "latest" or "previous"
		rollback bool   // rolls back in this reconcile
		stall    string // Stalled reason, "" when not stalled
		ready    string // Ready reason
		updates  int
	}
	tests := []struct {
		name     string
		strategy string
		edit     func(f *fixture) []Pod
		want     want
	}{
		{"a rollout to the latest revision", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", ready: appsv1alpha1.ReasonRollingOut, updates: 1}},
		{"rolled back for this generation: the target is the revision rolled back to", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Status.RolledBackTo, f.set.Status.ObservedGeneration = f.previous, f.set.Generation
			return f.pods(t, 3, f.latest)
		}, want{target: "previous", stall: appsv1alpha1.ReasonRolledBack, ready: appsv1alpha1.ReasonRolledBack, updates: 1}},
		{"rolled back for an older generation: the new spec rolls out", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Status.RolledBackTo, f.set.Status.ObservedGeneration = f.previous, f.set.Generation-1
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", ready: appsv1alpha1.ReasonRollingOut, updates: 1}},
		{"rolled back to a revision no longer stored: the latest", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Status.RolledBackTo, f.set.Status.ObservedGeneration = "logs-gone", f.set.Generation
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", ready: appsv1alpha1.ReasonRollingOut, updates: 1}},
		{"the failure policy rolls back once maxFailedPods fail", `{maxUnavailable: 1, failurePolicy: {action: Rollback, maxFailedPods: 1}}`,
			func(f *fixture) []Pod {
				failed := f.failingPod(t, "web-9", f.latest, "shipper:2", &podstate.Update{From: f.previous,
					StartedAt: metav1.NewTime(now.Add(-time.Minute)), Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://old"}}})
				return append(f.pods(t, 2, f.previous), Pod{View: failed})
			}, want{target: "previous", rollback: true, stall: appsv1alpha1.ReasonRolledBack, ready: appsv1alpha1.ReasonRolledBack, updates: 1}},
		{"the failure policy cannot roll back without a previous revision: it pauses", `{failurePolicy: {action: Rollback, maxFailedPods: 1}}`,
			func(f *fixture) []Pod {
				f.stored = f.stored[1:]
				failed := f.failingPod(t, "web-9", f.latest, "shipper:2", &podstate.Update{From: f.previous,
					StartedAt: metav1.NewTime(now.Add(-time.Minute)), Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://old"}}})
				return []Pod{{View: failed}}
			}, want{target: "latest", stall: appsv1alpha1.ReasonFailurePolicyPaused, ready: appsv1alpha1.ReasonFailurePolicyPaused}},
		{"the failure policy pauses once maxFailedPods fail", `{maxUnavailable: 2, failurePolicy: {maxFailedPods: 1}}`, func(f *fixture) []Pod {
			failed := f.failingPod(t, "web-9", f.latest, "shipper:2", &podstate.Update{From: f.previous,
				StartedAt: metav1.NewTime(now.Add(-time.Minute)), Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://old"}}})
			return append(f.pods(t, 3, f.previous), Pod{View: failed})
		}, want{target: "latest", stall: appsv1alpha1.ReasonFailurePolicyPaused, ready: appsv1alpha1.ReasonFailurePolicyPaused}},
		{"a pause recorded for this generation holds once the failed pods recovered", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Status = withCondition(f.set.Status, appsv1alpha1.ConditionStalled, appsv1alpha1.ReasonFailurePolicyPaused, f.set.Generation, now)
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", stall: appsv1alpha1.ReasonFailurePolicyPaused, ready: appsv1alpha1.ReasonFailurePolicyPaused}},
		{"a pause recorded for an older generation is over", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Status = withCondition(f.set.Status, appsv1alpha1.ConditionStalled, appsv1alpha1.ReasonFailurePolicyPaused, f.set.Generation-1, now)
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", ready: appsv1alpha1.ReasonRollingOut, updates: 1}},
		{"a pin naming no stored revision stalls, and the rollout goes on", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Spec.InjectionStrategy.RevisionName = ptr.To("logs-gone")
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", stall: appsv1alpha1.ReasonRevisionNotFound, ready: appsv1alpha1.ReasonRevisionNotFound, updates: 1}},
		{"a pin naming a stored revision does not stall", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Spec.InjectionStrategy.RevisionName = ptr.To(f.previous)
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", ready: appsv1alpha1.ReasonRollingOut, updates: 1}},
		{"a latched pause wins over a missing pin", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Spec.InjectionStrategy.RevisionName = ptr.To("logs-gone")
			f.set.Status = withCondition(f.set.Status, appsv1alpha1.ConditionStalled, appsv1alpha1.ReasonFailurePolicyPaused, f.set.Generation, now)
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", stall: appsv1alpha1.ReasonFailurePolicyPaused, ready: appsv1alpha1.ReasonFailurePolicyPaused}},
		{"a rollback wins over a latched pause and a missing pin", `{maxUnavailable: 1}`, func(f *fixture) []Pod {
			f.set.Spec.InjectionStrategy.RevisionName = ptr.To("logs-gone")
			f.set.Status = withCondition(f.set.Status, appsv1alpha1.ConditionStalled, appsv1alpha1.ReasonFailurePolicyPaused, f.set.Generation, now)
			f.set.Status.RolledBackTo, f.set.Status.ObservedGeneration = f.previous, f.set.Generation
			return f.pods(t, 3, f.latest)
		}, want{target: "previous", stall: appsv1alpha1.ReasonRolledBack, ready: appsv1alpha1.ReasonRolledBack, updates: 1}},
		{"a missing pin wins over the progress deadline", `{maxUnavailable: 1, progressDeadlineSeconds: 60}`, func(f *fixture) []Pod {
			f.set.Spec.InjectionStrategy.RevisionName = ptr.To("logs-gone")
			f.set.Status = withCondition(f.set.Status, appsv1alpha1.ConditionReconciling, appsv1alpha1.ReasonRollingOut, f.set.Generation, now.Add(-time.Hour))
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", stall: appsv1alpha1.ReasonRevisionNotFound, ready: appsv1alpha1.ReasonRevisionNotFound, updates: 1}},
		{"no progress for the deadline stalls, and the rollout goes on", `{maxUnavailable: 1, progressDeadlineSeconds: 60}`, func(f *fixture) []Pod {
			f.set.Status = withCondition(f.set.Status, appsv1alpha1.ConditionReconciling, appsv1alpha1.ReasonRollingOut, f.set.Generation, now.Add(-time.Hour))
			return f.pods(t, 3, f.previous)
		}, want{target: "latest", stall: appsv1alpha1.ReasonProgressDeadlineExceeded, ready: appsv1alpha1.ReasonProgressDeadlineExceeded, updates: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.strategy)
			pods := tt.edit(f)
			f.latest = revision.For(f.set) // a pin changes the spec, not the injected content
			d := Decide(f.input(pods...))
			if d.Terminal != nil {
				t.Fatal(d.Terminal)
			}
			target := map[string]string{"latest": f.latest, "previous": f.previous}[tt.want.target]
			if d.Target != target {
				t.Errorf("target %s, want the %s revision %s", d.Target, tt.want.target, target)
			}
			if (d.Rollback != nil) != tt.want.rollback {
				t.Errorf("rollback %+v, want %v", d.Rollback, tt.want.rollback)
			}
			stalled := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionStalled)
			if got := ""; stalled != nil {
				got = stalled.Reason
				if got != tt.want.stall {
					t.Errorf("Stalled %s (%s), want %q", got, stalled.Message, tt.want.stall)
				}
			} else if tt.want.stall != "" {
				t.Errorf("not stalled, want %s", tt.want.stall)
			}
			if stalled != nil && stalled.Message == "recorded before" {
				t.Errorf("Stalled %s repeats the message recorded before instead of saying what holds now", stalled.Reason)
			}
			if ready := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReady); ready == nil || ready.Reason != tt.want.ready {
				t.Errorf("Ready %+v, want reason %s", ready, tt.want.ready)
			}
			if len(d.Updates) != tt.want.updates {
				t.Errorf("updates %q, want %d", names(d.Updates), tt.want.updates)
			}
			for _, u := range d.Updates {
				if patch, _, err := u.Writes(f.set.Name); u.Change.State.Revision != target || err != nil || len(patch) == 0 {
					t.Errorf("update of %s: %+v, patch %s, %v", u.Name, u, patch, err)
				}
			}
			wantRolledBackTo := ""
			if tt.want.target == "previous" {
				wantRolledBackTo = f.previous
			}
			if d.Computed.RolledBackTo != wantRolledBackTo {
				t.Errorf("status.rolledBackTo %q, want %q", d.Computed.RolledBackTo, wantRolledBackTo)
			}
		})
	}
}

func TestCollisionSaltsTheNextRevisionAndDoesNothingElse(t *testing.T) {
	f := newFixture(t, `{}`)
	// A stored revision under the latest name with other content: what a hash collision looks like.
	f.stored[1].Injected = f.stored[0].Injected
	d := Decide(f.input(f.pods(t, 2, f.previous)...))
	if d.CollisionCount == nil || *d.CollisionCount != 1 || d.Requeue != AfterCollision {
		t.Fatalf("collisionCount %v, requeue %s; want 1 and %s", d.CollisionCount, d.Requeue, AfterCollision)
	}
	if d.Write || len(d.Updates) > 0 || d.History.Create != nil || len(d.History.Delete) > 0 {
		t.Errorf("a collision decided more than the salt: %+v", d)
	}
	f.set.Status.CollisionCount = ptr.To[int32](1)
	if d := Decide(f.input(f.pods(t, 2, f.previous)...)); d.CollisionCount != nil || d.History.Create == nil {
		t.Errorf("with the salt the revision is stored under a new name: %+v", d.History)
	}
}

func TestDefaultsComeFromTheAPI(t *testing.T) {
	t.Run("revisionHistoryLimit", func(t *testing.T) {
		f := newFixture(t, `{}`)
		f.set.Spec.RevisionHistoryLimit = nil
		old := f.stored[0]
		f.stored = f.stored[1:]
		for i := range appsv1alpha1.DefaultRevisionHistoryLimit + 2 {
			s := old
			s.Name, s.Number = fmt.Sprintf("logs-old-%02d", i), int64(i-20)
			f.stored = append(f.stored, s)
		}
		d := Decide(f.input())
		if got := strings.Join(d.History.Delete, ","); got != "logs-old-00,logs-old-01" {
			t.Errorf("deletes %s; want the two oldest beyond the default limit of %d", got, appsv1alpha1.DefaultRevisionHistoryLimit)
		}
	})
	t.Run("progressDeadlineSeconds", func(t *testing.T) {
		f := newFixture(t, `{}`)
		f.set.Spec.UpdateStrategy.ProgressDeadlineSeconds = nil
		deadline := appsv1alpha1.DefaultProgressDeadlineSeconds * time.Second
		update := &podstate.Update{From: f.previous, StartedAt: metav1.NewTime(now),
			Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://web-0-shipper"}}}
		pod := f.readyPod(t, "web-0", f.latest)
		pod = view(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", Labels: map[string]string{"app": "web"}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: "shipper:2"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "shipper", Image: "shipper:1", ContainerID: "c://web-0-shipper"}}},
		}, podstate.State{"logs": {Revision: f.latest, Images: map[string]string{"shipper": "shipper:2"}, Update: update}})
		in := f.input(Pod{View: pod})
		in.Now = now.Add(deadline - time.Second)
		if d := Decide(in); d.Computed.FailedPods != 0 {
			t.Errorf("an update younger than the default deadline failed")
		}
		in.Now = now.Add(deadline + time.Second)
		if d := Decide(in); d.Computed.FailedPods != 1 {
			t.Errorf("an update older than the default deadline (%s) has not failed", deadline)
		}
	})
}

func TestRequeueAndStatusWrites(t *testing.T) {
	f := newFixture(t, `{maxUnavailable: 1}`)
	rolling := f.input(append(f.pods(t, 1, f.latest), f.pods(t, 3, f.previous)[1:]...)...)
	d := Decide(rolling)
	if !d.Write || d.Requeue != WhileRolling || len(d.Events) != 1 || d.Events[0].Reason != "RolloutStarted" {
		t.Fatalf("a rollout starting: write %v, requeue %s, events %+v", d.Write, d.Requeue, d.Events)
	}

	// The status written, the next step only moves the counts: held back until a second after the write.
	f.set.Status = d.Computed
	moved := f.input(append(f.pods(t, 2, f.latest), f.pods(t, 3, f.previous)[2:]...)...)
	moved.Now, moved.StatusWritten = now.Add(300*time.Millisecond), now
	d = Decide(moved)
	if d.Write || d.Requeue != 700*time.Millisecond || len(d.Events) != 0 {
		t.Errorf("progress 300 ms after a write: write %v, requeue %s, events %v; want held 700 ms", d.Write, d.Requeue, d.Events)
	}
	moved.Now = now.Add(1100 * time.Millisecond)
	if d = Decide(moved); !d.Write || d.Requeue != WhileRolling {
		t.Errorf("progress a second after a write: write %v, requeue %s", d.Write, d.Requeue)
	}

	// Done: written at once, whatever the last write, and nothing to come back for.
	done := f.input(f.pods(t, 3, f.latest)...)
	done.Now, done.StatusWritten = now.Add(1200*time.Millisecond), now.Add(1100*time.Millisecond)
	d = Decide(done)
	if !d.Write || d.Requeue != 0 || !d.RolloutFinished || d.RolloutDuration != 1200*time.Millisecond {
		t.Errorf("a rollout finishing: write %v, requeue %s, finished %v after %s", d.Write, d.Requeue, d.RolloutFinished, d.RolloutDuration)
	}
	f.set.Status = d.Computed
	if d = Decide(done); d.Write || d.Requeue != 0 || len(d.Events) != 0 {
		t.Errorf("nothing changed: write %v, requeue %s, events %v", d.Write, d.Requeue, d.Events)
	}
}

func TestDisruptionBudgetsCountUpdatingPodsAsUnhealthy(t *testing.T) {
	f := newFixture(t, `{maxUnavailable: 3}`)
	pods := f.pods(t, 4, f.previous)
	selector, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	budget := Budget{Name: "shop/web", Generation: 1, Selector: selector,
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, DesiredHealthy: 3, ObservedGeneration: 1}}
	for _, p := range pods {
		budget.Selected = append(budget.Selected, p.View)
	}
	in := f.input(pods...)
	in.Budgets = []Budget{budget}
	d := Decide(in)
	if len(d.Updates) != 1 || d.Plan.HeldByBudget != 3 {
		t.Fatalf("with a budget allowing one disruption the step updates %q and holds %d back; want 1 and 3", names(d.Updates), d.Plan.HeldByBudget)
	}
	// The budget's status still allows one (the disruption controller has not seen the update), but the pod
	// in flight is unhealthy as the operator counts: nothing more.
	for i := range in.Pods {
		if in.Pods[i].View.Name == d.Updates[0].Name {
			in.Pods[i].Written = &d.Updates[0].Change
		}
	}
	if d := Decide(in); len(d.Updates) != 0 {
		t.Errorf("with the budget's one disruption in flight the step updates %q", names(d.Updates))
	}
	// A budget of another namespace holds nothing.
	in.Pods = f.pods(t, 4, f.previous)
	in.Budgets[0].Name = "other/web"
	if d := Decide(in); len(d.Updates) != 3 {
		t.Errorf("a budget of another namespace held the rollout: %q", names(d.Updates))
	}
}

// TestNewPodsAreNoRollout: pods created on the latest revision and starting up are not a rollout: no
// Reconciling, no RolloutStarted or RolloutFinished, whatever their readiness.
func TestNewPodsAreNoRollout(t *testing.T) {
	f := newFixture(t, `{minReadySeconds: 30}`)
	settled := Decide(f.input(f.pods(t, 3, f.latest)...))
	f.set.Status = settled.Computed
	starting := view(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-new", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: "shipper:2"}, {Name: "app", Image: "app:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}, podstate.State{"logs": {Revision: f.latest, Images: map[string]string{"shipper": "shipper:2"}}})
	justReady := view(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-new2", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: "shipper:2"}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady,
			Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Second))}}},
	}, podstate.State{"logs": {Revision: f.latest, Images: map[string]string{"shipper": "shipper:2"}}})
	in := f.input(append(f.pods(t, 3, f.latest), Pod{View: starting}, Pod{View: justReady})...)
	d := Decide(in)
	if c := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReconciling); c != nil {
		t.Errorf("new pods made the SidecarSet Reconciling: %s", c.Message)
	}
	if len(d.Events) != 0 || d.Requeue != 0 {
		t.Errorf("new pods announced %v and asked to look again in %s", d.Events, d.Requeue)
	}
	if ready := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		t.Errorf("Ready %+v with new pods starting", ready)
	}
}

// TestPinHoldsNewPodsOnlyWhileTheRolloutIsHeld: the pin decides what new pods get (revision.ForNewPods);
// the rollout still moves them to the latest revision unless it is paused, as the user guide says.
func TestPinHoldsNewPodsOnlyWhileTheRolloutIsHeld(t *testing.T) {
	for _, tt := range []struct {
		name     string
		strategy string
		updates  int
		ready    string
		message  string
	}{
		{"the rollout moves pinned pods to the latest", `{maxUnavailable: 3}`, 3, appsv1alpha1.ReasonRollingOut, ""},
		{"a paused rollout holds them on the pin", `{paused: true}`, 0, appsv1alpha1.ReasonPaused,
			"0 of 3 pods on revision %s, 3 held back by updateStrategy.paused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.strategy)
			f.set.Spec.InjectionStrategy.RevisionName = ptr.To(f.previous)
			f.latest = revision.For(f.set)
			if got := revision.ForNewPods(f.set, f.latest, func(string) bool { return true }); got != f.previous {
				t.Fatalf("new pods get %s, want the pinned %s", got, f.previous)
			}
			d := Decide(f.input(f.pods(t, 3, f.previous)...))
			ready := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReady)
			if len(d.Updates) != tt.updates || ready == nil || ready.Reason != tt.ready {
				t.Fatalf("updates %q, Ready %+v; want %d updates and %s", names(d.Updates), ready, tt.updates, tt.ready)
			}
			if tt.message != "" && ready.Message != fmt.Sprintf(tt.message, f.latest) {
				t.Errorf("Ready says %q", ready.Message)
			}
			if stalled := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionStalled); stalled != nil {
				t.Errorf("a pin naming a stored revision stalled: %s", stalled.Message)
			}
		})
	}
}

// TestNotReadyWhileTheWebhookEntryIsMissing: a SidecarSet the API server does not call the webhook for is
// never Ready, however its running pods look; Reconciling says it is being written, and no rollout event is
// recorded for it.
func TestNotReadyWhileTheWebhookEntryIsMissing(t *testing.T) {
	f := newFixture(t, `{}`)
	in := f.input(f.pods(t, 2, f.latest)...)
	in.EntryMissing, in.WebhookConfiguration = true, "sidecarset-operator"
	d := Decide(in)
	ready := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReady)
	reconciling := meta.FindStatusCondition(d.Computed.Conditions, appsv1alpha1.ConditionReconciling)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != appsv1alpha1.ReasonWebhookNotRegistered ||
		!strings.Contains(ready.Message, "logs.inject.sidecarset.io is not in MutatingWebhookConfiguration sidecarset-operator") {
		t.Errorf("Ready %+v", ready)
	}
	if reconciling == nil || reconciling.Reason != appsv1alpha1.ReasonWebhookNotRegistered {
		t.Errorf("Reconciling %+v", reconciling)
	}
	if len(d.Events) != 0 || d.Requeue != WhileRolling {
		t.Errorf("events %v, requeue %s: want none, and to look again", d.Events, d.Requeue)
	}

	// Once written, Ready, and still no rollout event: nothing rolled out.
	f.set.Status = d.Computed
	in.EntryMissing = false
	if d := Decide(in); !meta.IsStatusConditionTrue(d.Computed.Conditions, appsv1alpha1.ConditionReady) || len(d.Events) != 0 {
		t.Errorf("with the entry written: conditions %+v, events %v", d.Computed.Conditions, d.Events)
	}

	// A SidecarSet whose injection is paused has no entry on purpose.
	f.set.Spec.InjectionStrategy.Paused = true
	in.EntryMissing = true
	if d := Decide(in); !meta.IsStatusConditionTrue(d.Computed.Conditions, appsv1alpha1.ConditionReady) {
		t.Errorf("a paused injection without an entry is not Ready: %+v", d.Computed.Conditions)
	}
}

func TestQuiet(t *testing.T) {
	done := rollout.Plan{}
	rolling := rollout.Plan{Candidates: 3}
	tests := []struct {
		name string
		d    Decision
		want bool
	}{
		{"the rollout done, nothing to write", Decision{Plan: done}, true},
		{"the rollout stopped by its pause", Decision{Plan: rollout.Plan{Candidates: 3, Stopped: "paused"}}, true},
		{"pods left to update", Decision{Plan: rolling}, false},
		{"an update in progress", Decision{Plan: rollout.Plan{InProgress: 1}}, false},
		{"pods to write now", Decision{Plan: done, Updates: []PodUpdate{{Name: "web-0"}}}, false},
		{"pods to evict now", Decision{Plan: done, Evictions: []Eviction{{Name: "web-0"}}}, false},
		{"a rollback", Decision{Plan: done, Rollback: &Rollback{From: "b", To: "a"}}, false},
	}
	for _, tt := range tests {
		if got := tt.d.Quiet(); got != tt.want {
			t.Errorf("%s: Quiet() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestEachPodGetsTheBudgetsSelectingIt: every planned pod names exactly the budgets, among those of its
// namespace, whose selectors match it, in their order, whether it has one or several; a pod's list never
// shows another pod's (the first budget's lists share one array).
func TestEachPodGetsTheBudgetsSelectingIt(t *testing.T) {
	selector := func(match map[string]string) labels.Selector {
		s, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: match})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pods := []*rollout.Pod{
		{Namespace: "shop", Name: "a", Labels: map[string]string{"app": "web", "tier": "front"}},
		{Namespace: "shop", Name: "b", Labels: map[string]string{"app": "web", "tier": "back"}},
		{Namespace: "shop", Name: "c", Labels: map[string]string{"app": "web", "tier": "front"}},
		{Namespace: "shop", Name: "d", Labels: map[string]string{"app": "db"}},
		{Namespace: "blog", Name: "e", Labels: map[string]string{"app": "web", "tier": "front"}},
	}
	budgets := []Budget{
		{Name: "shop/web", Selector: selector(map[string]string{"app": "web"})},
		{Name: "shop/db", Selector: selector(map[string]string{"app": "db"})},
		{Name: "shop/front", Selector: selector(map[string]string{"tier": "front"})},
		{Name: "empty/web", Selector: selector(map[string]string{"app": "web"})}, // no pod planned there
		{Name: "blog/web", Selector: selector(map[string]string{"app": "web"})},
		{Name: "shop/none"}, // a nil selector selects nothing, and is not planned with
	}
	out := disruptionBudgets(budgets, pods)
	var got []string
	for _, b := range out {
		got = append(got, b.Name)
	}
	if want := []string{"shop/web", "shop/db", "shop/front", "blog/web"}; !slices.Equal(got, want) {
		t.Fatalf("budgets planned with %v, want %v", got, want)
	}
	want := map[string][]int{"a": {0, 2}, "b": {0}, "c": {0, 2}, "d": {1}, "e": {3}}
	for _, p := range pods {
		if !slices.Equal(p.Budgets, want[p.Name]) {
			t.Errorf("pod %s/%s: budgets %v, want %v", p.Namespace, p.Name, p.Budgets, want[p.Name])
		}
	}
}
