package controllers

import (
	"reflect"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// warnedClient returns a client whose requests record the API server's warnings.
func warnedClient() (client.Client, *warningRecorder) {
	warnings := &warningRecorder{}
	warned := rest.CopyConfig(cfg)
	warned.WarningHandler = warnings
	c, err := client.New(warned, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return c, warnings
}

// sidecarSetWith is a SidecarSet selecting the pods of app whose one sidecar is c.
func sidecarSetWith(app string, c corev1.Container) *appsv1alpha1.SidecarSet {
	return &appsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("checked")},
		Spec: appsv1alpha1.SidecarSetSpec{
			Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Containers: []appsv1alpha1.SidecarContainer{{Container: c}},
		},
	}
}

// restrictedContext meets the restricted Pod Security level.
func restrictedContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// invalidContainerFields makes, for each field of a container (by its JSON name), the container invalid
// through that field, or says why no value of the field is invalid on its own. The spec below fails when a
// field of corev1.Container is missing here, so a Kubernetes upgrade that adds one adds a case.
var invalidContainerFields = map[string]func(*corev1.Container){
	"name":  func(c *corev1.Container) { c.Name = "Not_A_Name" },
	"image": func(c *corev1.Container) { c.Image = " example.com/logs:1" },
	"ports": func(c *corev1.Container) { c.Ports = []corev1.ContainerPort{{ContainerPort: 70000}} },
	"envFrom": func(c *corev1.Container) {
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}
	},
	"env":       func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Name: "A", Value: "1", ValueFrom: fieldRef()}} },
	"resources": func(c *corev1.Container) { c.Resources = requestsAboveLimits() },
	"resizePolicy": func(c *corev1.Container) {
		c.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: "gpu", RestartPolicy: "NotRequired"}}
	},
	"restartPolicy":            func(c *corev1.Container) { c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicy("Sometimes")) },
	"restartPolicyRules":       func(c *corev1.Container) { c.RestartPolicyRules = []corev1.ContainerRestartRule{{Action: "Restart"}} },
	"volumeMounts":             func(c *corev1.Container) { c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: ""}} },
	"volumeDevices":            func(c *corev1.Container) { c.VolumeDevices = []corev1.VolumeDevice{{Name: "data", DevicePath: ""}} },
	"livenessProbe":            func(c *corev1.Container) { c.LivenessProbe = &corev1.Probe{} },
	"readinessProbe":           func(c *corev1.Container) { c.ReadinessProbe = &corev1.Probe{} },
	"startupProbe":             func(c *corev1.Container) { c.StartupProbe = &corev1.Probe{} },
	"lifecycle":                func(c *corev1.Container) { c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}} },
	"terminationMessagePolicy": func(c *corev1.Container) { c.TerminationMessagePolicy = "Sometimes" },
	"imagePullPolicy":          func(c *corev1.Container) { c.ImagePullPolicy = "Sometimes" },
	"securityContext":          func(c *corev1.Container) { c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(-1))} },
	// Fields no value of which is refused on its own: the spec checks that the API server accepts a pod
	// with the value, and so does the SidecarSet validation.
	"command":                nil,
	"args":                   nil,
	"workingDir":             nil,
	"terminationMessagePath": nil,
	"stdin":                  nil,
	"stdinOnce":              nil,
	"tty":                    nil,
}

func fieldRef() *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}
}

func requestsAboveLimits() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
	}
}

// unusualValues gives the fields without an invalid value a value that is not their zero value.
var unusualValues = map[string]func(*corev1.Container){
	"command":                func(c *corev1.Container) { c.Command = []string{"", "--x"} },
	"args":                   func(c *corev1.Container) { c.Args = []string{""} },
	"workingDir":             func(c *corev1.Container) { c.WorkingDir = "relative/dir" },
	"terminationMessagePath": func(c *corev1.Container) { c.TerminationMessagePath = "relative" },
	"stdin":                  func(c *corev1.Container) { c.Stdin = true },
	"stdinOnce":              func(c *corev1.Container) { c.StdinOnce = true },
	"tty":                    func(c *corev1.Container) { c.TTY = true },
}

// podDryRun creates the pod with a server-side dry run: the API server's own answer, nothing stored.
func podDryRun(pod *corev1.Pod) error {
	return k8sClient.Create(ctx, pod, client.DryRunAll)
}

