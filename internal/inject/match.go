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

// Matcher is a SidecarSet's selectors, parsed once: the webhook keeps one per SidecarSet generation instead of
// parsing every selector for every pod.
type Matcher struct {
	pod       labels.Selector
	namespace labels.Selector // nil: every namespace
}

// NewMatcher parses a SidecarSet's selectors. An empty pod selector matches nothing (the API refuses it, and
// no spec may inject into every pod); a nil or empty namespaceSelector matches every namespace, as in the rest
// of Kubernetes. The error is for a selector that cannot be parsed.
func NewMatcher(spec *appsv1alpha1.SidecarSetSpec) (Matcher, error) {
	m := Matcher{pod: labels.Nothing()}
	if s := spec.Selector; !SelectsNothing(s) {
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			return Matcher{}, fmt.Errorf("selector: %w", err)
		}
		m.pod = sel
	}
	if s := spec.NamespaceSelector; s != nil && (len(s.MatchLabels) > 0 || len(s.MatchExpressions) > 0) {
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			return Matcher{}, fmt.Errorf("namespaceSelector: %w", err)
		}
		m.namespace = sel
	}
	return m, nil
}

// SelectsNothing reports whether a SidecarSet's pod selector is empty. An empty selector selects no pod (the
// API refuses one, and no SidecarSet may inject into every pod): the webhook, its configuration and the
// reconciler all ask here.
func SelectsNothing(s *metav1.LabelSelector) bool {
	return s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0)
}

// PodSelector is the parsed pod selector, for listing the pods it matches from an index.
func (m Matcher) PodSelector() labels.Selector { return m.pod }

// NeedsNamespaceLabels reports whether MatchesNamespace reads the namespace's labels.
func (m Matcher) NeedsNamespaceLabels() bool { return m.namespace != nil }

// MatchesPod reports whether the selector matches a pod with these labels.
func (m Matcher) MatchesPod(podLabels map[string]string) bool {
	return m.pod.Matches(labels.Set(podLabels))
}

// MatchesNamespace reports whether the namespaceSelector matches a namespace with these labels.
func (m Matcher) MatchesNamespace(namespaceLabels map[string]string) bool {
	return m.namespace == nil || m.namespace.Matches(labels.Set(namespaceLabels))
}

// Injecting reports whether a SidecarSet injects new pods at all, and the reason when it does not: injection
// is paused, or the SidecarSet is being deleted. The webhook configuration gives such a SidecarSet no entry,
// and the webhook skips it; both ask here.
func Injecting(set *appsv1alpha1.SidecarSet) (bool, string) {
	switch {
	case set.DeletionTimestamp != nil:
		return false, "the SidecarSet is being deleted"
	case set.Spec.InjectionStrategy.Paused:
		return false, "injection is paused"
	}
	return true, ""
}
