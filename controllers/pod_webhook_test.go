package controllers

import (
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

func newNamespace(labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("ns"), Labels: labels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func newSidecarSet(name, spec string) *appsv1alpha1.SidecarSet {
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(yaml.UnmarshalStrict([]byte(spec), &set.Spec)).To(Succeed())
	Expect(k8sClient.Create(ctx, set)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed()) })
	waitForEntry(name, true)
	waitUntilInjecting(set)
	return set
}

// waitUntilInjecting waits until the API server applies the SidecarSet's webhook entry: it reads webhook
// configurations through its own informer, a moment after they are written. A probe pod matching the
// selector is created until it comes back injected. SidecarSets with a namespaceSelector are not probed.
func waitUntilInjecting(set *appsv1alpha1.SidecarSet) {
	if set.Spec.NamespaceSelector != nil || set.Spec.InjectionStrategy.Paused || len(set.Spec.Selector.MatchExpressions) > 0 {
		return
	}
	ns := newNamespace(nil)
	before := testutil.ToFloat64(injections.WithLabelValues(set.Name, string(inject.OutcomeInjected)))
	Eventually(func(g Gomega) {
		probe := podSpec(ns, "", set.Spec.Selector.MatchLabels, "probe")
		probe.GenerateName = "probe-"
		g.Expect(k8sClient.Create(ctx, probe)).To(Succeed())
		// Without a kubelet, a pod never scheduled is gone at once: it leaves no matched pod behind.
		g.Expect(k8sClient.Delete(ctx, probe)).To(Succeed())
		g.Expect(probe.Annotations[appsv1alpha1.StateAnnotation]).To(ContainSubstring(`"` + set.Name + `"`))
	}).Should(Succeed())
	probeInjections[set.Name] = testutil.ToFloat64(injections.WithLabelValues(set.Name, string(inject.OutcomeInjected))) - before
}

// probeInjections counts, per SidecarSet, the injections of waitUntilInjecting's probe pods, which the metric
// assertions leave out.
var probeInjections = map[string]float64{}

func webhookConfig() *admissionregistrationv1.MutatingWebhookConfiguration {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, mwc)).To(Succeed())
	return mwc
}

func entryNames() []string {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, mwc); err != nil {
		return nil
	}
	var names []string
	for _, w := range mwc.Webhooks {
		names = append(names, w.Name)
	}
	return names
}

// waitForEntry waits until the SidecarSet's webhook entry is (or is no longer) in the configuration.
func waitForEntry(set string, present bool) {
	matcher := ContainElement(set + ".inject.sidecarset.io")
	if !present {
		matcher = Not(matcher)
	}
	Eventually(entryNames).Should(matcher)
}

func podSpec(namespace, name string, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "example.com/" + c + ":1"})
	}
	return p
}

func containerNames(p *corev1.Pod) []string {
	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, "init:"+c.Name)
	}
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	return names
}

// warningRecorder collects the warnings the API server returns, which kubectl would print.
type warningRecorder struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, message)
}

const logShipper = `
selector: {matchLabels: {app: web}}
containers:
- name: log-shipper
  image: example.com/shipper:1.0
  volumeMounts: [{name: shipper-config, mountPath: /etc/shipper}]
initContainers:
- name: proxy
  image: example.com/proxy:1.0
  restartPolicy: Always
volumes:
- name: shipper-config
  configMap: {name: shipper}
patchPodMetadata:
- labels: {logging: enabled}
`

