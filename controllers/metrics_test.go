package controllers

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// fixedLookup holds SidecarSets, or answers every List with err.
type fixedLookup struct {
	sets []*appsv1alpha1.SidecarSet
	err  error
}

func (l *fixedLookup) Selecting(map[string]string) ([]*appsv1alpha1.SidecarSet, error) {
	return nil, errors.New("not used")
}

func (l *fixedLookup) Get(string) (*appsv1alpha1.SidecarSet, error) {
	return nil, errors.New("not used")
}

func (l *fixedLookup) List() ([]*appsv1alpha1.SidecarSet, error) {
	return l.sets, l.err
}

// resources is a ResourceList of the quantities given, by resource name.
func resources(quantities map[corev1.ResourceName]string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range quantities {
		out[name] = resource.MustParse(q)
	}
	return out
}

// statusMetricsNames are the metrics the status collector builds.
var statusMetricsNames = []string{"sidecarset_pods", "sidecarset_sidecar_resource_requests",
	"sidecarset_sidecar_resource_limits", "sidecarset_sidecar_resource_request_ratio"}

// TestMetricsFollowTheStatuses: the status metrics of every SidecarSet, built from its status when collected:
// the seven pod counts, zeros included, and the cost of the resources the status reports, with a ratio only
// for a resource the pods request some of.
func TestMetricsFollowTheStatuses(t *testing.T) {
	sets := []*appsv1alpha1.SidecarSet{
		// Selects no pod: seven zeros, and no cost.
		{ObjectMeta: metav1.ObjectMeta{Name: "idle"}},
		// Sidecars requesting 500m and 64Mi of pods requesting 2 CPUs and 256Mi, limited in memory only.
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Status: appsv1alpha1.SidecarSetStatus{
			MatchedPods: 12, UpdatedPods: 7, ReadyPods: 6, OutdatedPods: 3, NotUpgradablePods: 1, MissingPods: 2, FailedPods: 4,
			SidecarResources: &appsv1alpha1.SidecarResources{
				Pods:        2,
				Requests:    resources(map[corev1.ResourceName]string{corev1.ResourceCPU: "500m", corev1.ResourceMemory: "64Mi"}),
				Limits:      resources(map[corev1.ResourceName]string{corev1.ResourceMemory: "128Mi"}),
				PodRequests: resources(map[corev1.ResourceName]string{corev1.ResourceCPU: "2", corev1.ResourceMemory: "256Mi"}),
			}}},
		// Sidecars limited in CPU only, whose pods request no CPU (zero) and no memory (absent): no ratio.
		{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Status: appsv1alpha1.SidecarSetStatus{
			MatchedPods: 1, UpdatedPods: 1, ReadyPods: 1,
			SidecarResources: &appsv1alpha1.SidecarResources{
				Pods:        1,
				Requests:    resources(map[corev1.ResourceName]string{corev1.ResourceCPU: "250m", corev1.ResourceMemory: "32Mi"}),
				Limits:      resources(map[corev1.ResourceName]string{corev1.ResourceCPU: "1"}),
				PodRequests: resources(map[corev1.ResourceName]string{corev1.ResourceCPU: "0"}),
			}}},
	}
	var before []*appsv1alpha1.SidecarSet
	for _, set := range sets {
		before = append(before, set.DeepCopy())
	}
	c := &statusCollector{}
	c.setSource(&fixedLookup{sets: sets}, nil)

	const want = `
# HELP sidecarset_pods Pods per SidecarSet and state, as its status reports them: matched, updated, ready, outdated, not_upgradable, missing, failed.
# TYPE sidecarset_pods gauge
sidecarset_pods{sidecarset="batch",state="failed"} 0
sidecarset_pods{sidecarset="batch",state="matched"} 1
sidecarset_pods{sidecarset="batch",state="missing"} 0
sidecarset_pods{sidecarset="batch",state="not_upgradable"} 0
sidecarset_pods{sidecarset="batch",state="outdated"} 0
sidecarset_pods{sidecarset="batch",state="ready"} 1
sidecarset_pods{sidecarset="batch",state="updated"} 1
sidecarset_pods{sidecarset="idle",state="failed"} 0
sidecarset_pods{sidecarset="idle",state="matched"} 0
sidecarset_pods{sidecarset="idle",state="missing"} 0
sidecarset_pods{sidecarset="idle",state="not_upgradable"} 0
sidecarset_pods{sidecarset="idle",state="outdated"} 0
sidecarset_pods{sidecarset="idle",state="ready"} 0
sidecarset_pods{sidecarset="idle",state="updated"} 0
sidecarset_pods{sidecarset="web",state="failed"} 4
sidecarset_pods{sidecarset="web",state="matched"} 12
sidecarset_pods{sidecarset="web",state="missing"} 2
sidecarset_pods{sidecarset="web",state="not_upgradable"} 1
sidecarset_pods{sidecarset="web",state="outdated"} 3
sidecarset_pods{sidecarset="web",state="ready"} 6
sidecarset_pods{sidecarset="web",state="updated"} 7
# HELP sidecarset_sidecar_resource_limits CPU (cores) and memory (bytes) limits of the SidecarSet's sidecars, summed over the matched pods that carry them; sidecars without a limit add nothing, and a resource no sidecar limits has no series.
# TYPE sidecarset_sidecar_resource_limits gauge
sidecarset_sidecar_resource_limits{resource="cpu",sidecarset="batch",unit="core"} 1
sidecarset_sidecar_resource_limits{resource="memory",sidecarset="web",unit="byte"} 1.34217728e+08
# HELP sidecarset_sidecar_resource_request_ratio The SidecarSet's sidecars' requests as a fraction (0 to 1) of all the requests of the matched pods that carry them, by resource.
# TYPE sidecarset_sidecar_resource_request_ratio gauge
sidecarset_sidecar_resource_request_ratio{resource="cpu",sidecarset="web"} 0.25
sidecarset_sidecar_resource_request_ratio{resource="memory",sidecarset="web"} 0.25
# HELP sidecarset_sidecar_resource_requests CPU (cores) and memory (bytes) the SidecarSet's sidecars request, summed over the matched pods that carry them.
# TYPE sidecarset_sidecar_resource_requests gauge
sidecarset_sidecar_resource_requests{resource="cpu",sidecarset="batch",unit="core"} 0.25
sidecarset_sidecar_resource_requests{resource="cpu",sidecarset="web",unit="core"} 0.5
sidecarset_sidecar_resource_requests{resource="memory",sidecarset="batch",unit="byte"} 3.3554432e+07
sidecarset_sidecar_resource_requests{resource="memory",sidecarset="web",unit="byte"} 6.7108864e+07
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A collection through a registry checks the series against the descriptors, and that no two repeat.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 21+2+2+4 {
		t.Errorf("the registry gathered %d series (error %v), want 29", n, err)
	}
	for i := range sets {
		if !reflect.DeepEqual(sets[i], before[i]) {
			t.Errorf("collecting modified the SidecarSet %s of the cache", sets[i].Name)
		}
	}
}

// TestMetricsNoneBeforeTheSidecarSetsAreListed: before the cache has listed the SidecarSets, or without a
// source, the collector builds no series, rather than report every SidecarSet gone; nor before the replica
// leads.
func TestMetricsNoneBeforeTheSidecarSetsAreListed(t *testing.T) {
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	c := &statusCollector{}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("without a source the collector built %d series, want none", n)
	}

	c.setSource(&fixedLookup{sets: []*appsv1alpha1.SidecarSet{set}, err: errNotSynced}, nil)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("with a source that errs the collector built %d series, want none", n)
	}

	index, err := newSidecarSetIndexOf([]appsv1alpha1.SidecarSet{*set})
	if err != nil {
		t.Fatal(err)
	}
	index.synced = func() bool { return false }
	c.setSource(index, nil)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("before the index synced the collector built %d series, want none", n)
	}
	index.synced = func() bool { return true }
	if n := testutil.CollectAndCount(c, statusMetricsNames...); n != 7 {
		t.Errorf("once the index synced the collector built %d series, want the 7 of the SidecarSet", n)
	}

	elected := make(chan struct{})
	c.setSource(index, elected)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("before the replica leads the collector built %d series, want none", n)
	}
	close(elected)
	if n := testutil.CollectAndCount(c, "sidecarset_pods"); n != 7 {
		t.Errorf("once the replica leads the collector built %d series, want the 7 of the SidecarSet", n)
	}

	c.setSource(nil, nil)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("with the source taken away the collector built %d series, want none", n)
	}
}

// TestMetricsAreServed: the operator's registry serves the status metrics of the source the reconciler sets.
func TestMetricsAreServed(t *testing.T) {
	err := metrics.Registry.Register(statusMetrics)
	if !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
		t.Errorf("registering the status collector again gave %v, want it registered already", err)
	}
}
