package step

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// TestMemoDecidesAsWithout plays random reconciles of one SidecarSet with a memo kept between them, as the
// controller keeps one, and wants each decision to equal the decision made without a memo. Between
// reconciles, as in the pod cache, some pods get new views (another revision, an update in progress, not
// ready, failing, leaving, finished) and the others keep theirs, some changing places in the input; writes go
// in flight; the clock moves; the strategy changes (the progress deadline and the recreate policy with it)
// and a stored revision is dropped and stored again. The nodes are in two zones and a disruption budget
// selects the pods of one namespace: what a decision gives the planner besides the pods' observations (zone,
// number, budgets) must not outlive it in the records the memo keeps. Half the seeds keep only 3 of the
// states a decision decodes to make entries, so that most are read again when their pods are observed.
func TestMemoDecidesAsWithout(t *testing.T) {
	strategies := []string{
		`{maxUnavailable: 3}`,
		`{maxUnavailable: 2, progressDeadlineSeconds: 30, failurePolicy: {maxFailedPods: 2}}`,
		`{maxUnavailable: 4, recreate: {policy: Evict}}`,
		`{maxUnavailable: 50%, partition: 5, failurePolicy: {action: Rollback, maxFailedPods: 1}}`,
	}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if seed%2 == 1 {
				kept := keptStates
				keptStates = 3
				t.Cleanup(func() { keptStates = kept })
			}
			rng := rand.New(rand.NewPCG(seed, 99))
			f := newFixture(t, strategies[seed%uint64(len(strategies))])
			g := podGen{t: t, f: f, rng: rng}
			pods := make([]Pod, 40)
			for i := range pods {
				pods[i] = Pod{View: g.pod(i, 0)}
			}
			memo := &Memo{}
			hits := 0
			for step := range 40 {
				in := f.input(pods...)
				in.Now = now.Add(time.Duration(step) * 7 * time.Second)
				in.Memo = memo
				in.Zones = map[string]string{"node-0": "a", "node-1": "b", "node-2": "a", "node-3": "b"}
				in.Budgets = []Budget{shopBudget(t, pods, rng.IntN(3))}
				if step%9 == 5 {
					in.Stored = in.Stored[1:] // the revision before is no longer stored
				}
				before := len(memo.pods)
				with := Decide(in)
				for _, c := range memo.current[:cap(memo.current)] {
					if c.state != nil || c.pod != nil {
						t.Fatalf("step %d: the memo keeps the decision's pod %s and its decoded state", step, c.pod.Name)
					}
				}
				in.Memo = nil
				without := Decide(in)
				if !reflect.DeepEqual(with, without) {
					t.Fatalf("step %d: with a memo Decide decided\n%+v\nwithout one\n%+v", step, with, without)
				}
				if step > 0 && before > 0 {
					hits++
				}
				// The cache shows some writes and replaces some views; the other writes stay in flight.
				written := map[string]inplace.Change{}
				for _, u := range with.Updates {
					written[u.Name] = u.Change
				}
				for i := range pods {
					pods[i].Written = nil
					if c, ok := written[pods[i].View.Name]; ok && rng.IntN(2) == 0 {
						pods[i].Written = &c
					} else if rng.IntN(5) == 0 {
						pods[i].View = g.pod(i, step+1)
					}
				}
				if rng.IntN(3) == 0 { // the pods come in another order: some views are not at their place
					i, j := rng.IntN(len(pods)), rng.IntN(len(pods))
					pods[i], pods[j] = pods[j], pods[i]
				}
				if step%13 == 12 {
					f = newFixture(t, strategies[rng.IntN(len(strategies))])
					g.f = f
				}
			}
			if hits == 0 {
				t.Fatal("no decision found the memo filled: the test does not exercise it")
			}
		})
	}
}

