// Package inject decides what SidecarSets add to a new pod. It has no client: the webhook hands it the pod and
// the SidecarSets that select it, and turns the result into a JSON patch and admission warnings.
package inject

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

// Sidecars is what one SidecarSet injects at one revision.
type Sidecars struct {
	// SidecarSet is the SidecarSet's name.
	SidecarSet string
	// Revision is the name of the revision injected; the pod's state annotation records it.
	Revision string
	// Spec is the SidecarSet spec of that revision. Only what is injected is read: containers, init
	// containers, volumes, image pull secrets and metadata patches.
	Spec *appsv1alpha1.SidecarSetSpec
	// Skip, when set, says why nothing of this SidecarSet is injected: the pod records the reason in its
	// state instead of sidecars (Checked sets it).
	Skip string
}

// Result says what one SidecarSet did to the pod.
type Result struct {
	SidecarSet string
	Revision   string
	// AlreadyInjected: the pod's state shows this SidecarSet injected it before; nothing was changed.
	AlreadyInjected bool
	// Injected names the sidecars added, in spec order (containers, then init containers).
	Injected []string
	// Conflicts are the sidecars not injected because of a name collision.
	Conflicts []Conflict
	// Skipped says why none of the sidecars were injected ("" when they were).
	Skipped string
	// Warnings are things a user should know that did not stop injection (a transferEnv source missing).
	Warnings []string
}

// Conflict is a sidecar not injected because the pod already had a container of that name.
type Conflict struct {
	// Sidecar is the name of the sidecar not injected.
	Sidecar string
	// Owner is the SidecarSet whose sidecar has the name, or "" when it is one of the pod's own containers.
	Owner string
}

// Outcome is what injection did for one SidecarSet, as counted in metrics.
type Outcome string

const (
	// OutcomeInjected: every sidecar was injected.
	OutcomeInjected Outcome = "injected"
	// OutcomeAlreadyInjected: the pod already had this SidecarSet's sidecars; nothing changed.
	OutcomeAlreadyInjected Outcome = "already_injected"
	// OutcomeConflict: some sidecars were skipped for a name collision.
	OutcomeConflict Outcome = "conflict"
	// OutcomeSkipped: no sidecar was injected, because the API server would have refused the pod with them.
	OutcomeSkipped Outcome = "skipped"
)

// Outcome classifies the result.
func (r Result) Outcome() Outcome {
	switch {
	case r.AlreadyInjected:
		return OutcomeAlreadyInjected
	case r.Skipped != "":
		return OutcomeSkipped
	case len(r.Conflicts) > 0:
		return OutcomeConflict
	}
	return OutcomeInjected
}

func (c Conflict) String() string {
	if c.Owner == "" {
		return fmt.Sprintf("sidecar %q was not injected: the pod already has a container named %q", c.Sidecar, c.Sidecar)
	}
	return fmt.Sprintf("sidecar %q was not injected: SidecarSet %q already injected a container named %q",
		c.Sidecar, c.Owner, c.Sidecar)
}

// Messages returns one line per conflict and warning, prefixed with the SidecarSet, for admission warnings.
func (r Result) Messages() []string {
	var out []string
	if r.Skipped != "" {
		out = append(out, fmt.Sprintf("SidecarSet %s: sidecars not injected: %s", r.SidecarSet, r.Skipped))
	}
	for _, c := range r.Conflicts {
		out = append(out, fmt.Sprintf("SidecarSet %s: %s", r.SidecarSet, c))
	}
	for _, w := range r.Warnings {
		out = append(out, fmt.Sprintf("SidecarSet %s: %s", r.SidecarSet, w))
	}
	return out
}

