//go:build e2e

package e2e

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// A sidecar is resized in place through pods/resize, and the outcome is read from the pod's status as a kubelet
// reports it. These specs hold the simulated kubelet (localcluster/stages.yaml) to that report on the real API
// server, so that the operator's own specs can trust it.
var _ = Describe("The simulated kubelet", func() {
	It("reports the resources a pod runs with and resizes its containers in place through pods/resize", func() {
		p := createResizeTestPod()
		uid := p.UID
		for _, name := range []string{"proxy", "app"} {
			st := containerStatus(p, name)
			expectResources(st, container(p, name).Resources)
			Expect(st.RestartCount).To(BeZero())
		}
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))

		By("resizing the native sidecar, whose resizePolicy is NotRequired")
		appBefore := containerStatus(p, "app").DeepCopy()
		proxyID := containerStatus(p, "proxy").ContainerID
		before := *containerStatus(p, "proxy").Resources
		bigger := resizeRequirements("150m", "96Mi", "300m", "192Mi")
		generation := p.Generation
		resizeContainer(p, "proxy", bigger)
		Expect(p.Generation).To(Equal(generation+1), "a resize bumps the pod's generation")
		// At once the resize is allocated and in progress, while the sidecar still runs with its old resources.
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			inProgress := resizeCondition(p, corev1.PodResizeInProgress)
			g.Expect(inProgress).NotTo(BeNil(), "no PodResizeInProgress yet")
			g.Expect(inProgress.Status).To(Equal(corev1.ConditionTrue))
			g.Expect(inProgress.ObservedGeneration).To(Equal(p.Generation))
			st := containerStatus(p, "proxy")
			g.Expect(equality.Semantic.DeepEqual(st.AllocatedResources, bigger.Requests)).To(BeTrue(), "allocated %v", st.AllocatedResources)
			g.Expect(st.Resources).NotTo(BeNil())
			g.Expect(equality.Semantic.DeepEqual(*st.Resources, before)).To(BeTrue(),
				"the sidecar runs with %v before the restart delay is over", *st.Resources)
		}).WithPolling(20 * time.Millisecond).WithTimeout(10 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			g.Expect(resizeCondition(p, corev1.PodResizeInProgress)).To(BeNil())
			expectResourcesG(g, containerStatus(p, "proxy"), bigger)
		}).Should(Succeed())
		Expect(resizeCondition(p, corev1.PodResizePending)).To(BeNil())
		Expect(containerStatus(p, "proxy").RestartCount).To(BeZero(), "a NotRequired resize restarted the sidecar")
		Expect(containerStatus(p, "proxy").ContainerID).To(Equal(proxyID))
		Expect(equality.Semantic.DeepEqual(containerStatus(p, "app"), appBefore)).To(BeTrue(),
			"the app container's status changed with the sidecar's resize:\n%v\nwas\n%v", containerStatus(p, "app"), appBefore)
		Expect(localcluster.PodReady(p)).To(BeTrue())
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))

		By("resizing only the cpu of the app container, whose resizePolicy restarts it for memory only")
		appID := containerStatus(p, "app").ContainerID
		moreCPU := resizeRequirements("200m", "64Mi", "400m", "128Mi")
		resizeContainer(p, "app", moreCPU)
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			g.Expect(resizeCondition(p, corev1.PodResizeInProgress)).To(BeNil())
			expectResourcesG(g, containerStatus(p, "app"), moreCPU)
		}).Should(Succeed())
		Expect(containerStatus(p, "app").RestartCount).To(BeZero())
		Expect(containerStatus(p, "app").ContainerID).To(Equal(appID))

		By("resizing the memory of the app container, which its resizePolicy restarts for")
		moreMemory := resizeRequirements("200m", "96Mi", "400m", "192Mi")
		resizeContainer(p, "app", moreMemory)
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			g.Expect(resizeCondition(p, corev1.PodResizeInProgress)).To(BeNil())
			expectResourcesG(g, containerStatus(p, "app"), moreMemory)
		}).Should(Succeed())
		app := containerStatus(p, "app")
		Expect(app.RestartCount).To(Equal(int32(1)), "RestartContainer for memory")
		Expect(app.ContainerID).NotTo(Equal(appID))
		Expect(app.State.Running).NotTo(BeNil())
		Expect(containerStatus(p, "proxy").RestartCount).To(BeZero())

		By("resizing the sidecar beyond a node's allocatable, which the API server refuses")
		generation = p.Generation
		err := tryResizeContainer(p.DeepCopy(), "proxy", resizeRequirements("150m", "300Gi", "300m", "300Gi"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "resizing beyond the node: %v", err)
		Expect(apierrors.HasStatusCause(err, "NodeCapacity")).To(BeTrue(), "%v", err)
		p = getResizeTestPod(Default, p)
		Expect(p.Generation).To(Equal(generation))

		By("resizing the sidecar beyond what the kubelet has for a pod")
		proxyBefore := containerStatus(p, "proxy").DeepCopy()
		resizeContainer(p, "proxy", resizeRequirements("150m", "200Gi", "300m", "200Gi"))
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			pending := resizeCondition(p, corev1.PodResizePending)
			g.Expect(pending).NotTo(BeNil(), "no PodResizePending yet")
			g.Expect(pending.Status).To(Equal(corev1.ConditionTrue))
			g.Expect(pending.Reason).To(Equal(corev1.PodReasonInfeasible))
			// 200Gi and the app container's 96Mi, against the simulated kubelet's 128Gi.
			g.Expect(pending.Message).To(Equal("Node didn't have enough capacity: memory, requested: 214849028096, capacity: 137438953472"))
			g.Expect(pending.ObservedGeneration).To(Equal(p.Generation))
		}).Should(Succeed())
		// Then the pod rests: no stage takes the refused resize up, or undoes the refusal.
		refused := p.ResourceVersion
		Consistently(func(g Gomega) {
			p = getResizeTestPod(g, p)
			g.Expect(p.ResourceVersion).To(Equal(refused), "the pod keeps changing: %v", p.Status.Conditions)
			g.Expect(resizeCondition(p, corev1.PodResizeInProgress)).To(BeNil())
			g.Expect(equality.Semantic.DeepEqual(containerStatus(p, "proxy"), proxyBefore)).To(BeTrue(),
				"the sidecar's status changed with an infeasible resize: %v", containerStatus(p, "proxy"))
		}).WithTimeout(3 * restartDelay).Should(Succeed())

		By("resizing the sidecar back to what it runs with")
		resizeContainer(p, "proxy", bigger)
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			g.Expect(resizeCondition(p, corev1.PodResizePending)).To(BeNil())
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		}).Should(Succeed())
		Expect(equality.Semantic.DeepEqual(containerStatus(p, "proxy"), proxyBefore)).To(BeTrue(),
			"the sidecar's status changed: %v", containerStatus(p, "proxy"))
		for _, t := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady, corev1.PodInitialized, corev1.PodScheduled} {
			c := resizeCondition(p, t)
			Expect(c).NotTo(BeNil(), "the pod lost its %s condition", t)
			Expect(c.Status).To(Equal(corev1.ConditionTrue), "%s", t)
		}
		settled := p.ResourceVersion
		Consistently(func(g Gomega) { g.Expect(getResizeTestPod(g, p).ResourceVersion).To(Equal(settled)) }).
			WithTimeout(3*restartDelay).Should(Succeed(), "the pod keeps changing after its resizes")
		Expect(p.UID).To(Equal(uid))
	})

	It("restarts a container whose image changed, and resizes it after, when both change together", func() {
		p := createResizeTestPod()
		uid := p.UID

		By("changing the sidecar's image alone")
		proxy := containerStatus(p, "proxy").DeepCopy()
		app := containerStatus(p, "app").DeepCopy()
		setResizeTestImage(p, "proxy", "example.com/proxy:2")
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			g.Expect(containerStatus(p, "proxy").Image).To(Equal("example.com/proxy:2"))
			g.Expect(localcluster.PodReady(p)).To(BeTrue())
		}).Should(Succeed())
		st := containerStatus(p, "proxy")
		Expect(st.RestartCount).To(Equal(int32(1)))
		Expect(st.ContainerID).NotTo(Equal(proxy.ContainerID))
		Expect(st.ImageID).NotTo(Equal(proxy.ImageID))
		expectResources(st, container(p, "proxy").Resources)
		Expect(equality.Semantic.DeepEqual(containerStatus(p, "app"), app)).To(BeTrue(), "the app container's status changed")

		By("changing the sidecar's image and resizing it at once")
		setResizeTestImage(p, "proxy", "example.com/proxy:3")
		bigger := resizeRequirements("120m", "80Mi", "240m", "160Mi")
		resizeContainer(p, "proxy", bigger)
		Eventually(func(g Gomega) {
			p = getResizeTestPod(g, p)
			st := containerStatus(p, "proxy")
			g.Expect(st.Image).To(Equal("example.com/proxy:3"))
			expectResourcesG(g, st, bigger)
			g.Expect(resizeCondition(p, corev1.PodResizeInProgress)).To(BeNil())
			g.Expect(localcluster.PodReady(p)).To(BeTrue())
		}).Should(Succeed())
		Expect(resizeCondition(p, corev1.PodResizePending)).To(BeNil())
		Expect(containerStatus(p, "proxy").RestartCount).To(Equal(int32(2)), "restarted for its image, not for a NotRequired resize")
		Expect(containerStatus(p, "app").RestartCount).To(BeZero())
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		Expect(p.UID).To(Equal(uid))
	})
})

