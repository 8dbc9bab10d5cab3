package podvalidation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// evaluator runs the Pod Security checks of the pod-security-admission library, the code the API server's
// PodSecurity admission runs.
var evaluator = func() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(fmt.Sprintf("building the Pod Security evaluator: %v", err))
	}
	return e
}()

// Enforced is the Pod Security level and version a namespace with these labels enforces. A namespace without
// the pod-security.kubernetes.io/enforce label enforces privileged, Kubernetes' default (a cluster whose
// PodSecurity admission configuration sets another default is not known to the operator); a label that
// cannot be parsed enforces restricted, as the PodSecurity admission does.
func Enforced(namespaceLabels map[string]string) psaapi.LevelVersion {
	latest := psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()}
	p, _ := psaapi.PolicyToEvaluate(namespaceLabels, psaapi.Policy{Enforce: latest, Audit: latest, Warn: latest})
	return p.Enforce
}

// PodSecurity returns why the PodSecurity admission would refuse the pod at level, in its words
// (violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (…)); "" when the pod meets it.
func PodSecurity(pod *corev1.Pod, level psaapi.LevelVersion) string {
	if level.Level == psaapi.LevelPrivileged {
		return ""
	}
	result := policy.AggregateCheckResults(evaluator.EvaluatePod(level, &pod.ObjectMeta, &pod.Spec))
	if result.Allowed {
		return ""
	}
	return fmt.Sprintf("violates PodSecurity %q: %s", level.String(), result.ForbiddenDetail())
}

// maxReason bounds a reason kept in a pod's state annotation and shown in warnings and status.
const maxReason = 1024

// Admissible returns "" when the API server would admit the pod into a namespace enforcing level, else why not,
// in the API server's words: the pod's validation errors, or the Pod Security checks it fails.
func Admissible(pod *corev1.Pod, level psaapi.LevelVersion) string {
	if errs := Pod(pod); len(errs) > 0 {
		return "the pod would be invalid: " + Summary(errs, maxReason)
	}
	if why := PodSecurity(pod, level); why != "" {
		return truncate("the pod would be refused: "+why, maxReason)
	}
	return ""
}

// SidecarSetPodSecurity returns a warning for each Pod Security level, of baseline and restricted at the
// latest version, that the SidecarSet's sidecars and volumes do not meet on their own: pods of namespaces
// enforcing such a level will get no sidecars from it (unless the pod's own security context makes up for
// what is missing, for example runAsNonRoot set for the whole pod).
func SidecarSetPodSecurity(spec *appsv1alpha1.SidecarSetSpec) []string {
	pod := &corev1.Pod{}
	for _, sc := range spec.Containers {
		pod.Spec.Containers = append(pod.Spec.Containers, sc.Container)
	}
	for _, sc := range spec.InitContainers {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, sc.Container)
	}
	pod.Spec.Volumes = spec.Volumes
	var out []string
	for _, level := range []psaapi.Level{psaapi.LevelBaseline, psaapi.LevelRestricted} {
		why := PodSecurity(pod, psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()})
		if why == "" {
			continue
		}
		out = append(out, fmt.Sprintf("the sidecars do not meet the %s Pod Security level: %s; pods in namespaces that enforce it "+
			"will be created without this SidecarSet's sidecars", level, strings.TrimPrefix(why, "violates ")))
	}
	return out
}
