//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// Ten Deployments of 3 pods, one SidecarSet over the 30 with maxUnavailable: 50% (15 pods at once). The
// fleet-wide budget alone lets a Deployment lose all 3 pods at once; maxUnavailablePerWorkload is what keeps
// it serving (plan.go, Compute, works these numbers).
var _ = Describe("Holding a rollout to maxUnavailablePerWorkload", func() {
	const deployments, replicas = 10, 3

	It("keeps 2 of 3 pods of every Deployment ready with the default limit of 25%", func() {
		r := rollOutAcrossDeployments("perworkload", "{maxUnavailable: 50%}", deployments, replicas)
		least := r.watch.Least()
		for _, d := range r.deployments {
			Expect(least[d]).To(BeNumerically(">=", 2), "Deployment %s had only %d of %d pods ready at once: %s",
				d, least[d], replicas, r.watch.FirstBelow())
			// Each Deployment was seen with a pod down, or the watch saw nothing of the rollout.
			Expect(least[d]).To(Equal(2), "Deployment %s never had a pod seen not ready", d)
		}
		Expect(r.watch.MostNotReady()).To(BeNumerically("<=", deployments), "more pods were not ready at once than one per Deployment")
	})

	It("lets a Deployment fall below 2 ready pods with maxUnavailablePerWorkload: 100%", func() {
		r := rollOutAcrossDeployments("perworkload100", "{maxUnavailable: 50%, maxUnavailablePerWorkload: 100%}", deployments, replicas)
		least := r.watch.Least()
		fewest := int(replicas)
		for _, d := range r.deployments {
			fewest = min(fewest, least[d])
		}
		// The first step takes 15 pods in workload order: the first pod of each Deployment, then the second
		// of five of them, which keep 1 of 3 ready until the first restarts are done.
		Expect(fewest).To(BeNumerically("<", 2), "no Deployment ever had fewer than 2 pods ready without the limit: the contrast shows nothing")
		Expect(r.watch.MostNotReady()).To(BeNumerically("<=", 15), "more pods were not ready at once than maxUnavailable allows")
	})
})

// One Deployment of 4 pods under a PodDisruptionBudget, and a SidecarSet whose own budgets would let all 4
// restart at once: only the PodDisruptionBudget holds the rollout back (controllers/sidecarset_controller.go,
// disruptionBudgets; plan.go, ComputeWithBudgets). Its status, which the suite's kube-controller-manager
// maintains, must show the disruptions it allows before the image changes.
var _ = Describe("Holding a rollout to a PodDisruptionBudget", func() {
	const replicas = 4
	const strategy = "{maxUnavailable: 100%, maxUnavailablePerWorkload: 100%}"

	It("keeps 3 of 4 pods ready under minAvailable: 3", func() {
		min3 := intstr.FromInt32(3)
		r := rollOutWith("pdbmin", strategy, 1, replicas, 3, disruptionBudget(&min3, nil, replicas, 1))
		GinkgoWriter.Printf("Ready pods of the Deployment through the rollout:\n%s\n", strings.Join(r.watch.Timeline(), "\n"))
		least := r.watch.Least()["web-0"]
		Expect(least).To(BeNumerically(">=", 3), "the Deployment had only %d of %d pods ready at once under minAvailable: 3: %s\ntimeline:\n%s",
			least, replicas, r.watch.FirstBelow(), strings.Join(r.watch.Timeline(), "\n"))
		Expect(least).To(Equal(3), "no pod was ever seen not ready: the watch saw nothing of the rollout")
	})

	It("keeps 2 of 4 pods ready, and takes 2 at once, under maxUnavailable: 50%", func() {
		half := intstr.FromString("50%")
		r := rollOutWith("pdbhalf", strategy, 1, replicas, 2, disruptionBudget(nil, &half, replicas, 2))
		GinkgoWriter.Printf("Ready pods of the Deployment through the rollout:\n%s\n", strings.Join(r.watch.Timeline(), "\n"))
		least := r.watch.Least()["web-0"]
		Expect(least).To(BeNumerically(">=", 2), "the Deployment had only %d of %d pods ready at once under maxUnavailable: 50%%: %s\ntimeline:\n%s",
			least, replicas, r.watch.FirstBelow(), strings.Join(r.watch.Timeline(), "\n"))
		// Exactly 2 at some point: the budget's 2, not one at a time for some other reason, bound the rollout.
		Expect(least).To(Equal(2), "never 2 pods seen not ready at once: something other than the budget held the rollout to fewer\ntimeline:\n%s",
			strings.Join(r.watch.Timeline(), "\n"))
	})
})

