package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
)

// sidecarSetsBySelector indexes the cached SidecarSets by their pod selector (inject.SelectorIndexKeys).
const sidecarSetsBySelector = "sidecarset.io/selector"

// SidecarSetLookup finds cached SidecarSets without copying them (SidecarSetIndex).
type SidecarSetLookup interface {
	// Selecting returns the SidecarSets whose pod selector may match a pod with these labels, sorted by name.
	Selecting(podLabels map[string]string) ([]*appsv1alpha1.SidecarSet, error)
	// Get returns the SidecarSet of that name; nil when there is none.
	Get(name string) (*appsv1alpha1.SidecarSet, error)
	// List returns every SidecarSet, in no order.
	List() ([]*appsv1alpha1.SidecarSet, error)
}

// SidecarSetIndex reads the SidecarSets of the manager's cache straight from its informer's store: the
// SidecarSets that may select a pod, found by the pod's labels, and one SidecarSet by name. Every pod event
// and every admission asks it. A List of the cache copies each SidecarSet into the list it fills (about 700
// bytes each, 7 MB and 3 ms with 10,000 SidecarSets, even without a deep copy) and the caller then matches
// every one; the index hands out the store's own objects, shared: never modify one.
type SidecarSetIndex struct {
	indexer toolscache.Indexer
	synced  func() bool
}

// NewSidecarSetIndex indexes the SidecarSets of c. It must be called before c starts, once per cache. It
// waits up to servedWait for the API server to serve SidecarSets (sidecarSetInformer).
func NewSidecarSetIndex(ctx context.Context, c cache.Cache) (*SidecarSetIndex, error) {
	informer, err := sidecarSetInformer(ctx, c, servedWait, time.Second)
	if err != nil {
		return nil, err
	}
	if err := informer.AddIndexers(toolscache.Indexers{sidecarSetsBySelector: indexSidecarSet}); err != nil {
		return nil, fmt.Errorf("indexing SidecarSets by selector: %w", err)
	}
	withStore, ok := informer.(interface{ GetIndexer() toolscache.Indexer })
	if !ok {
		return nil, fmt.Errorf("the SidecarSet informer (%T) has no store to read", informer)
	}
	return &SidecarSetIndex{indexer: withStore.GetIndexer(), synced: informer.HasSynced}, nil
}

// servedWait is how long the operator waits, as it starts, for the API server to serve SidecarSets. An
// install that applies the CustomResourceDefinition and starts the operator together (kubectl apply, helm
// install, a GitOps sync) can start it before the API server's discovery shows the new kind; exiting then
// left the operator to its pod's restart back-off. The wait ends before the liveness probe of
// config/manager (first after 15 s, then every 20 s, three failures) would restart the pod at about 55 s, for
// the probe is not served yet: past the wait the operator exits with an error that names what is missing,
// rather than being killed while it logs that it waits.
const servedWait = 40 * time.Second

// sidecarSetInformer returns c's SidecarSet informer, asking again every `every` while the API server does not
// serve the kind yet, for up to wait; past it, the error says which CustomResourceDefinition to apply.
func sidecarSetInformer(ctx context.Context, c cache.Cache, wait, every time.Duration) (cache.Informer, error) {
	deadline := time.Now().Add(wait)
	for logged := false; ; logged = true {
		informer, err := c.GetInformer(ctx, &appsv1alpha1.SidecarSet{}, cache.BlockUntilSynced(false))
		switch {
		case err == nil:
			return informer, nil
		case !meta.IsNoMatchError(err):
			return nil, fmt.Errorf("watching SidecarSets: %w", err)
		case !time.Now().Before(deadline):
			return nil, fmt.Errorf("watching SidecarSets: the API server does not serve %s after %s: "+
				"apply the CustomResourceDefinition sidecarsets.%s first: %w",
				appsv1alpha1.GroupVersion.WithKind("SidecarSet"), wait, appsv1alpha1.GroupVersion.Group, err)
		case !logged:
			ctrl.LoggerFrom(ctx).Info("Waiting for the API server to serve SidecarSets", "for", wait.String(), "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("watching SidecarSets: %w", ctx.Err())
		case <-time.After(every):
		}
	}
}

// newSidecarSetIndexOf indexes the SidecarSets of a store filled by the caller, for tests and benchmarks.
func newSidecarSetIndexOf(sets []appsv1alpha1.SidecarSet) (*SidecarSetIndex, error) {
	indexer := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{sidecarSetsBySelector: indexSidecarSet})
	for i := range sets {
		if err := indexer.Add(&sets[i]); err != nil {
			return nil, err
		}
	}
	return &SidecarSetIndex{indexer: indexer, synced: func() bool { return true }}, nil
}

func indexSidecarSet(obj any) ([]string, error) {
	set, ok := obj.(*appsv1alpha1.SidecarSet)
	if !ok {
		return nil, fmt.Errorf("indexing a %T as a SidecarSet", obj)
	}
	return inject.SelectorIndexKeys(set.Spec.Selector), nil
}

// errNotSynced is the index's answer before its informer listed every SidecarSet: a partial answer would
// leave the sidecars of the SidecarSets not listed yet out of a pod.
var errNotSynced = errors.New("the SidecarSet cache has not synced yet")

// Selecting returns the SidecarSets whose pod selector may match a pod with these labels, sorted by name: a
// superset of those it matches (inject.SelectorIndexKeys), each still to be matched.
func (x *SidecarSetIndex) Selecting(podLabels map[string]string) ([]*appsv1alpha1.SidecarSet, error) {
	if !x.synced() {
		return nil, errNotSynced
	}
	var out []*appsv1alpha1.SidecarSet
	for _, key := range inject.PodIndexKeys(podLabels) {
		objs, err := x.indexer.ByIndex(sidecarSetsBySelector, key)
		if err != nil {
			return nil, fmt.Errorf("looking SidecarSets up by selector: %w", err)
		}
		for _, obj := range objs {
			set, ok := obj.(*appsv1alpha1.SidecarSet)
			if !ok {
				return nil, fmt.Errorf("the SidecarSet cache holds a %T", obj)
			}
			out = append(out, set)
		}
	}
	slices.SortFunc(out, func(a, b *appsv1alpha1.SidecarSet) int { return strings.Compare(a.Name, b.Name) })
	// A SidecarSet is indexed under one label key, and a pod has one value per key: no duplicates, but a
	// lookup that found one twice must not inject it twice.
	return slices.CompactFunc(out, func(a, b *appsv1alpha1.SidecarSet) bool { return a.Name == b.Name }), nil
}

// Get returns the SidecarSet of that name; nil when there is none.
func (x *SidecarSetIndex) Get(name string) (*appsv1alpha1.SidecarSet, error) {
	if !x.synced() {
		return nil, errNotSynced
	}
	obj, ok, err := x.indexer.GetByKey(name)
	if err != nil || !ok {
		return nil, err
	}
	set, ok := obj.(*appsv1alpha1.SidecarSet)
	if !ok {
		return nil, fmt.Errorf("the SidecarSet cache holds a %T", obj)
	}
	return set, nil
}

// List returns every SidecarSet, in no order.
func (x *SidecarSetIndex) List() ([]*appsv1alpha1.SidecarSet, error) {
	if !x.synced() {
		return nil, errNotSynced
	}
	objs := x.indexer.List()
	out := make([]*appsv1alpha1.SidecarSet, len(objs))
	for i, obj := range objs {
		set, ok := obj.(*appsv1alpha1.SidecarSet)
		if !ok {
			return nil, fmt.Errorf("the SidecarSet cache holds a %T", obj)
		}
		out[i] = set
	}
	return out, nil
}
