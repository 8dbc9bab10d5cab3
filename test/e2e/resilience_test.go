//go:build e2e

package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

var _ = Describe("The operator failing and going away", func() {
	It("finishes a rollout after the operator is killed (SIGKILL) mid-way, updating every pod exactly once", func() {
		s := newStory("killed", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 3}`, 30)
		ns, name, labels := s.ns, s.name, s.labels

		setContainerImage(name, "example.com/shipper:2")
		Eventually(func(g Gomega) {
			set := getSidecarSet(name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.UpdatedPods).To(BeNumerically(">=", 6))
		}).Should(Succeed())
		operator.Kill()
		DeferCleanup(ensureOperatorRunning)
		updated := getSidecarSet(name).Status.UpdatedPods
		Expect(updated).To(BeNumerically("<", 30), "the rollout finished before the operator was killed")
		GinkgoWriter.Printf("Killed the operator with %d of 30 pods updated\n", updated)
		ensureOperatorRunning()

		waitRolledOut(name, 30, 2*time.Minute)
		// Each sidecar restarted exactly once: no pod was patched twice, nor missed.
		expectUpdatedInPlace(waitPodsReady(ns, labels, 30), s.before, "shipper", "example.com/shipper:2")
	})

	It("refuses a matching pod while the operator is down, with failurePolicy Fail, and admits any other pod", func() {
		ns := newNamespace()
		name := uniqueName("down")
		labels := map[string]string{"app": name}
		createSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1}]
`, ns, labels)

		operator.Kill()
		DeferCleanup(ensureOperatorRunning)

		err := k8sClient.Create(ctx, pod(ns, "matched", labels))
		Expect(err).To(HaveOccurred(), "a pod the SidecarSet selects was created without its sidecars")
		Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("failed calling webhook %q", webhookEntryName(name))))
		Expect(err.Error()).To(ContainSubstring("connection refused"))

		other := pod(ns, "unrelated", map[string]string{"app": "something-else"})
		Expect(k8sClient.Create(ctx, other)).To(Succeed(), "a pod no SidecarSet selects waited on the operator")
		Expect(container(other, "shipper")).To(BeNil())
	})

	It("leaves running pods untouched when a SidecarSet is deleted", func() {
		s := newStory("deleted", "containers: [{name: shipper, image: example.com/shipper:1}]", 5)
		ns, name, labels, set := s.ns, s.name, s.labels, s.set
		pods := waitPodsReady(ns, labels, 5)

		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, types.NamespacedName{Name: name}, &appsv1alpha1.SidecarSet{})
		}).Should(Satisfy(func(err error) bool { return client.IgnoreNotFound(err) == nil && err != nil }))

		// New pods no longer get the sidecar.
		Eventually(func(g Gomega) {
			probe := pod(ns, "probe", labels)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(container(probe, "shipper")).To(BeNil())
		}).Should(Succeed())

		// The running pods keep their sidecars and are not written to.
		Consistently(func(g Gomega) {
			for _, was := range pods {
				got := &corev1.Pod{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&was), got)).To(Succeed())
				g.Expect(got.UID).To(Equal(was.UID))
				g.Expect(got.ResourceVersion).To(Equal(was.ResourceVersion), "pod %s was written to", was.Name)
				g.Expect(container(got, "shipper")).NotTo(BeNil())
			}
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})
})
