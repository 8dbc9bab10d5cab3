//go:build e2e

package e2e

import (
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// resizeStory is a story whose shipper sidecar requests 100m CPU and 32Mi of memory.
func resizeStory(prefix, strategy string, n int) story {
	return newStory(prefix, `
containers: [{name: shipper, image: example.com/shipper:1, resources: {requests: {cpu: 100m, memory: 32Mi}}}]
updateStrategy: `+strategy, n)
}

func setShipperCPU(name, cpu string) {
	updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) {
		s.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	})
}

// runsWith says whether the pod's shipper runs with the CPU request cpu, in its spec and as the kubelet reports.
func runsWith(p *corev1.Pod, cpu string) bool {
	want := resource.MustParse(cpu)
	st := containerStatus(p, "shipper")
	return container(p, "shipper").Resources.Requests.Cpu().Cmp(want) == 0 &&
		st != nil && st.Resources != nil && st.Resources.Requests.Cpu().Cmp(want) == 0
}

// resizing watches the pods of a namespace and keeps the most whose shipper was being resized at any one time:
// its spec asks for other resources than its status reports.
type resizing struct {
	mu   sync.Mutex
	now  map[string]bool
	most int
}

func watchResizing(namespace string) *resizing {
	r := &resizing{now: map[string]bool{}}
	stop := make(chan struct{})
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	observe := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || container(p, "shipper") == nil {
			return
		}
		st := containerStatus(p, "shipper")
		r.mu.Lock()
		defer r.mu.Unlock()
		if st != nil && st.Resources != nil && equality.Semantic.DeepEqual(*st.Resources, container(p, "shipper").Resources) {
			delete(r.now, p.Name)
		} else {
			r.now[p.Name] = true
		}
		r.most = max(r.most, len(r.now))
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: observe, UpdateFunc: func(_, obj any) { observe(obj) }})
	Expect(err).NotTo(HaveOccurred())
	factory.Start(stop)
	Expect(cache.WaitForCacheSync(stop, inf.HasSynced)).To(BeTrue())
	DeferCleanup(func() { close(stop) })
	return r
}

func (r *resizing) Most() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.most
}

var _ = Describe("Resizing a sidecar in place", func() {
	It("resizes 100 pods of a Deployment within maxUnavailable: 10%, restarting nothing", func() {
		s := resizeStory("resize", `{maxUnavailable: 10%}`, 100)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before
		watch := watchResizing(ns)

		setShipperCPU(name, "250m")
		waitRolledOut(name, 100, 3*time.Minute)

		pods := waitPodsReady(ns, labels, 100)
		Expect(pods).To(HaveLen(100))
		for i := range pods {
			p := &pods[i]
			Expect(p.UID).To(Equal(before[p.Name].uid), "pod %s was recreated", p.Name)
			Expect(runsWith(p, "250m")).To(BeTrue(), "pod %s: %+v, status %+v", p.Name, container(p, "shipper").Resources, containerStatus(p, "shipper").Resources)
			Expect(containerStatus(p, "shipper").RestartCount).To(BeZero(), "pod %s: the resize restarted the sidecar", p.Name)
			Expect(containerStatus(p, "app").RestartCount).To(Equal(before[p.Name].appRestarts), "pod %s: the app container restarted", p.Name)
			Expect(injectionState(p, name).Update.Resized).To(Equal([]string{"shipper"}))
		}
		Expect(watch.Most()).To(BeNumerically(">", 0), "no resize was ever seen in progress")
		Expect(watch.Most()).To(BeNumerically("<=", 10), "more pods were being resized at once than maxUnavailable allows")
		Expect(argoCDHealth(name)).To(Equal("Healthy"))
	})

	It("stops an infeasible resize at maxFailedPods with failurePolicy Pause, saying why", func() {
		s := resizeStory("infeasible", `{maxUnavailable: 2, failurePolicy: {maxFailedPods: 2, action: Pause}}`, 8)
		ns, name, labels := s.ns, s.name, s.labels

		// Within the nodes' allocatable, which the API server checks, beyond what the kubelet can give a pod.
		setShipperCPU(name, "20")
		Eventually(func(g Gomega) {
			st := getSidecarSet(name).Status
			stalled := condition(st, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonFailurePolicyPaused))
			g.Expect(stalled.Message).To(ContainSubstring("the kubelet cannot resize shipper (Infeasible)"))
			g.Expect(st.FailedPods).To(Equal(int32(2)))
		}).WithTimeout(time.Minute).Should(Succeed())
		Consistently(func() int {
			asked := 0
			for _, p := range listPods(ns, labels) {
				if container(&p, "shipper").Resources.Requests.Cpu().Cmp(resource.MustParse("20")) == 0 {
					asked++
				}
			}
			return asked
		}).WithTimeout(3*time.Second).Should(Equal(2), "the rollout went on past maxFailedPods")
		Expect(argoCDHealth(name)).To(Equal("Degraded"))

		// A feasible size ends the pause and reaches every pod, the failed ones included.
		setShipperCPU(name, "300m")
		waitRolledOut(name, 8, time.Minute)
		for _, p := range waitPodsReady(ns, labels, 8) {
			Expect(runsWith(&p, "300m")).To(BeTrue(), "pod %s", p.Name)
		}
	})

	It("resizes the pods back when an infeasible resize trips failurePolicy Rollback", func() {
		s := resizeStory("resizeback", `{maxUnavailable: 2, failurePolicy: {maxFailedPods: 1, action: Rollback}}`, 6)
		ns, name, labels, before := s.ns, s.name, s.labels, s.before
		good := getSidecarSet(name).Status.LatestRevision

		setShipperCPU(name, "20")
		Eventually(func(g Gomega) {
			st := getSidecarSet(name).Status
			g.Expect(st.RolledBackTo).To(Equal(good))
			g.Expect(condition(st, appsv1alpha1.ConditionStalled)).NotTo(BeNil())
			g.Expect(condition(st, appsv1alpha1.ConditionStalled).Reason).To(Equal(appsv1alpha1.ReasonRolledBack))
			for _, p := range listPods(ns, labels) {
				g.Expect(runsWith(&p, "100m")).To(BeTrue(), "pod %s is not back on 100m", p.Name)
				for _, c := range p.Status.Conditions {
					g.Expect(c.Type).NotTo(Equal(corev1.PodResizePending), "pod %s still has a pending resize", p.Name)
				}
			}
		}).WithTimeout(time.Minute).Should(Succeed())
		for _, p := range waitPodsReady(ns, labels, 6) {
			Expect(p.UID).To(Equal(before[p.Name].uid))
			Expect(containerStatus(&p, "shipper").RestartCount).To(BeZero())
		}
	})
})
