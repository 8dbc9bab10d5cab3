package status

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

const latest = "logs-new"

var (
	now     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	nowMeta = metav1.NewTime(now)
)

func nowMetaAt(t time.Time) metav1.Time { return metav1.NewTime(t) }

type podOption func(*Pod)

// pod builds a ready pod in namespace "ns" on the latest revision.
func pod(name string, opts ...podOption) Pod {
	p := Pod{Pod: rollout.Pod{Namespace: "ns", Name: name, OnTarget: true, Updatable: true, Ready: true,
		ReadySince: rollout.At(now.Add(-time.Hour))}, Revision: latest}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func outdated() podOption { return func(p *Pod) { p.OnTarget, p.Revision = false, "logs-old" } }
func notUpgradable() podOption {
	return func(p *Pod) { p.OnTarget, p.Updatable, p.Revision = false, false, "logs-older" }
}
func missing() podOption {
	return func(p *Pod) { p.OnTarget, p.Updatable, p.Revision, p.Missing = false, false, "", true }
}
func conflicted() podOption { return func(p *Pod) { p.Conflicted = true } }

// skipped is a pod injection skipped: its state records the revision it was created at, and why.
func skipped(why string) podOption {
	return func(p *Pod) { p.OnTarget, p.Updatable, p.Skipped = true, false, why }
}
func updating() podOption { return func(p *Pod) { p.Updating, p.Ready = true, false } }
func failed() podOption   { return func(p *Pod) { p.Failed, p.Ready = true, false } }

func podsOf(n int, prefix string, opts ...podOption) []Pod {
	out := make([]Pod, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("%s-%02d", prefix, i), opts...)
	}
	return out
}

// input plans over the pods with the strategy, as the controller does, and returns the status input.
func input(t *testing.T, strategyManifest string, pods []Pod, stall *Stall) Input {
	t.Helper()
	view := make([]rollout.Pod, len(pods))
	for i := range pods {
		view[i] = pods[i].Pod
	}
	plan, err := rollout.Compute(fixture.Decode[appsv1alpha1.UpdateStrategy](t, strategyManifest), view, now)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Generation: 3, LatestRevision: latest, Revisions: []string{latest, "logs-old", "logs-older"},
		Pods: pods, Plan: plan, Stall: stall}
}

