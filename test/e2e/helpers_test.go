//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/localcluster"
	"github.com/sidecarset/sidecarset-operator/test/gitops"
)

var names atomic.Int32

func uniqueName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, names.Add(1)) }

// newNamespace creates a namespace, deleted after the spec, and waits for its default ServiceAccount, which
// the ServiceAccount admission plugin needs before it admits a pod there.
func newNamespace() string { return newLabelledNamespace(nil) }

// newLabelledNamespace is newNamespace with labels on the namespace (a Pod Security level it enforces).
func newLabelledNamespace(labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("e2e"), Labels: labels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed()) })
	Eventually(func() error {
		return k8sClient.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
	}).Should(Succeed())
	return ns.Name
}

// createSidecarSet creates a SidecarSet from a YAML spec, deleted after the spec, and waits until the API
// server calls the webhook for it: pods created by a workload before then would start without their sidecars.
// probe is the namespace and labels of a pod the SidecarSet selects; a server-side dry run of such a pod
// (which runs the webhooks but stores nothing) must come back injected.
func createSidecarSet(name, spec, probeNamespace string, probeLabels map[string]string) *appsv1alpha1.SidecarSet {
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(yaml.UnmarshalStrict([]byte(spec), &set.Spec)).To(Succeed())
	Expect(k8sClient.Create(ctx, set)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed()) })
	Eventually(func(g Gomega) {
		probe := pod(probeNamespace, "probe", probeLabels)
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		g.Expect(probe.Annotations).To(HaveKeyWithValue(appsv1alpha1.StateAnnotation, ContainSubstring(name)))
	}).Should(Succeed(), "the webhook entry of SidecarSet %s never took effect", name)
	return set
}

func pod(namespace, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec:       podSpec(),
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
		TerminationGracePeriodSeconds: ptr.To[int64](0),
	}
}

func template(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()}
}

func deployment(namespace, name string, replicas int32, labels map[string]string) *appsv1.Deployment {
	return deploymentOf(namespace, name, replicas, template(labels))
}

// deploymentOf creates a Deployment of replicas pods made from t, selected by t's labels.
func deploymentOf(namespace, name string, replicas int32, t corev1.PodTemplateSpec) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: t.Labels},
			Template: t,
		},
	}
	Expect(k8sClient.Create(ctx, d)).To(Succeed())
	return d
}

func statefulSet(namespace, name string, replicas int32, labels map[string]string) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template:            template(labels),
			PodManagementPolicy: appsv1.ParallelPodManagement,
		},
	}
	Expect(k8sClient.Create(ctx, s)).To(Succeed())
	return s
}

func daemonSet(namespace, name string, labels map[string]string) *appsv1.DaemonSet {
	d := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: template(labels),
		},
	}
	Expect(k8sClient.Create(ctx, d)).To(Succeed())
	return d
}

func job(namespace, name string, completions int32, labels map[string]string) *batchv1.Job {
	t := template(labels)
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: batchv1.JobSpec{
			Completions: ptr.To(completions),
			Parallelism: ptr.To(completions),
			Template:    t,
		},
	}
	Expect(k8sClient.Create(ctx, j)).To(Succeed())
	return j
}

func listPods(namespace string, labels map[string]string) []corev1.Pod {
	var list corev1.PodList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels(labels))).To(Succeed())
	return list.Items
}

// waitPodsReady waits until n pods with the labels exist, all ready, and returns them.
func waitPodsReady(namespace string, labels map[string]string, n int) []corev1.Pod {
	var pods []corev1.Pod
	Eventually(func(g Gomega) {
		pods = listPods(namespace, labels)
		g.Expect(pods).To(HaveLen(n))
		for i := range pods {
			g.Expect(localcluster.PodReady(&pods[i])).To(BeTrue(), "pod %s is not ready", pods[i].Name)
		}
	}).WithTimeout(2 * time.Minute).Should(Succeed())
	return pods
}

