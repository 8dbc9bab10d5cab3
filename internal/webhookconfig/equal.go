package webhookconfig

import (
	"bytes"
	"maps"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Equal says whether two lists of webhooks are the same, as equality.Semantic.DeepEqual would (a nil and an
// empty slice or map are equal), without reflection: with 10,000 SidecarSets the reconcile compares 10,000
// entries, which reflection took most of a second for. TestEqualCoversEveryField fails when the API gains
// a field this does not compare.
func Equal(a, b []admissionregistrationv1.MutatingWebhook) bool {
	return slices.EqualFunc(a, b, func(x, y admissionregistrationv1.MutatingWebhook) bool { return webhookEqual(&x, &y) })
}

func webhookEqual(a, b *admissionregistrationv1.MutatingWebhook) bool {
	return a.Name == b.Name &&
		clientConfigEqual(&a.ClientConfig, &b.ClientConfig) &&
		slices.EqualFunc(a.Rules, b.Rules, ruleEqual) &&
		ptrEqual(a.FailurePolicy, b.FailurePolicy) &&
		ptrEqual(a.MatchPolicy, b.MatchPolicy) &&
		selectorEqual(a.NamespaceSelector, b.NamespaceSelector) &&
		selectorEqual(a.ObjectSelector, b.ObjectSelector) &&
		ptrEqual(a.SideEffects, b.SideEffects) &&
		ptrEqual(a.TimeoutSeconds, b.TimeoutSeconds) &&
		slices.Equal(a.AdmissionReviewVersions, b.AdmissionReviewVersions) &&
		ptrEqual(a.ReinvocationPolicy, b.ReinvocationPolicy) &&
		slices.Equal(a.MatchConditions, b.MatchConditions)
}

func clientConfigEqual(a, b *admissionregistrationv1.WebhookClientConfig) bool {
	if !ptrEqual(a.URL, b.URL) || !bytes.Equal(a.CABundle, b.CABundle) || (a.Service == nil) != (b.Service == nil) {
		return false
	}
	if a.Service == nil {
		return true
	}
	return a.Service.Namespace == b.Service.Namespace && a.Service.Name == b.Service.Name &&
		ptrEqual(a.Service.Path, b.Service.Path) && ptrEqual(a.Service.Port, b.Service.Port)
}

func ruleEqual(a, b admissionregistrationv1.RuleWithOperations) bool {
	return slices.Equal(a.Operations, b.Operations) && slices.Equal(a.APIGroups, b.APIGroups) &&
		slices.Equal(a.APIVersions, b.APIVersions) && slices.Equal(a.Resources, b.Resources) && ptrEqual(a.Scope, b.Scope)
}

func selectorEqual(a, b *metav1.LabelSelector) bool {
	if a == nil || b == nil {
		return a == b
	}
	return maps.Equal(a.MatchLabels, b.MatchLabels) &&
		slices.EqualFunc(a.MatchExpressions, b.MatchExpressions, func(x, y metav1.LabelSelectorRequirement) bool {
			return x.Key == y.Key && x.Operator == y.Operator && slices.Equal(x.Values, y.Values)
		})
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