// shopBudget is a PodDisruptionBudget of the pods of namespace shop that allows disruptions more.
func shopBudget(t *testing.T, pods []Pod, disruptions int) Budget {
	t.Helper()
	selector, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	b := Budget{Name: "shop/web", Generation: 1, Selector: selector, Status: policyv1.PodDisruptionBudgetStatus{
		DisruptionsAllowed: int32(disruptions), DesiredHealthy: int32(len(pods) / 4), ObservedGeneration: 1}}
	for _, p := range pods {
		if p.View.Namespace == "shop" {
			b.Selected = append(b.Selected, p.View)
		}
	}
	return b
}

// podGen makes random pods of the fixture's SidecarSet.
type podGen struct {
	t   *testing.T
	f   *fixture
	rng *rand.Rand
}

func (g podGen) pod(i, version int) *podview.View {
	rng := g.rng
	name := fmt.Sprintf("web-%02d", i)
	rev, image := g.f.previous, "shipper:1"
	if rng.IntN(2) == 0 {
		rev, image = g.f.latest, "shipper:2"
	}
	st := podstate.SidecarSetState{Revision: rev, Images: map[string]string{"shipper": image}}
	ready, running := corev1.ConditionTrue, image
	status := corev1.ContainerStatus{Name: "shipper", Image: image, ContainerID: "c://" + name, Ready: true}
	switch rng.IntN(8) {
	case 0: // an update in progress, the kubelet not there yet
		st.Update = &podstate.Update{From: g.f.previous, StartedAt: metav1.NewTime(now.Add(-time.Duration(rng.IntN(120)) * time.Second)),
			Containers: map[string]podstate.ContainerMark{"shipper": {ContainerID: "c://" + name}}}
		running = "shipper:1"
	case 1: // failing to pull
		status.Ready, status.State = false, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}
		ready = corev1.ConditionFalse
	case 2:
		ready = corev1.ConditionFalse
	}
	status.Image = running
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: []string{"shop", "cart"}[i%2], Name: name, UID: types.UID("uid-" + name),
			ResourceVersion: fmt.Sprint(100 + version), Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + fmt.Sprint(i%3), UID: "rs", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%4), Containers: []corev1.Container{
			{Name: "shipper", Image: image, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}}},
			{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(now.Add(-time.Duration(rng.IntN(60)) * time.Second))}},
			ContainerStatuses: []corev1.ContainerStatus{status, {Name: "app", Image: "app:1", ContainerID: "c://" + name + "-app", Ready: true}},
		},
	}
	switch rng.IntN(12) {
	case 0:
		pod.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	case 1:
		pod.Status.Phase = corev1.PodSucceeded
	case 2:
		return view(g.t, pod, nil) // never injected
	}
	return view(g.t, pod, podstate.State{"logs": st})
}

// TestMemoForgetsAViewReplacedAtItsPlace wants the memo to drop the entry of a view the cache replaced as soon
// as a decision finds the new view at its place, rather than holding the old view until enough are stale
// for end's sweep; and the new view to keep the pod's number by name.
func TestMemoForgetsAViewReplacedAtItsPlace(t *testing.T) {
	f := newFixture(t, `{maxUnavailable: 1}`)
	pods := make([]Pod, 40)
	for i := range pods {
		pods[i] = Pod{View: f.readyPod(t, fmt.Sprintf("web-%02d", i), f.previous)}
	}
	memo := &Memo{}
	in := f.input(pods...)
	in.Memo = memo
	Decide(in)
	old := memo.placed[7].entry
	if old.rankGen == 0 {
		t.Fatal("the first decision numbered no pod: the pods are not a rollout's")
	}
	for _, i := range []int{3, 7, 21, 22, 39} {
		copied := *pods[i].View // the cache's new view of the same pod
		pods[i].View = &copied
	}
	pods[10], pods[11] = pods[11], pods[10] // two pods at each other's place, their views unchanged
	Decide(in)
	if got := memo.Len(); got != len(pods) {
		t.Errorf("the memo holds %d views of %d pods: the replaced views are kept", got, len(pods))
	}
	if now := memo.placed[7].entry; now == old || now.rankGen != old.rankGen || now.rank != old.rank {
		t.Errorf("the new view's entry %+v, the old one's %+v: want a new entry with the old number", now, old)
	}
}