func condition(st appsv1alpha1.SidecarSetStatus, t string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, t)
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name         string
		strategy     string
		pods         []Pod
		stall        *Stall
		rolledBackTo string
		ready        metav1.ConditionStatus
		readyReason  string
		reconciling  bool
		stalled      string // reason, "" when absent
		drift        string // reason, "" when not drifted
		driftMessage string
		kstatus      kstatus.Status
	}{
		{
			name: "every pod updated and available", strategy: `{}`, pods: podsOf(3, "p"),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonRolloutComplete, kstatus: kstatus.CurrentStatus,
		},
		{
			name: "pods left to update", strategy: `{maxUnavailable: 1}`, pods: append(podsOf(2, "p"), podsOf(3, "o", outdated())...),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonRollingOut, reconciling: true,
			drift: appsv1alpha1.ReasonOutdated, driftMessage: "3 of 5 pods not on revision logs-new: 3 outdated (updatable in place); for example ns/o-00, ns/o-01, ns/o-02",
			kstatus: kstatus.InProgressStatus,
		},
		{
			name: "the last updated pod is still restarting", strategy: `{}`, pods: append(podsOf(2, "p"), pod("u", updating())),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonRollingOut, reconciling: true, kstatus: kstatus.InProgressStatus,
		},
		{
			name: "paused on purpose is not a failure", strategy: `{paused: true}`, pods: append(podsOf(2, "p"), podsOf(2, "o", outdated())...),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonPaused, drift: appsv1alpha1.ReasonPaused,
			driftMessage: "2 of 4 pods not on revision logs-new: 2 outdated (updatable in place); for example ns/o-00, ns/o-01",
			kstatus:      kstatus.CurrentStatus,
		},
		{
			name: "NotUpdate is inject-only, not a failure", strategy: `{type: NotUpdate}`, pods: append(podsOf(1, "p"), podsOf(1, "o", outdated())...),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonPaused, drift: appsv1alpha1.ReasonPaused, kstatus: kstatus.CurrentStatus,
		},
		{
			name: "a partition reached is done, and drifted on purpose", strategy: `{partition: 2}`, pods: append(podsOf(2, "p"), podsOf(2, "o", outdated())...),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonRolloutComplete, drift: appsv1alpha1.ReasonPartitioned, kstatus: kstatus.CurrentStatus,
		},
		{
			name: "a selector leaving pods behind is done", strategy: `{selector: {matchLabels: {canary: "true"}}}`, pods: append(podsOf(2, "p"), pod("o", outdated())),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonRolloutComplete, drift: appsv1alpha1.ReasonPartitioned, kstatus: kstatus.CurrentStatus,
		},
		{
			name: "pods behind by more than images need recreating: the change did not land", strategy: `{}`, pods: append(podsOf(1, "p"), pod("n", notUpgradable())),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonNotUpgradable, stalled: appsv1alpha1.ReasonNotUpgradable,
			drift:        appsv1alpha1.ReasonNotUpgradable,
			driftMessage: "1 of 2 pods not on revision logs-new: 1 not upgradable (need recreating); for example ns/n",
			kstatus:      kstatus.FailedStatus,
		},
		{
			name: "pods skipped at injection, the first one named with its reason", strategy: `{}`,
			pods: append(podsOf(1, "p"), pod("s2", skipped("the pod would be invalid: b")), pod("s1", skipped("the pod would be invalid: a")),
				pod("c", conflicted())),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonInjectionSkipped, stalled: appsv1alpha1.ReasonInjectionSkipped,
			drift: appsv1alpha1.ReasonInjectionSkipped,
			driftMessage: "3 of 4 pods not on revision logs-new: 3 missing sidecars, 1 with a name conflict, 2 skipped at injection because the API " +
				"server would have refused the pod; for example ns/c, ns/s1, ns/s2; skipped at injection, for example ns/s1: the pod would be invalid: a",
			kstatus: kstatus.FailedStatus,
		},
		{
			name: "pods never injected", strategy: `{}`, pods: append(podsOf(1, "p"), pod("m", missing())),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonMissingSidecar, stalled: appsv1alpha1.ReasonMissingSidecar,
			drift: appsv1alpha1.ReasonMissingSidecar, kstatus: kstatus.FailedStatus,
		},
		{
			name: "a name conflict is the main cause, and its pods count as missing", strategy: `{}`,
			pods:  append(podsOf(1, "p"), pod("c", conflicted()), pod("n", notUpgradable())),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonConflict, stalled: appsv1alpha1.ReasonConflict,
			drift:        appsv1alpha1.ReasonConflict,
			driftMessage: "2 of 3 pods not on revision logs-new: 1 not upgradable (need recreating), 1 missing sidecars, 1 with a name conflict; for example ns/c, ns/n",
			kstatus:      kstatus.FailedStatus,
		},
		{
			name: "the failure policy paused the rollout", strategy: `{failurePolicy: {maxFailedPods: 1}}`,
			pods:  append(podsOf(1, "p"), pod("f", failed()), pod("o", outdated())),
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonFailurePolicyPaused, stalled: appsv1alpha1.ReasonFailurePolicyPaused,
			drift: appsv1alpha1.ReasonOutdated, kstatus: kstatus.FailedStatus,
		},
		{
			name: "rolled back", strategy: `{}`, pods: podsOf(2, "o", outdated()),
			stall: &Stall{Reason: appsv1alpha1.ReasonRolledBack, Message: "rolled back to logs-old"},
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonRolledBack, stalled: appsv1alpha1.ReasonRolledBack,
			drift: appsv1alpha1.ReasonRolledBack, kstatus: kstatus.FailedStatus,
		},
		{
			name: "progress deadline exceeded", strategy: `{}`, pods: append(podsOf(1, "p"), pod("u", updating())),
			stall: &Stall{Reason: appsv1alpha1.ReasonProgressDeadlineExceeded, Message: "no progress for 600s"},
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonProgressDeadlineExceeded, stalled: appsv1alpha1.ReasonProgressDeadlineExceeded,
			kstatus: kstatus.FailedStatus,
		},
		{
			name: "a pod on target not ready for reasons of its own does not hold Ready", strategy: `{}`,
			pods:  append(podsOf(2, "p"), pod("crashing", func(p *Pod) { p.Ready = false })),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonRolloutComplete, kstatus: kstatus.CurrentStatus,
		},
		{
			name: "pods the failure policy returned to the previous revision are reported as rolled back", strategy: `{}`,
			pods:  append(podsOf(1, "b", func(p *Pod) { p.Revision = "logs-old" }), pod("n", notUpgradable())),
			stall: &Stall{Reason: appsv1alpha1.ReasonRolledBack, Message: "rolled back to logs-old"}, rolledBackTo: "logs-old",
			ready: metav1.ConditionFalse, readyReason: appsv1alpha1.ReasonRolledBack, stalled: appsv1alpha1.ReasonRolledBack,
			drift:        appsv1alpha1.ReasonRolledBack,
			driftMessage: "2 of 2 pods not on revision logs-new: 1 returned to revision logs-old by the failure policy, 1 not upgradable (need recreating); for example ns/b-00, ns/n",
			kstatus:      kstatus.FailedStatus,
		},
		{
			name: "an unready pod held back by the partition does not hold Ready", strategy: `{partition: 1}`,
			pods:  append(podsOf(1, "p"), pod("o", outdated(), func(p *Pod) { p.Ready = false })),
			ready: metav1.ConditionTrue, readyReason: appsv1alpha1.ReasonRolloutComplete, drift: appsv1alpha1.ReasonPartitioned, kstatus: kstatus.CurrentStatus,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(t, tt.strategy, tt.pods, tt.stall)
			in.RolledBackTo = tt.rolledBackTo
			st := Compute(&appsv1alpha1.SidecarSetStatus{}, in, nowMeta)

			ready := condition(st, appsv1alpha1.ConditionReady)
			if ready == nil || ready.Status != tt.ready || ready.Reason != tt.readyReason || ready.ObservedGeneration != 3 {
				t.Errorf("Ready = %+v, want %s %s", ready, tt.ready, tt.readyReason)
			}
			if got := condition(st, appsv1alpha1.ConditionReconciling); (got != nil) != tt.reconciling {
				t.Errorf("Reconciling = %+v, want present %v", got, tt.reconciling)
			}
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			if (stalled == nil && tt.stalled != "") || (stalled != nil && stalled.Reason != tt.stalled) {
				t.Errorf("Stalled = %+v, want reason %q", stalled, tt.stalled)
			}
			drifted := condition(st, appsv1alpha1.ConditionDrifted)
			switch {
			case tt.drift == "" && (drifted.Status != metav1.ConditionFalse || drifted.Reason != appsv1alpha1.ReasonUpToDate):
				t.Errorf("Drifted = %+v, want False UpToDate", drifted)
			case tt.drift != "" && (drifted.Status != metav1.ConditionTrue || drifted.Reason != tt.drift):
				t.Errorf("Drifted = %+v, want True %s", drifted, tt.drift)
			case tt.driftMessage != "" && drifted.Message != tt.driftMessage:
				t.Errorf("Drifted message\n got %q\nwant %q", drifted.Message, tt.driftMessage)
			}
			if st.DriftedPods != st.OutdatedPods+st.NotUpgradablePods+st.MissingPods {
				t.Errorf("drifted %d != outdated %d + notUpgradable %d + missing %d", st.DriftedPods, st.OutdatedPods, st.NotUpgradablePods, st.MissingPods)
			}
			if got := kstatusOf(t, st); got != tt.kstatus {
				t.Errorf("kstatus says %s, want %s", got, tt.kstatus)
			}
		})
	}
}

