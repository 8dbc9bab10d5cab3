package step

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

// TestFailurePolicySequences plays whole rollouts of a bad image through Decide, reconcile after reconcile:
// the decision's revisions, pod writes and status are applied as the controller applies them, and a
// simulated kubelet restarts each written sidecar one reconcile later, failing to pull the bad image. The
// failure policy must stop the rollout at maxFailedPods, roll back or pause as asked, hold that until the spec
// changes, and a fixed spec must then roll out to every pod. The log of each run is compared with a golden
// file, and the same run with the pods handed over in other orders must give the same log.
func TestFailurePolicySequences(t *testing.T) {
	scenarios := []struct {
		name     string
		strategy string
		// wantHeld is the Stalled reason the bad rollout ends held on, and wantBad how many pods run the bad
		// image then: the first batch fails before any pod of it is seen failing, and no second batch may go.
		wantHeld string
		wantBad  int
	}{
		{"rollback-after-one-failure", `{maxUnavailable: 2, failurePolicy: {action: Rollback, maxFailedPods: 1}}`, appsv1alpha1.ReasonRolledBack, 0},
		{"pause-after-two-failures", `{maxUnavailable: 3, failurePolicy: {action: Pause, maxFailedPods: 2}}`, appsv1alpha1.ReasonFailurePolicyPaused, 3},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			log := playFailurePolicy(t, sc.strategy, sc.wantHeld, sc.wantBad, nil)
			for seed := int64(1); seed <= 3; seed++ {
				if again := playFailurePolicy(t, sc.strategy, sc.wantHeld, sc.wantBad, rand.New(rand.NewSource(seed))); again != log {
					t.Fatalf("handing the pods over in another order (seed %d) changed the decisions:\n%s", seed, again)
				}
			}
			golden.Compare(t, filepath.Join("testdata", "sequences", sc.name+".golden"), log, "go test ./internal/step -run TestFailurePolicySequences")
		})
	}
}

// world is what the controller and the kubelet keep between reconciles: the SidecarSet, its stored revisions
// and the pods, with the time each pod's sidecar was last written.
type world struct {
	t       *testing.T
	set     *appsv1alpha1.SidecarSet
	stored  []revision.Stored
	pods    []*corev1.Pod
	written map[string]int // pod name -> step of its last write, until the kubelet acts on it
	// names gives each revision a short name for the log: r1, r2, ... in the order they appear.
	names         map[string]string
	statusWritten time.Time
}

func (w *world) short(rev string) string {
	if rev == "" {
		return "-"
	}
	if _, ok := w.names[rev]; !ok {
		w.names[rev] = fmt.Sprintf("r%d", len(w.names)+1)
	}
	return w.names[rev]
}

// setImage changes the SidecarSet's sidecar image, as a user applying a new spec does.
func (w *world) setImage(image string) {
	w.set = w.set.DeepCopy() // the stored revisions share the old spec's containers
	w.set.Spec.Containers[0].Image = image
	w.set.Generation++
	w.short(revision.For(w.set))
}

