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
// In expression (one key per value), else AnyPod. An empty selector selects nothing and has no key. The keys
// only narrow the candidates: each is still matched by its parsed selector.
func SelectorIndexKeys(s *metav1.LabelSelector) []string {
	if SelectsNothing(s) {
		return nil
	}
	if len(s.MatchLabels) > 0 {
		first := ""
		for k := range s.MatchLabels {
			if first == "" || k < first {
				first = k
			}
		}
		return []string{labelKey(first, s.MatchLabels[first])}
	}
	for _, e := range s.MatchExpressions {
		if e.Operator != metav1.LabelSelectorOpIn || len(e.Values) == 0 {
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

// LabelIndexKeys are the keys of an index of pods by label, one "key=value" per label: the pods a selector
// may match are those under one of its SelectorIndexKeys, unless that is AnyPod.
func LabelIndexKeys(podLabels map[string]string) []string {
	keys := make([]string, 0, len(podLabels)+1)
	for k, v := range podLabels {
		keys = append(keys, labelKey(k, v))
	}
	return keys
}

// labelKey is a label's index key. Neither a label key nor a value may contain "=", so the key is unambiguous.
func labelKey(k, v string) string { return k + string(selection.Equals) + v }
