package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// MatchReport is what a SidecarSet, not applied yet, would select among the existing pods.
type MatchReport struct {
	SidecarSet string `json:"sidecarSet"`
	// Revision is the revision its spec would have (revision.For).
	Revision string `json:"revision"`
	// Selected counts the pods it would select; Workloads groups them by namespace and workload.
	Selected  int        `json:"selected"`
	Workloads []Workload `json:"workloads"`
	// Excluded groups the pods its pod selector matches that it would not select, with why.
	Excluded []Workload `json:"excluded,omitempty"`
	// DryRun is what it would inject into the first selected pod, nil when it selects none.
	DryRun *DryRun `json:"dryRun,omitempty"`
}

// Workload is the pods of one workload in one namespace.
type Workload struct {
	Namespace string `json:"namespace"`
	// Workload is "Kind/name" (rollout.WorkloadOf); a pod without a controller is "Pod/name".
	Workload string `json:"workload"`
	Pods     int    `json:"pods"`
	// Why the pods are left out, for excluded pods.
	Why string `json:"why,omitempty"`
}

// Match works out which of the pods the SidecarSet would select, as the webhook and the reconciler select
// (Select; pods being deleted or finished left out, as the status leaves them), grouped by namespace and
// workload, and which its pod selector matches but it would leave out. It returns the selected pods, sorted by
// namespace and name.
func Match(set *appsv1alpha1.SidecarSet, pods []corev1.Pod, namespaceLabels map[string]map[string]string, operatorNamespace string) (MatchReport, []corev1.Pod, error) {
	r := MatchReport{SidecarSet: set.Name, Revision: revision.For(set), Workloads: []Workload{}}
	m, err := inject.NewMatcher(&set.Spec)
	if err != nil {
		return r, nil, fmt.Errorf("SidecarSet %s: %w", set.Name, err)
	}
	type key struct{ namespace, workload, why string }
	selected, excluded := map[key]int{}, map[key]int{}
	var out []corev1.Pod
	for i := range pods {
		p := &pods[i]
		sel := Select(m, p, namespaceLabels[p.Namespace], operatorNamespace)
		if !sel.Labels || !step.Tracked(view(p)) {
			continue
		}
		w := rollout.WorkloadOf(p)
		if w == "" {
			w = "Pod/" + p.Name
		}
		if sel.Excluded != "" {
			excluded[key{p.Namespace, w, sel.Excluded}]++
			continue
		}
		selected[key{p.Namespace, w, ""}]++
		out = append(out, *p)
	}
	group := func(counts map[key]int) []Workload {
		ws := make([]Workload, 0, len(counts))
		for k, n := range counts {
			ws = append(ws, Workload{Namespace: k.namespace, Workload: k.workload, Pods: n, Why: k.why})
		}
		slices.SortFunc(ws, func(a, b Workload) int {
			return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload, b.Workload), strings.Compare(a.Why, b.Why))
		})
		return ws
	}
	r.Workloads, r.Excluded, r.Selected = group(selected), group(excluded), len(out)
	slices.SortFunc(out, func(a, b corev1.Pod) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return r, out, nil
}

// DryRun is what the webhook would inject into a pod like an existing one, were it created now.
type DryRun struct {
	// Pod is the existing pod, "namespace/name".
	Pod string `json:"pod"`
	// Sidecars are the sidecars injected, in spec order.
	Sidecars []Sidecar `json:"sidecars"`
	// Containers and InitContainers are the pod's containers once injected, in order.
	Containers     []string `json:"containers"`
	InitContainers []string `json:"initContainers,omitempty"`
	// Added are the volumes, pull secrets, labels and annotations added, as "volume app-logs",
	// "label team=x".
	Added []string `json:"added,omitempty"`
	// Conflicts are the sidecars not injected for a name conflict, in the webhook's words.
	Conflicts []string `json:"conflicts,omitempty"`
	// Skipped says why no sidecar would be injected: the API server would refuse the pod with them.
	Skipped string `json:"skipped,omitempty"`
	// Warnings are the other admission warnings the pod's creator would get.
	Warnings []string `json:"warnings,omitempty"`
	// PatchOperations counts the operations of the webhook's JSON patch (inject.Patch).
	PatchOperations int `json:"patchOperations"`
}

// Sidecar is one injected sidecar.
type Sidecar struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Kind is "container", "native sidecar" (an init container with restartPolicy Always) or
	// "init container".
	Kind string `json:"kind"`
}