func playFailurePolicy(t *testing.T, strategy, wantHeld string, wantBad int, shuffle *rand.Rand) string {
	const pods = 6
	s := spec(t, `{selector: {matchLabels: {app: web}}, containers: [{name: shipper, image: shipper:1}], updateStrategy: `+strategy+`}`)
	w := &world{t: t, set: &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs", Generation: 1, UID: "logs-uid"}, Spec: *s},
		written: map[string]int{}, names: map[string]string{}}
	first := revision.For(w.set)
	w.short(first)
	w.stored = []revision.Stored{{Name: first, Number: 1, Injected: revision.InjectedOf(&w.set.Spec)}}
	for i := range pods {
		w.pods = append(w.pods, runningPod(fmt.Sprintf("web-%d", i), first, "shipper:1", now.Add(-time.Hour)))
	}

	var out strings.Builder
	step := 0
	run := func(until func(d Decision) bool) {
		for quiet := 0; quiet < 3; step++ {
			if step > 60 {
				t.Fatalf("no end after %d reconciles:\n%s", step, out.String())
			}
			d := w.reconcile(step, shuffle)
			fmt.Fprintln(&out, w.line(step, d))
			if until(d) {
				quiet++
			} else {
				quiet = 0
			}
		}
	}
	settled := func(d Decision) bool { return len(d.Updates) == 0 && len(w.written) == 0 }

	fmt.Fprintln(&out, "# shipper:bad is applied")
	w.setImage("shipper:bad")
	run(settled)
	stalled := meta.FindStatusCondition(w.set.Status.Conditions, appsv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Reason != wantHeld {
		t.Fatalf("the bad rollout ended with Stalled %+v, want %s:\n%s", stalled, wantHeld, out.String())
	}
	if bad := w.running("shipper:bad"); bad != wantBad {
		t.Errorf("%d pods run the bad image once the failure policy held the rollout, want %d:\n%s", bad, wantBad, out.String())
	}

	fmt.Fprintln(&out, "# shipper:3 is applied")
	w.setImage("shipper:3")
	run(settled)
	if n := w.running("shipper:3"); n != pods {
		t.Errorf("%d of %d pods run the fixed image at the end:\n%s", n, pods, out.String())
	}
	if ready := meta.FindStatusCondition(w.set.Status.Conditions, appsv1alpha1.ConditionReady); ready == nil ||
		ready.Status != metav1.ConditionTrue || ready.Reason != appsv1alpha1.ReasonRolloutComplete {
		t.Errorf("after the fix Ready is %+v", ready)
	}
	return out.String()
}

// reconcile runs one reconcile as the controller does, then lets the kubelet act on the writes of earlier
// reconciles.
func (w *world) reconcile(step int, shuffle *rand.Rand) Decision {
	clock := now.Add(time.Duration(step) * 10 * time.Second)
	in := Input{SidecarSet: w.set, Stored: w.stored, Now: clock, StatusWritten: w.statusWritten}
	for _, p := range w.pods {
		in.Pods = append(in.Pods, Pod{View: view(w.t, p, nil)})
	}
	if shuffle != nil {
		shuffle.Shuffle(len(in.Pods), func(i, j int) { in.Pods[i], in.Pods[j] = in.Pods[j], in.Pods[i] })
	}
	d := Decide(in)
	if d.Terminal != nil {
		w.t.Fatal(d.Terminal)
	}
	if d.CollisionCount != nil {
		w.t.Fatalf("unexpected revision collision")
	}
	w.applyHistory(d.History)
	for _, u := range d.Updates {
		p := w.pod(u.Name)
		for i := range p.Spec.Containers {
			if image, ok := u.Change.Images[p.Spec.Containers[i].Name]; ok {
				p.Spec.Containers[i].Image = image
			}
		}
		p.Annotations[appsv1alpha1.StateAnnotation] = podstate.State{"logs": u.Change.State}.Encode()
		w.written[p.Name] = step
	}
	if d.Write {
		w.set.Status = d.Computed
		w.statusWritten = clock
	}
	w.kubelet(step, clock)
	return d
}

func (w *world) applyHistory(h revision.History) {
	if h.Create != nil {
		w.stored = append(w.stored, *h.Create)
	}
	if h.Renumber != nil {
		for i := range w.stored {
			if w.stored[i].Name == h.Renumber.Name {
				w.stored[i].Number = h.Renumber.Number
			}
		}
	}
	w.stored = slices.DeleteFunc(w.stored, func(s revision.Stored) bool { return slices.Contains(h.Delete, s.Name) })
}

// kubelet restarts the sidecar of each pod written before this reconcile on its new image: a bad image
// never pulls, any other comes up ready.
func (w *world) kubelet(step int, clock time.Time) {
	for name, at := range w.written {
		if at >= step {
			continue
		}
		delete(w.written, name)
		p := w.pod(name)
		st := &p.Status.ContainerStatuses[0]
		st.Image, st.ContainerID, st.RestartCount = p.Spec.Containers[0].Image, fmt.Sprintf("c://%s-%d", name, step), st.RestartCount+1
		ready := !strings.Contains(st.Image, "bad")
		st.Ready, st.State = ready, corev1.ContainerState{}
		if !ready {
			st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}
		}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		if p.Status.Conditions[0].Status != status {
			p.Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(clock)}
		}
	}
}

func (w *world) pod(name string) *corev1.Pod {
	for _, p := range w.pods {
		if p.Name == name {
			return p
		}
	}
	w.t.Fatalf("no pod %s", name)
	return nil
}

func (w *world) running(image string) int {
	n := 0
	for _, p := range w.pods {
		if p.Status.ContainerStatuses[0].Image == image {
			n++
		}
	}
	return n
}

// line is one reconcile in the log: what it decided, and the pods as the kubelet left them.
func (w *world) line(step int, d Decision) string {
	var updates []string
	for _, u := range d.Updates {
		updates = append(updates, u.Name)
	}
	slices.Sort(updates)
	var pods []string
	for _, p := range w.pods {
		st, _ := podstate.Parse(p.Annotations[appsv1alpha1.StateAnnotation])
		mark := ""
		switch {
		case hasWrite(w.written, p.Name):
			mark = "~" // written, the kubelet has not acted yet
		case !p.Status.ContainerStatuses[0].Ready:
			mark = "!"
		}
		pods = append(pods, w.short(st["logs"].Revision)+mark)
	}
	cond := func(t string) string {
		if c := meta.FindStatusCondition(w.set.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			return c.Reason
		}
		return "-"
	}
	ready := "-"
	if c := meta.FindStatusCondition(w.set.Status.Conditions, appsv1alpha1.ConditionReady); c != nil {
		ready = string(c.Status) + "/" + c.Reason
	}
	rollback := ""
	if d.Rollback != nil {
		rollback = fmt.Sprintf(" ROLLBACK %s->%s after %d failed", w.short(d.Rollback.From), w.short(d.Rollback.To), d.Rollback.Failed)
	}
	var events []string
	for _, e := range d.Events {
		events = append(events, e.Reason)
	}
	return fmt.Sprintf("%02d target=%s update=[%s]%s pods=[%s] ready=%s stalled=%s failed=%d rolledBackTo=%s events=[%s]",
		step, w.short(d.Target), strings.Join(updates, " "), rollback, strings.Join(pods, " "), ready, cond(appsv1alpha1.ConditionStalled),
		w.set.Status.FailedPods, w.short(w.set.Status.RolledBackTo), strings.Join(events, " "))
}

func hasWrite(written map[string]int, name string) bool {
	_, ok := written[name]
	return ok
}

// runningPod is a pod running shipper at image on revision rev, ready since readySince.
func runningPod(name, rev, image string, readySince time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: "1", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{appsv1alpha1.StateAnnotation: podstate.State{"logs": {Revision: rev,
				Images: map[string]string{"shipper": image}}}.Encode()}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shipper", Image: image}, {Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "shipper", Image: image, ContainerID: "c://" + name + "-0", Ready: true},
				{Name: "app", Image: "app:1", ContainerID: "c://" + name + "-app", Ready: true},
			},
		},
	}
}
