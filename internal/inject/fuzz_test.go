package inject

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// FuzzInject builds a pod and up to three SidecarSets from the fuzzer's bytes, drawing names from a small
// vocabulary so collisions, shared volumes and repeated SidecarSets are common, and checks that injection
// never panics, is idempotent, never changes, removes or reorders anything of the pod's own, and that the
// JSON patch the webhook sends reproduces the result. `go test` runs the seeds; `go test -fuzz=FuzzInject`
// explores.
func FuzzInject(f *testing.F) {
	for _, seed := range []string{
		"", "\x00", "app", "\x01\x02\x03\x04\x05\x06\x07\x08\x09", "\xff\xfe\xfd\xfc\xfb\xfa",
		"\x03\x01\x00\x02\x01\x03\x02\x01\x00\x03\x02\x01\x01\x02\x03\x00\x00\x01",
		"\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02",
		"\x05\x04\x03\x02\x01\x00\x05\x04\x03\x02\x01\x00\x05\x04\x03\x02\x01\x00\x07\x09",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		p := g.pod()
		sets := g.sidecarSets()
		original := p.DeepCopy()

		got, results, err := Inject(p, sets)
		if err != nil {
			t.Fatalf("Inject: %v", err)
		}
		if !equality.Semantic.DeepEqual(p, original) {
			t.Fatal("Inject modified its input")
		}
		if len(results) != len(sets) {
			t.Fatalf("%d results for %d SidecarSets", len(results), len(sets))
		}
		assertAppUntouched(t, original, got)
		assertUniqueNames(t, got)

		again, _, err := Inject(got, sets)
		if err != nil {
			t.Fatalf("second Inject: %v", err)
		}
		if !equality.Semantic.DeepEqual(again, got) {
			t.Fatal("injecting an injected pod changed it")
		}
		assertPatchReproduces(t, original, got)
	})
}

func assertUniqueNames(t *testing.T, p *corev1.Pod) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if seen[c.Name] {
			t.Fatalf("two containers named %q", c.Name)
		}
		seen[c.Name] = true
	}
	vols := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		if vols[v.Name] {
			t.Fatalf("two volumes named %q", v.Name)
		}
		vols[v.Name] = true
	}
}

// gen draws choices from the fuzzer's bytes; past the end every choice is 0.
type gen struct {
	data []byte
	pos  int
}

func (g *gen) next(n int) int {
	if g.pos >= len(g.data) {
		return 0
	}
	b := g.data[g.pos]
	g.pos++
	return int(b) % n
}

var (
	containerNames = []string{"app", "shipper", "proxy", "agent", "worker", "migrate"}
	volumeNames    = []string{"data", "logs", "config", "cache"}
	envNames       = []string{"APP_NAME", "LEVEL", "REGION"}
	labelKeys      = []string{"app", "team", "tier", "example.com/owner"}
)

func (g *gen) container(prefix string) corev1.Container {
	name := containerNames[g.next(len(containerNames))]
	c := corev1.Container{Name: name, Image: fmt.Sprintf("%s%s:%d", prefix, name, g.next(3))}
	for range g.next(3) {
		v := volumeNames[g.next(len(volumeNames))]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: "/" + v + fmt.Sprint(g.next(2))})
	}
	for range g.next(3) {
		c.Env = append(c.Env, corev1.EnvVar{Name: envNames[g.next(len(envNames))], Value: fmt.Sprint(g.next(10))})
	}
	return c
}

func (g *gen) pod() *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	used := map[string]bool{}
	for range 1 + g.next(3) {
		c := g.container("")
		if !used[c.Name] {
			used[c.Name] = true
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
	}
	for range g.next(2) {
		c := g.container("init-")
		if !used[c.Name] {
			used[c.Name] = true
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		}
	}
	for _, v := range volumeNames {
		if g.next(2) == 1 {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v})
		}
	}
	if g.next(2) == 1 {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "app-registry"}}
	}
	return p
}

func (g *gen) sidecarSets() []Sidecars {
	var sets []Sidecars
	for i := range g.next(4) {
		spec := &appsv1alpha1.SidecarSetSpec{}
		names := map[string]bool{}
		for range 1 + g.next(2) {
			sc := appsv1alpha1.SidecarContainer{Container: g.container("sc-")}
			sc.PodInjectPolicy = []appsv1alpha1.PodInjectPolicy{"", appsv1alpha1.BeforeAppContainers, appsv1alpha1.AfterAppContainers}[g.next(3)]
			if g.next(2) == 1 {
				sc.ShareVolumePolicy = appsv1alpha1.ShareVolumePolicyEnabled
			}
			if g.next(2) == 1 {
				sc.TransferEnv = []appsv1alpha1.TransferEnvVar{{SourceContainerName: containerNames[g.next(len(containerNames))], EnvName: envNames[g.next(len(envNames))]}}
			}
			if names[sc.Name] {
				continue // the API refuses two sidecars of one name in a SidecarSet
			}
			names[sc.Name] = true
			if g.next(3) == 0 {
				if g.next(2) == 1 {
					always := corev1.ContainerRestartPolicyAlways
					sc.RestartPolicy = &always
				}
				spec.InitContainers = append(spec.InitContainers, sc)
			} else {
				spec.Containers = append(spec.Containers, sc)
			}
		}
		for _, v := range volumeNames {
			if g.next(2) == 1 {
				spec.Volumes = append(spec.Volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			}
		}
		if g.next(2) == 1 {
			spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: []string{"app-registry", "other"}[g.next(2)]}}
		}
		if g.next(2) == 1 {
			spec.PatchPodMetadata = []appsv1alpha1.PodMetadataPatch{{
				Labels:      map[string]appsv1alpha1.LabelValue{labelKeys[g.next(len(labelKeys))]: appsv1alpha1.LabelValue(fmt.Sprint(g.next(3)))},
				Annotations: map[string]string{labelKeys[g.next(len(labelKeys))]: "x"},
				Policy:      []appsv1alpha1.PodMetadataPatchPolicy{appsv1alpha1.PodMetadataPatchRetain, appsv1alpha1.PodMetadataPatchOverwrite}[g.next(2)],
			}}
		}
		// The same SidecarSet name may come twice: Inject must still apply it once.
		name := fmt.Sprintf("set-%d", (i+g.next(2))%3)
		sets = append(sets, Sidecars{SidecarSet: name, Revision: name + "-r1", Spec: spec})
	}
	return sets
}
