package podvalidation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

func sidecar(mutate func(*corev1.Container)) appsv1alpha1.SidecarContainer {
	c := corev1.Container{Name: "logs", Image: "fluent-bit:3.2"}
	if mutate != nil {
		mutate(&c)
	}
	return appsv1alpha1.SidecarContainer{Container: c}
}

func TestSidecarSetRefusesWhatNoPodCouldCarry(t *testing.T) {
	cases := []struct {
		name string
		spec appsv1alpha1.SidecarSetSpec
		want []string // each error, as the API server words it for a pod
	}{
		{"valid", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(nil)}}, nil},
		{"port out of range", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 70000}}
		})}}, []string{"spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{"requests above limits", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		})}}, []string{`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`}},
		{"value and valueFrom", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "A", Value: "1", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
		})}}, []string{`spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when ` + "`value`" + ` is not empty`}},
		{"init container only, probe on a classic init container", appsv1alpha1.SidecarSetSpec{InitContainers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		})}}, []string{"spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"}},
		// This test binary, like an API server run without --allow-privileged, refuses privileged containers.
		{"privileged where the cluster does not allow it", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		})}}, []string{"spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy"}},
		{"mount of a volume the pod may have", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: "app-logs", MountPath: "/logs"}}
		})}}, nil},
		{"mount of a volume no pod can have", appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(func(c *corev1.Container) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: "Not_A_Name", MountPath: "/logs"}}
		})}}, []string{`spec.containers[0].volumeMounts[0].name: Not found: "Not_A_Name"`}},
		{"volume of the SidecarSet", appsv1alpha1.SidecarSetSpec{
			Containers: []appsv1alpha1.SidecarContainer{sidecar(nil)},
			Volumes:    []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: ""}}}},
		}, []string{`spec.volumes[0].hostPath.path: Required value`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range SidecarSet(&tc.spec) {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestAdmissibleNamesTheRuleAPodBreaks(t *testing.T) {
	app := corev1.Container{Name: "app", Image: "app", SecurityContext: &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{app}}}
	if why := Admissible(pod, restricted); why != "" {
		t.Fatalf("a restricted app pod: %s", why)
	}
	withSidecar := pod.DeepCopy()
	withSidecar.Spec.Containers = append([]corev1.Container{{Name: "logs", Image: "x"}}, withSidecar.Spec.Containers...)
	why := Admissible(withSidecar, restricted)
	if !strings.HasPrefix(why, `the pod would be refused: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "logs" must set securityContext.allowPrivilegeEscalation=false)`) {
		t.Errorf("a sidecar without a security context in a restricted namespace: %q", why)
	}
	if why := Admissible(withSidecar, Enforced(nil)); why != "" {
		t.Errorf("an unlabelled namespace enforces privileged: %q", why)
	}
	withSidecar.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "nosuchvol", MountPath: "/x"}}
	if why := Admissible(withSidecar, Enforced(nil)); why != `the pod would be invalid: spec.containers[0].volumeMounts[0].name: Not found: "nosuchvol"` {
		t.Errorf("a mount of no volume: %q", why)
	}
}

func TestEnforcedReadsTheNamespaceLabels(t *testing.T) {
	for labels, want := range map[string]string{
		"":              "privileged:latest",
		"restricted":    "restricted:latest",
		"baseline":      "baseline:latest",
		"no-such-level": "restricted:latest", // as the PodSecurity admission reads it
	} {
		var l map[string]string
		if labels != "" {
			l = map[string]string{psaapi.EnforceLevelLabel: labels}
		}
		if got := Enforced(l).String(); got != want {
			t.Errorf("enforce=%q: %s, want %s", labels, got, want)
		}
	}
}

func TestSidecarSetPodSecurityNamesTheLevelsNotMet(t *testing.T) {
	spec := appsv1alpha1.SidecarSetSpec{Containers: []appsv1alpha1.SidecarContainer{sidecar(nil)}}
	got := SidecarSetPodSecurity(&spec)
	if len(got) != 1 || !strings.Contains(got[0], "restricted Pod Security level") {
		t.Errorf("a sidecar without a security context meets baseline, not restricted: %q", got)
	}
	spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	if got := SidecarSetPodSecurity(&spec); len(got) != 2 {
		t.Errorf("a privileged sidecar meets neither level: %q", got)
	}
	spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if got := SidecarSetPodSecurity(&spec); len(got) != 0 {
		t.Errorf("a restricted sidecar: %q", got)
	}
}
