package controllers

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// rolloutSidecarSet selects app=<app> pods with a shipper sidecar and a native-sidecar proxy.
func rolloutSidecarSet(name, app, strategy string) *appsv1alpha1.SidecarSet {
	return newSidecarSet(name, fmt.Sprintf(`
selector: {matchLabels: {app: %s}}
containers: [{name: shipper, image: example.com/shipper:1}]
initContainers: [{name: proxy, image: example.com/proxy:1, restartPolicy: Always}]
updateStrategy: %s`, app, strategy))
}

// simulatedPods creates n pods of app in a namespace the test kubelet runs, and waits until they are ready.
func simulatedPods(app string, n int) (string, []*corev1.Pod) {
	ns := newNamespace(map[string]string{simulatedLabel: "true"})
	var pods []*corev1.Pod
	for i := range n {
		p := podSpec(ns, fmt.Sprintf("%s-%02d", app, i), map[string]string{"app": app}, "app")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		pods = append(pods, p)
	}
	waitPodsReady(pods)
	return ns, pods
}

// waitPodsReady waits until the test kubelet made every pod ready.
func waitPodsReady(pods []*corev1.Pod) {
	Eventually(func(g Gomega) {
		for _, p := range pods {
			got := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
		}
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

func sidecarSetStatus(name string) func() appsv1alpha1.SidecarSetStatus {
	return func() appsv1alpha1.SidecarSetStatus {
		set := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, set)).To(Succeed())
		return set.Status
	}
}

// waitReady waits until the SidecarSet's status describes its current generation, with updated pods on the
// latest revision, every one of them ready, and it is Ready: a story changing the image before that would
// see unready pods updated for free, and one checking a rollout's end must not take the status of the
// generation before for it. (Ready alone does not say the pods are ready: a pod not ready for reasons of its
// own does not hold it back.)
func waitReady(name string, updated int32) {
	Eventually(func(g Gomega) {
		set := &appsv1alpha1.SidecarSet{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, set)).To(Succeed())
		st := set.Status
		g.Expect(st.ObservedGeneration).To(Equal(set.Generation))
		g.Expect(st.UpdatedPods).To(Equal(updated))
		g.Expect(st.UpdatedReadyPods).To(Equal(updated))
		g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}).WithTimeout(60 * time.Second).Should(Succeed())
}

func setPaused(name string, paused bool) {
	Eventually(func() error {
		set := &appsv1alpha1.SidecarSet{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
			return err
		}
		set.Spec.UpdateStrategy.Paused = paused
		return k8sClient.Update(ctx, set)
	}).Should(Succeed())
}

func setImage(name, image string) {
	Eventually(func() error {
		set := &appsv1alpha1.SidecarSet{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
			return err
		}
		set.Spec.Containers[0].Image = image
		set.Spec.InitContainers[0].Image = image
		return k8sClient.Update(ctx, set)
	}).Should(Succeed())
}

func condition(st appsv1alpha1.SidecarSetStatus, t string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, t)
}

