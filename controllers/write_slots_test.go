package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/step"
)

// TestPodWritesAreBoundedAcrossTheOperator sends the updates of two SidecarSets' steps, 300 pods in all, to an
// API server that holds every patch until released: no more than maxConcurrentWrites are in flight at once,
// every update is recorded in flight before update returns, and every one is sent once the server answers.
func TestPodWritesAreBoundedAcrossTheOperator(t *testing.T) {
	var inFlight, most, sent atomic.Int32
	release := make(chan struct{})
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, _ client.WithWatch, _ client.Object, _ client.Patch, _ ...client.PatchOption) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			sent.Add(1)
			return nil
		},
	}).Build()
	r := &SidecarSetReconciler{Client: c}
	change := inplace.Change{Images: map[string]string{"shipper": "shipper:2"}, State: podstate.SidecarSetState{Revision: "logs-2"}}
	batch := func(set string, n int) []step.PodUpdate {
		out := make([]step.PodUpdate, n)
		for i := range out {
			out[i] = writeOf(t, fmt.Sprintf("%s-%03d", set, i), "", change)
		}
		return out
	}
	var wg sync.WaitGroup
	for _, set := range []string{"logs", "mesh"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.update(context.Background(), set, set+"-2", batch(set, 150))
		}()
	}
	wg.Wait()
	for _, set := range []string{"logs", "mesh"} {
		if _, ok := r.writes.Pending(set, "shop", set+"-149", "1", func() podstate.SidecarSetState { return podstate.SidecarSetState{} }, time.Now()); !ok {
			t.Errorf("the last update of %s was not recorded in flight when update returned", set)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < maxConcurrentWrites && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a write past the bound to show
	if got := most.Load(); got != maxConcurrentWrites {
		t.Fatalf("%d writes were in flight at most, want the bound %d", got, maxConcurrentWrites)
	}
	close(release)
	for sent.Load() < 300 && time.Now().Before(deadline.Add(10*time.Second)) {
		time.Sleep(time.Millisecond)
	}
	if got := sent.Load(); got != 300 {
		t.Fatalf("%d of 300 writes were sent", got)
	}
}

// writeOf is the update of the pod shop/name, at resourceVersion 1, whose state annotation is state (none
// when empty), to change.
func writeOf(t *testing.T, name, state string, change inplace.Change) step.PodUpdate {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, ResourceVersion: "1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}, {Name: "shipper", Image: "shipper:1"}}}}
	if state != "" {
		pod.Annotations = map[string]string{appsv1alpha1.StateAnnotation: state}
	}
	view, err := podview.Compact(pod)
	if err != nil {
		t.Fatal(err)
	}
	return step.PodUpdate{Namespace: "shop", Name: name, Pod: view.(*podview.View), ResourceVersion: "1", Change: change}
}

// TestAnUnwritableUpdateIsDroppedUnsent: an update is encoded only when its write is sent, so one whose pod's
// state annotation cannot be read (rewriting it would lose what other SidecarSets recorded) is found there: it
// is not sent, and its record in flight is dropped so that the pod is not counted as updating.
func TestAnUnwritableUpdateIsDroppedUnsent(t *testing.T) {
	var patches []string
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(_ context.Context, _ client.WithWatch, _ client.Object, p client.Patch, _ ...client.PatchOption) error {
			data, err := p.Data(nil)
			patches = append(patches, string(data))
			return err
		},
	}).Build()
	r := &SidecarSetReconciler{Client: c}
	change := inplace.Change{Images: map[string]string{"shipper": "shipper:2"}, State: podstate.SidecarSetState{Revision: "logs-2"}}
	unchanged := func() podstate.SidecarSetState { return podstate.SidecarSetState{} }

	r.writes.Record("logs", "shop", "web-1", "1", change, time.Now())
	r.send(context.Background(), "logs", "logs-2", writeOf(t, "web-1", "{not json", change), time.Now().Add(writeTimeout))
	if len(patches) != 0 {
		t.Fatalf("the pod of an unreadable state annotation was written: %q", patches)
	}
	if _, ok := r.writes.Pending("logs", "shop", "web-1", "1", unchanged, time.Now()); ok {
		t.Fatal("the unsent write still stands in flight")
	}

	r.writes.Record("logs", "shop", "web-2", "1", change, time.Now())
	r.send(context.Background(), "logs", "logs-2", writeOf(t, "web-2", "", change), time.Now().Add(writeTimeout))
	if len(patches) != 1 || !strings.Contains(patches[0], `"shipper:2"`) || !strings.Contains(patches[0], `"resourceVersion":"1"`) {
		t.Fatalf("the patch sent: %q, want the new image guarded by the pod's resourceVersion", patches)
	}
}

