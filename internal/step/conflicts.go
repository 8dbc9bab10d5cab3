package step

import (
	"slices"

	"k8s.io/apimachinery/pkg/types"
)

// Conflict is a sidecar of the SidecarSet left out of a pod because the pod already had a container of that
// name: its own, or another SidecarSet's sidecar (Owner names that SidecarSet; "" for the pod's own).
type Conflict struct {
	Namespace, Name string
	UID             types.UID
	Sidecar, Owner  string
}

// conflicts lists the tracked pods' conflicts for the SidecarSet, in the pods' order, each pod's sidecars
// sorted. The pod's state records which sidecars were left out, and the other SidecarSets' entries which
// sidecars they injected: a left-out name one of them injected is its; any other is the pod's own.
func conflicts(setName string, pods []currentPod) []Conflict {
	var out []Conflict
	for i := range pods {
		p := &pods[i]
		if !p.ok || !p.conflicted {
			continue
		}
		owners := p.pod.State().SidecarNames()
		for _, name := range slices.Sorted(slices.Values(p.stateOf(setName).Conflicts)) {
			owner := owners[name]
			if owner == setName {
				owner = ""
			}
			out = append(out, Conflict{Namespace: p.pod.Namespace, Name: p.pod.Name, UID: p.pod.UID, Sidecar: name, Owner: owner})
		}
	}
	return out
}