// createResizeTestPod creates a Burstable pod of an app container, which a memory resize restarts, and a native
// sidecar, and waits until it runs and is ready.
func createResizeTestPod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(), Name: "resized"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{
				Name: "proxy", Image: "example.com/proxy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: resizeRequirements("100m", "64Mi", "200m", "128Mi"),
			}},
			Containers: []corev1.Container{{
				Name: "app", Image: "example.com/app:1",
				Resources: resizeRequirements("100m", "64Mi", "200m", "128Mi"),
				ResizePolicy: []corev1.ContainerResizePolicy{
					{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.NotRequired},
					{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer},
				},
			}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	Eventually(func(g Gomega) {
		p = getResizeTestPod(g, p)
		g.Expect(localcluster.PodReady(p)).To(BeTrue())
	}).Should(Succeed())
	Expect(p.Status.QOSClass).To(Equal(corev1.PodQOSBurstable))
	return p
}

func getResizeTestPod(g Gomega, p *corev1.Pod) *corev1.Pod {
	got := &corev1.Pod{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
	return got
}

func resizeRequirements(cpuRequest, memoryRequest, cpuLimit, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuRequest), corev1.ResourceMemory: resource.MustParse(memoryRequest)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLimit), corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

// resizeContainer resizes a container (or native sidecar) through the pods/resize subresource, as the operator does.
func resizeContainer(p *corev1.Pod, name string, r corev1.ResourceRequirements) {
	Expect(tryResizeContainer(p, name, r)).To(Succeed())
	Expect(equality.Semantic.DeepEqual(container(p, name).Resources, r)).To(BeTrue(), "the resize left %v", container(p, name).Resources)
}

