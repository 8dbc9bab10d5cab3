//go:build e2e

package e2e

import (
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

var _ = Describe("Injection the API server would refuse the pod for", func() {
	It("creates a Deployment's pods without a sidecar mounting a volume the pod does not have, and reports them", func() {
		ns := newNamespace()
		name := uniqueName("novolume")
		labels := map[string]string{"app": name}
		// app-data is neither the SidecarSet's volume nor the pods': the SidecarSet is accepted, as the volume
		// may be a pod's own, but these pods would be invalid with the sidecar.
		createSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers:
- name: shipper
  image: example.com/shipper:1
  volumeMounts: [{name: app-data, mountPath: /data}]
`, ns, labels)

		deployment(ns, "web", 3, labels)
		notFound := regexp.QuoteMeta(`the pod would be invalid: `) + `.*` +
			regexp.QuoteMeta(`spec.containers[0].volumeMounts[`) + `\d+` + regexp.QuoteMeta(`].name: Not found: "app-data"`)
		for _, p := range waitPodsReady(ns, labels, 3) {
			Expect(container(&p, "shipper")).To(BeNil(), "pod %s got the sidecar", p.Name)
			st := injectionState(&p, name)
			Expect(st.Skipped).To(MatchRegexp(notFound), "pod %s", p.Name)
			Expect(st.Images).To(BeEmpty(), "pod %s", p.Name)
		}
		expectNoFailedCreate(ns)

		msg := waitInjectionSkipped(name, 3, 3)
		Expect(msg).To(ContainSubstring("3 skipped at injection"))
		Expect(msg).To(MatchRegexp(`skipped at injection, for example ` + regexp.QuoteMeta(ns+"/web-") + `[a-z0-9-]+: ` + notFound))

		// Whoever creates such a pod is told, and a pod that has the volume gets the sidecar.
		bare := pod(ns, "bare", labels)
		warnings, err := createWarned(bare)
		Expect(err).NotTo(HaveOccurred())
		Expect(warnings).To(ContainElement(And(
			HavePrefix("SidecarSet "+name+": sidecars not injected: "), MatchRegexp(notFound))))
		Expect(container(bare, "shipper")).To(BeNil())
		Expect(injectionState(bare, name).Skipped).To(MatchRegexp(notFound))

		withVolume := pod(ns, "with-volume", labels)
		withVolume.Spec.Volumes = []corev1.Volume{{Name: "app-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		warnings, err = createWarned(withVolume)
		Expect(err).NotTo(HaveOccurred())
		Expect(warnings).NotTo(ContainElement(ContainSubstring(name)))
		Expect(container(withVolume, "shipper")).NotTo(BeNil(), "a pod with the volume app-data did not get the sidecar")
		Expect(container(withVolume, "shipper").VolumeMounts).To(ContainElement(HaveField("Name", "app-data")))
		Expect(injectionState(withVolume, name).Skipped).To(BeEmpty())
	})

	It("creates a Deployment's pods without a sidecar whose hostPort an app container already has", func() {
		ns := newNamespace()
		name := uniqueName("hostport")
		labels := map[string]string{"app": name}
		const duplicate = `spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`

		// The API server refuses a pod of the app with the sidecar (placed first, as injection places it).
		sidecar := corev1.Container{Name: "agent", Image: "example.com/agent:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 9090, HostPort: 8080}}}
		app := corev1.Container{Name: "app", Image: "example.com/app:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}}
		both := pod(ns, "both", map[string]string{"app": name + "-unselected"})
		both.Spec.Containers = []corev1.Container{sidecar, app}
		err := k8sClient.Create(ctx, both, client.DryRunAll)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "the API server did not refuse the pod as invalid: %v", err)
		Expect(err.Error()).To(ContainSubstring(duplicate))

		createSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers:
- name: agent
  image: example.com/agent:1
  ports: [{containerPort: 9090, hostPort: 8080}]
`, ns, labels)
		t := template(labels)
		t.Spec.Containers = []corev1.Container{app}
		deploymentOf(ns, "web", 3, t)
		for _, p := range waitPodsReady(ns, labels, 3) {
			Expect(container(&p, "agent")).To(BeNil(), "pod %s got the sidecar", p.Name)
			Expect(injectionState(&p, name).Skipped).To(Equal("the pod would be invalid: "+duplicate), "pod %s", p.Name)
		}
		expectNoFailedCreate(ns)

		msg := waitInjectionSkipped(name, 3, 3)
		Expect(msg).To(ContainSubstring("skipped at injection, for example " + ns + "/web-"))
		Expect(msg).To(HaveSuffix(": the pod would be invalid: " + duplicate))
	})

	It("creates pods without a sidecar that does not meet the restricted Pod Security level their namespace enforces, and injects it elsewhere", func() {
		restricted := newLabelledNamespace(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		unlabelled := newNamespace()
		name := uniqueName("restricted")
		labels := map[string]string{"app": name}
		spec := `
selector: {matchLabels: {app: ` + name + `}}
containers: [{name: agent, image: example.com/agent:1}]
`
		// The SidecarSet is accepted, with a warning that it does not meet restricted (it meets baseline).
		set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
		Expect(yaml.UnmarshalStrict([]byte(spec), &set.Spec)).To(Succeed())
		var warnings []string
		Eventually(func(g Gomega) {
			var err error
			warnings, err = createWarned(set.DeepCopy(), client.DryRunAll)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(warnings).NotTo(BeEmpty(), "the SidecarSet validation webhook is not called yet")
		}).Should(Succeed())
		Expect(warnings).To(ConsistOf(And(
			HavePrefix("the sidecars do not meet the restricted Pod Security level: "),
			ContainSubstring(`container "agent" must set securityContext.allowPrivilegeEscalation=false`))))

		// The API server refuses a pod of the app with the sidecar in the restricted namespace.
		withAgent := pod(restricted, "with-agent", map[string]string{"app": name + "-unselected"})
		withAgent.Spec = restrictedTemplate(nil).Spec
		withAgent.Spec.Containers = append([]corev1.Container{{Name: "agent", Image: "example.com/agent:1"}}, withAgent.Spec.Containers...)
		err := k8sClient.Create(ctx, withAgent, client.DryRunAll)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the API server did not refuse the pod: %v", err)
		Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:latest"`))

		createSidecarSet(name, spec, unlabelled, labels)
		deploymentOf(restricted, "web", 3, restrictedTemplate(labels))
		deploymentOf(unlabelled, "web", 3, restrictedTemplate(labels))

		refused := `the pod would be refused: violates PodSecurity "restricted:latest": `
		for _, p := range waitPodsReady(restricted, labels, 3) {
			Expect(container(&p, "agent")).To(BeNil(), "pod %s got the sidecar", p.Name)
			Expect(injectionState(&p, name).Skipped).To(And(HavePrefix(refused),
				ContainSubstring(`container "agent" must set securityContext.allowPrivilegeEscalation=false`)), "pod %s", p.Name)
		}
		expectNoFailedCreate(restricted)
		for _, p := range waitPodsReady(unlabelled, labels, 3) {
			Expect(container(&p, "agent")).NotTo(BeNil(), "pod %s has no sidecar", p.Name)
			st := injectionState(&p, name)
			Expect(st.Skipped).To(BeEmpty(), "pod %s", p.Name)
			Expect(st.Images).To(HaveKeyWithValue("agent", "example.com/agent:1"))
		}

		msg := waitInjectionSkipped(name, 6, 3)
		Expect(msg).To(ContainSubstring("3 of 6 pods not on revision"))
		Expect(msg).To(ContainSubstring("skipped at injection, for example " + restricted + "/web-"))
		Expect(msg).To(ContainSubstring(refused))
		Expect(getSidecarSet(name).Status.UpdatedPods).To(Equal(int32(3)))

		// A bare pod in the restricted namespace is created too, and its creator told why it has no sidecar.
		bare := pod(restricted, "bare", labels)
		bare.Spec = restrictedTemplate(nil).Spec
		warnings, err = createWarned(bare)
		Expect(err).NotTo(HaveOccurred())
		Expect(warnings).To(ContainElement(HavePrefix("SidecarSet " + name + ": sidecars not injected: " + refused)))
		Expect(container(bare, "agent")).To(BeNil())
	})

	It("refuses a SidecarSet whose containerPort no pod could have, with the API server's message at its field", func() {
		name := uniqueName("port70000")
		set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}}
		Expect(yaml.UnmarshalStrict([]byte(`
selector: {matchLabels: {app: `+name+`}}
containers:
- name: agent
  image: example.com/agent:1
  ports: [{containerPort: 70000}]
`), &set.Spec)).To(Succeed())
		const message = `spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`

		// A SidecarSet stored before the operator's validation entry took effect would stay.
		waitSidecarSetValidation()
		err := k8sClient.Create(ctx, set)
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed()) })
		Expect(err).To(HaveOccurred(), "the SidecarSet was accepted")
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not an Invalid error: %v", err)
		Expect(err.Error()).To(ContainSubstring(`admission webhook "` + webhookconfig.ValidatingName + `" denied the request`))
		Expect(err.Error()).To(ContainSubstring(`SidecarSet.apps.sidecarset.io "` + name + `" is invalid: ` + message))
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: name}, &appsv1alpha1.SidecarSet{}))).To(BeTrue())
	})

	It("accepts every sample of config/samples without a Pod Security warning: their sidecars meet restricted", func() {
		files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		waitSidecarSetValidation()
		var sets []string
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			objs, err := localcluster.ReadObjects(f)
			Expect(err).NotTo(HaveOccurred())
			for _, obj := range objs {
				Expect(obj.GetKind()).To(Equal("SidecarSet"), f)
				warnings, err := createWarned(obj, client.DryRunAll)
				Expect(err).NotTo(HaveOccurred(), f)
				Expect(warnings).To(BeEmpty(), f)
				sets = append(sets, obj.GetName())
			}
		}
		Expect(sets).To(ConsistOf("log-shipper", "egress-proxy", "metrics-agent", "secrets-agent"))
	})
})

