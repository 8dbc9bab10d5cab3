package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	jsonpatch "github.com/evanphx/json-patch/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// The property: whatever SidecarSet the API server accepts, the pods the webhook answers for are pods the API
// server accepts. The SidecarSets are the samples, the container-field table's cases and a corpus drawn at
// random (from Ginkgo's seed, printed at the start of the run) around what breaks pods; the pods are the
// kinds the fleet runs. The webhook's handler answers in-process, and its patched pod is created with a
// server-side dry run, in a namespace enforcing nothing and in one enforcing the restricted level.

// fixedReader is the cache as the webhook reads it: these SidecarSets, and namespaces with these labels.
type fixedReader struct {
	namespaces map[string]map[string]string
}

func (r *fixedReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	obj.SetName(key.Name)
	obj.SetLabels(r.namespaces[key.Name])
	return nil
}

func (r *fixedReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("the injector lists nothing")
}

// fleetPods are pods of the kinds workloads create, each accepted by the API server on its own. The label
// app=property selects them; they are created with another label, which no SidecarSet selects.
func fleetPods() []*corev1.Pod {
	restricted := restrictedContext()
	token := corev1.VolumeMount{Name: "kube-api-access", MountPath: inject.ServiceAccountTokenPath, ReadOnly: true}
	tokenVolume := corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}
	web := &corev1.Pod{Spec: corev1.PodSpec{
		ServiceAccountName: "default",
		Containers: []corev1.Container{{
			Name: "app", Image: "example.com/web:1", SecurityContext: restricted,
			Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			Env:          []corev1.EnvVar{{Name: "APP_NAME", Value: "web"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, token},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
		}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, tokenVolume},
	}}
	withInit := web.DeepCopy()
	withInit.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1", SecurityContext: restricted}}
	hostPorts := web.DeepCopy()
	hostPorts.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
	hostPorts.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	bare := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example.com/job:1"}},
		RestartPolicy: corev1.RestartPolicyNever}}
	guaranteed := web.DeepCopy()
	guaranteed.Spec.Containers[0].Resources.Limits = guaranteed.Spec.Containers[0].Resources.Requests.DeepCopy()
	return []*corev1.Pod{web, withInit, hostPorts, bare, guaranteed}
}

// sampleSidecarSets reads the SidecarSets of config/samples.
func sampleSidecarSets() []appsv1alpha1.SidecarSet {
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "apps_v1alpha1_sidecarset_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(files).NotTo(BeEmpty())
	var out []appsv1alpha1.SidecarSet
	for _, f := range files {
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		var set appsv1alpha1.SidecarSet
		Expect(yaml.UnmarshalStrict(data, &set)).To(Succeed(), f)
		out = append(out, set)
	}
	return out
}

// tableSidecarSets are the container-field table's cases, each in a SidecarSet.
func tableSidecarSets() []appsv1alpha1.SidecarSet {
	var out []appsv1alpha1.SidecarSet
	for _, cases := range []map[string]func(*corev1.Container){invalidContainerFields, unusualValues} {
		for _, mutate := range cases {
			if mutate == nil {
				continue
			}
			c := corev1.Container{Name: "table", Image: "example.com/table:1"}
			mutate(&c)
			out = append(out, appsv1alpha1.SidecarSet{Spec: appsv1alpha1.SidecarSetSpec{
				Containers: []appsv1alpha1.SidecarContainer{{Container: c}}}})
		}
	}
	return out
}

// corpus draws SidecarSets near what breaks pods: ports out of range or clashing with the app's host port,
// requests above limits, env with both value and valueFrom, mounts of volumes nobody defines or the app's
// own, names of the app's containers, probes on classic init containers, security contexts from restricted
// to privileged.
type corpus struct{ r *rand.Rand }

func (g corpus) pick(n int) int { return g.r.IntN(n) }