var _ = Describe("SidecarSet validation", func() {
	It("refuses the SidecarSets that would break pod creation, in the API server's words, and stores nothing", func() {
		for _, tc := range []struct {
			sidecar corev1.Container
			message string
		}{
			{corev1.Container{Name: "logs", Image: "example.com/logs:1", Ports: []corev1.ContainerPort{{ContainerPort: 70000}}},
				`spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535`},
			{corev1.Container{Name: "logs", Image: "example.com/logs:1", Resources: requestsAboveLimits()},
				`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`},
			{corev1.Container{Name: "logs", Image: "example.com/logs:1", Env: []corev1.EnvVar{{Name: "A", Value: "1", ValueFrom: fieldRef()}}},
				`spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when ` + "`value`" + ` is not empty`},
		} {
			set := sidecarSetWith("web", tc.sidecar)
			err := k8sClient.Create(ctx, set)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(`SidecarSet.apps.sidecarset.io "` + set.Name + `" is invalid: ` + tc.message))
			Expect(apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: set.Name}, &appsv1alpha1.SidecarSet{}))).To(BeTrue())
		}
	})

	It("accepts a privileged sidecar, which the API server admits in a pod", func() {
		set := sidecarSetWith("web", corev1.Container{Name: "logs", Image: "example.com/logs:1", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}})
		Expect(k8sClient.Create(ctx, set, client.DryRunAll)).To(Succeed())
	})

	It("refuses a spec change that breaks the sidecars and keeps the stored spec, and lets metadata change", func() {
		set := newSidecarSet(uniqueName("logs"), `
selector: {matchLabels: {app: web}}
containers: [{name: logs, image: example.com/logs:1}]`)
		stored := set.DeepCopy()
		set.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 0}}
		err := k8sClient.Patch(ctx, set, client.MergeFrom(stored))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.containers[0].ports[0].containerPort: Required value"))
		got := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(set), got)).To(Succeed())
		Expect(got.Spec).To(Equal(stored.Spec))
		patch := client.MergeFrom(got.DeepCopy())
		got.Labels = map[string]string{"team": "platform"}
		Expect(k8sClient.Patch(ctx, got, patch)).To(Succeed())
	})

	It("warns of the Pod Security levels the sidecars do not meet, and accepts the SidecarSet", func() {
		c, warnings := warnedClient()
		set := sidecarSetWith("web", corev1.Container{Name: "logs", Image: "example.com/logs:1"})
		Expect(c.Create(ctx, set)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed()) })
		Expect(warnings.messages).To(ConsistOf(HavePrefix(`the sidecars do not meet the restricted Pod Security level: ` +
			`PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "logs" must set securityContext.allowPrivilegeEscalation=false)`)))

		c, warnings = warnedClient()
		meets := sidecarSetWith("web", corev1.Container{Name: "logs", Image: "example.com/logs:1", SecurityContext: restrictedContext()})
		Expect(c.Create(ctx, meets)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, meets))).To(Succeed()) })
		Expect(warnings.messages).To(BeEmpty())
	})

	It("refuses what the API server refuses for a pod, through every field of a container", func() {
		ns := newNamespace(nil)
		fields := reflect.TypeOf(corev1.Container{})
		for i := range fields.NumField() {
			name, _, _ := strings.Cut(fields.Field(i).Tag.Get("json"), ",")
			mutate, known := invalidContainerFields[name]
			Expect(known).To(BeTrue(), "container field %q has no case: add how it is made invalid, or nil", name)
			invalid := mutate != nil
			if !invalid {
				mutate = unusualValues[name]
				Expect(mutate).NotTo(BeNil(), "container field %q has no unusual value", name)
			}
			sidecar := corev1.Container{Name: "logs", Image: "example.com/logs:1"}
			mutate(&sidecar)

			// The API server's answer for a pod carrying the sidecar beside an app container.
			pod := podSpec(ns, uniqueName("field"), map[string]string{"app": "unmatched"}, "app")
			pod.Spec.Containers = append([]corev1.Container{sidecar}, pod.Spec.Containers...)
			pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
			podErr := podDryRun(pod)

			set := sidecarSetWith("web", sidecar)
			setErr := k8sClient.Create(ctx, set, client.DryRunAll)
			if !invalid {
				Expect(podErr).NotTo(HaveOccurred(), "field %s: the API server refuses a pod", name)
				Expect(setErr).NotTo(HaveOccurred(), "field %s: a SidecarSet is refused that the API server accepts in a pod", name)
				continue
			}
			Expect(apierrors.IsInvalid(podErr)).To(BeTrue(), "field %s: the API server accepts the pod: %v", name, podErr)
			Expect(apierrors.IsInvalid(setErr)).To(BeTrue(), "field %s: the SidecarSet is accepted, its pods refused: %v", name, podErr)
			if !strings.Contains(setErr.Error(), "denied the request") {
				// The CRD's schema refused it first, with its own rule for the field.
				Expect(setErr.Error()).To(ContainSubstring("spec.containers[0]"), "field %s", name)
				continue
			}
			causes := podErr.(apierrors.APIStatus).Status().Details.Causes
			Expect(causes).NotTo(BeEmpty())
			for _, cause := range causes {
				Expect(setErr.Error()).To(ContainSubstring(cause.Field+": "+cause.Message),
					"field %s: the SidecarSet's refusal does not say what the API server says of the pod", name)
			}
		}
	})
})

