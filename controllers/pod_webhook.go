package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/derived"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// PodInjector is the mutating admission webhook that adds the sidecars of the SidecarSets selecting a new pod.
// It reads SidecarSets and namespaces from the informer cache and writes nothing to the API: its whole answer
// is the JSON patch and the admission warnings.
type PodInjector struct {
	// Reader is the manager's cache-backed client: namespaces and stored revisions.
	Reader client.Reader
	// SidecarSets finds the SidecarSets that may select a pod, from the same cache.
	SidecarSets SidecarSetLookup
	// OperatorNamespace is never injected.
	OperatorNamespace string

	compiled derived.Cache[compiled]
	pinned   revisionContents
}

var _ admission.Handler = &PodInjector{}

// Handle injects the sidecars into a pod being created.
func (h *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != "CREATE" || req.Kind.Kind != "Pod" {
		return admission.Allowed("only pod creation is handled")
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	namespace := req.Namespace
	if reason := inject.Excluded(namespace, pod.Labels, h.OperatorNamespace); reason != "" {
		return admission.Allowed(reason)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("pod", klog.KRef(namespace, podName(pod)))

	ns := namespaceLabels{reader: h.Reader, name: namespace}
	sets, err := h.selecting(ctx, pod, &ns)
	if err != nil {
		injections.WithLabelValues("", injectionError).Inc()
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(sets) == 0 {
		return admission.Allowed("no SidecarSet selects the pod")
	}

	// The pod as the API server will validate it, in the namespace whose Pod Security level it must meet.
	if pod.Namespace == "" {
		pod.Namespace = namespace
	}
	level := podvalidation.Enforced(nil)
	if labels, err := ns.get(ctx); err != nil {
		log.Error(err, "Namespace not read; checking the pod against the privileged Pod Security level")
	} else {
		level = podvalidation.Enforced(labels)
	}
	injected, results, err := inject.Checked(pod, sets, func(p *corev1.Pod) string { return podvalidation.Admissible(p, level) })
	if err != nil {
		for _, s := range sets {
			injections.WithLabelValues(s.SidecarSet, injectionError).Inc()
		}
		return admission.Denied(fmt.Sprintf("sidecars cannot be injected: %v; remove the annotation from the pod template", err))
	}
	var warnings []string
	for _, r := range results {
		outcome := r.Outcome()
		switch outcome {
		case inject.OutcomeConflict:
			log.Info("Sidecars not injected because of a name conflict", "sidecarSet", r.SidecarSet, "conflicts", r.Messages())
		case inject.OutcomeSkipped:
			log.Info("Sidecars not injected: the API server would refuse the pod with them", "sidecarSet", r.SidecarSet, "reason", r.Skipped)
		}
		injections.WithLabelValues(r.SidecarSet, string(outcome)).Inc()
		warnings = append(warnings, r.Messages()...)
	}
	resp := admission.Patched("", inject.Patch(pod, injected)...)
	resp.Warnings = warnings
	return resp
}

// selecting returns what each SidecarSet selecting the pod injects. The SidecarSets that may select it are
// found by its labels in the cache's store (SidecarSetIndex), shared and never modified; the namespace's
// labels, which Handle reads anyway for the Pod Security level, are read once.
func (h *PodInjector) selecting(ctx context.Context, pod *corev1.Pod, ns *namespaceLabels) ([]inject.Sidecars, error) {
	sets, err := h.SidecarSets.Selecting(pod.Labels)
	if err != nil {
		return nil, fmt.Errorf("finding the SidecarSets that select the pod: %w", err)
	}
	var out []inject.Sidecars
	for _, c := range h.selectingPod(sets, pod.Labels) {
		if c.matcher.NeedsNamespaceLabels() {
			labels, err := ns.get(ctx)
			if err != nil {
				return nil, err
			}
			if !c.matcher.MatchesNamespace(labels) {
				continue
			}
		}
		out = append(out, h.injecting(ctx, c))
	}
	return out, nil
}

// namespaceLabels reads the labels of the pod's namespace from the cache, once per admission.
type namespaceLabels struct {
	reader client.Reader
	name   string
	labels map[string]string
	err    error
	read   bool
}

func (n *namespaceLabels) get(ctx context.Context) (map[string]string, error) {
	if !n.read {
		ns := &metav1.PartialObjectMetadata{}
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		if err := n.reader.Get(ctx, types.NamespacedName{Name: n.name}, ns); err != nil {
			n.err = fmt.Errorf("reading namespace %s: %w", n.name, err)
		}
		n.labels, n.read = ns.Labels, true
	}
	return n.labels, n.err
}

// injecting is what a selecting SidecarSet injects: the stored revision revision.ForNewPods names. Stored
// revisions are read from the cache, decoded once per change.
func (h *PodInjector) injecting(ctx context.Context, c candidate) inject.Sidecars {
	var pinned revision.Injected
	name := revision.ForNewPods(c.set, c.revision, func(name string) bool {
		var ok bool
		pinned, ok = h.stored(ctx, c.set, name)
		return ok
	})
	if name == c.revision {
		return inject.Sidecars{SidecarSet: c.set.Name, Revision: c.revision, Spec: &c.set.Spec}
	}
	return inject.Sidecars{SidecarSet: c.set.Name, Revision: name, Spec: pinned.Spec()}
}

// stored reads the content of the SidecarSet's stored revision name; false when it is not stored or cannot be
// read.
func (h *PodInjector) stored(ctx context.Context, set *appsv1alpha1.SidecarSet, name string) (revision.Injected, bool) {
	cr := &appsv1.ControllerRevision{}
	if err := h.Reader.Get(ctx, types.NamespacedName{Namespace: h.OperatorNamespace, Name: name}, cr); err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Revision for new pods not found; injecting the latest", "sidecarSet", set.Name, "revision", name)
		return revision.Injected{}, false
	}
	if !metav1.IsControlledBy(cr, set) {
		return revision.Injected{}, false
	}
	return h.pinned.content(cr)
}

// revisionContents keeps the decoded content of pinned revisions by resourceVersion, so a pin costs a decode
// per change of the revision, not per pod.
type revisionContents struct {
	mu      sync.Mutex
	entries map[types.UID]decodedRevision
}

type decodedRevision struct {
	resourceVersion string
	injected        revision.Injected
	ok              bool
}

func (r *revisionContents) content(cr *appsv1.ControllerRevision) (revision.Injected, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[cr.UID]; ok && e.resourceVersion == cr.ResourceVersion {
		return e.injected, e.ok
	}
	e := decodedRevision{resourceVersion: cr.ResourceVersion}
	e.ok = json.Unmarshal(cr.Data.Raw, &e.injected) == nil
	if r.entries == nil {
		r.entries = map[types.UID]decodedRevision{}
	}
	r.entries[cr.UID] = e
	return e.injected, e.ok
}

// compiled is what the webhook derives from a SidecarSet's spec, once per change (derived.Cache): whether it
// injects, its parsed selectors and its revision name.
type compiled struct {
	injecting bool
	matcher   inject.Matcher
	err       error
	revision  string
}

func compile(set *appsv1alpha1.SidecarSet) compiled {
	var c compiled
	if c.injecting, _ = inject.Injecting(set); c.injecting {
		c.matcher, c.err = inject.NewMatcher(&set.Spec)
		c.revision = revision.For(set)
	}
	return c
}

// candidate is a SidecarSet whose pod selector matches a pod; its namespaceSelector is still to be checked.
type candidate struct {
	set *appsv1alpha1.SidecarSet
	compiled
}

// selectingPod returns the injecting SidecarSets whose pod selector matches the labels, in the order given. A
// SidecarSet whose selectors cannot be parsed selects nothing: the webhook configuration gives it no entry
// either.
func (h *PodInjector) selectingPod(sets []*appsv1alpha1.SidecarSet, podLabels map[string]string) []candidate {
	var out []candidate
	for _, set := range sets {
		if c := h.compiled.Get(set, compile); c.injecting && c.err == nil && c.matcher.MatchesPod(podLabels) {
			out = append(out, candidate{set: set, compiled: c})
		}
	}
	return out
}

// podName is the pod's name, or its generateName prefix for a pod whose name the API server has not yet
// generated.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "<generated>"
}