func (g corpus) container(name string, init bool) appsv1alpha1.SidecarContainer {
	c := corev1.Container{Name: name, Image: "example.com/" + name + ":1"}
	switch g.pick(4) {
	case 0:
		c.Ports = []corev1.ContainerPort{{ContainerPort: []int32{80, 8080, 9100, 65535}[g.pick(4)]}}
	case 1:
		c.Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
	}
	switch g.pick(8) {
	case 0:
		c.Resources = requestsAboveLimits()
	case 1:
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	}
	switch g.pick(8) {
	case 0:
		c.Env = []corev1.EnvVar{{Name: "A", Value: "1", ValueFrom: fieldRef()}}
	case 1:
		c.Env = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
	}
	switch g.pick(5) {
	case 0:
		c.VolumeMounts = []corev1.VolumeMount{{Name: "nobody-defines-it", MountPath: "/x"}}
	case 1:
		c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	case 2:
		c.VolumeMounts = []corev1.VolumeMount{{Name: "sidecar-config", MountPath: "/etc/sidecar"}}
	case 3:
		c.VolumeMounts = []corev1.VolumeMount{{Name: "sidecar-config", MountPath: inject.ServiceAccountTokenPath}}
	}
	switch g.pick(8) {
	case 0, 1, 2:
		c.SecurityContext = restrictedContext()
	case 3:
		c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	case 4:
		c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(-1))}
	}
	if g.pick(4) == 0 {
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intOrString(8080)}}}
	}
	if init && g.pick(2) == 0 {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	}
	sc := appsv1alpha1.SidecarContainer{Container: c}
	if g.pick(3) == 0 {
		sc.ShareVolumePolicy = appsv1alpha1.ShareVolumePolicyEnabled
	}
	if g.pick(3) == 0 {
		sc.TransferEnv = []appsv1alpha1.TransferEnvVar{{SourceContainerName: "app", EnvName: "APP_NAME"}}
	}
	return sc
}

func (g corpus) sidecarSet() appsv1alpha1.SidecarSet {
	names := []string{"shipper", "proxy", "agent", "app", "migrate", "main"}
	var spec appsv1alpha1.SidecarSetSpec
	for i := range 1 + g.pick(2) {
		spec.Containers = append(spec.Containers, g.container(names[(g.pick(len(names))+i)%len(names)], false))
	}
	if g.pick(2) == 0 {
		spec.InitContainers = append(spec.InitContainers, g.container("init-"+names[g.pick(3)], true))
	}
	if g.pick(2) == 0 {
		spec.Volumes = []corev1.Volume{{Name: "sidecar-config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sidecar"}}}}}
	}
	if g.pick(4) == 0 {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}})
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: "/host"})
	}
	return appsv1alpha1.SidecarSet{Spec: spec}
}

