package inflight

import (
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func written(rev string) inplace.Change {
	return inplace.Change{Images: map[string]string{"agent": "agent:2"},
		State: podstate.SidecarSetState{Revision: rev, Images: map[string]string{"agent": "agent:2"}}}
}

func TestPending(t *testing.T) {
	tests := []struct {
		name string
		// the pod's resourceVersion in the cache, and how long after the write it is read
		version string
		after   time.Duration
		want    bool
	}{
		{name: "cache still at the version the write was decided on", version: "10", after: time.Second, want: true},
		{name: "cache shows the write", version: "11", after: time.Second},
		{name: "cache shows a later change, or the pod recreated", version: "57", after: time.Second},
		{name: "write just inside the TTL", version: "10", after: TTL, want: true},
		{name: "write older than the TTL: the cache is trusted again", version: "10", after: TTL + time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Writes
			w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
			st, ok := w.Pending("logs", "shop", "web-1", tt.version, t0.Add(tt.after))
			if ok != tt.want {
				t.Fatalf("Pending = %v, want %v", ok, tt.want)
			}
			if ok && st.State.Revision != "logs-2" {
				t.Errorf("Pending state revision = %q, want logs-2", st.State.Revision)
			}
			// An expectation that ended is forgotten: the same version later is not pending again.
			if !tt.want {
				if _, again := w.Pending("logs", "shop", "web-1", "10", t0.Add(time.Second)); again {
					t.Errorf("an ended expectation came back")
				}
			}
		})
	}
}

func TestPendingIsPerSidecarSetAndPod(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	for _, k := range []struct{ set, ns, name string }{
		{"metrics", "shop", "web-1"}, {"logs", "shop", "web-2"}, {"logs", "bank", "web-1"},
	} {
		if _, ok := w.Pending(k.set, k.ns, k.name, "10", t0); ok {
			t.Errorf("Pending(%s, %s/%s) = true for a pod that was not written for it", k.set, k.ns, k.name)
		}
	}
	if _, ok := w.Pending("logs", "shop", "web-1", "10", t0); !ok {
		t.Errorf("the written pod is not pending")
	}
}

func TestExpireAndForget(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	w.Record("logs", "shop", "web-2", "12", written("logs-2"), t0.Add(20*time.Second))
	w.Record("metrics", "shop", "web-1", "10", written("metrics-5"), t0.Add(20*time.Second))
	if left := w.Expire(t0.Add(TTL + time.Second)); left != 2 {
		t.Fatalf("Expire left %d writes, want 2 (the first is older than the TTL)", left)
	}
	w.Forget("logs")
	if left := w.Expire(t0.Add(TTL + time.Second)); left != 1 {
		t.Fatalf("after Forget(logs) %d writes are left, want 1 (metrics')", left)
	}
	if _, ok := w.Pending("metrics", "shop", "web-1", "10", t0.Add(21*time.Second)); !ok {
		t.Errorf("Forget(logs) dropped another SidecarSet's write")
	}
}

func TestConcurrentRecord(t *testing.T) {
	var w Writes
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Record("logs", "shop", string(rune('a'+i%26))+string(rune('a'+i/26)), "1", written("logs-2"), t0)
		}()
	}
	wg.Wait()
	if left := w.Expire(t0); left != 100 {
		t.Fatalf("%d writes recorded, want 100", left)
	}
}

// TestPendingWriteHoldsTheBudget is why the package exists: a reconcile that reads the pods of a batch
// written a moment ago, before the cache shows the writes, must neither plan them again nor spend their
// budget on other pods.
func TestPendingWriteHoldsTheBudget(t *testing.T) {
	contents := agentRevisions(map[string]string{"logs-1": "agent:1", "logs-2": "agent:2"})
	strategy := &appsv1alpha1.UpdateStrategy{MaxUnavailable: ptr.To(intstr.FromInt32(2))}
	names := []string{"web-0", "web-1", "web-2", "web-3", "web-4", "web-5", "web-6", "web-7", "web-8", "web-9"}
	pods := make([]corev1.Pod, len(names))
	for i, name := range names {
		pods[i] = readyPod(name, "logs-1")
	}

	plan := func(w *Writes, now time.Time) rollout.Plan {
		ob := status.NewObserver(contents)
		views := make([]rollout.Pod, len(pods))
		for i := range pods {
			state, err := podstate.Read(&pods[i])
			if err != nil {
				t.Fatal(err)
			}
			pod := pods[i].DeepCopy()
			if change, ok := w.Pending("logs", pod.Namespace, pod.Name, pod.ResourceVersion, now); ok {
				inplace.Apply(pod, change)
				state["logs"] = change.State
			}
			views[i] = ob.Observe(pod, state, "logs", "logs-2", 10*time.Minute, now).Pod.Pod
		}
		p, err := rollout.Compute(strategy, views, now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	var w Writes
	first := plan(&w, t0)
	if len(first.Update) != 2 {
		t.Fatalf("first plan updates %d pods, want 2 (maxUnavailable 2)", len(first.Update))
	}
	for _, d := range first.Update {
		i := indexOf(names, d.Name)
		change, ok := inplace.Plan(&pods[i], podstate.SidecarSetState{Revision: "logs-1", Images: map[string]string{"agent": "agent:1"}},
			"logs-2", map[string]string{"agent": "agent:2"}, t0)
		if !ok {
			t.Fatalf("no in-place change for %s", d.Name)
		}
		w.Record("logs", pods[i].Namespace, pods[i].Name, pods[i].ResourceVersion, change, t0)
	}

	// The cache still shows every pod as it was: without the writes, the same two pods would be planned again.
	if again := plan(&Writes{}, t0.Add(100*time.Millisecond)); len(again.Update) != 2 || again.Update[0].Name != first.Update[0].Name {
		t.Fatalf("without the writes the stale cache plans %v; the test assumes it plans the first batch again", again.Update)
	}
	second := plan(&w, t0.Add(100*time.Millisecond))
	if len(second.Update) != 0 {
		t.Errorf("with two updates in flight and maxUnavailable 2 the plan updates %v, want none", second.Update)
	}
	if second.Unavailable != 2 || second.OnTarget != 2 {
		t.Errorf("the plan counts %d unavailable and %d on target, want 2 and 2 (the writes in flight)", second.Unavailable, second.OnTarget)
	}
}

// agentRevisions stores revisions, by name, each injecting one sidecar "agent" with the given image.
func agentRevisions(images map[string]string) func(string) (revision.Injected, bool) {
	return func(name string) (revision.Injected, bool) {
		image, ok := images[name]
		if !ok {
			return revision.Injected{}, false
		}
		return revision.Injected{Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: "agent", Image: image}}}}, true
	}
}

