package inject

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
)

// AnyPod is the index key of a pod selector with no required label value (only Exists, NotIn and
// DoesNotExist requirements): every pod is a candidate for it.
const AnyPod = "*"

// SelectorIndexKeys are the keys under which a SidecarSet is indexed by its pod selector, so that the
// SidecarSets that may select a pod are found from the pod's labels (PodIndexKeys) instead of by matching
// every SidecarSet. A pod the selector matches has at least one of them among its own keys: the keys name
// one requirement every matched pod meets, the first matchLabels entry by key ("key=value"), else the first
// In expression (one key per value), else AnyPod, leaving out the labels whose values are each pod's own or
// each template revision's (unindexed). An empty selector selects nothing and has no key. The keys
// only narrow the candidates: each is still matched by its parsed selector.
func SelectorIndexKeys(s *metav1.LabelSelector) []string {
	if SelectsNothing(s) {
		return nil
	}
	first := ""
	for k := range s.MatchLabels {
		if !unindexed[k] && (first == "" || k < first) {
			first = k
		}
	}
	if first != "" {
		return []string{labelKey(first, s.MatchLabels[first])}
	}
	for _, e := range s.MatchExpressions {
		if e.Operator != metav1.LabelSelectorOpIn || len(e.Values) == 0 || unindexed[e.Key] {
			continue
		}
		keys := make([]string, 0, len(e.Values))
		for _, v := range e.Values {
			keys = append(keys, labelKey(e.Key, v))
		}
		slices.Sort(keys)
		return slices.Compact(keys)
	}
	return []string{AnyPod}
}

// PodIndexKeys are the keys to look a pod up by in the index SelectorIndexKeys builds: AnyPod and one
// "key=value" per label.
func PodIndexKeys(podLabels map[string]string) []string {
	return append(LabelIndexKeys(podLabels), AnyPod)
}

// LabelIndexKeys are the keys of an index of pods by label, one "key=value" per label but the unindexed
// ones: the pods a selector may match are those under one of its SelectorIndexKeys, unless that is AnyPod.
func LabelIndexKeys(podLabels map[string]string) []string {
	keys := make([]string, 0, len(podLabels)+1)
	for k, v := range podLabels {
		if !unindexed[k] {
			keys = append(keys, labelKey(k, v))
		}
	}
	return keys
}

// unindexed are the labels Kubernetes' controllers give each pod, or each revision of a pod template, a value
// of its own: a StatefulSet's pod name and index, an indexed Job's completion index, the template hashes of
// Deployments, StatefulSets and DaemonSets. Indexed, each of their values would hold an index entry of its own
// (a set per pod for the per-pod ones), for selectors that seldom if ever name them. A selector whose
// requirements are all on them is found under AnyPod, and matched.
var unindexed = map[string]bool{
	"statefulset.kubernetes.io/pod-name":       true,
	"apps.kubernetes.io/pod-index":             true,
	"batch.kubernetes.io/job-completion-index": true,
	"pod-template-hash":                        true,
	"controller-revision-hash":                 true,
	"pod-template-generation":                  true,
}

// labelKey is a label's index key. Neither a label key nor a value may contain "=", so the key is unambiguous.
func labelKey(k, v string) string { return k + string(selection.Equals) + v }