func getSidecarSet(name string) *appsv1alpha1.SidecarSet {
	set := &appsv1alpha1.SidecarSet{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, set)).To(Succeed())
	return set
}

func condition(st appsv1alpha1.SidecarSetStatus, t string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, t)
}

// waitRolledOut waits until the SidecarSet's status describes its current generation with updated pods on the
// latest revision, and it is Ready.
func waitRolledOut(name string, updated int32, timeout time.Duration) {
	Eventually(func(g Gomega) {
		set := getSidecarSet(name)
		st := set.Status
		g.Expect(st.ObservedGeneration).To(Equal(set.Generation))
		g.Expect(st.UpdatedPods).To(Equal(updated))
		ready := condition(st, appsv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready: %s: %s", ready.Reason, ready.Message)
	}).WithTimeout(timeout).Should(Succeed())
}

// updateSidecarSet changes the SidecarSet, retrying on conflicts.
func updateSidecarSet(name string, change func(*appsv1alpha1.SidecarSet)) {
	Eventually(func() error {
		set := getSidecarSet(name)
		change(set)
		return k8sClient.Update(ctx, set)
	}).Should(Succeed())
}

func setContainerImage(name, image string) {
	updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) { s.Spec.Containers[0].Image = image })
}

func setPaused(name string, paused bool) {
	updateSidecarSet(name, func(s *appsv1alpha1.SidecarSet) { s.Spec.UpdateStrategy.Paused = paused })
}

func container(p *corev1.Pod, name string) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == name {
			return &p.Spec.Containers[i]
		}
	}
	for i := range p.Spec.InitContainers {
		if p.Spec.InitContainers[i].Name == name {
			return &p.Spec.InitContainers[i]
		}
	}
	return nil
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// podRecord is what must not change about a pod during an in-place rollout.
type podRecord struct {
	uid         types.UID
	appRestarts int32
}

func record(pods []corev1.Pod) map[string]podRecord {
	r := map[string]podRecord{}
	for i := range pods {
		r[pods[i].Name] = podRecord{uid: pods[i].UID, appRestarts: containerStatus(&pods[i], "app").RestartCount}
	}
	return r
}

// expectUpdatedInPlace checks every pod runs sidecar on image, restarted exactly once, while its UID and its
// app container's restart count are what they were before.
func expectUpdatedInPlace(pods []corev1.Pod, before map[string]podRecord, sidecar, image string) {
	Expect(pods).To(HaveLen(len(before)))
	for i := range pods {
		p := &pods[i]
		was, ok := before[p.Name]
		Expect(ok).To(BeTrue(), "pod %s is new: the rollout replaced a pod", p.Name)
		Expect(p.UID).To(Equal(was.uid), "pod %s was recreated", p.Name)
		Expect(container(p, sidecar).Image).To(Equal(image), "pod %s", p.Name)
		st := containerStatus(p, sidecar)
		Expect(st.Image).To(Equal(image), "pod %s: the kubelet does not run the new image", p.Name)
		Expect(st.RestartCount).To(Equal(int32(1)), "pod %s: sidecar %s restarted %d times", p.Name, sidecar, st.RestartCount)
		Expect(containerStatus(p, "app").RestartCount).To(Equal(was.appRestarts), "pod %s: the app container restarted", p.Name)
	}
}

// unavailability watches the pods of a namespace through an informer and keeps the most that were not ready at
// any one time.
type unavailability struct {
	mu       sync.Mutex
	notReady map[string]bool
	most     int
	stop     chan struct{}
}

func watchUnavailability(namespace string) *unavailability {
	u := &unavailability{notReady: map[string]bool{}, stop: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(namespace))
	inf := factory.Core().V1().Pods().Informer()
	observe := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if localcluster.PodReady(p) {
			delete(u.notReady, p.Name)
		} else {
			u.notReady[p.Name] = true
		}
		u.most = max(u.most, len(u.notReady))
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				u.mu.Lock()
				delete(u.notReady, p.Name)
				u.mu.Unlock()
			}
		},
	})
	Expect(err).NotTo(HaveOccurred())
	factory.Start(u.stop)
	Expect(cache.WaitForCacheSync(u.stop, inf.HasSynced)).To(BeTrue())
	DeferCleanup(func() { close(u.stop) })
	return u
}

