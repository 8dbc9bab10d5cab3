//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

var _ = Describe("Rolling a sidecar out in place", func() {
	It("updates 100 pods of a Deployment within maxUnavailable: 10%, without touching the app containers", func() {
		s := newStory("hundred", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 10%}`, 100)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before

		watch := watchUnavailability(ns)
		Expect(watch.Now()).To(BeZero())
		setContainerImage(name, "example.com/shipper:2")
		waitRolledOut(name, 100, 3*time.Minute)

		pods := waitPodsReady(ns, labels, 100)
		expectUpdatedInPlace(pods, before, "shipper", "example.com/shipper:2")
		Expect(argoCDHealth(name)).To(Equal("Healthy"))
		// Each pod updated says so in an event of its own, however many the recorder's caches hold.
		Eventually(func() int { return len(podsWithEvent(ns, "SidecarUpdated")) }).WithTimeout(time.Minute).
			Should(Equal(len(pods)), "pods with a SidecarUpdated event")
		Expect(watch.Most()).To(BeNumerically(">", 0), "no pod was ever seen not ready: the simulated restarts were not observed")
		Expect(watch.Most()).To(BeNumerically("<=", 10), "more pods were unavailable at once than maxUnavailable allows")
	})

	It("holds back the pods a partition keeps, and updates them once the partition is lowered", func() {
		s := newStory("partition", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 2, partition: 4}`, 10)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before

		setContainerImage(name, "example.com/shipper:2")
		Eventually(func(g Gomega) {
			set := getSidecarSet(name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.UpdatedPods).To(Equal(int32(6)))
			g.Expect(set.Status.OutdatedPods).To(Equal(int32(4)))
			g.Expect(condition(set.Status, appsv1alpha1.ConditionDrifted).Reason).To(Equal(appsv1alpha1.ReasonPartitioned))
			g.Expect(condition(set.Status, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(time.Minute).Should(Succeed())
		Consistently(func() int32 { return getSidecarSet(name).Status.UpdatedPods }).WithTimeout(3 * time.Second).Should(Equal(int32(6)))

		updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) { s.Spec.UpdateStrategy.Partition = nil })
		waitRolledOut(name, 10, time.Minute)
		expectUpdatedInPlace(waitPodsReady(ns, labels, 10), before, "shipper", "example.com/shipper:2")
	})

	It("pauses a rollout and finishes it once resumed", func() {
		s := newStory("pause", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 1}`, 8)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before

		setContainerImage(name, "example.com/shipper:2")
		Eventually(func() int32 { return getSidecarSet(name).Status.UpdatedPods }).Should(BeNumerically(">=", 1))
		setPaused(name, true)
		Eventually(func(g Gomega) {
			set := getSidecarSet(name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(condition(set.Status, appsv1alpha1.ConditionReady).Reason).To(Equal(appsv1alpha1.ReasonPaused))
		}).Should(Succeed())
		// Give an update in flight when the pause landed time to finish, then nothing moves.
		time.Sleep(2 * restartDelay)
		held := getSidecarSet(name).Status.UpdatedPods
		Expect(held).To(BeNumerically("<", 8), "the rollout finished before it could be paused")
		Consistently(func() int32 { return getSidecarSet(name).Status.UpdatedPods }).WithTimeout(3*time.Second).Should(Equal(held),
			"pods were updated while the rollout was paused")
		Expect(argoCDHealth(name)).To(Equal("Suspended"))

		setPaused(name, false)
		waitRolledOut(name, 8, time.Minute)
		expectUpdatedInPlace(waitPodsReady(ns, labels, 8), before, "shipper", "example.com/shipper:2")
	})

	It("rolls out a native sidecar in place", func() {
		s := newStory("native", `
initContainers: [{name: proxy, image: example.com/proxy:1, restartPolicy: Always}]
updateStrategy: {maxUnavailable: 2}`, 6)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before

		updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) { s.Spec.InitContainers[0].Image = "example.com/proxy:2" })
		waitRolledOut(name, 6, time.Minute)
		expectUpdatedInPlace(waitPodsReady(ns, labels, 6), before, "proxy", "example.com/proxy:2")
	})

	It("stops a failing image at maxFailedPods with failurePolicy Pause", func() {
		s := newStory("badpull", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 2, failurePolicy: {maxFailedPods: 2, action: Pause}}`, 10)
		ns, name, labels := s.ns, s.name, s.labels

		setContainerImage(name, "example.com/shipper:badpull")
		Eventually(func(g Gomega) {
			st := getSidecarSet(name).Status
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonFailurePolicyPaused))
			g.Expect(st.FailedPods).To(Equal(int32(2)))
		}).WithTimeout(time.Minute).Should(Succeed())
		// The rollout stays stopped: no pod beyond the failed ones gets the bad image.
		Consistently(func() int {
			bad := 0
			for _, p := range listPods(ns, labels) {
				if container(&p, "shipper").Image == "example.com/shipper:badpull" {
					bad++
				}
			}
			return bad
		}).WithTimeout(3 * time.Second).Should(Equal(2))
		Expect(argoCDHealth(name)).To(Equal("Degraded"))

		// A fixed image ends the pause and rolls out to every pod, the failed ones included.
		setContainerImage(name, "example.com/shipper:3")
		waitRolledOut(name, 10, time.Minute)
	})

	It("rolls a failing image back in place with failurePolicy Rollback", func() {
		s := newStory("rollback", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 2, failurePolicy: {maxFailedPods: 1, action: Rollback}}`, 6)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before
		good := getSidecarSet(name).Status.LatestRevision

		setContainerImage(name, "example.com/shipper:crashloop")
		Eventually(func(g Gomega) {
			st := getSidecarSet(name).Status
			g.Expect(st.RolledBackTo).To(Equal(good))
			g.Expect(condition(st, appsv1alpha1.ConditionStalled)).NotTo(BeNil())
			g.Expect(condition(st, appsv1alpha1.ConditionStalled).Reason).To(Equal(appsv1alpha1.ReasonRolledBack))
			for _, p := range listPods(ns, labels) {
				g.Expect(container(&p, "shipper").Image).To(Equal("example.com/shipper:1"), "pod %s", p.Name)
				g.Expect(localcluster.PodReady(&p)).To(BeTrue(), "pod %s is not ready", p.Name)
			}
		}).WithTimeout(time.Minute).Should(Succeed())
		// The same pods, app containers untouched.
		pods := waitPodsReady(ns, labels, 6)
		for i := range pods {
			Expect(pods[i].UID).To(Equal(before[pods[i].Name].uid))
			Expect(containerStatus(&pods[i], "app").RestartCount).To(BeZero())
		}
	})
})