// disruptionBudget returns a beforeChange for rollOutWith: it creates a PodDisruptionBudget over the pods with
// minAvailable or maxUnavailable, and waits until the disruption controller has worked out its status for
// the current spec: healthy pods, allowing allowed disruptions.
func disruptionBudget(minAvailable, maxUnavailable *intstr.IntOrString, healthy, allowed int32) func(string, map[string]string) {
	return func(namespace string, podLabels map[string]string) {
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "web"},
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector:       &metav1.LabelSelector{MatchLabels: podLabels},
				MinAvailable:   minAvailable,
				MaxUnavailable: maxUnavailable,
			},
		}
		Expect(k8sClient.Create(ctx, pdb)).To(Succeed())
		created := time.Now()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
			st := pdb.Status
			g.Expect(st.ObservedGeneration).To(Equal(pdb.Generation), "status: %+v", st)
			g.Expect(st.CurrentHealthy).To(Equal(healthy), "status: %+v", st)
			g.Expect(st.DisruptionsAllowed).To(Equal(allowed), "status: %+v", st)
		}).Should(Succeed(), "the disruption controller never showed PodDisruptionBudget %s/%s allowing %d disruptions", namespace, pdb.Name, allowed)
		GinkgoWriter.Printf("PodDisruptionBudget %s/%s: currentHealthy %d, desiredHealthy %d, disruptionsAllowed %d, %.2f s after it was created\n",
			namespace, pdb.Name, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy, pdb.Status.DisruptionsAllowed, time.Since(created).Seconds())
	}
}

// workloadRollout is the outcome of rollOutAcrossDeployments.
type workloadRollout struct {
	deployments []string
	watch       *deploymentReadiness
}

// rollOutAcrossDeployments creates a SidecarSet with the given updateStrategy over n Deployments of replicas
// pods each in a new namespace, changes its sidecar image, waits until the rollout completed in place, and
// logs how long it took and the fewest ready pods each Deployment had.
func rollOutAcrossDeployments(prefix, updateStrategy string, n int, replicas int32) workloadRollout {
	return rollOutWith(prefix, updateStrategy, n, replicas, 2, nil)
}