var _ = Describe("Injection that never makes a pod invalid", func() {
	// Each spec selects its own app, so pods other specs leave behind are never matched.
	var namespace, app string
	BeforeEach(func() { namespace, app = newNamespace(nil), uniqueName("web") })

	It("skips a sidecar mounting a volume the pod does not have, admits the pod with a warning, and reports it", func() {
		set := newSidecarSet(uniqueName("logs"), `
selector: {matchLabels: {app: `+app+`}}
containers:
- name: logs
  image: example.com/logs:1
  volumeMounts: [{name: app-data, mountPath: /data}]`)
		c, warnings := warnedClient()
		pod := podSpec(namespace, "web", map[string]string{"app": app}, "app")
		Expect(c.Create(ctx, pod)).To(Succeed())

		Expect(containerNames(pod)).To(Equal([]string{"app"}))
		reason := `the pod would be invalid: spec.containers[0].volumeMounts[0].name: Not found: "app-data"`
		Expect(warnings.messages).To(ContainElement("SidecarSet " + set.Name + ": sidecars not injected: " + reason))
		state, err := podstate.Read(pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(state[set.Name].Skipped).To(Equal(reason))
		Expect(state[set.Name].Images).To(BeEmpty())

		// A pod that has the volume gets the sidecar.
		withVolume := podSpec(namespace, "web-2", map[string]string{"app": app}, "app")
		withVolume.Spec.Volumes = []corev1.Volume{{Name: "app-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		Expect(k8sClient.Create(ctx, withVolume)).To(Succeed())
		Expect(containerNames(withVolume)).To(Equal([]string{"logs", "app"}))

		Eventually(func(g Gomega) {
			st := sidecarSetStatus(set.Name)()
			g.Expect(st.MatchedPods).To(BeEquivalentTo(2))
			g.Expect(st.MissingPods).To(BeEquivalentTo(1))
			drifted := condition(st, appsv1alpha1.ConditionDrifted)
			g.Expect(drifted).NotTo(BeNil())
			g.Expect(drifted.Reason).To(Equal(appsv1alpha1.ReasonInjectionSkipped))
			g.Expect(drifted.Message).To(ContainSubstring("skipped at injection, for example " + namespace + "/web: " + reason))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			var events corev1.EventList
			g.Expect(k8sClient.List(ctx, &events, client.MatchingFields{"involvedObject.name": set.Name})).To(Succeed())
			g.Expect(events.Items).To(ContainElement(And(HaveField("Type", corev1.EventTypeWarning),
				HaveField("Reason", appsv1alpha1.ReasonInjectionSkipped), HaveField("Message", ContainSubstring(reason)))))
		}).Should(Succeed())
	})

	It("skips a sidecar that does not meet the Pod Security level the namespace enforces, and injects the others", func() {
		restricted := newNamespace(map[string]string{psaapi.EnforceLevelLabel: string(psaapi.LevelRestricted)})
		loose := newSidecarSet("a-"+uniqueName("loose"), `
selector: {matchLabels: {app: `+app+`}}
containers: [{name: loose, image: example.com/loose:1}]`)
		strict := sidecarSetWith(app, corev1.Container{Name: "strict", Image: "example.com/strict:1", SecurityContext: restrictedContext()})
		strict.Name = "b-" + strict.Name
		Expect(k8sClient.Create(ctx, strict)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, strict))).To(Succeed()) })
		waitForEntry(strict.Name, true)
		waitUntilInjecting(strict)

		pod := podSpec(restricted, "web", map[string]string{"app": app}, "app")
		pod.Spec.Containers[0].SecurityContext = restrictedContext()
		before := injectionCount(loose.Name, inject.OutcomeSkipped)
		c, warnings := warnedClient()
		Expect(c.Create(ctx, pod)).To(Succeed())
		Expect(containerNames(pod)).To(Equal([]string{"strict", "app"}))
		Expect(warnings.messages).To(ContainElement(HavePrefix("SidecarSet " + loose.Name +
			`: sidecars not injected: the pod would be refused: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "loose"`)))
		Expect(injectionCount(loose.Name, inject.OutcomeSkipped) - before).To(Equal(1.0))

		// The same pod in a namespace enforcing nothing gets both.
		elsewhere := podSpec(namespace, "web", map[string]string{"app": app}, "app")
		elsewhere.Spec.Containers[0].SecurityContext = restrictedContext()
		Expect(k8sClient.Create(ctx, elsewhere)).To(Succeed())
		Expect(containerNames(elsewhere)).To(Equal([]string{"loose", "strict", "app"}))
	})

	It("injects into a pod the API server refuses anyway, and leaves the refusal to it", func() {
		newSidecarSet(uniqueName("logs"), `
selector: {matchLabels: {app: `+app+`}}
containers: [{name: logs, image: example.com/logs:1}]`)
		pod := podSpec(namespace, "web", map[string]string{"app": app}, "app")
		pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000}}
		err := k8sClient.Create(ctx, pod)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		// The error is about the app's own container, which comes after the sidecar.
		Expect(err.Error()).To(ContainSubstring("spec.containers[1].ports[0].containerPort: Invalid value: 70000"))
	})
})

func injectionCount(set string, outcome inject.Outcome) float64 {
	return testutil.ToFloat64(injections.WithLabelValues(set, string(outcome)))
}
