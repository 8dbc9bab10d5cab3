package controllers

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// BenchmarkKeptPodsHeld reports kept-B/pod: what a SidecarSet's kept pods (podSet: the slice of views and
// the index of their places by name) hold of the heap once read in full, per pod, with 10,000 pods in 20
// namespaces. A SidecarSet keeps them while it has its memo, through a rollout.
func BenchmarkKeptPodsHeld(b *testing.B) {
	var all listedPods
	for i := range 10_000 {
		all = append(all, &podview.View{Namespace: fmt.Sprintf("ns-%02d", i%20), Name: fmt.Sprintf("web-%05d", i)})
	}
	keep := func(*podview.View) bool { return true }
	var held uint64
	for b.Loop() {
		runtime.GC()
		base := heapObjectBytes()
		s := &podSet{}
		views, at, err := s.take(all, labels.Everything(), nil, keep, time.Now())
		if err != nil || len(views) != len(all) || at.len() != len(all) {
			b.Fatalf("took %d pods, %d places (%v) of %d", len(views), at.len(), err, len(all))
		}
		runtime.GC()
		held = heapObjectBytes() - base
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(held)/float64(len(all)), "kept-B/pod")
}

// listedPods is a podReader over a fixed list of views, all selected.
type listedPods []*podview.View

func (l listedPods) Selected(labels.Selector, []string) ([]*podview.View, error) {
	return append([]*podview.View(nil), l...), nil
}

func (l listedPods) Get(namespace, name string) (*podview.View, bool, error) {
	for _, v := range l {
		if v.Namespace == namespace && v.Name == name {
			return v, true, nil
		}
	}
	return nil, false, nil
}

// heapObjectBytes is the bytes of the heap's objects, live or not yet collected.
func heapObjectBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
