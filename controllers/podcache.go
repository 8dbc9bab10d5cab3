package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// PodCache is the operator's view of every pod in the cluster: an informer whose store holds a
// podview.View per pod instead of a corev1.Pod, because with thousands of pods they are most of the
// operator's memory. It is a manager Runnable; the manager's own cache holds no pods.
type PodCache struct {
	informer toolscache.SharedIndexInformer
}

// NewPodCache returns a pod cache that lists and watches pods through c.
func NewPodCache(c client.WithWatch) *PodCache {
	return newPodCache(podListWatch(c))
}

// podListWatch lists and watches pods through c.
func podListWatch(c client.WithWatch) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &corev1.PodList{}
			return list, c.List(ctx, list, &client.ListOptions{Raw: &opts})
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &corev1.PodList{}, &client.ListOptions{Raw: &opts})
		},
	}
}

func newPodCache(lw toolscache.ListerWatcher) *PodCache {
	informer := toolscache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, toolscache.SharedIndexInformerOptions{
		Indexers: toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc, podsByLabel: indexPodLabels},
	})
	// Only fails once the informer has started.
	_ = informer.SetTransform(podview.Compact)
	return &PodCache{informer: informer}
}

// Start runs the informer until ctx ends.
func (p *PodCache) Start(ctx context.Context) error {
	p.informer.RunWithContext(ctx)
	return nil
}

// NeedLeaderElection is false: a standby replica keeps its pod cache warm, to take over at once.
func (p *PodCache) NeedLeaderElection() bool { return false }

// HasSynced is true once the informer has listed every pod.
func (p *PodCache) HasSynced() bool { return p.informer.HasSynced() }

// podsByLabel indexes the pods by label (inject.LabelIndexKeys), so that a SidecarSet's pods are read from
// the pods with the label its selector requires rather than from every pod of the cluster.
const podsByLabel = "sidecarset.io/label"

func indexPodLabels(obj any) ([]string, error) {
	v, ok := obj.(*podview.View)
	if !ok {
		return nil, fmt.Errorf("indexing a %T as a pod view", obj)
	}
	return inject.LabelIndexKeys(v.Labels), nil
}

// LabelledByNamespace returns the pods under the label index key key (inject.LabelIndexKeys: "label=value"),
// by namespace. The views are shared with the cache: never modify one.
func (p *PodCache) LabelledByNamespace(key string) (map[string][]*podview.View, error) {
	if !p.informer.HasSynced() {
		return nil, errors.New("the pod cache has not synced yet")
	}
	objs, err := p.informer.GetIndexer().ByIndex(podsByLabel, key)
	if err != nil {
		return nil, fmt.Errorf("listing the pods labelled %s: %w", key, err)
	}
	counts := map[string]int{}
	for _, obj := range objs {
		v, ok := obj.(*podview.View)
		if !ok {
			return nil, fmt.Errorf("the pod cache holds a %T", obj)
		}
		counts[v.Namespace]++
	}
	out := make(map[string][]*podview.View, len(counts))
	for _, obj := range objs {
		v := obj.(*podview.View)
		if out[v.Namespace] == nil {
			out[v.Namespace] = make([]*podview.View, 0, counts[v.Namespace])
		}
		out[v.Namespace] = append(out[v.Namespace], v)
	}
	return out, nil
}

// byKeysAlone says whether a selector is all its index keys say (inject.SelectorIndexKeys), so that every pod
// under them matches it: one requirement, one matchLabels entry or one In expression.
func byKeysAlone(sel labels.Selector) bool {
	reqs, _ := sel.Requirements()
	return len(reqs) == 1 && (reqs[0].Operator() == selection.Equals || reqs[0].Operator() == selection.DoubleEquals ||
		reqs[0].Operator() == selection.In)
}

// Selected returns the pods whose labels match sel, read from the pods under keys (the
// inject.SelectorIndexKeys of the selector sel was parsed from, which every pod it matches is under) or, when
// keys hold inject.AnyPod, from every pod. No key: no pod. The views are shared with the cache: never modify
// one.
func (p *PodCache) Selected(sel labels.Selector, keys []string) ([]*podview.View, error) {
	if slices.Contains(keys, inject.AnyPod) {
		return p.List(sel)
	}
	if !p.informer.HasSynced() {
		return nil, errors.New("the pod cache has not synced yet")
	}
	exact := byKeysAlone(sel)
	var out []*podview.View
	for _, key := range keys {
		objs, err := p.informer.GetIndexer().ByIndex(podsByLabel, key)
		if err != nil {
			return nil, fmt.Errorf("listing the pods labelled %s: %w", key, err)
		}
		if out == nil {
			out = make([]*podview.View, 0, len(objs))
		}
		for _, obj := range objs {
			v, ok := obj.(*podview.View)
			if !ok {
				return nil, fmt.Errorf("the pod cache holds a %T", obj)
			}
			// The keys of one selector are values of one label: a pod is under one of them at most.
			if exact || sel.Matches(labels.Set(v.Labels)) {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// List returns the pods whose labels match sel. The views are shared with the cache: never modify one.
func (p *PodCache) List(sel labels.Selector) ([]*podview.View, error) {
	if !p.informer.HasSynced() {
		return nil, errors.New("the pod cache has not synced yet")
	}
	all := p.informer.GetStore().List()
	out := make([]*podview.View, 0, len(all))
	for _, obj := range all {
		v, ok := obj.(*podview.View)
		if !ok {
			return nil, fmt.Errorf("the pod cache holds a %T", obj)
		}
		if sel.Matches(labels.Set(v.Labels)) {
			out = append(out, v)
		}
	}
	return out, nil
}

// Get returns the pod namespace/name; ok is false when the cache has no such pod. The view is shared with the
// cache: never modify it.
func (p *PodCache) Get(namespace, name string) (v *podview.View, ok bool, err error) {
	obj, ok, err := p.informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false, err
	}
	if v, ok = obj.(*podview.View); !ok {
		return nil, false, fmt.Errorf("the pod cache holds a %T", obj)
	}
	return v, true, nil
}

// InNamespace returns the pods of a namespace. The views are shared with the cache: never modify one.
func (p *PodCache) InNamespace(namespace string) ([]*podview.View, error) {
	if !p.informer.HasSynced() {
		return nil, errors.New("the pod cache has not synced yet")
	}
	objs, err := p.informer.GetIndexer().ByIndex(toolscache.NamespaceIndex, namespace)
	if err != nil {
		return nil, fmt.Errorf("listing the pods of namespace %s: %w", namespace, err)
	}
	out := make([]*podview.View, 0, len(objs))
	for _, obj := range objs {
		v, ok := obj.(*podview.View)
		if !ok {
			return nil, fmt.Errorf("the pod cache holds a %T", obj)
		}
		out = append(out, v)
	}
	return out, nil
}

// Source is a source of pod events for a controller, which starts once the cache has synced.
func (p *PodCache) Source(h handler.EventHandler) source.SyncingSource {
	return &podSource{Informer: source.Informer{Informer: p.informer, Handler: h}, synced: p.informer.HasSynced}
}

type podSource struct {
	source.Informer
	synced func() bool
}

func (s *podSource) WaitForSync(ctx context.Context) error {
	if !toolscache.WaitForCacheSync(ctx.Done(), s.synced) {
		return fmt.Errorf("waiting for the pod cache to sync: %w", ctx.Err())
	}
	return nil
}