func (u *unavailability) Most() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.most
}

func (u *unavailability) Now() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.notReady)
}

// webhookEntryName is the webhook entry the operator keeps for a SidecarSet.
func webhookEntryName(set string) string { return webhookconfig.EntryName(set) }

// ensureOperatorRunning starts the operator again if a spec killed it.
func ensureOperatorRunning() {
	if !operator.Running() {
		Expect(operator.Start(ctx)).To(Succeed())
	}
}

// argoCDHealth is the Argo CD health of the SidecarSet as the operator wrote it, from config/argocd/health.lua.
func argoCDHealth(name string) string {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(getSidecarSet(name))
	Expect(err).NotTo(HaveOccurred())
	status, message, err := gitops.ArgoCDHealth(root, obj)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("Argo CD health of %s: %s (%s)\n", name, status, message)
	return status
}

// story is the start of a rollout story: a namespace, a SidecarSet selecting app=<name> pods, and a Deployment
// of n such pods, all ready and injected on the SidecarSet's first revision.
type story struct {
	ns, name string
	labels   map[string]string
	set      *appsv1alpha1.SidecarSet
	// before records the pods as they were once ready, for expectUpdatedInPlace.
	before map[string]podRecord
}

// newStory starts a story; spec is the SidecarSet's spec after its selector (containers, updateStrategy...).
func newStory(prefix, spec string, n int) story {
	s := story{ns: newNamespace(), name: uniqueName(prefix)}
	s.labels = map[string]string{"app": s.name}
	s.set = createSidecarSet(s.name, "selector: {matchLabels: {app: "+s.name+"}}\n"+spec, s.ns, s.labels)
	deployment(s.ns, "web", int32(n), s.labels)
	s.before = record(waitPodsReady(s.ns, s.labels, n))
	waitRolledOut(s.name, int32(n), time.Minute)
	return s
}

// warningRecorder keeps the warnings the API server answers a request with, admission webhooks' among them
// (kubectl prints them as "Warning: ...").
type warningRecorder struct {
	mu   sync.Mutex
	text []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

// createWarned creates obj as k8sClient does, and returns the warnings the API server answered with.
func createWarned(obj client.Object, opts ...client.CreateOption) ([]string, error) {
	rec := &warningRecorder{}
	cfg := rest.CopyConfig(local.Config)
	cfg.WarningHandler, cfg.WarningHandlerWithContext = nil, rec
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	err = c.Create(ctx, obj, opts...)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.text), err
}

// injectionState is what the pod's sidecarset.io/state annotation records for the SidecarSet.
func injectionState(p *corev1.Pod, set string) podstate.SidecarSetState {
	state, err := podstate.Read(p)
	Expect(err).NotTo(HaveOccurred(), "pod %s", p.Name)
	Expect(state).To(HaveKey(set), "pod %s records nothing of SidecarSet %s", p.Name, set)
	return state[set]
}

// expectNoFailedCreate checks no workload controller of the namespace was refused a pod: a pod the API server
// refused, then created on a retry, would otherwise pass for one admitted the first time.
func expectNoFailedCreate(namespace string) {
	var events corev1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace), client.MatchingFields{"reason": "FailedCreate"})).To(Succeed())
	for _, e := range events.Items {
		Fail(fmt.Sprintf("%s %s was refused a pod: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message))
	}
}

// podsWithEvent returns the names of the pods of the namespace that have an event with the reason, as the
// operator records them (source component sidecarset-operator).
func podsWithEvent(namespace, reason string) map[string]bool {
	var events corev1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace), client.MatchingFields{"reason": reason})).To(Succeed())
	out := map[string]bool{}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Pod" && e.Source.Component == "sidecarset-operator" {
			out[e.InvolvedObject.Name] = true
		}
	}
	return out
}
