// Package podvalidation answers, with Kubernetes' own code, whether the API server would accept a pod: the
// pod validation of the API server this operator is built with (defaults applied first, as the API server
// applies them), and the Pod Security checks of the pod-security-admission library. The SidecarSet webhook
// runs it on a pod made of a SidecarSet's sidecars; the injection webhook runs it on each pod it injects.
package podvalidation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	core "k8s.io/kubernetes/pkg/apis/core"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/capabilities"
)

// AllowPrivileged says whether the cluster's API server admits privileged containers (its --allow-privileged
// flag, which every common distribution sets); validation refuses them otherwise. Call it once, before any
// validation: like the API server's own, the setting is for the whole process, and later calls are ignored.
func AllowPrivileged(allow bool) {
	capabilities.Setup(allow, 0)
}

// placeholderName names a pod that has no name yet: at mutating admission a pod created with generateName is
// still nameless, and the name the API server will generate is always valid.
const placeholderName = "sidecarset-validation"

// Pod returns what the API server's validation of the pod's creation would report: the pod's defaults are
// set (on a copy) as the API server sets them before validating, then it is converted to Kubernetes' internal
// type, prepared and validated as the pods resource prepares and validates a pod it creates. The pod is never
// modified.
func Pod(pod *corev1.Pod) field.ErrorList {
	p := pod.DeepCopy()
	if p.Name == "" {
		p.Name = placeholderName
	}
	if p.Namespace == "" {
		p.Namespace = corev1.NamespaceDefault
	}
	corev1defaults.SetObjectDefaults_Pod(p)
	var internal core.Pod
	if err := corev1defaults.Convert_v1_Pod_To_core_Pod(p, &internal, nil); err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec"), fmt.Errorf("converting the pod: %w", err))}
	}
	// What the pod strategy's PrepareForCreate does that validation reads.
	internal.Status = core.PodStatus{Phase: core.PodPending}
	podutil.DropDisabledPodFields(&internal, nil)
	podutil.DefaultPodLevelResources(&internal)
	opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&internal.Spec, nil, &internal.ObjectMeta, nil)
	opts.ResourceIsPod = true
	return corevalidation.ValidatePodCreate(&internal, opts)
}

// Summary is errs in the API server's words, one error after the other, cut to at most max bytes (an
// admission warning, an event or an annotation must stay short); "" when there is no error.
func Summary(errs field.ErrorList, max int) string {
	if len(errs) == 0 {
		return ""
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return truncate(strings.Join(msgs, "; "), max)
}

func truncate(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	const more = " …"
	cut := max - len(more)
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