var _ = Describe("The injection property", func() {
	It("never answers with a pod the API server refuses, for any SidecarSet it accepts", func() {
		plain := newNamespace(nil)
		restricted := newNamespace(map[string]string{psaapi.EnforceLevelLabel: string(psaapi.LevelRestricted)})
		// Every fleet pod is admitted alone in the plain namespace, and those meeting restricted in the other.
		type fleetPod struct {
			pod       *corev1.Pod
			namespace string
		}
		var pods []fleetPod
		for _, ns := range []string{plain, restricted} {
			for i, p := range fleetPods() {
				p.Namespace, p.Name = ns, fmt.Sprintf("fleet-%d", i)
				err := podDryRun(p.DeepCopy())
				if ns == plain {
					Expect(err).NotTo(HaveOccurred(), "fleet pod %d alone", i)
				}
				if err == nil {
					pods = append(pods, fleetPod{p, ns})
				}
			}
		}
		Expect(len(pods)).To(BeNumerically(">", len(fleetPods())+1), "too few fleet pods meet restricted")

		g := corpus{r: rand.New(rand.NewPCG(uint64(GinkgoRandomSeed()), 13))}
		sets := append(sampleSidecarSets(), tableSidecarSets()...)
		for range 200 {
			sets = append(sets, g.sidecarSet())
		}

		var accepted, refusedAtApply, wouldHaveBroken, skipped, checked int
		for i := range sets {
			set := &sets[i]
			set.Name = fmt.Sprintf("property-%03d", i)
			set.UID = "property"
			set.Generation = 1
			set.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "property"}}
			set.Spec.NamespaceSelector = nil
			set.Spec.InjectionStrategy = appsv1alpha1.InjectionStrategy{}
			if err := k8sClient.Create(ctx, set.DeepCopy(), client.DryRunAll); err != nil {
				refusedAtApply++
				continue
			}
			accepted++
			index, err := newSidecarSetIndexOf([]appsv1alpha1.SidecarSet{*set})
			Expect(err).NotTo(HaveOccurred())
			injector := &PodInjector{OperatorNamespace: operatorNamespace, SidecarSets: index, Reader: &fixedReader{
				namespaces: map[string]map[string]string{restricted: {psaapi.EnforceLevelLabel: string(psaapi.LevelRestricted)}},
			}}
			for j, fp := range pods {
				{
					pod := fp.pod.DeepCopy()
					pod.Name = fmt.Sprintf("property-%d-%d", i, j)
					pod.Labels = map[string]string{"app": "property"}
					injected := admit(injector, pod)
					if injected.Annotations[appsv1alpha1.StateAnnotation] == "" {
						continue
					}
					checked++
					if len(injected.Spec.Containers) == len(pod.Spec.Containers) && len(injected.Spec.InitContainers) == len(pod.Spec.InitContainers) {
						skipped++
					}
					// Created under a label no SidecarSet selects, so only the API server judges it.
					injected.Labels = map[string]string{"app": "property-checked"}
					if err := podDryRun(injected); err != nil {
						setYAML, _ := yaml.Marshal(set.Spec)
						Fail(fmt.Sprintf("the API server refuses the pod the webhook answered with: %v\nSidecarSet:\n%s", err, setYAML))
					}
					// Without the check, would the pod have been refused? The test must meet such cases.
					unchecked, _, err := inject.Inject(pod, []inject.Sidecars{{SidecarSet: set.Name, Revision: revision.For(set), Spec: &set.Spec}})
					Expect(err).NotTo(HaveOccurred())
					unchecked.Labels = injected.Labels
					if podDryRun(unchecked) != nil {
						wouldHaveBroken++
					}
				}
			}
		}
		GinkgoWriter.Printf("SidecarSets: %d accepted, %d refused at apply; pods checked: %d, of which %d skipped; %d would have been refused without the check\n",
			accepted, refusedAtApply, checked, skipped, wouldHaveBroken)
		Expect(refusedAtApply).To(BeNumerically(">", 0), "the corpus has no SidecarSet that breaks every pod")
		Expect(wouldHaveBroken).To(BeNumerically(">", 0), "the corpus has no SidecarSet that breaks some pods only")
		Expect(skipped).To(BeNumerically(">", 0))
	})
})

// admit runs the webhook's handler on a pod creation and returns the pod with its patch applied.
func admit(h *PodInjector, pod *corev1.Pod) *corev1.Pod {
	raw, err := json.Marshal(pod)
	Expect(err).NotTo(HaveOccurred())
	resp := h.Handle(ctx, admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "property", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: pod.Namespace,
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}})
	Expect(resp.Allowed).To(BeTrue(), "the webhook refused the pod: %v", resp.Result)
	if len(resp.Patches) == 0 {
		return pod
	}
	ops, err := json.Marshal(resp.Patches)
	Expect(err).NotTo(HaveOccurred())
	patch, err := jsonpatch.DecodePatch(ops)
	Expect(err).NotTo(HaveOccurred())
	patched, err := patch.Apply(raw)
	Expect(err).NotTo(HaveOccurred())
	out := &corev1.Pod{}
	Expect(json.Unmarshal(patched, out)).To(Succeed())
	return out
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt(port) }