// kstatusOf is what kstatus (the library behind Flux's health checks and kubectl's status commands) makes of
// a SidecarSet at generation 3 with this status.
func kstatusOf(t *testing.T, st appsv1alpha1.SidecarSetStatus) kstatus.Status {
	t.Helper()
	set := &appsv1alpha1.SidecarSet{TypeMeta: metav1.TypeMeta{APIVersion: appsv1alpha1.GroupVersion.String(), Kind: "SidecarSet"},
		ObjectMeta: metav1.ObjectMeta{Name: "logs", Generation: 3}, Status: st}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(set)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func TestKstatusWaitsForTheNewGeneration(t *testing.T) {
	st := Compute(&appsv1alpha1.SidecarSetStatus{}, input(t, `{}`, podsOf(2, "p"), nil), nowMeta)
	st.ObservedGeneration = 2 // the controller has not seen generation 3 yet
	if got := kstatusOf(t, st); got != kstatus.InProgressStatus {
		t.Errorf("kstatus says %s for a status of an older generation, want InProgress", got)
	}
}

func TestCounts(t *testing.T) {
	pods := []Pod{
		pod("a"), pod("b", func(p *Pod) { p.Ready = false }), pod("c", outdated()), pod("d", outdated(), func(p *Pod) { p.Ready = false }),
		pod("e", notUpgradable()), pod("f", missing()), pod("g", conflicted()), pod("h", failed()), pod("j", skipped("invalid")),
		// Patched, and still ready on its old sidecar: the kubelet has not restarted it yet.
		pod("i", func(p *Pod) { p.Updating = true }),
	}
	st := Compute(&appsv1alpha1.SidecarSetStatus{}, input(t, `{maxUnavailable: 10, failurePolicy: {maxFailedPods: 5}}`, pods, nil), nowMeta)
	want := appsv1alpha1.SidecarSetStatus{MatchedPods: 10, UpdatedPods: 4, ReadyPods: 7, UpdatedReadyPods: 1,
		DriftedPods: 6, OutdatedPods: 2, NotUpgradablePods: 1, MissingPods: 3, FailedPods: 1}
	got := st
	got.Conditions, got.Revisions, got.ObservedGeneration, got.LatestRevision = nil, nil, 0, ""
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("counts\n got %+v\nwant %+v", got, want)
	}
	wantHistogram := []appsv1alpha1.RevisionPodCount{{Name: latest, Pods: 5}, {Name: "logs-old", Pods: 2}, {Name: "logs-older", Pods: 1}}
	if fmt.Sprint(st.Revisions) != fmt.Sprint(wantHistogram) {
		t.Errorf("revisions %v, want %v", st.Revisions, wantHistogram)
	}
}