// Inject returns a copy of the pod with the sidecars of each SidecarSet added, and what each SidecarSet did.
//
// Invariants:
//   - The pod's own containers, init containers, volumes and pull secrets are never changed, removed or
//     reordered: sidecars are inserted around them.
//   - Each SidecarSet is applied at most once per pod: one the state annotation already lists is skipped, so
//     injecting an injected pod changes nothing.
//   - SidecarSets apply in name order, whatever order they come in.
//   - A sidecar whose name is taken (by a container of the pod, or a sidecar of a SidecarSet applied earlier)
//     is not injected and is reported as a conflict; nothing is overwritten.
//
// Placement: sidecar containers go before the app containers unless podInjectPolicy says AfterAppContainers.
// Native sidecars (init containers with restartPolicy Always) go before the app's init containers unless
// podInjectPolicy says AfterAppContainers; classic init containers go after them unless it says
// BeforeAppContainers.
//
// The error is for a pod whose state annotation cannot be read; the pod is then returned unchanged.
func Inject(pod *corev1.Pod, sets []Sidecars) (*corev1.Pod, []Result, error) {
	state, err := podstate.Read(pod)
	if err != nil {
		return pod, nil, err
	}
	out := pod.DeepCopy()
	sets = slices.Clone(sets)
	slices.SortStableFunc(sets, func(a, b Sidecars) int { return strings.Compare(a.SidecarSet, b.SidecarSet) })

	// The app's containers are the pod's containers that no SidecarSet injected.
	owners := state.SidecarNames()
	var apps []corev1.Container
	for _, c := range pod.Spec.Containers {
		if _, injected := owners[c.Name]; !injected {
			apps = append(apps, c)
		}
	}
	taken := map[string]string{} // container name -> owning SidecarSet ("" for the pod's own)
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		taken[c.Name] = owners[c.Name]
	}

	var before, after, initBefore, initAfter []corev1.Container
	results := make([]Result, 0, len(sets))
	changed := false
	for _, s := range sets {
		r := Result{SidecarSet: s.SidecarSet, Revision: s.Revision}
		if _, done := state[s.SidecarSet]; done {
			r.AlreadyInjected = true
			results = append(results, r)
			continue
		}
		st := podstate.SidecarSetState{Revision: s.Revision}
		if s.Skip != "" {
			r.Skipped, st.Skipped = s.Skip, s.Skip
			state[s.SidecarSet] = st
			changed = true
			results = append(results, r)
			continue
		}
		var injected []corev1.Container
		add := func(sc appsv1alpha1.SidecarContainer, init bool) {
			if owner, ok := taken[sc.Name]; ok {
				r.Conflicts = append(r.Conflicts, Conflict{Sidecar: sc.Name, Owner: owner})
				st.Conflicts = append(st.Conflicts, sc.Name)
				return
			}
			c, warnings := build(sc, apps)
			r.Warnings = append(r.Warnings, warnings...)
			taken[c.Name] = s.SidecarSet
			r.Injected = append(r.Injected, c.Name)
			if st.Images == nil {
				st.Images = map[string]string{}
			}
			st.Images[c.Name] = c.Image
			injected = append(injected, c)
			switch {
			case !init && sc.PodInjectPolicy == appsv1alpha1.AfterAppContainers:
				after = append(after, c)
			case !init:
				before = append(before, c)
			case placeInitBefore(sc):
				initBefore = append(initBefore, c)
			default:
				initAfter = append(initAfter, c)
			}
		}
		for _, sc := range s.Spec.Containers {
			add(sc, false)
		}
		for _, sc := range s.Spec.InitContainers {
			add(sc, true)
		}
		if len(injected) > 0 {
			addVolumes(out, s.Spec.Volumes, injected)
			addPullSecrets(out, s.Spec.ImagePullSecrets)
			PatchMetadata(&out.ObjectMeta, s.Spec.PatchPodMetadata)
		}
		state[s.SidecarSet] = st
		changed = true
		results = append(results, r)
	}
	if !changed {
		return out, results, nil
	}
	out.Spec.Containers = slices.Concat(before, out.Spec.Containers, after)
	if len(initBefore)+len(initAfter) > 0 {
		out.Spec.InitContainers = slices.Concat(initBefore, out.Spec.InitContainers, initAfter)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[appsv1alpha1.StateAnnotation] = state.Encode()
	return out, results, nil
}

// Check says why the API server would refuse a pod, "" when it would admit it.
type Check func(*corev1.Pod) string

// Checked injects as Inject does, and never returns a pod that check refuses because of the sidecars: a
// SidecarSet whose sidecars would make the API server refuse the pod is skipped (Skip set to check's reason)
// and the pod gets the others. SidecarSets are tried in name order, each kept when the pod with it and those
// kept before it passes check. A pod check refuses without any sidecar is injected as Inject does: the API
// server refuses it for its own reasons, whatever is injected.
//
// check runs once for a pod that passes it with its sidecars, the common case; a pod that does not costs one
// more run, plus one per SidecarSet selecting it.
func Checked(pod *corev1.Pod, sets []Sidecars, check Check) (*corev1.Pod, []Result, error) {
	out, results, err := Inject(pod, sets)
	if err != nil || !injectedAny(results) || check(out) == "" || check(pod) != "" {
		return out, results, err
	}
	sorted := slices.Clone(sets)
	slices.SortStableFunc(sorted, func(a, b Sidecars) int { return strings.Compare(a.SidecarSet, b.SidecarSet) })
	kept := make([]Sidecars, 0, len(sorted))
	for _, s := range sorted {
		trial, _, err := Inject(pod, append(slices.Clone(kept), s))
		if err != nil {
			return pod, nil, err
		}
		if why := check(trial); why != "" {
			s.Skip = why
		}
		kept = append(kept, s)
	}
	return Inject(pod, kept)
}

func injectedAny(results []Result) bool {
	return slices.ContainsFunc(results, func(r Result) bool { return len(r.Injected) > 0 })
}

