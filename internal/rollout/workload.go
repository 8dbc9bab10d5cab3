package rollout

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadOf names the workload a pod belongs to, "Kind/name": its controller, or, for the pod of a
// ReplicaSet, the Deployment that owns the ReplicaSet (whose name is the Deployment's followed by
// "-<pod-template-hash>", the pod's label). "" for a pod without a controller.
func WorkloadOf(pod metav1.Object) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return ""
	}
	if ref.Kind == "ReplicaSet" {
		if hash := pod.GetLabels()[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" {
			if deployment, ok := strings.CutSuffix(ref.Name, "-"+hash); ok && deployment != "" {
				return "Deployment/" + deployment
			}
		}
	}
	return ref.Kind + "/" + ref.Name
}