func TestDriftMessageNamesAtMostFivePodsSorted(t *testing.T) {
	pods := podsOf(8, "o", outdated())
	pods[0].Name, pods[7].Name = "zz", "aa"
	st := Compute(&appsv1alpha1.SidecarSetStatus{}, input(t, `{}`, pods, nil), nowMeta)
	want := "8 of 8 pods not on revision logs-new: 8 outdated (updatable in place); for example ns/aa, ns/o-01, ns/o-02, ns/o-03, ns/o-04 and 3 more"
	if got := condition(st, appsv1alpha1.ConditionDrifted).Message; got != want {
		t.Errorf("message\n got %q\nwant %q", got, want)
	}
}

func TestConditionsKeepTheirTransitionTimeAndOrder(t *testing.T) {
	rolling := input(t, `{}`, append(podsOf(1, "p"), pod("o", outdated())), nil)
	first := Compute(&appsv1alpha1.SidecarSetStatus{}, rolling, nowMeta)
	later := metav1.NewTime(now.Add(time.Minute))

	// Same status, new message: lastTransitionTime stays.
	rolling.Pods = append(rolling.Pods, pod("o2", outdated()))
	second := Compute(&first, rolling, later)
	if got := condition(second, appsv1alpha1.ConditionReady).LastTransitionTime; !got.Equal(&nowMeta) {
		t.Errorf("Ready's lastTransitionTime moved to %v without a status change", got)
	}

	// Done: Ready turns True with the new time and Reconciling goes away rather than turning False.
	done := Compute(&second, input(t, `{}`, podsOf(2, "p"), nil), later)
	if got := condition(done, appsv1alpha1.ConditionReady); got.Status != metav1.ConditionTrue || !got.LastTransitionTime.Equal(&later) {
		t.Errorf("Ready = %+v", got)
	}
	if condition(done, appsv1alpha1.ConditionReconciling) != nil {
		t.Error("Reconciling must be removed once done")
	}
	var types []string
	for _, c := range first.Conditions {
		types = append(types, c.Type)
	}
	if fmt.Sprint(types) != "[Ready Reconciling Drifted]" {
		t.Errorf("conditions in order %v", types)
	}
}

