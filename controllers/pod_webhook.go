package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// PodInjector is the mutating admission webhook that adds the sidecars of the SidecarSets selecting a new pod.
// It reads SidecarSets and namespaces from the informer cache and writes nothing to the API: its whole answer
// is the JSON patch and the admission warnings.
type PodInjector struct {
	// Reader is the manager's cache-backed client.
	Reader client.Reader
	// OperatorNamespace is never injected.
	OperatorNamespace string

	compiled compiledCache
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

	sets, err := h.selecting(ctx, pod, namespace)
	if err != nil {
		injections.WithLabelValues("", injectionError).Inc()
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(sets) == 0 {
		return admission.Allowed("no SidecarSet selects the pod")
	}

	injected, results, err := inject.Inject(pod, sets)
	if err != nil {
		for _, s := range sets {
			injections.WithLabelValues(s.SidecarSet, injectionError).Inc()
		}
		return admission.Denied(fmt.Sprintf("sidecars cannot be injected: %v; remove the annotation from the pod template", err))
	}
	var warnings []string
	for _, r := range results {
		result := injectionInjected
		switch {
		case r.AlreadyInjected:
			result = injectionAlreadyInjected
		case len(r.Conflicts) > 0:
			result = injectionConflict
			log.Info("Sidecars not injected because of a name conflict", "sidecarSet", r.SidecarSet, "conflicts", r.Messages())
		}
		injections.WithLabelValues(r.SidecarSet, result).Inc()
		warnings = append(warnings, r.Messages()...)
	}
	resp := admission.Patched("", inject.Patch(pod, injected)...)
	resp.Warnings = warnings
	return resp
}

// selecting returns what each SidecarSet selecting the pod injects. SidecarSets are read from the cache without
// a deep copy (the hot path) and never modified; the namespace's labels are read only when some SidecarSet
// has a namespaceSelector.
func (h *PodInjector) selecting(ctx context.Context, pod *corev1.Pod, namespace string) ([]inject.Sidecars, error) {
	var list appsv1alpha1.SidecarSetList
	if err := h.Reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing SidecarSets: %w", err)
	}
	var namespaceLabels map[string]string
	namespaceRead := false
	var out []inject.Sidecars
	for i := range list.Items {
		set := &list.Items[i]
		if set.Spec.InjectionStrategy.Paused || set.DeletionTimestamp != nil {
			continue
		}
		compiled := h.compiled.of(set)
		if compiled.err != nil {
			// The webhook configuration has no entry for such a SidecarSet; the API server only sends its
			// pods while the configuration catches up. Skipping it is what that entry's absence means.
			ctrl.LoggerFrom(ctx).V(1).Info("Skipping a SidecarSet with an invalid selector", "sidecarSet", set.Name, "error", compiled.err.Error())
			continue
		}
		if compiled.matcher.NeedsNamespaceLabels() && !namespaceRead {
			ns := &metav1.PartialObjectMetadata{}
			ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
			if err := h.Reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
				return nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
			}
			namespaceLabels, namespaceRead = ns.Labels, true
		}
		if compiled.matcher.Matches(pod.Labels, namespaceLabels) {
			out = append(out, inject.Sidecars{SidecarSet: set.Name, Revision: compiled.revision, Spec: &set.Spec})
		}
	}
	if h.compiled.size() > len(list.Items) {
		live := make(map[types.UID]bool, len(list.Items))
		for i := range list.Items {
			live[list.Items[i].UID] = true
		}
		h.compiled.forget(live)
	}
	return out, nil
}

// compiledCache keeps, per SidecarSet generation, what the webhook derives from its spec: the parsed selectors
// and the revision name. Selectors are parsed and the spec hashed once per change rather than once per pod.
type compiledCache struct {
	mu      sync.Mutex
	entries map[types.UID]compiled
}

type compiled struct {
	generation     int64
	collisionCount int32
	matcher        inject.Matcher
	err            error
	revision       string
}

func (c *compiledCache) of(set *appsv1alpha1.SidecarSet) compiled {
	var collisions int32
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[set.UID]; ok && e.generation == set.Generation && e.collisionCount == collisions {
		return e
	}
	m, err := inject.NewMatcher(&set.Spec)
	e := compiled{generation: set.Generation, collisionCount: collisions, matcher: m, err: err, revision: revision.For(set)}
	if c.entries == nil {
		c.entries = map[types.UID]compiled{}
	}
	c.entries[set.UID] = e
	return e
}

func (c *compiledCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// forget drops the entries of SidecarSets that no longer exist.
func (c *compiledCache) forget(live map[types.UID]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid := range c.entries {
		if !live[uid] {
			delete(c.entries, uid)
		}
	}
}

// podName is the pod's name, or its generateName prefix for a pod whose name the API server has not yet
// generated.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "<generated>"
}
