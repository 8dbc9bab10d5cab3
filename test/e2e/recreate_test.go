//go:build e2e

package e2e

import (
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// shortfall watches the pods of a namespace and keeps, per value of the tier label, the most pods short of
// the workload's replicas at any one time: replicas minus its pods that are ready and not being deleted.
type shortfall struct {
	mu       sync.Mutex
	synced   bool // the informer's first list is in: before, pods not listed yet are not away
	replicas map[string]int
	pods     map[string]*corev1.Pod
	most     map[string]int
}

func watchShortfall(namespace string, replicas map[string]int) *shortfall {
	s := &shortfall{replicas: replicas, pods: map[string]*corev1.Pod{}, most: map[string]int{}}
	stop := make(chan struct{})
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	observe := func(obj any, gone bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if gone {
			delete(s.pods, p.Name)
		} else {
			s.pods[p.Name] = p
		}
		s.measure()
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { observe(obj, false) },
		UpdateFunc: func(_, obj any) { observe(obj, false) },
		DeleteFunc: func(obj any) { observe(obj, true) },
	})
	Expect(err).NotTo(HaveOccurred())
	factory.Start(stop)
	Expect(cache.WaitForCacheSync(stop, inf.HasSynced)).To(BeTrue())
	DeferCleanup(func() { close(stop) })
	s.mu.Lock()
	s.synced = true
	s.measure()
	s.mu.Unlock()
	return s
}

// measure records how many pods each tier is short of now; s.mu is held.
func (s *shortfall) measure() {
	if !s.synced {
		return
	}
	serving := map[string]int{}
	for _, q := range s.pods {
		if q.DeletionTimestamp == nil && localcluster.PodReady(q) {
			serving[q.Labels["tier"]]++
		}
	}
	for tier, n := range s.replicas {
		s.most[tier] = max(s.most[tier], n-serving[tier])
	}
}

func (s *shortfall) Most(tier string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most[tier]
}

func uidsOf(pods []corev1.Pod) map[string]types.UID {
	out := map[string]types.UID{}
	for _, p := range pods {
		out[p.Name] = p.UID
	}
	return out
}

var _ = Describe("Recreating what cannot change in place", func() {
	It("evicts the pods of a Deployment and a StatefulSet one at a time within their budgets, only when asked, and leaves a bare pod", func() {
		ns, name := newNamespace(), uniqueName("recreate")
		app := map[string]string{"app": name}
		tier := func(t string) map[string]string { return map[string]string{"app": name, "tier": t} }

		// Pods created before the SidecarSet: they have none of its sidecars.
		deployment(ns, "early", 2, tier("early"))
		waitPodsReady(ns, tier("early"), 2)
		createSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 3, maxUnavailablePerWorkload: 100%}`, ns, app)
		deployment(ns, "web", 4, tier("web"))
		statefulSet(ns, "db", 3, tier("db"))
		bare := pod(ns, "bare", tier("bare"))
		Expect(k8sClient.Create(ctx, bare)).To(Succeed())
		before := uidsOf(waitPodsReady(ns, app, 2+4+3+1))
		// The Deployment's budget allows one pod away; the StatefulSet has none, and recreate.maxPerWorkload
		// (default 1) alone keeps it serving.
		disruptionBudget(nil, ptr.To(intstr.FromInt32(1)), 4, 1)(ns, tier("web"))
		watch := watchShortfall(ns, map[string]int{"web": 4, "db": 3, "early": 2})

		// A new sidecar cannot be added in place: without a recreate policy, the pods are reported, not evicted.
		updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) {
			s.Spec.Containers = append(s.Spec.Containers, appsv1alpha1.SidecarContainer{Container: corev1.Container{Name: "tracer", Image: "example.com/tracer:1"}})
		})
		Eventually(func(g Gomega) {
			set := getSidecarSet(name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.NotUpgradablePods).To(Equal(int32(8)))
			g.Expect(set.Status.MissingPods).To(Equal(int32(2)))
		}).WithTimeout(time.Minute).Should(Succeed())
		Consistently(func() map[string]types.UID { return uidsOf(listPods(ns, app)) }).WithTimeout(3*time.Second).Should(Equal(before),
			"a pod was replaced without updateStrategy.recreate")

		updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) {
			s.Spec.UpdateStrategy.Recreate = &appsv1alpha1.RecreateStrategy{Policy: appsv1alpha1.RecreateEvict}
		})
		Eventually(func(g Gomega) {
			set := getSidecarSet(name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.UpdatedPods).To(Equal(int32(2 + 4 + 3)))
			stalled := condition(set.Status, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonNotUpgradable))
			g.Expect(stalled.Message).To(ContainSubstring("1 of them are bare pods or Job pods"))
		}).WithTimeout(3 * time.Minute).Should(Succeed())

		for _, p := range waitPodsReady(ns, app, 2+4+3+1) {
			if p.Name == "bare" {
				Expect(p.UID).To(Equal(before["bare"]), "the bare pod was evicted")
				Expect(container(&p, "tracer")).To(BeNil())
				continue
			}
			Expect(container(&p, "tracer")).NotTo(BeNil(), "pod %s has no tracer", p.Name)
			Expect(container(&p, "shipper")).NotTo(BeNil(), "pod %s has no shipper", p.Name)
			if uid, ok := before[p.Name]; ok {
				Expect(p.UID).NotTo(Equal(uid), "pod %s was not recreated", p.Name)
			}
		}
		for _, t := range []string{"web", "db", "early"} {
			Expect(watch.Most(t)).To(BeNumerically(">=", 1), "no %s pod was ever seen away: the evictions were not observed", t)
			Expect(watch.Most(t)).To(BeNumerically("<=", 1), "more than one %s pod was away at once", t)
		}
	})
})