var _ = Describe("Rolling a sidecar out in place", func() {
	It("reports the matched pods, then updates 30 pods in place within maxUnavailable, app containers untouched", func() {
		name := uniqueName("roll")
		set := rolloutSidecarSet(name, name, `{maxUnavailable: 3}`)
		ns, pods := simulatedPods(name, 30)

		// Ready waits for every pod to be available, which can come after the counts.
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st).To(And(
				HaveField("MatchedPods", int32(30)), HaveField("UpdatedPods", int32(30)), HaveField("DriftedPods", int32(0)),
				HaveField("ObservedGeneration", int64(1)), HaveField("LatestRevision", revision.For(set))))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(st, appsv1alpha1.ConditionReconciling)).To(BeNil())
		}).WithTimeout(20 * time.Second).Should(Succeed())

		uids := map[string]types.UID{}
		for _, p := range pods {
			uids[p.Name] = p.UID
		}
		setImage(name, "example.com/shipper:2")

		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.ObservedGeneration).To(Equal(int64(2)))
			g.Expect(st.UpdatedPods).To(Equal(int32(30)))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(st, appsv1alpha1.ConditionReconciling)).To(BeNil())
		}).WithTimeout(90 * time.Second).Should(Succeed())

		var list corev1.PodList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(30))
		for _, p := range list.Items {
			Expect(p.UID).To(Equal(uids[p.Name]), "pod %s was recreated", p.Name)
			Expect(p.Spec.Containers[0].Image).To(Equal("example.com/shipper:2"))
			Expect(p.Spec.InitContainers[0].Image).To(Equal("example.com/shipper:2"), "the native sidecar was not updated")
			for _, cs := range p.Status.ContainerStatuses {
				switch cs.Name {
				case "app":
					Expect(cs.RestartCount).To(BeZero(), "the app container of %s restarted", p.Name)
				case "shipper":
					Expect(cs.RestartCount).To(Equal(int32(1)), "the sidecar of %s was not restarted exactly once", p.Name)
				}
			}
		}
		Expect(sim.mostUnready(ns)).To(BeNumerically("<=", 3), "more pods were unavailable at once than maxUnavailable allows")
		Expect(sim.mostUnready(ns)).To(BeNumerically(">", 0), "the simulated restarts never made a pod unavailable")

		var revisions appsv1.ControllerRevisionList
		Expect(k8sClient.List(ctx, &revisions, client.InNamespace(operatorNamespace),
			client.MatchingLabels{appsv1alpha1.SidecarSetNameLabel: name})).To(Succeed())
		Expect(revisions.Items).To(HaveLen(2))

		// One pod write per updated pod, gauges from the status as written (the cache may show it a moment
		// later), one rollout timed.
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))).To(Equal(30.0))
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "error"))).To(BeZero())
		Eventually(gauge("sidecarset_pods", prometheus.Labels{"sidecarset": name, "state": "updated"})).Should(HaveValue(Equal(30.0)))
		Expect(testutil.CollectAndCount(rolloutDuration.MustCurryWith(prometheus.Labels{"sidecarset": name}))).To(Equal(1))

		Eventually(func(g Gomega) {
			var events corev1.EventList
			g.Expect(k8sClient.List(ctx, &events, client.MatchingFields{"involvedObject.name": name})).To(Succeed())
			var reasons []string
			for _, e := range events.Items {
				reasons = append(reasons, e.Reason)
			}
			g.Expect(reasons).To(ContainElements("RolloutStarted", "RolloutFinished"))
		}).Should(Succeed())

		Expect(seriesOf("sidecarset_pods", name)()).To(Equal(7), "a SidecarSet has a series for each of the seven states")
		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		Eventually(seriesOf("sidecarset_pods", name)).Should(BeZero(), "the pod gauges of a deleted SidecarSet must go")
	})

	It("finishes a rollout interrupted by an operator restart, updating every pod exactly once", func() {
		name := uniqueName("restart")
		rolloutSidecarSet(name, name, `{maxUnavailable: 2}`)
		ns, _ := simulatedPods(name, 12)
		waitReady(name, 12)

		setImage(name, "example.com/shipper:2")
		Eventually(func() float64 {
			return testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))
		}).Should(BeNumerically(">=", 2))
		stopManager()
		midway := testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))
		Expect(midway).To(BeNumerically("<", 12), "the rollout finished before the operator could be stopped")
		// Nothing updates pods while the operator is down.
		Consistently(func() float64 {
			return testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))
		}).WithTimeout(time.Second).Should(Equal(midway))

		stopManager = startManager()
		waitReady(name, 12)
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))).To(Equal(12.0), "a pod was updated twice, or skipped")
		var list corev1.PodList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, p := range list.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == "shipper" {
					Expect(cs.RestartCount).To(Equal(int32(1)), "the sidecar of %s restarted %d times", p.Name, cs.RestartCount)
				}
			}
		}
	})

	It("holds back the pods a partition keeps, and calls that done", func() {
		name := uniqueName("part")
		rolloutSidecarSet(name, name, `{maxUnavailable: 3, partition: 2}`)
		simulatedPods(name, 6)
		waitReady(name, 6)

		setImage(name, "example.com/shipper:2")
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.ObservedGeneration).To(Equal(int64(2)))
			g.Expect(st.UpdatedPods).To(Equal(int32(4)))
			g.Expect(st.OutdatedPods).To(Equal(int32(2)))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(st, appsv1alpha1.ConditionDrifted).Reason).To(Equal(appsv1alpha1.ReasonPartitioned))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Consistently(sidecarSetStatus(name)).WithTimeout(2 * time.Second).Should(HaveField("UpdatedPods", int32(4)))
	})

	It("reports a rollout that cannot progress once progressDeadlineSeconds pass, and clears it when it can", func() {
		name := uniqueName("deadline")
		ns := newNamespace(map[string]string{simulatedLabel: "true"})
		// A matched pod from before the SidecarSet, never ready: it uses up maxUnavailable.
		stuck := podSpec(ns, "stuck", map[string]string{"app": name, unreadyLabel: "true"}, "app")
		Expect(k8sClient.Create(ctx, stuck)).To(Succeed())
		rolloutSidecarSet(name, name, `{maxUnavailable: 1, progressDeadlineSeconds: 2}`)
		for i := range 2 {
			Expect(k8sClient.Create(ctx, podSpec(ns, fmt.Sprintf("web-%d", i), map[string]string{"app": name}, "app"))).To(Succeed())
		}
		// The pod from before the SidecarSet has none of its sidecars: the change did not land on it, so the
		// SidecarSet is not Ready but Stalled, saying to recreate it.
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.UpdatedPods).To(Equal(int32(2)))
			g.Expect(st.ReadyPods).To(Equal(int32(2)), "both web pods ready, so neither is updated for free")
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonMissingSidecar))
			g.Expect(stalled.Message).To(ContainSubstring(stuck.Namespace + "/stuck; recreate them"))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		setImage(name, "example.com/shipper:2")
		Eventually(func(g Gomega) {
			stalled := condition(sidecarSetStatus(name)(), appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonProgressDeadlineExceeded))
			g.Expect(stalled.Message).To(ContainSubstring("2 left to update, 1 unavailable, maxUnavailable 1"))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		Expect(k8sClient.Delete(ctx, stuck)).To(Succeed())
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.UpdatedPods).To(Equal(int32(2)))
			g.Expect(condition(st, appsv1alpha1.ConditionStalled)).To(BeNil())
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("injects new pods at a pinned revision, and the latest when the pin names no revision", func() {
		name := uniqueName("pin")
		set := rolloutSidecarSet(name, name, `{}`)
		first := revision.For(set)
		ns := newNamespace(nil)
		revisionStored := func(rev string) func() error {
			return func() error {
				return k8sClient.Get(ctx, types.NamespacedName{Namespace: operatorNamespace, Name: rev}, &appsv1.ControllerRevision{})
			}
		}
		Eventually(revisionStored(first)).Should(Succeed())
		setImage(name, "example.com/shipper:2")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set)).To(Succeed())
		Eventually(revisionStored(revision.For(set))).Should(Succeed())

		pin := func(rev string) {
			Eventually(func() error {
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
					return err
				}
				set.Spec.InjectionStrategy.RevisionName = &rev
				return k8sClient.Update(ctx, set)
			}).Should(Succeed())
		}
		newPodImage := func() string {
			p := podSpec(ns, "", map[string]string{"app": name}, "app")
			p.GenerateName = "web-"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			return p.Spec.Containers[0].Image
		}

		pin(first)
		Eventually(newPodImage).Should(Equal("example.com/shipper:1"), "a new pod must get the pinned revision")

		pin("nope")
		Eventually(func(g Gomega) {
			stalled := condition(sidecarSetStatus(name)(), appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonRevisionNotFound))
			g.Expect(stalled.Message).To(ContainSubstring(`injectionStrategy.revisionName "nope" names no revision`))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Eventually(newPodImage).Should(Equal("example.com/shipper:2"), "an unknown pin must fall back to the latest revision")
	})

	It("pauses mid-rollout without calling it a failure, and finishes once resumed", func() {
		name := uniqueName("pause")
		rolloutSidecarSet(name, name, `{maxUnavailable: 1}`)
		simulatedPods(name, 6)
		waitReady(name, 6)

		setImage(name, "example.com/shipper:2")
		Eventually(sidecarSetStatus(name)).Should(HaveField("UpdatedPods", BeNumerically(">=", 1)))
		setPaused(name, true)
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.ObservedGeneration).To(Equal(int64(3)))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Reason).To(Equal(appsv1alpha1.ReasonPaused))
			g.Expect(condition(st, appsv1alpha1.ConditionDrifted).Reason).To(Equal(appsv1alpha1.ReasonPaused))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		held := sidecarSetStatus(name)().UpdatedPods
		Expect(held).To(BeNumerically("<", 6), "the rollout finished before it could be paused")
		Consistently(sidecarSetStatus(name)).WithTimeout(2*time.Second).Should(HaveField("UpdatedPods", held), "pods were updated while paused")

		setPaused(name, false)
		waitReady(name, 6)
	})

	It("does not stall when a pod is deleted in the middle of its update", func() {
		name := uniqueName("gone")
		rolloutSidecarSet(name, name, `{maxUnavailable: 1}`)
		ns, _ := simulatedPods(name, 4)
		waitReady(name, 4)

		setImage(name, "example.com/shipper:2")
		// Catch a pod whose new image is written but not yet running, and delete it.
		var victim *corev1.Pod
		Eventually(func() bool {
			var list corev1.PodList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			for i := range list.Items {
				p := &list.Items[i]
				for _, cs := range p.Status.ContainerStatuses {
					if cs.Name == "shipper" && p.Spec.Containers[0].Image == "example.com/shipper:2" && cs.Image != "example.com/shipper:2" {
						victim = p
						return true
					}
				}
			}
			return false
		}).WithTimeout(20 * time.Second).WithPolling(10 * time.Millisecond).Should(BeTrue())
		Expect(k8sClient.Delete(ctx, victim)).To(Succeed())

		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.MatchedPods).To(Equal(int32(3)))
			g.Expect(st.UpdatedPods).To(Equal(int32(3)))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("rolls a bad image back in place, injects new pods with the old revision, and rolls out again on a new spec", func() {
		name := uniqueName("back")
		set := rolloutSidecarSet(name, name, `{maxUnavailable: 1, failurePolicy: {maxFailedPods: 1, action: Rollback}}`)
		good := revision.For(set)
		ns, _ := simulatedPods(name, 4)
		waitReady(name, 4)

		setImage(name, "example.com/shipper:badpull")
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.RolledBackTo).To(Equal(good))
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonRolledBack))
			g.Expect(condition(st, appsv1alpha1.ConditionDrifted).Reason).To(Equal(appsv1alpha1.ReasonRolledBack))
			// Every pod runs the good images again, ready.
			var list corev1.PodList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			for _, p := range list.Items {
				g.Expect(p.Spec.Containers[0].Image).To(Equal("example.com/shipper:1"), "pod %s", p.Name)
				g.Expect(p.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.PodReady), HaveField("Status", corev1.ConditionTrue))))
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())

		// New pods get the revision rolled back to.
		newPod := podSpec(ns, "new", map[string]string{"app": name}, "app")
		Expect(k8sClient.Create(ctx, newPod)).To(Succeed())
		Expect(newPod.Spec.Containers[0].Image).To(Equal("example.com/shipper:1"))

		// A new spec ends the rollback and rolls out.
		setImage(name, "example.com/shipper:3")
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.RolledBackTo).To(BeEmpty())
			g.Expect(st.UpdatedPods).To(Equal(int32(5)))
			g.Expect(condition(st, appsv1alpha1.ConditionStalled)).To(BeNil())
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(60 * time.Second).Should(Succeed())
	})

	It("stops a bad image at maxFailedPods and says which pods failed", func() {
		name := uniqueName("bad")
		rolloutSidecarSet(name, name, `{maxUnavailable: 1, failurePolicy: {maxFailedPods: 1}}`)
		simulatedPods(name, 5)
		waitReady(name, 5)

		setImage(name, "example.com/shipper:badpull")
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonFailurePolicyPaused))
			g.Expect(stalled.Message).To(ContainSubstring("failurePolicy.maxFailedPods (1) reached"))
			g.Expect(stalled.Message).To(ContainSubstring("1 pods failing"))
			g.Expect(st.FailedPods).To(Equal(int32(1)))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Consistently(sidecarSetStatus(name)).WithTimeout(2*time.Second).Should(HaveField("UpdatedPods", int32(1)),
			"the rollout went on past the failure policy")

		// The pause holds until the spec changes, even with the failed pod gone.
		var list corev1.PodList
		Expect(k8sClient.List(ctx, &list, client.MatchingLabels{"app": name})).To(Succeed())
		for i := range list.Items {
			if list.Items[i].Spec.Containers[0].Image == "example.com/shipper:badpull" {
				Expect(k8sClient.Delete(ctx, &list.Items[i])).To(Succeed())
			}
		}
		Eventually(sidecarSetStatus(name)).Should(HaveField("MatchedPods", int32(4)))
		Consistently(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.UpdatedPods).To(BeZero())
			g.Expect(condition(st, appsv1alpha1.ConditionStalled)).NotTo(BeNil())
		}).WithTimeout(2 * time.Second).Should(Succeed())
		setImage(name, "example.com/shipper:2")
		waitReady(name, 4)
	})
})
