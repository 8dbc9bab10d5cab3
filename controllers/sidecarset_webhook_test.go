package controllers

import (
	"reflect"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// richSidecar is a sidecar with most of its fields set, as the samples write them.
func richSidecar() appsv1alpha1.SidecarContainer {
	return appsv1alpha1.SidecarContainer{
		Container: corev1.Container{
			Name:            "fluent-bit",
			Image:           "cr.fluentbit.io/fluent/fluent-bit:3.2.4",
			Args:            []string{"--config=/fluent-bit/etc/fluent-bit.yaml"},
			Env:             []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
			Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false)},
			VolumeMounts:    []corev1.VolumeMount{{Name: "app-logs", MountPath: "/var/log/app", ReadOnly: true}},
		},
		ShareVolumePolicy: appsv1alpha1.ShareVolumePolicyDisabled,
		TransferEnv:       []appsv1alpha1.TransferEnvVar{{SourceContainerName: "app", EnvName: "APP_NAME"}},
	}
}

// nameAndImage is a sidecar as a JSON merge patch of containers leaves it: its name, an image, and the
// defaults the API server fills in.
func nameAndImage(name, image string) appsv1alpha1.SidecarContainer {
	return appsv1alpha1.SidecarContainer{Container: corev1.Container{Name: name, Image: image},
		ShareVolumePolicy: appsv1alpha1.ShareVolumePolicyDisabled}
}

const safeWays = "; if you meant to change only its image, use a JSON patch or server-side apply (see docs/user-guide.md)"

func TestRemovedSidecarFields(t *testing.T) {
	native := appsv1alpha1.SidecarContainer{Container: corev1.Container{
		Name: "envoy", Image: "envoyproxy/envoy:v1.33.0", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Args:           []string{"-c", "/etc/envoy/envoy.yaml"},
		Ports:          []corev1.ContainerPort{{Name: "admin", ContainerPort: 15000}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready"}}},
		Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
	}}
	withImage := func(c appsv1alpha1.SidecarContainer, image string) appsv1alpha1.SidecarContainer {
		c.Image = image
		return c
	}
	for _, tc := range []struct {
		name          string
		before, after appsv1alpha1.SidecarSetSpec
		want          []string
	}{
		{
			name:   "an image change keeps everything else",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{richSidecar()}},
			after:  appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{withImage(richSidecar(), "cr.fluentbit.io/fluent/fluent-bit:3.2.5")}},
		},
		{
			name:   "a merge patch of containers with a name and an image",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{richSidecar()}},
			after:  appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{nameAndImage("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.2.5")}},
			want:   []string{"spec.containers[fluent-bit]: this change removes args, env, resources, volumeMounts, securityContext, transferEnv from the sidecar" + safeWays},
		},
		{
			name:   "a native sidecar that loses its restartPolicy, probes and lifecycle",
			before: appsv1alpha1.SidecarSetSpec{InitContainers: []appsv1alpha1.SidecarContainer{native}},
			after:  appsv1alpha1.SidecarSetSpec{InitContainers: []appsv1alpha1.SidecarContainer{nameAndImage("envoy", "envoyproxy/envoy:v1.33.1")}},
			want:   []string{"spec.initContainers[envoy]: this change removes args, ports, restartPolicy, readinessProbe, lifecycle from the sidecar" + safeWays},
		},
		{
			name: "sidecars are matched by name, not by index",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{
				nameAndImage("a", "example.com/a:1"), richSidecar()}},
			after: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{
				richSidecar(), nameAndImage("a", "example.com/a:2")}},
		},
		{
			name: "one sidecar of two is stripped",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{
				richSidecar(), withImage(native, "example.com/b:1")}},
			after: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{
				richSidecar(), nameAndImage("envoy", "example.com/b:2")}},
			want: []string{"spec.containers[envoy]: this change removes args, ports, restartPolicy, readinessProbe, lifecycle from the sidecar" + safeWays},
		},
		{
			name:   "a sidecar added or removed is not a field removed",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{richSidecar()}},
			after:  appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{nameAndImage("other", "example.com/other:1")}},
		},
		{
			name:   "a field changed is not a field removed",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{richSidecar()}},
			after: func() appsv1alpha1.SidecarSetSpec {
				c := richSidecar()
				c.Args = []string{"--config=/etc/other.yaml"}
				c.SecurityContext = &corev1.SecurityContext{}
				return appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{c}}
			}(),
		},
		{
			name:   "an emptied list counts as removed",
			before: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{richSidecar()}},
			after: func() appsv1alpha1.SidecarSetSpec {
				c := richSidecar()
				c.Args, c.Resources = []string{}, corev1.ResourceRequirements{Limits: corev1.ResourceList{}}
				return appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{c}}
			}(),
			want: []string{"spec.containers[fluent-bit]: this change removes args, resources from the sidecar" + safeWays},
		},
		{
			name: "shareVolumePolicy back to its default counts as removed",
			before: func() appsv1alpha1.SidecarSetSpec {
				c := richSidecar()
				c.ShareVolumePolicy, c.PodInjectPolicy = appsv1alpha1.ShareVolumePolicyEnabled, appsv1alpha1.AfterAppContainers
				return appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{c}}
			}(),
			after: appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{withImage(richSidecar(), "example.com/x:2")}},
			want:  []string{"spec.containers[fluent-bit]: this change removes podInjectPolicy, shareVolumePolicy from the sidecar" + safeWays},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := removedSidecarFields(&tc.before, &tc.after)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