// TestAWriteThatWaitedPastItsDeadlineIsNotSent: a write still waiting for a slot when its deadline passed
// (its expectation about to expire, so the pod may be planned again) is dropped unsent, never sent late.
func TestAWriteThatWaitedPastItsDeadlineIsNotSent(t *testing.T) {
	var patches atomic.Int32
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			patches.Add(1)
			return nil
		},
	}).Build()
	r := &SidecarSetReconciler{Client: c}
	change := inplace.Change{Images: map[string]string{"shipper": "shipper:2"}, State: podstate.SidecarSetState{Revision: "logs-2"}}
	u := writeOf(t, "web-1", "", change)
	r.writes.Record("logs", "shop", "web-1", "1", change, time.Now())
	unchanged := func() podstate.SidecarSetState { return podstate.SidecarSetState{} }

	r.send(context.Background(), "logs", "logs-2", u, time.Now().Add(-time.Millisecond))
	if n := patches.Load(); n != 0 {
		t.Fatalf("a write past its deadline was sent (%d patches)", n)
	}
	if _, ok := r.writes.Pending("logs", "shop", "web-1", "1", unchanged, time.Now()); ok {
		t.Fatal("the unsent write still stands in flight: the pod would not be planned again")
	}

	r.writes.Record("logs", "shop", "web-1", "1", change, time.Now())
	r.send(context.Background(), "logs", "logs-2", u, time.Now().Add(writeTimeout))
	if n := patches.Load(); n != 1 {
		t.Fatalf("a write within its deadline made %d patches, want 1", n)
	}
}

// TestAWriteWithoutAnAnswerKeepsItsShareOfTheBudget: a write the API server refused (a conflict) is dropped
// and the pod planned again, while one that got no answer (a timeout: the API server may have made it) stands
// in flight until the cache shows the pod or the expectation expires.
func TestAWriteWithoutAnAnswerKeepsItsShareOfTheBudget(t *testing.T) {
	var answer error
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			return answer
		},
	}).Build()
	r := &SidecarSetReconciler{Client: c}
	change := inplace.Change{Images: map[string]string{"shipper": "shipper:2"}, State: podstate.SidecarSetState{Revision: "logs-2"}}
	u := writeOf(t, "web-1", "", change)
	unchanged := func() podstate.SidecarSetState { return podstate.SidecarSetState{} }
	for _, tc := range []struct {
		name   string
		answer error
		stands bool
	}{
		{"refused: the pod changed", apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web-1", errors.New("changed")), false},
		{"refused: invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "web-1", nil), false},
		{"no answer in time", context.DeadlineExceeded, true},
		{"the API server timed out", apierrors.NewTimeoutError("the write took too long", 1), true},
		{"the API server failed", apierrors.NewInternalError(errors.New("etcd")), true},
	} {
		answer = tc.answer
		r.writes.Record("logs", "shop", "web-1", "1", change, time.Now())
		r.send(context.Background(), "logs", "logs-2", u, time.Now().Add(writeTimeout))
		if _, ok := r.writes.Pending("logs", "shop", "web-1", "1", unchanged, time.Now()); ok != tc.stands {
			t.Errorf("%s: the write stands in flight: %v, want %v", tc.name, ok, tc.stands)
		}
		r.writes.Drop("logs", "shop", "web-1")
	}
}
