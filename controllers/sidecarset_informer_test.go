package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// servingCache is a cache whose API server starts serving SidecarSets after a number of asks, or never
// (notServed < 0), or fails otherwise (err).
type servingCache struct {
	cache.Cache
	notServed int
	err       error
	asked     int
}

func (c *servingCache) GetInformer(context.Context, client.Object, ...cache.InformerGetOption) (cache.Informer, error) {
	c.asked++
	if c.err != nil {
		return nil, c.err
	}
	if c.notServed < 0 || c.asked <= c.notServed {
		return nil, &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "apps.sidecarset.io", Kind: "SidecarSet"}, SearchedVersions: []string{"v1alpha1"}}
	}
	return nil, nil
}

// TestSidecarSetInformerWaitsForTheKindToBeServed: an operator started together with its
// CustomResourceDefinition (helm install, kubectl apply) finds the kind not served yet. It asks again until it
// is, gives up after its wait with an error naming the CustomResourceDefinition, and does not wait on any
// other error.
func TestSidecarSetInformerWaitsForTheKindToBeServed(t *testing.T) {
	c := &servingCache{notServed: 3}
	if _, err := sidecarSetInformer(context.Background(), c, time.Minute, time.Millisecond); err != nil || c.asked != 4 {
		t.Fatalf("served after 3 asks: error %v after %d asks, want none after 4", err, c.asked)
	}

	c = &servingCache{notServed: -1}
	_, err := sidecarSetInformer(context.Background(), c, 20*time.Millisecond, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "apply the CustomResourceDefinition sidecarsets.apps.sidecarset.io") || !meta.IsNoMatchError(err) {
		t.Fatalf("never served: error %v, want one naming the CustomResourceDefinition and wrapping the no-match", err)
	}
	if c.asked < 2 {
		t.Errorf("never served: asked %d times within the wait, want more than once", c.asked)
	}

	refused := errors.New("forbidden")
	c = &servingCache{err: refused}
	if _, err := sidecarSetInformer(context.Background(), c, time.Minute, time.Millisecond); !errors.Is(err, refused) || c.asked != 1 {
		t.Fatalf("another error: %v after %d asks, want it at once", err, c.asked)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sidecarSetInformer(ctx, &servingCache{notServed: -1}, time.Minute, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped while waiting: %v, want the context's error", err)
	}
}