// Every field of a container is compared: a sidecar that had any one of them set (the container-field
// table of validation_test.go names each, and fails when Kubernetes adds one) is warned of losing it.
func TestRemovedSidecarFieldsCoversEveryContainerField(t *testing.T) {
	fields := reflect.TypeOf(corev1.Container{})
	for i := range fields.NumField() {
		name, _, _ := strings.Cut(fields.Field(i).Tag.Get("json"), ",")
		if name == "name" || name == "image" {
			continue // the key, and a field that is never empty
		}
		mutate := invalidContainerFields[name]
		if mutate == nil {
			mutate = unusualValues[name]
		}
		if mutate == nil {
			t.Fatalf("container field %q has no value in the tables of validation_test.go", name)
		}
		had := appsv1alpha1.SidecarContainer{Container: corev1.Container{Name: "s", Image: "example.com/s:1"}}
		mutate(&had.Container)
		before := appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{had}}
		after := appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{nameAndImage("s", "example.com/s:2")}}
		want := []string{"spec.containers[s]: this change removes " + name + " from the sidecar" + safeWays}
		if got := removedSidecarFields(&before, &after); !reflect.DeepEqual(got, want) {
			t.Errorf("field %s: got %q, want %q", name, got, want)
		}
	}
}

var _ = Describe("Changing a SidecarSet", func() {
	const richSpec = `
selector: {matchLabels: {app: changed}}
containers:
- name: fluent-bit
  image: cr.fluentbit.io/fluent/fluent-bit:3.2.4
  args: ["--config=/fluent-bit/etc/fluent-bit.yaml"]
  env: [{name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
  resources: {requests: {memory: 32Mi}}
  volumeMounts: [{name: app-logs, mountPath: /var/log/app, readOnly: true}]
  transferEnv: [{sourceContainerName: app, envName: APP_NAME}]
volumes: [{name: app-logs, emptyDir: {}}]`
	const newImage = "cr.fluentbit.io/fluent/fluent-bit:3.2.5"

	create := func() *appsv1alpha1.SidecarSet {
		set := &appsv1alpha1.SidecarSet{}
		set.Name = uniqueName("changed")
		Expect(yaml.UnmarshalStrict([]byte(richSpec), &set.Spec)).To(Succeed())
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed()) })
		return set
	}
	stored := func(name string) appsv1alpha1.SidecarSetSpec {
		got := &appsv1alpha1.SidecarSet{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, got)).To(Succeed())
		return got.Spec
	}

	It("warns when a JSON merge patch of the containers strips a sidecar, naming what it loses", func() {
		set := create()
		c, warnings := warnedClient()
		patch := `{"spec":{"containers":[{"name":"fluent-bit","image":"` + newImage + `"}]}}`
		Expect(c.Patch(ctx, set, client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
		Expect(warnings.messages).To(ContainElement("spec.containers[fluent-bit]: this change removes args, env, resources, volumeMounts, transferEnv from the sidecar" + safeWays))
		// The API server stored what the patch said: the warning is all that stands between it and the pods.
		Expect(stored(set.Name).Containers[0].Args).To(BeEmpty())
	})

	It("changes only the image with a JSON patch by path, or a server-side apply of a partial object, without that warning", func() {
		set := create()
		before := stored(set.Name)

		c, warnings := warnedClient()
		patch := `[{"op":"test","path":"/spec/containers/0/name","value":"fluent-bit"},` +
			`{"op":"replace","path":"/spec/containers/0/image","value":"` + newImage + `"}]`
		Expect(c.Patch(ctx, set, client.RawPatch(types.JSONPatchType, []byte(patch)))).To(Succeed())
		want := before.DeepCopy()
		want.Containers[0].Image = newImage
		Expect(stored(set.Name)).To(Equal(*want))
		Expect(warnings.messages).NotTo(ContainElement(ContainSubstring("this change removes")))

		partial := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(`
apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata: {name: `+set.Name+`}
spec:
  containers:
  - name: fluent-bit
    image: cr.fluentbit.io/fluent/fluent-bit:3.2.6`), &partial.Object)).To(Succeed())
		Expect(c.Apply(ctx, client.ApplyConfigurationFromUnstructured(partial), client.FieldOwner("sidecar-image"), client.ForceOwnership)).To(Succeed())
		want.Containers[0].Image = "cr.fluentbit.io/fluent/fluent-bit:3.2.6"
		Expect(stored(set.Name)).To(Equal(*want))
		Expect(warnings.messages).NotTo(ContainElement(ContainSubstring("this change removes")))
	})
})