// waitSidecarSetValidation waits until the API server sends SidecarSets to the operator's validation: until
// a dry run of a SidecarSet it refuses is refused.
func waitSidecarSetValidation() {
	invalid := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("invalid")}}
	Expect(yaml.UnmarshalStrict([]byte(`
selector: {matchLabels: {app: invalid}}
containers: [{name: agent, image: example.com/agent:1, ports: [{containerPort: 0}]}]
`), &invalid.Spec)).To(Succeed())
	Eventually(func() error {
		return k8sClient.Create(ctx, invalid.DeepCopy(), client.DryRunAll)
	}).Should(MatchError(ContainSubstring(`admission webhook "` + webhookconfig.ValidatingName + `" denied the request`)))
}

// restrictedTemplate is template(labels) made to meet the restricted Pod Security level.
func restrictedTemplate(labels map[string]string) corev1.PodTemplateSpec {
	t := template(labels)
	t.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](1000),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	t.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	return t
}

// waitInjectionSkipped waits until the SidecarSet's status, for its current generation, counts matched pods
// of which missing got none of its sidecars, and is Drifted for InjectionSkipped; it returns Drifted's message.
func waitInjectionSkipped(name string, matched, missing int32) string {
	var msg string
	Eventually(func(g Gomega) {
		set := getSidecarSet(name)
		st := set.Status
		g.Expect(st.ObservedGeneration).To(Equal(set.Generation))
		g.Expect(st.MatchedPods).To(Equal(matched))
		g.Expect(st.MissingPods).To(Equal(missing))
		drifted := condition(st, appsv1alpha1.ConditionDrifted)
		g.Expect(drifted).NotTo(BeNil())
		g.Expect(drifted.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(drifted.Reason).To(Equal(appsv1alpha1.ReasonInjectionSkipped), "Drifted: %s", drifted.Message)
		msg = drifted.Message
	}).WithTimeout(time.Minute).Should(Succeed())
	GinkgoWriter.Printf("Drifted of %s: %s\n", name, msg)
	return msg
}
