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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/sidecarset/sidecarset-operator/test/cluster"
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

// workloadRollout is the outcome of rollOutAcrossDeployments.
type workloadRollout struct {
	deployments []string
	watch       *deploymentReadiness
}

// rollOutAcrossDeployments creates a SidecarSet with the given updateStrategy over n Deployments of replicas
// pods each in a new namespace, changes its sidecar image, waits until the rollout completed in place, and
// logs how long it took and the fewest ready pods each Deployment had.
func rollOutAcrossDeployments(prefix, updateStrategy string, n int, replicas int32) workloadRollout {
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

	const image = "example.com/shipper:2"
	r.watch = watchDeploymentReadiness(ns, r.deployments, total, "shipper", image)
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
		"(SidecarSet Ready after %.2f s); fewest ready per Deployment: %s; most not ready at once: %d; first below 2: %s\n",
		updateStrategy, total, n, r.watch.DoneAfter().Seconds(), statusDone.Seconds(),
		strings.Join(counts, " "), r.watch.MostNotReady(), r.watch.FirstBelow())
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
	sidecar     string
	image       string

	started      bool
	start        time.Time
	least        map[string]int
	mostNotReady int
	firstBelow   string
	doneAfter    time.Duration

	stop chan struct{}
}

func watchDeploymentReadiness(namespace string, deployments []string, total int, sidecar, image string) *deploymentReadiness {
	w := &deploymentReadiness{
		pods: map[string]*corev1.Pod{}, deployments: deployments, total: total, sidecar: sidecar, image: image,
		least: map[string]int{}, stop: make(chan struct{}),
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
		if !cluster.PodReady(p) {
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
		if ready[d] < 2 && w.firstBelow == "" {
			w.firstBelow = fmt.Sprintf("%s with %d ready after %.2f s (%s)", d, ready[d], time.Since(w.start).Seconds(), w.notReadyPods(d))
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
		if p.Labels["deployment"] == d && !cluster.PodReady(p) {
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

// FirstBelow describes the first moment a Deployment had fewer than 2 pods ready, or says there was none.
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