// DryRunInjection injects the SidecarSet into a copy of the pod as the webhook would into a pod created now
// (inject.Checked with the API server's validation and the Pod Security level the namespace enforces),
// writing nothing. The pod is taken as it would be created: without its status, and without what this
// SidecarSet (by name) injected into it before, so an existing SidecarSet's new spec shows what it now
// injects; what other SidecarSets injected stays, as their sidecars would be in a new pod too.
func DryRunInjection(set *appsv1alpha1.SidecarSet, pod *corev1.Pod, namespaceLabels map[string]string) (DryRun, error) {
	base, err := asNew(pod, set)
	if err != nil {
		return DryRun{}, err
	}
	level := podvalidation.Enforced(namespaceLabels)
	injected, results, err := inject.Checked(base, []inject.Sidecars{{SidecarSet: set.Name, Revision: revision.For(set), Spec: &set.Spec}},
		func(p *corev1.Pod) string { return podvalidation.Admissible(p, level) })
	if err != nil {
		return DryRun{}, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	d := DryRun{Pod: pod.Namespace + "/" + pod.Name, Sidecars: []Sidecar{}, PatchOperations: len(inject.Patch(base, injected))}
	for _, c := range injected.Spec.Containers {
		d.Containers = append(d.Containers, c.Name)
	}
	for _, c := range injected.Spec.InitContainers {
		d.InitContainers = append(d.InitContainers, c.Name)
	}
	for _, r := range results {
		for _, name := range r.Injected {
			d.Sidecars = append(d.Sidecars, sidecarOf(set, injected, name))
		}
		for _, c := range r.Conflicts {
			d.Conflicts = append(d.Conflicts, c.String())
		}
		d.Skipped, d.Warnings = r.Skipped, r.Warnings
	}
	d.Added = added(base, injected)
	return d, nil
}

// asNew is the pod as its creator would send it again: without status and server-set metadata, and without
// what the SidecarSet set injected before: its containers, its state entry, and the volumes of its spec no
// container left mounts (the volumes of the revision it injected are not known here; the pod's own volumes
// of the same name are mounted by its containers, and stay).
func asNew(pod *corev1.Pod, set *appsv1alpha1.SidecarSet) (*corev1.Pod, error) {
	setName := set.Name
	p := pod.DeepCopy()
	p.Status = corev1.PodStatus{}
	p.ResourceVersion, p.UID, p.ManagedFields, p.CreationTimestamp = "", "", nil, metav1.Time{}
	state, err := podstate.Read(p)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	st, ok := state[setName]
	if !ok {
		return p, nil
	}
	own := func(c corev1.Container) bool { _, ok := st.Images[c.Name]; return ok }
	p.Spec.Containers = slices.DeleteFunc(p.Spec.Containers, own)
	p.Spec.InitContainers = slices.DeleteFunc(p.Spec.InitContainers, own)
	mounted := map[string]bool{}
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		for _, m := range c.VolumeMounts {
			mounted[m.Name] = true
		}
		for _, d := range c.VolumeDevices {
			mounted[d.Name] = true
		}
	}
	p.Spec.Volumes = slices.DeleteFunc(p.Spec.Volumes, func(v corev1.Volume) bool {
		return !mounted[v.Name] && slices.ContainsFunc(set.Spec.Volumes, func(s corev1.Volume) bool { return s.Name == v.Name })
	})
	delete(state, setName)
	if len(state) == 0 {
		delete(p.Annotations, appsv1alpha1.StateAnnotation)
	} else {
		p.Annotations[appsv1alpha1.StateAnnotation] = state.Encode()
	}
	return p, nil
}

func sidecarOf(set *appsv1alpha1.SidecarSet, pod *corev1.Pod, name string) Sidecar {
	s := Sidecar{Name: name, Kind: "container"}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if c.Name == name {
			s.Image = c.Image
		}
	}
	if i := slices.IndexFunc(set.Spec.InitContainers, func(c appsv1alpha1.SidecarContainer) bool { return c.Name == name }); i >= 0 {
		s.Kind = "init container"
		if inject.IsNativeSidecar(&set.Spec.InitContainers[i].Container) {
			s.Kind = "native sidecar"
		}
	}
	return s
}

// added names what injection added to the pod besides containers.
func added(before, after *corev1.Pod) []string {
	var out []string
	for _, v := range after.Spec.Volumes {
		if !slices.ContainsFunc(before.Spec.Volumes, func(x corev1.Volume) bool { return x.Name == v.Name }) {
			out = append(out, "volume "+v.Name)
		}
	}
	for _, s := range after.Spec.ImagePullSecrets {
		if !slices.Contains(before.Spec.ImagePullSecrets, s) {
			out = append(out, "imagePullSecret "+s.Name)
		}
	}
	for _, k := range sortedKeys(after.Labels) {
		if v, ok := before.Labels[k]; !ok || v != after.Labels[k] {
			out = append(out, fmt.Sprintf("label %s=%s", k, after.Labels[k]))
		}
	}
	for _, k := range sortedKeys(after.Annotations) {
		if k == appsv1alpha1.StateAnnotation {
			continue
		}
		if v, ok := before.Annotations[k]; !ok || v != after.Annotations[k] {
			out = append(out, fmt.Sprintf("annotation %s=%s", k, after.Annotations[k]))
		}
	}
	return out
}
