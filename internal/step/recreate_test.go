package step

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// recreateFixture is a SidecarSet "logs" whose latest revision adds an argument to shipper: not in place.
func recreateFixture(t *testing.T, strategy string) *fixture {
	t.Helper()
	const base = `{selector: {matchLabels: {app: web}}, containers: [{name: shipper, image: shipper:1%s}], updateStrategy: %s}`
	return fixtureOf(t, fmt.Sprintf(base, "", strategy), fmt.Sprintf(base, ", args: [--verbose]", strategy))
}

// ownedPod is a ready pod of the given controller ("ReplicaSet/web-abc", "Job/x", "" for none) on rev, or
// without the sidecars when rev is "".
func ownedPod(t *testing.T, name, controller, rev string, deleting bool) *podview.View {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name + "-uid"), ResourceVersion: "100",
			Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: "shipper:1"}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}},
	}
	if kind, ctrlName, ok := cut(controller); ok {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: ctrlName, UID: "owner", Controller: ptr.To(true)}}
	}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{Time: now}
	}
	var st podstate.State
	if rev != "" {
		st = podstate.State{"logs": {Revision: rev, Images: map[string]string{"shipper": "shipper:1"}}}
	}
	return view(t, p, st)
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func TestRecreateEvictsThroughTheRollout(t *testing.T) {
	const evict = `{maxUnavailable: 3, maxUnavailablePerWorkload: 100%, recreate: {policy: Evict}}`
	deployment := func(f *fixture, n int) []Pod {
		var out []Pod
		for i := range n {
			out = append(out, Pod{View: ownedPod(t, fmt.Sprintf("web-%d", i), "ReplicaSet/web-abc", f.previous, false)})
		}
		return out
	}
	t.Run("one pod of a Deployment at a time, never a bare pod nor a Job's", func(t *testing.T) {
		f := recreateFixture(t, evict)
		pods := append(deployment(f, 3),
			Pod{View: ownedPod(t, "bare", "", f.previous, false)},
			Pod{View: ownedPod(t, "job-1", "Job/backup", f.previous, false)},
			Pod{View: ownedPod(t, "never-injected", "StatefulSet/db", "", false)})
		d := Decide(f.input(pods...))
		var got []string
		for _, e := range d.Evictions {
			got = append(got, fmt.Sprintf("%s(%s,%d)", e.Name, e.Workload, e.Pods))
		}
		if fmt.Sprint(got) != "[web-0(Deployment/web,3) never-injected(StatefulSet/db,1)]" {
			t.Errorf("evictions %v", got)
		}
		if len(d.Updates) != 0 || d.Plan.NotReplaceable != 2 {
			t.Errorf("updates %q, not replaceable %d", names(d.Updates), d.Plan.NotReplaceable)
		}
	})
	t.Run("an eviction in flight holds its workload until the replacement is created", func(t *testing.T) {
		f := recreateFixture(t, evict)
		evicted := Eviction{Namespace: "shop", Name: "web-0", UID: "web-0-uid", Workload: "Deployment/web", Pods: 3, At: now.Add(-time.Second)}
		pods := deployment(f, 3)

		// The cache does not show the eviction yet.
		in := f.input(pods...)
		in.Evictions = []Eviction{evicted}
		if d := Decide(in); len(d.Evictions) != 0 || d.Plan.InProgress != 1 {
			t.Errorf("evictions %+v, in progress %d: the evicted pod still holds its workload", d.Evictions, d.Plan.InProgress)
		}
		// Gone, and no replacement yet.
		in = f.input(pods[1:]...)
		in.Evictions = []Eviction{evicted}
		if d := Decide(in); len(d.Evictions) != 0 {
			t.Errorf("evicted %+v while the workload waits for its replacement", d.Evictions)
		}
		// The replacement, injected with the latest revision and not ready yet: it holds the workload itself.
		replacement := ownedPod(t, "web-3", "ReplicaSet/web-abc", f.latest, false)
		in = f.input(append(pods[1:], Pod{View: replacement})...)
		in.Evictions = []Eviction{evicted}
		if d := Decide(in); len(d.Evictions) != 1 || d.Evictions[0].Name != "web-1" {
			t.Errorf("evictions %+v: with the replacement ready, the next pod goes", d.Evictions)
		}
		// Past the TTL, the cache is trusted again.
		in = f.input(pods[1:]...)
		in.Evictions = []Eviction{evicted}
		in.Now = now.Add(EvictionTTL + time.Minute)
		if d := Decide(in); len(d.Evictions) != 1 {
			t.Errorf("evictions %+v past the TTL", d.Evictions)
		}
	})
	t.Run("a pod being deleted takes its workload's place", func(t *testing.T) {
		f := recreateFixture(t, evict)
		pods := append(deployment(f, 3), Pod{View: ownedPod(t, "web-old", "ReplicaSet/web-abc", f.previous, true)})
		if d := Decide(f.input(pods...)); len(d.Evictions) != 0 || d.Computed.MatchedPods != 3 {
			t.Errorf("evictions %+v, matched %d", d.Evictions, d.Computed.MatchedPods)
		}
	})
	t.Run("without the policy, the pods are reported and left", func(t *testing.T) {
		f := recreateFixture(t, `{maxUnavailable: 3}`)
		d := Decide(f.input(deployment(f, 3)...))
		if len(d.Evictions) != 0 || d.Computed.NotUpgradablePods != 3 {
			t.Errorf("evictions %+v, not upgradable %d", d.Evictions, d.Computed.NotUpgradablePods)
		}
	})
}