// rollOutWith is rollOutAcrossDeployments with the watch describing the first moment a Deployment had fewer
// than floor pods ready (FirstBelow), and beforeChange, when set, run once every pod is ready on the first
// revision, before the image changes, with the namespace and the labels of all the pods.
func rollOutWith(prefix, updateStrategy string, n int, replicas int32, floor int, beforeChange func(namespace string, podLabels map[string]string)) workloadRollout {
	ns, name := newNamespace(), uniqueName(prefix)
	labels := map[string]string{"app": name}
	createSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: `+updateStrategy, ns, labels)
	r := workloadRollout{}
	for i := range n {
		d := fmt.Sprintf("web-%d", i)
		deployment(ns, d, replicas, map[string]string{"app": name, "deployment": d})
		r.deployments = append(r.deployments, d)
	}
	total := n * int(replicas)
	before := record(waitPodsReady(ns, labels, total))
	waitRolledOut(name, int32(total), time.Minute)
	if beforeChange != nil {
		beforeChange(ns, labels)
	}

	const image = "example.com/shipper:2"
	r.watch = watchDeploymentReadiness(ns, r.deployments, total, floor, "shipper", image)
	Expect(r.watch.MostNotReady()).To(BeZero())
	start := time.Now()
	r.watch.Start(start)
	setContainerImage(name, image)
	waitRolledOut(name, int32(total), 2*time.Minute)
	statusDone := time.Since(start)
	Eventually(r.watch.Done).Should(BeTrue(), "the SidecarSet reports the rollout done, its pods do not all run the new image ready")
	expectUpdatedInPlace(waitPodsReady(ns, labels, total), before, "shipper", image)

	least := r.watch.Least()
	counts := make([]string, 0, len(r.deployments))
	for _, d := range r.deployments {
		counts = append(counts, fmt.Sprintf("%s=%d", d, least[d]))
	}
	GinkgoWriter.Printf("ROLLOUT updateStrategy %s: %d pods in %d Deployments, all ready on the new image after %.2f s "+
		"(SidecarSet Ready after %.2f s); fewest ready per Deployment: %s; most not ready at once: %d; first below %d: %s\n",
		updateStrategy, total, n, r.watch.DoneAfter().Seconds(), statusDone.Seconds(),
		strings.Join(counts, " "), r.watch.MostNotReady(), floor, r.watch.FirstBelow())
	return r
}

// deploymentReadiness watches the pods of a namespace through an informer and keeps, for each Deployment (the
// pods' "deployment" label), the fewest of its pods ready at any one time. It looks at every change the watch
// delivers rather than sampling: with the suite's restart delay of 500 ms, two pods of a Deployment down
// together for less than a sampling period would go unseen.
type deploymentReadiness struct {
	mu          sync.Mutex
	pods        map[string]*corev1.Pod
	deployments []string
	total       int
	floor       int
	sidecar     string
	image       string

	started      bool
	start        time.Time
	least        map[string]int
	mostNotReady int
	firstBelow   string
	doneAfter    time.Duration
	// ready and timeline: each Deployment's ready pods now, and every change of them since Start.
	ready    map[string]int
	timeline []string

	stop chan struct{}
}

func watchDeploymentReadiness(namespace string, deployments []string, total, floor int, sidecar, image string) *deploymentReadiness {
	w := &deploymentReadiness{
		pods: map[string]*corev1.Pod{}, deployments: deployments, total: total, floor: floor, sidecar: sidecar, image: image,
		least: map[string]int{}, ready: map[string]int{}, stop: make(chan struct{}),
	}
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(obj, false) },
		UpdateFunc: func(_, obj any) { w.observe(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			w.observe(obj, true)
		},
	})
	Expect(err).NotTo(HaveOccurred())
	factory.Start(w.stop)
	Expect(cache.WaitForCacheSync(w.stop, inf.HasSynced)).To(BeTrue())
	DeferCleanup(func() { close(w.stop) })
	return w
}

// Start begins recording: the fewest ready pods, and the time until every pod runs the image ready, from start.
func (w *deploymentReadiness) Start(start time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started, w.start = true, start
	w.tally()
}

func (w *deploymentReadiness) observe(obj any, deleted bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if deleted {
		delete(w.pods, p.Name)
	} else {
		w.pods[p.Name] = p
	}
	w.tally()
}

// tally records the state the pods are in now. Called with mu held.
func (w *deploymentReadiness) tally() {
	ready := map[string]int{}
	notReady, onImage := 0, 0
	for _, p := range w.pods {
		if !localcluster.PodReady(p) {
			notReady++
			continue
		}
		ready[p.Labels["deployment"]]++
		if st := containerStatus(p, w.sidecar); st != nil && st.Image == w.image {
			onImage++
		}
	}
	w.mostNotReady = max(w.mostNotReady, notReady)
	if !w.started {
		return
	}
	for _, d := range w.deployments {
		if least, seen := w.least[d]; !seen || ready[d] < least {
			w.least[d] = ready[d]
		}
		if ready[d] < w.floor && w.firstBelow == "" {
			w.firstBelow = fmt.Sprintf("%s with %d ready after %.2f s (%s)", d, ready[d], time.Since(w.start).Seconds(), w.notReadyPods(d))
		}
		if was, seen := w.ready[d]; !seen || was != ready[d] {
			w.ready[d] = ready[d]
			w.timeline = append(w.timeline, fmt.Sprintf("%.2fs %s=%d ready (%s)", time.Since(w.start).Seconds(), d, ready[d], w.notReadyPods(d)))
		}
	}
	if onImage == w.total && len(w.pods) == w.total && w.doneAfter == 0 {
		w.doneAfter = time.Since(w.start)
	}
}

// notReadyPods names the pods of deployment d not ready now, sorted. Called with mu held.
func (w *deploymentReadiness) notReadyPods(d string) string {
	var names []string
	for _, p := range w.pods {
		if p.Labels["deployment"] == d && !localcluster.PodReady(p) {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return "not ready: " + strings.Join(names, ", ")
}

// Least is the fewest ready pods seen at once per Deployment since Start.
func (w *deploymentReadiness) Least() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.least)
}

// MostNotReady is the most pods of the namespace seen not ready at once.
func (w *deploymentReadiness) MostNotReady() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mostNotReady
}

// Timeline lists each change of a Deployment's ready pods since Start, with the time since Start and the pods
// not ready then.
func (w *deploymentReadiness) Timeline() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.timeline)
}

// FirstBelow describes the first moment a Deployment had fewer than floor pods ready, or says there was none.
func (w *deploymentReadiness) FirstBelow() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstBelow == "" {
		return "none"
	}
	return w.firstBelow
}

// Done says whether every pod has run the image, ready, since Start.
func (w *deploymentReadiness) Done() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.doneAfter > 0
}

// DoneAfter is the time from Start until every pod ran the image, ready.
func (w *deploymentReadiness) DoneAfter() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.doneAfter
}
