package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// setResources sets the resources of the SidecarSet's first sidecar.
func setResources(name string, r corev1.ResourceRequirements) {
	Eventually(func() error {
		set := &appsv1alpha1.SidecarSet{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
			return err
		}
		set.Spec.Containers[0].Resources = r
		return k8sClient.Update(ctx, set)
	}).Should(Succeed())
}

var _ = Describe("Resizing a sidecar in place", func() {
	It("resizes running pods through pods/resize, with their image, one resize and one patch each, nothing restarted but the new image", func() {
		name := uniqueName("resize")
		newSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1, resources: {requests: {cpu: 100m, memory: 32Mi}, limits: {memory: 64Mi}}}]
initContainers: [{name: proxy, image: example.com/proxy:1, restartPolicy: Always}]
updateStrategy: {maxUnavailable: 2}`)
		ns, pods := simulatedPods(name, 6)
		waitReady(name, 6)

		// Resources alone: resized without a restart.
		setResources(name, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("96Mi")}})
		waitReady(name, 6)
		var list corev1.PodList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(6))
		for i, p := range list.Items {
			Expect(p.UID).To(Equal(pods[i].UID), "pod %s was recreated", p.Name)
			shipper := p.Spec.Containers[0]
			Expect(shipper.Name).To(Equal("shipper"))
			Expect(shipper.Resources.Requests.Cpu().String()).To(Equal("250m"))
			Expect(shipper.Resources.Limits.Memory().String()).To(Equal("96Mi"))
			Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeZero(), "a resize restarted the sidecar of %s", p.Name)
			state, err := podstate.Read(&p)
			Expect(err).NotTo(HaveOccurred())
			Expect(state[name].Update).NotTo(BeNil())
			Expect(state[name].Update.Resized).To(Equal([]string{"shipper"}))
		}
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))).To(Equal(6.0))
		// Each write is sent and answered as the pod's metadata alone; its event still names the pod.
		for _, p := range list.Items {
			Eventually(func(g Gomega) {
				events := eventsOf(ns, p.Name, "SidecarUpdated")
				g.Expect(events).NotTo(BeEmpty(), "no SidecarUpdated event on pod %s", p.Name)
				ref := events[0].InvolvedObject
				g.Expect([]string{ref.APIVersion, ref.Kind, string(ref.UID)}).To(Equal([]string{"v1", "Pod", string(p.UID)}))
				g.Expect(events[0].Message).To(ContainSubstring("shipper resized"))
			}).Should(Succeed())
		}

		// An image and resources at once: one update of each pod, restarting the sidecar once.
		Eventually(func() error {
			set := &appsv1alpha1.SidecarSet{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
				return err
			}
			set.Spec.Containers[0].Image = "example.com/shipper:2"
			set.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("150m")
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
		waitReady(name, 6)
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, p := range list.Items {
			Expect(p.Spec.Containers[0].Image).To(Equal("example.com/shipper:2"))
			Expect(p.Spec.Containers[0].Resources.Requests.Cpu().String()).To(Equal("150m"))
			Expect(p.Status.ContainerStatuses[0].RestartCount).To(Equal(int32(1)))
		}
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))).To(Equal(12.0))
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "error"))).To(BeZero())
	})

	It("fails the update of a pod whose resize the API server refuses, and pauses at maxFailedPods", func() {
		name := uniqueName("qos")
		// The pods have no resources at all (BestEffort): a request would change their QoS class, which a
		// resize may not.
		newSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 1, failurePolicy: {maxFailedPods: 1}}`)
		ns, _ := simulatedPods(name, 3)
		waitReady(name, 3)

		setResources(name, corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}})
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.FailedPods).To(Equal(int32(1)))
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonFailurePolicyPaused))
			g.Expect(stalled.Message).To(ContainSubstring("the API server refused to resize shipper"))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		// One pod was tried, once: the refusal is recorded, not retried.
		Consistently(func() float64 {
			return testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))
		}).WithTimeout(2 * time.Second).Should(Equal(1.0))
		var list corev1.PodList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, p := range list.Items {
			Expect(p.Spec.Containers[0].Resources.Requests).To(BeEmpty(), "pod %s was resized", p.Name)
		}
	})
})