func TestRollingOutNamesTheWorkloadsThatWait(t *testing.T) {
	pods := append(podsOf(2, "web", outdated()), podsOf(2, "db", outdated())...)
	for i := range pods {
		pods[i].Workload = "Deployment/" + pods[i].Name[:len(pods[i].Name)-3]
	}
	// One pod of each workload is being updated: the other waits on its workload, though the fleet budget
	// (maxUnavailable 10) has room.
	pods[0].OnTarget, pods[0].Updating, pods[0].Ready = true, true, false
	pods[2].OnTarget, pods[2].Updating, pods[2].Ready = true, true, false
	st := Compute(&appsv1alpha1.SidecarSetStatus{}, input(t, `{maxUnavailable: 10}`, pods, nil), nowMeta)
	want := "0 of 4 pods on revision logs-new; 2 left to update, 2 unavailable (maxUnavailable 10); 2 waiting until their " +
		"workload has fewer than maxUnavailablePerWorkload pods unavailable: ns/Deployment/db, ns/Deployment/web"
	if c := condition(st, appsv1alpha1.ConditionReconciling); c == nil || c.Message != want || c.Reason != appsv1alpha1.ReasonRollingOut {
		t.Errorf("Reconciling %+v\nwant message %q", c, want)
	}
}

// TestFailurePolicyPausedSaysWhatFailsNow: the pause holds until the spec changes, and its message follows
// the pods failing now rather than the first failure.
func TestFailurePolicyPausedSaysWhatFailsNow(t *testing.T) {
	for _, tt := range []struct {
		name string
		pods []Pod
		want string
	}{
		{"two failing", append(podsOf(1, "p"), pod("f1", failed()), pod("f2", failed())),
			"failurePolicy.maxFailedPods (1) reached: the rollout is paused until the spec changes; 2 pods failing: ns/f1, ns/f2"},
		{"all recovered", podsOf(3, "p"),
			"failurePolicy.maxFailedPods (1) reached: the rollout is paused until the spec changes; no pod is failing now"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input(t, `{failurePolicy: {maxFailedPods: 1}}`, tt.pods, nil)
			in.Plan.Stopped = rollout.StopFailurePolicy // as a pause latched for this generation holds it
			st := Compute(&appsv1alpha1.SidecarSetStatus{}, in, nowMeta)
			if c := condition(st, appsv1alpha1.ConditionStalled); c == nil || c.Reason != appsv1alpha1.ReasonFailurePolicyPaused || c.Message != tt.want {
				t.Errorf("Stalled = %+v\nwant message %q", c, tt.want)
			}
		})
	}
}