func TestConflictsNameTheContainerOwner(t *testing.T) {
	f := newFixture(t, `{}`)
	pod := view(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "web-0-uid", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: "mine:1"}, {Name: "proxy", Image: "proxy:1"}}},
	}, podstate.State{
		"logs": {Revision: f.latest, Conflicts: []string{"shipper", "proxy"}},
		"mesh": {Revision: "mesh-1", Images: map[string]string{"proxy": "proxy:1"}},
	})
	d := Decide(f.input(Pod{View: pod}, Pod{View: f.readyPod(t, "web-1", f.latest)}))
	want := []Conflict{
		{Namespace: "shop", Name: "web-0", UID: "web-0-uid", Sidecar: "proxy", Owner: "mesh"},
		{Namespace: "shop", Name: "web-0", UID: "web-0-uid", Sidecar: "shipper", Owner: ""},
	}
	if fmt.Sprint(d.Conflicts) != fmt.Sprint(want) {
		t.Errorf("conflicts %+v, want %+v", d.Conflicts, want)
	}
}

func TestAReplacementThatCannotStartItsSidecarStopsTheEvictions(t *testing.T) {
	for _, tt := range []struct {
		strategy string
		failed   int32
		evicts   int
	}{
		{`{maxUnavailable: 3, maxUnavailablePerWorkload: 100%, recreate: {policy: Evict}}`, 1, 0},
		// Without recreate, a new pod failing is not the rollout's doing, as before.
		{`{maxUnavailable: 3, maxUnavailablePerWorkload: 100%}`, 0, 0},
	} {
		f := recreateFixture(t, tt.strategy)
		var pods []Pod
		for i := range 3 {
			pods = append(pods, Pod{View: ownedPod(t, fmt.Sprintf("web-%d", i), "ReplicaSet/web-abc", f.previous, false)})
		}
		// The replacement of an evicted pod, injected with the latest revision, its sidecar crash-looping.
		replacement := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-new", UID: "web-new-uid", Labels: map[string]string{"app": "web", "pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "owner", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: "shipper:1"}, {Name: "app", Image: "app:1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "shipper", Image: "shipper:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
				{Name: "app", Image: "app:1", Ready: true}}},
		}
		pods = append(pods, Pod{View: view(t, replacement, podstate.State{"logs": {Revision: f.latest, Images: map[string]string{"shipper": "shipper:1"}}})})
		d := Decide(f.input(pods...))
		if d.Computed.FailedPods != tt.failed || len(d.Evictions) != tt.evicts {
			t.Errorf("%s: failed %d, evictions %+v; want %d failed, %d evictions", tt.strategy, d.Computed.FailedPods, d.Evictions, tt.failed, tt.evicts)
		}
	}
}