func readyPod(name, rev string) corev1.Pod {
	state := podstate.State{"logs": {Revision: rev, Images: map[string]string{"agent": "agent:1"}}}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: "100", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{appsv1alpha1.StateAnnotation: state.Encode()}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "agent", Image: "agent:1", ContainerID: "c://" + name + "-agent", Ready: true},
				{Name: "app", Image: "app:1", ContainerID: "c://" + name + "-app", Ready: true},
			},
		},
	}
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

func TestDropForgetsAFailedWrite(t *testing.T) {
	var w Writes
	w.Record("logs", "shop", "web-1", "10", written("logs-2"), t0)
	w.Record("logs", "shop", "web-2", "10", written("logs-2"), t0)
	w.Drop("logs", "shop", "web-1")
	if _, ok := w.Pending("logs", "shop", "web-1", "10", t0); ok {
		t.Errorf("a dropped write is still pending: the pod would hold budget for nothing until the TTL")
	}
	if _, ok := w.Pending("logs", "shop", "web-2", "10", t0); !ok {
		t.Errorf("Drop dropped another pod's write")
	}
}

// TestPendingWriteOfAFixHidesTheOldFailure: a pod failing on a bad image is written the fixed one. Until the
// cache shows the write, its status still reports the bad image failing; taken as the write made it, with
// its new spec image, that status is about the image being replaced, and the pod is updating, not failed.
// (Judged against its old spec, it read as the fix failing, and the failure policy paused the rollout again.)
func TestPendingWriteOfAFixHidesTheOldFailure(t *testing.T) {
	contents := agentRevisions(map[string]string{"logs-bad": "agent:badpull", "logs-fixed": "agent:3"})
	pod := readyPod("web-0", "logs-bad")
	pod.Spec.Containers[0].Image = "agent:badpull"
	pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "agent", Image: "agent:badpull", ContainerID: "c://web-0-agent",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}
	pod.Status.Conditions[0].Status = corev1.ConditionFalse
	state := podstate.State{"logs": {Revision: "logs-bad", Images: map[string]string{"agent": "agent:badpull"}}}
	pod.Annotations[appsv1alpha1.StateAnnotation] = state.Encode()

	change, ok := inplace.Plan(&pod, state["logs"], "logs-fixed", map[string]string{"agent": "agent:3"}, t0)
	if !ok {
		t.Fatal("no in-place change to the fixed image")
	}
	var w Writes
	w.Record("logs", pod.Namespace, pod.Name, pod.ResourceVersion, change, t0)

	observe := func(apply bool) status.Observed {
		p := pod.DeepCopy()
		st := podstate.State{}
		got, ok := w.Pending("logs", p.Namespace, p.Name, p.ResourceVersion, t0.Add(time.Second))
		if !ok {
			t.Fatal("the write is not pending")
		}
		if apply {
			inplace.Apply(p, got)
		}
		st["logs"] = got.State
		return status.NewObserver(contents).Observe(p, st, "logs", "logs-fixed", 10*time.Minute, t0.Add(time.Second))
	}
	if o := observe(true); o.Failed || !o.Updating || !o.OnTarget {
		t.Errorf("the pod being fixed is observed failed %v, updating %v, on target %v (%s); want updating", o.Failed, o.Updating, o.OnTarget, o.Progress)
	}
	// Without its new spec image the same status reads as the fix failing: what the test guards against.
	if o := observe(false); !o.Failed {
		t.Fatalf("the test assumes the old spec makes the old failure read as the update's; got %s", o.Progress)
	}
}
