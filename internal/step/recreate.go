package step

import (
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

// replaceableKinds are the controllers that create a replacement for a pod evicted from them.
var replaceableKinds = []string{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}

// replaceable says whether the pod's controller creates a replacement when it is evicted: bare pods and the
// pods of a Job (which would count the eviction as a failure, or run again from the start) are never
// evicted.
func replaceable(pod *podview.View) bool {
	kind, _, ok := strings.Cut(pod.Workload(), "/")
	if !ok {
		return false
	}
	for _, k := range replaceableKinds {
		if kind == k {
			return true
		}
	}
	return false
}

// leaving are the matched pods going away, for the planner (rollout.Pod.Leaving): pods being deleted, pods
// the rollout evicted that the cache does not show deleting yet, and, for an evicted pod already gone, a
// place held in its workload until its controller created the replacement (the workload's tracked pods are
// as many again as when the pod was evicted) or EvictionTTL passed.
func leaving(in Input, tracked []currentPod) []rollout.Pod {
	evicted := map[types.UID]bool{}
	for _, e := range in.Evictions {
		if in.Now.Sub(e.At) <= EvictionTTL {
			evicted[e.UID] = true
		}
	}
	var out []rollout.Pod
	for _, p := range in.Pods {
		if p.View.DeletionTimestamp != nil {
			out = append(out, leavingPod(p.View.Namespace, p.View.Name, p.View.Workload(), evicted[p.View.UID]))
		}
	}
	if len(evicted) == 0 {
		// Nothing recreated lately: no index of the pods to build (a pass over every pod, with two maps).
		return out
	}
	type workloadKey struct{ namespace, workload string }
	count := map[workloadKey]int{}
	for _, p := range tracked {
		if w := p.pod.Workload(); w != "" {
			count[workloadKey{p.pod.Namespace, w}]++
		}
	}
	present := make(map[types.UID]*podview.View, len(in.Pods))
	for _, p := range in.Pods {
		present[p.View.UID] = p.View
	}
	for _, e := range in.Evictions {
		if !evicted[e.UID] {
			continue
		}
		if v, ok := present[e.UID]; ok {
			if v.DeletionTimestamp == nil && Tracked(v) {
				// Evicted, and the cache does not show it deleting yet.
				out = append(out, leavingPod(e.Namespace, e.Name, e.Workload, true))
			}
			continue
		}
		if key := (workloadKey{e.Namespace, e.Workload}); count[key] < e.Pods {
			// Gone, and the replacement not created yet: its place stays taken.
			count[key]++
			out = append(out, leavingPod(e.Namespace, e.Name, e.Workload, true))
		}
	}
	return out
}

func leavingPod(namespace, name, workload string, evicted bool) rollout.Pod {
	return rollout.Pod{Namespace: namespace, Name: name, Workload: workload, Leaving: true, Evicted: evicted}
}

// evictions are the pods of the plan to evict, with what the rollout knows of their workloads now.
func evictions(chosen []rollout.Decision, pods []currentPod, now time.Time) []Eviction {
	if !slices.ContainsFunc(chosen, func(c rollout.Decision) bool { return c.Recreate }) {
		return nil
	}
	type workloadKey struct{ namespace, workload string }
	count := map[workloadKey]int{}
	for _, p := range pods {
		count[workloadKey{p.pod.Namespace, p.pod.Workload()}]++
	}
	var out []Eviction
	for _, c := range chosen {
		if !c.Recreate {
			continue
		}
		v := pods[c.Index].pod // the planner's pods begin with these, in this order
		out = append(out, Eviction{Namespace: v.Namespace, Name: v.Name, UID: v.UID, Workload: v.Workload(),
			Pods: count[workloadKey{v.Namespace, v.Workload()}], At: now})
	}
	return out
}