func tryResizeContainer(p *corev1.Pod, name string, r corev1.ResourceRequirements) error {
	list := "containers"
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			list = "initContainers"
		}
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{list: []any{map[string]any{"name": name, "resources": r}}}})
	Expect(err).NotTo(HaveOccurred())
	return k8sClient.SubResource("resize").Patch(ctx, p, client.RawPatch(types.StrategicMergePatchType, patch))
}

// setResizeTestImage changes a container's image with an ordinary update of the pod, as the operator does.
func setResizeTestImage(p *corev1.Pod, name, image string) {
	Eventually(func(g Gomega) {
		got := getResizeTestPod(g, p)
		container(got, name).Image = image
		g.Expect(k8sClient.Update(ctx, got)).To(Succeed())
		*p = *got
	}).Should(Succeed())
}

func resizeCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// expectResources checks a container status reports the resources: the requests and limits it runs with, and the
// requests allocated to it.
func expectResources(st *corev1.ContainerStatus, want corev1.ResourceRequirements) {
	GinkgoHelper()
	expectResourcesG(Default, st, want)
}

func expectResourcesG(g Gomega, st *corev1.ContainerStatus, want corev1.ResourceRequirements) {
	g.Expect(st).NotTo(BeNil())
	g.Expect(st.Resources).NotTo(BeNil(), "container %s reports no resources", st.Name)
	g.Expect(equality.Semantic.DeepEqual(*st.Resources, want)).To(BeTrue(), "container %s runs with %v, want %v", st.Name, *st.Resources, want)
	g.Expect(equality.Semantic.DeepEqual(st.AllocatedResources, want.Requests)).To(BeTrue(),
		"container %s is allocated %v, want %v", st.Name, st.AllocatedResources, want.Requests)
}
