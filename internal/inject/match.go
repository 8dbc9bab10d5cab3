package inject

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// KubeSystemNamespace is never injected: the cluster's own pods must not depend on the operator.
const KubeSystemNamespace = "kube-system"

// Excluded reports why a pod is never injected, or "" when it may be: it runs in the operator's own namespace
// or kube-system (the operator must never wait on itself), or it opted out with sidecarset.io/inject=false.
// The webhook configuration already keeps the API server from sending such pods; this is the same rule, for
// the webhook's own decision and for the controllers.
func Excluded(namespace string, podLabels map[string]string, operatorNamespace string) string {
	switch {
	case namespace == KubeSystemNamespace:
		return "namespace kube-system is never injected"
	case namespace == operatorNamespace:
		return "the operator's own namespace is never injected"
	case podLabels[appsv1alpha1.InjectLabel] == "false":
		return "the pod opted out with " + appsv1alpha1.InjectLabel + "=false"
	}
	return ""
}

// Selects reports whether a SidecarSet's selectors match a pod with the given labels in a namespace with the
// given labels. A nil namespaceSelector matches every namespace. The error is for a selector that cannot be
// parsed; the caller treats the SidecarSet as selecting nothing.
func Selects(spec *appsv1alpha1.SidecarSetSpec, podLabels, namespaceLabels map[string]string) (bool, error) {
	sel, err := selector(spec.Selector)
	if err != nil {
		return false, fmt.Errorf("selector: %w", err)
	}
	if !sel.Matches(labels.Set(podLabels)) {
		return false, nil
	}
	if spec.NamespaceSelector == nil {
		return true, nil
	}
	// An empty namespaceSelector matches every namespace, as in the rest of Kubernetes.
	nsSel, err := metav1.LabelSelectorAsSelector(spec.NamespaceSelector)
	if err != nil {
		return false, fmt.Errorf("namespaceSelector: %w", err)
	}
	return nsSel.Matches(labels.Set(namespaceLabels)), nil
}

// selector converts a label selector. An empty one would match everything; the API refuses it for the pod
// selector, and it is treated as matching nothing here so no spec can inject into every pod.
func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		return labels.Nothing(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}
