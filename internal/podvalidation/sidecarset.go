package podvalidation

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// SidecarSet returns what would make any pod carrying the SidecarSet's sidecars invalid, in the API server's
// words, at the SidecarSet's own paths (spec.containers[0].ports[0].containerPort). It validates, as Pod
// does, a pod made of the sidecars alone: spec.containers and spec.initContainers are the SidecarSet's, in
// its order, and so are spec.volumes and spec.imagePullSecrets, so a pod path is the SidecarSet path.
//
// What only a pod can tell is not reported here but at injection: a volume a sidecar mounts that the
// SidecarSet does not define may be the pod's own (it stands in as an emptyDir, or a claim for a device),
// and a pod without sidecar containers gets a placeholder app container; neither is reported on. The
// labels and annotations of patchPodMetadata are validated as a pod's.
func SidecarSet(spec *appsv1alpha1.SidecarSetSpec) field.ErrorList {
	pod, placeholders := sidecarPod(spec)
	var errs field.ErrorList
	for _, e := range Pod(pod) {
		if placeholders.has(e.Field) {
			continue
		}
		errs = append(errs, e)
	}
	for i, p := range spec.PatchPodMetadata {
		path := field.NewPath("spec", "patchPodMetadata").Index(i)
		labels := make(map[string]string, len(p.Labels))
		for k, v := range p.Labels {
			labels[k] = string(v)
		}
		errs = append(errs, metav1validation.ValidateLabels(labels, path.Child("labels"))...)
		errs = append(errs, apimachineryvalidation.ValidateAnnotations(p.Annotations, path.Child("annotations"))...)
	}
	return errs
}

// placeholderApp names the app container of a SidecarSet pod with no sidecar containers.
const placeholderApp = "sidecarset-validation-app"

// placeholders are the indices of the containers and volumes sidecarPod added.
type placeholders struct {
	firstContainer, firstVolume int
}

var indexed = regexp.MustCompile(`^spec\.(containers|volumes)\[(\d+)\]`)

// has says whether an error's field is about a placeholder, or something only a placeholder added.
func (p placeholders) has(fieldPath string) bool {
	m := indexed.FindStringSubmatch(fieldPath)
	if m == nil {
		return false
	}
	i, _ := strconv.Atoi(m[2])
	if m[1] == "containers" {
		return i >= p.firstContainer
	}
	return i >= p.firstVolume
}

// sidecarPod builds the pod SidecarSet validates.
func sidecarPod(spec *appsv1alpha1.SidecarSetSpec) (*corev1.Pod, placeholders) {
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace = placeholderName, corev1.NamespaceDefault
	names := map[string]bool{}
	for _, sc := range spec.Containers {
		pod.Spec.Containers = append(pod.Spec.Containers, *sc.Container.DeepCopy())
		names[sc.Name] = true
	}
	for _, sc := range spec.InitContainers {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, *sc.Container.DeepCopy())
		names[sc.Name] = true
	}
	ph := placeholders{firstContainer: len(pod.Spec.Containers), firstVolume: len(spec.Volumes)}
	if len(pod.Spec.Containers) == 0 {
		name := placeholderApp
		for i := 1; names[name]; i++ {
			name = fmt.Sprintf("%s-%d", placeholderApp, i)
		}
		pod.Spec.Containers = []corev1.Container{{Name: name, Image: "app"}}
	}
	pod.Spec.Volumes = slices.Clone(spec.Volumes)
	pod.Spec.ImagePullSecrets = slices.Clone(spec.ImagePullSecrets)

	// A volume the sidecars name but the SidecarSet does not define must come from the pod: a claim when a
	// sidecar uses it as a device (only claims can be), else an emptyDir.
	defined := map[string]bool{}
	for _, v := range spec.Volumes {
		defined[v.Name] = true
	}
	devices := map[string]bool{}
	var undefined []string
	for _, c := range slices.Concat(pod.Spec.Containers, pod.Spec.InitContainers) {
		for _, d := range c.VolumeDevices {
			devices[d.Name] = true
			undefined = append(undefined, d.Name)
		}
		for _, m := range c.VolumeMounts {
			undefined = append(undefined, m.Name)
		}
	}
	for _, name := range undefined {
		// A name no volume can have stays undefined, and the mount is reported as naming no volume.
		if defined[name] || len(utilvalidation.IsDNS1123Label(name)) > 0 {
			continue
		}
		defined[name] = true
		v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		if devices[name] {
			v.VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim"}}
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, v)
	}
	return pod, ph
}