var _ = Describe("Injecting sidecars into new pods", func() {
	var namespace string
	BeforeEach(func() { namespace = newNamespace(nil) })

	It("injects the sidecars of a matching SidecarSet into a pod created through the API", func() {
		set := newSidecarSet(uniqueName("logs"), logShipper)

		pod := podSpec(namespace, "web-1", map[string]string{"app": "web"}, "app")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())

		Expect(containerNames(pod)).To(Equal([]string{"init:proxy", "log-shipper", "app"}))
		Expect(pod.Spec.Volumes).To(ContainElement(HaveField("Name", "shipper-config")))
		Expect(pod.Labels).To(HaveKeyWithValue("logging", "enabled"))
		state, err := podstate.Read(pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(state).To(HaveKeyWithValue(set.Name, podstate.SidecarSetState{
			Revision: revision.For(set),
			Images:   map[string]string{"log-shipper": "example.com/shipper:1.0", "proxy": "example.com/proxy:1.0"},
		}))
		Expect(testutil.ToFloat64(injections.WithLabelValues(set.Name, string(inject.OutcomeInjected))) - probeInjections[set.Name]).To(Equal(1.0))
	})

	It("leaves alone pods that opted out, pods in kube-system and the operator's namespace, and pods that do not match", func() {
		newSidecarSet(uniqueName("logs"), logShipper)
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}))).To(Succeed())
		pods := []*corev1.Pod{
			podSpec(namespace, "opted-out", map[string]string{"app": "web", appsv1alpha1.InjectLabel: "false"}, "app"),
			podSpec("kube-system", uniqueName("system"), map[string]string{"app": "web"}, "app"),
			podSpec(operatorNamespace, uniqueName("operator"), map[string]string{"app": "web"}, "app"),
			podSpec(namespace, "other", map[string]string{"app": "api"}, "app"),
		}
		for _, p := range pods {
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			DeferCleanup(k8sClient.Delete, ctx, p)
			Expect(containerNames(p)).To(Equal([]string{"app"}), "pod %s/%s was injected", p.Namespace, p.Name)
			Expect(p.Annotations).NotTo(HaveKey(appsv1alpha1.StateAnnotation))
		}
	})

	It("scopes a SidecarSet by namespace labels", func() {
		set := newSidecarSet(uniqueName("metrics"), `
selector: {matchLabels: {app: web}}
namespaceSelector: {matchLabels: {environment: production}}
containers: [{name: metrics-agent, image: example.com/agent:1}]`)
		production := newNamespace(map[string]string{"environment": "production"})

		inProduction := podSpec(production, "web", map[string]string{"app": "web"}, "app")
		Expect(k8sClient.Create(ctx, inProduction)).To(Succeed())
		Expect(containerNames(inProduction)).To(Equal([]string{"metrics-agent", "app"}))

		elsewhere := podSpec(namespace, "web", map[string]string{"app": "web"}, "app")
		Expect(k8sClient.Create(ctx, elsewhere)).To(Succeed())
		Expect(containerNames(elsewhere)).To(Equal([]string{"app"}))

		entry := webhookConfig().Webhooks[slices.IndexFunc(webhookConfig().Webhooks,
			func(w admissionregistrationv1.MutatingWebhook) bool {
				return w.Name == set.Name+".inject.sidecarset.io"
			})]
		Expect(entry.NamespaceSelector.MatchLabels).To(Equal(map[string]string{"environment": "production"}))
	})

	It("applies several SidecarSets once each, in name order", func() {
		b := newSidecarSet(uniqueName("b-logs"), `{selector: {matchLabels: {app: web}}, containers: [{name: b-sidecar, image: example.com/b:1}]}`)
		a := newSidecarSet(uniqueName("a-metrics"), `{selector: {matchLabels: {app: web}}, containers: [{name: a-sidecar, image: example.com/a:1}]}`)

		pod := podSpec(namespace, "web", map[string]string{"app": "web"}, "app")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Expect(containerNames(pod)).To(Equal([]string{"a-sidecar", "b-sidecar", "app"}))
		state, err := podstate.Read(pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(state).To(HaveLen(2))
		Expect(state[a.Name].Revision).To(Equal(revision.For(a)))
		Expect(state[b.Name].Revision).To(Equal(revision.For(b)))
	})

	It("never overwrites a container of the pod: the colliding sidecar is skipped and the creator warned", func() {
		set := newSidecarSet(uniqueName("logs"), logShipper)
		warnings := &warningRecorder{}
		warned := rest.CopyConfig(cfg)
		warned.WarningHandler = warnings
		c, err := client.New(warned, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())

		pod := podSpec(namespace, "web", map[string]string{"app": "web"}, "app", "log-shipper")
		Expect(c.Create(ctx, pod)).To(Succeed())

		Expect(containerNames(pod)).To(Equal([]string{"init:proxy", "app", "log-shipper"}))
		Expect(pod.Spec.Containers[1].Image).To(Equal("example.com/log-shipper:1"), "the pod's own container was changed")
		Expect(warnings.messages).To(ContainElement(
			`SidecarSet ` + set.Name + `: sidecar "log-shipper" was not injected: the pod already has a container named "log-shipper"`))
		state, err := podstate.Read(pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(state[set.Name].Conflicts).To(Equal([]string{"log-shipper"}))
		Expect(testutil.ToFloat64(injections.WithLabelValues(set.Name, string(inject.OutcomeConflict)))).To(Equal(1.0))
	})

	It("refuses a pod whose state annotation is unreadable, saying what to fix", func() {
		newSidecarSet(uniqueName("logs"), logShipper)
		pod := podSpec(namespace, "web", map[string]string{"app": "web"}, "app")
		pod.Annotations = map[string]string{appsv1alpha1.StateAnnotation: "{not json"}
		err := k8sClient.Create(ctx, pod)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("annotation sidecarset.io/state is not a valid sidecar state"))
		Expect(err.Error()).To(ContainSubstring("remove the annotation from the pod template"))
	})

	It("does not inject while injection is paused, and stops sending pods to the webhook", func() {
		set := newSidecarSet(uniqueName("logs"), logShipper)
		// The reconciler writes the status meanwhile: update the latest version.
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
				return err
			}
			set.Spec.InjectionStrategy.Paused = true
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
		waitForEntry(set.Name, false)

		pod := podSpec(namespace, "web", map[string]string{"app": "web"}, "app")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Expect(containerNames(pod)).To(Equal([]string{"app"}))
	})

	It("adds and removes configuration entries with SidecarSets, leaving others' entries and metadata alone", func() {
		set := newSidecarSet(uniqueName("logs"), logShipper)
		mwc := webhookConfig()
		entry := mwc.Webhooks[slices.IndexFunc(mwc.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool {
			return w.Name == set.Name+".inject.sidecarset.io"
		})]
		Expect(*entry.FailurePolicy).To(Equal(admissionregistrationv1.Fail))
		Expect(*entry.SideEffects).To(Equal(admissionregistrationv1.SideEffectClassNone))
		Expect(*entry.ReinvocationPolicy).To(Equal(admissionregistrationv1.IfNeededReinvocationPolicy))
		Expect(*entry.TimeoutSeconds).To(BeNumerically("<=", 10))
		Expect(entry.ObjectSelector.MatchLabels).To(Equal(map[string]string{"app": "web"}))
		Expect(entry.ClientConfig.CABundle).NotTo(BeEmpty())

		// A user labels the configuration and adds an entry of their own (one that never matches a pod).
		foreign := entry.DeepCopy()
		foreign.Name = "audit.example.com"
		foreign.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"audit": "never-set"}}
		mwc.Labels["team"] = "platform"
		mwc.Webhooks = append(mwc.Webhooks, *foreign)
		Expect(k8sClient.Update(ctx, mwc)).To(Succeed())

		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		waitForEntry(set.Name, false)
		mwc = webhookConfig()
		Expect(mwc.Labels).To(HaveKeyWithValue("team", "platform"))
		Expect(entryNames()).To(ContainElement("audit.example.com"))

		// Put the configuration back as it was for the other specs.
		mwc.Webhooks = slices.DeleteFunc(mwc.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == "audit.example.com" })
		Expect(k8sClient.Update(ctx, mwc)).To(Succeed())
	})

	It("settles: once in step, the configuration is not rewritten", func() {
		newSidecarSet(uniqueName("logs"), logShipper)
		newSidecarSet(uniqueName("metrics"), `{selector: {matchLabels: {app: api}}, namespaceSelector: {matchLabels: {env: prod}}, containers: [{name: agent, image: example.com/agent:1}]}`)
		// The API server defaults fields of webhook entries; a reconciler that compared against what it sent
		// instead of what is stored would rewrite the configuration on every event, for ever.
		version := webhookConfig().ResourceVersion
		Consistently(func() string { return webhookConfig().ResourceVersion }).WithTimeout(3 * time.Second).Should(Equal(version))
	})

	It("recreates the configuration when someone deletes it", func() {
		set := newSidecarSet(uniqueName("logs"), logShipper)
		Expect(k8sClient.Delete(ctx, webhookConfig())).To(Succeed())
		waitForEntry(set.Name, true)
	})

	It("refuses a matching pod while the webhook is down, and still creates pods no SidecarSet selects", func() {
		set := newSidecarSet(uniqueName("logs"), logShipper)
		stopWebhook()
		DeferCleanup(startWebhook)

		err := k8sClient.Create(ctx, podSpec(namespace, "web", map[string]string{"app": "web"}, "app"))
		Expect(err).To(HaveOccurred())
		Expect(apierrors.IsInternalError(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(`failed calling webhook "` + set.Name + `.inject.sidecarset.io"`))

		unrelated := podSpec(namespace, "api", map[string]string{"app": "api"}, "app")
		Expect(k8sClient.Create(ctx, unrelated)).To(Succeed())
		Expect(containerNames(unrelated)).To(Equal([]string{"app"}))

		optedOut := podSpec(namespace, "web-opted-out", map[string]string{"app": "web", appsv1alpha1.InjectLabel: "false"}, "app")
		Expect(k8sClient.Create(ctx, optedOut)).To(Succeed())
	})
})