// ServiceAccountTokenPath is where the ServiceAccount admission plugin mounts the pod's API token.
const ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// IsNativeSidecar reports whether an init container runs for the pod's lifetime (restartPolicy Always).
func IsNativeSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// placeInitBefore says whether an injected init container goes before the app's init containers: native
// sidecars by default (so the app's init containers can use them), classic init containers only when asked.
func placeInitBefore(sc appsv1alpha1.SidecarContainer) bool {
	switch sc.PodInjectPolicy {
	case appsv1alpha1.BeforeAppContainers:
		return true
	case appsv1alpha1.AfterAppContainers:
		return false
	default:
		return IsNativeSidecar(&sc.Container)
	}
}

// build turns a sidecar into the container to inject: the app containers' volume mounts when it shares them,
// and the environment variables it takes from app containers.
func build(sc appsv1alpha1.SidecarContainer, apps []corev1.Container) (corev1.Container, []string) {
	c := *sc.Container.DeepCopy()
	var warnings []string
	if sc.ShareVolumePolicy == appsv1alpha1.ShareVolumePolicyEnabled {
		for _, app := range apps {
			for _, m := range app.VolumeMounts {
				// Two mounts at one path make the pod invalid: the sidecar's own mount wins.
				if !slices.ContainsFunc(c.VolumeMounts, func(x corev1.VolumeMount) bool { return x.MountPath == m.MountPath }) {
					c.VolumeMounts = append(c.VolumeMounts, m)
				}
			}
		}
	}
	// The ServiceAccount admission plugin has mounted the pod's token into the app containers before any
	// webhook runs; the sidecar gets the same mount, as it would had it been in the pod from the start.
	// (Were it left to the plugin, reinvoked after the webhook, the plugin's change would reinvoke the
	// webhook: two calls per pod.)
	if !slices.ContainsFunc(c.VolumeMounts, func(x corev1.VolumeMount) bool { return x.MountPath == ServiceAccountTokenPath }) {
	token:
		for _, app := range apps {
			for _, m := range app.VolumeMounts {
				if m.MountPath == ServiceAccountTokenPath {
					c.VolumeMounts = append(c.VolumeMounts, m)
					break token
				}
			}
		}
	}
	for _, t := range sc.TransferEnv {
		if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == t.EnvName }) {
			continue // the sidecar sets the variable itself
		}
		i := slices.IndexFunc(apps, func(a corev1.Container) bool { return a.Name == t.SourceContainerName })
		if i < 0 {
			warnings = append(warnings, fmt.Sprintf("transferEnv of %s to sidecar %q skipped: the pod has no container %q",
				t.EnvName, c.Name, t.SourceContainerName))
			continue
		}
		j := slices.IndexFunc(apps[i].Env, func(e corev1.EnvVar) bool { return e.Name == t.EnvName })
		if j < 0 {
			warnings = append(warnings, fmt.Sprintf("transferEnv of %s to sidecar %q skipped: container %q has no variable %s",
				t.EnvName, c.Name, t.SourceContainerName, t.EnvName))
			continue
		}
		c.Env = append(c.Env, *apps[i].Env[j].DeepCopy())
	}
	return c, warnings
}

// addVolumes adds the SidecarSet volumes that the injected sidecars mount or use as devices. A volume the pod
// already has by that name wins: it is usually the app's own volume the sidecar means to share.
func addVolumes(pod *corev1.Pod, volumes []corev1.Volume, injected []corev1.Container) {
	used := map[string]bool{}
	for _, c := range injected {
		for _, m := range c.VolumeMounts {
			used[m.Name] = true
		}
		for _, d := range c.VolumeDevices {
			used[d.Name] = true
		}
	}
	for _, v := range volumes {
		if !used[v.Name] || slices.ContainsFunc(pod.Spec.Volumes, func(x corev1.Volume) bool { return x.Name == v.Name }) {
			continue
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, *v.DeepCopy())
	}
}

func addPullSecrets(pod *corev1.Pod, secrets []corev1.LocalObjectReference) {
	for _, s := range secrets {
		if !slices.Contains(pod.Spec.ImagePullSecrets, s) {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, s)
		}
	}
}

// PatchMetadata adds the labels and annotations of patches to a pod's metadata, in order; under Retain a key
// the pod already has (its own, or from an earlier patch) keeps its value.
func PatchMetadata(pod *metav1.ObjectMeta, patches []appsv1alpha1.PodMetadataPatch) {
	for _, p := range patches {
		overwrite := p.Policy == appsv1alpha1.PodMetadataPatchOverwrite
		for k, v := range p.Labels {
			if pod.Labels == nil {
				pod.Labels = map[string]string{}
			}
			if _, has := pod.Labels[k]; !has || overwrite {
				pod.Labels[k] = string(v)
			}
		}
		for k, v := range p.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			if _, has := pod.Annotations[k]; !has || overwrite {
				pod.Annotations[k] = v
			}
		}
	}
}
