package benchmark

import (
	"errors"
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPercentileIsTheNearestRankAtOrBelow(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, c := range []struct {
		values  []float64
		q, want float64
	}{
		{hundred, 0.5, 51},
		{hundred, 0.99, 100},
		{hundred, 0.9, 91},
		{[]float64{7}, 0.99, 7},
		{[]float64{1, 2}, 0.5, 2},
	} {
		if got := percentile(c.values, c.q); got != c.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(c.values), c.q, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("percentile of none = %v, want NaN", got)
	}
}

func TestAPIMetricsCountResizesApartFromPodWrites(t *testing.T) {
	raw := []byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="PATCH",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="UPDATE",version="v1"} 1
apiserver_request_total{code="409",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="PATCH",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",group="",resource="pods",scope="resource",subresource="resize",verb="PATCH",version="v1"} 5
apiserver_request_total{code="409",component="apiserver",group="",resource="pods",scope="resource",subresource="resize",verb="PATCH",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",group="",resource="pods",scope="resource",subresource="resize",verb="GET",version="v1"} 3
`)
	m, err := parseAPIMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.podWrites != 8 || m.podWriteConflicts != 2 || m.resizeWrites != 5 || m.resizeWriteConflicts != 1 {
		t.Errorf("pod writes %v (409: %v), resizes %v (409: %v); want 8 (2), 5 (1)",
			m.podWrites, m.podWriteConflicts, m.resizeWrites, m.resizeWriteConflicts)
	}
}

func TestPodWatchFollowsAResize(t *testing.T) {
	pod := func(name, spec, status string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
		p.Spec.Containers = []corev1.Container{{Name: "app"}, {Name: sidecarName,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(spec)}}}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app"}, {Name: sidecarName,
			Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(status)}}}}
		return p
	}
	w := &podWatch{resizing: map[string]bool{}, resized: map[string]bool{}, n: 2}
	now := time.Now()
	w.observeResize(pod("a", "10m", "10m"), now)
	w.observeResize(pod("b", "10m", "10m"), now)
	w.startResize(resource.MustParse("20m"))
	w.observeResize(pod("a", "20m", "10m"), now)
	w.observeResize(pod("b", "20m", "10m"), now)
	if done, inFlight := w.resizeProgress(); done != 0 || inFlight != 2 {
		t.Errorf("after both resizes were written: %d resized, %d in flight; want 0, 2", done, inFlight)
	}
	w.observeResize(pod("a", "20m", "0.02"), now) // the same quantity, written otherwise
	if !w.resizeDoneAt().IsZero() {
		t.Error("done with one pod of two resized")
	}
	w.observeResize(pod("b", "20m", "20m"), now.Add(time.Second))
	if done, inFlight := w.resizeProgress(); done != 2 || inFlight != 0 {
		t.Errorf("after both were resized: %d resized, %d in flight; want 2, 0", done, inFlight)
	}
	if got := w.resizeDoneAt(); !got.Equal(now.Add(time.Second)) {
		t.Errorf("done at %v, want %v", got, now.Add(time.Second))
	}
	if got := w.mostResizing(); got != 2 {
		t.Errorf("most being resized at once = %d, want 2", got)
	}
	noStatus := pod("c", "20m", "20m")
	noStatus.Status.ContainerStatuses[1].Resources = nil
	if spec, status := cpuRequests(noStatus, sidecarName); spec.Cmp(resource.MustParse("20m")) != 0 || !status.IsZero() {
		t.Errorf("a status without resources: spec %v, status %v; want 20m, 0", &spec, &status)
	}
}

// TestOperatorMetricsBeforeTheFirstReconcile checks that an operator's metrics without the SidecarSet
// controller's reconcile histogram (an operator just started, not reconciled yet) read as errNoReconcileMetrics,
// which the paired phase waits out, and that the histogram is read once it shows.
func TestOperatorMetricsBeforeTheFirstReconcile(t *testing.T) {
	started := "# TYPE controller_runtime_reconcile_total counter\ncontroller_runtime_reconcile_total{controller=\"sidecarset\",result=\"success\"} 0\n"
	if _, err := parseOperatorMetrics(started); !errors.Is(err, errNoReconcileMetrics) {
		t.Fatalf("metrics before the first reconcile: error %v, want errNoReconcileMetrics", err)
	}
	reconciled := started + "# TYPE controller_runtime_reconcile_time_seconds histogram\n" +
		"controller_runtime_reconcile_time_seconds_bucket{controller=\"sidecarset\",le=\"+Inf\"} 3\n" +
		"controller_runtime_reconcile_time_seconds_sum{controller=\"sidecarset\"} 0.03\n" +
		"controller_runtime_reconcile_time_seconds_count{controller=\"sidecarset\"} 3\n"
	m, err := parseOperatorMetrics(reconciled)
	if err != nil || m.reconciles != 3 {
		t.Fatalf("metrics after three reconciles: %+v, %v", m, err)
	}
}

// TestOperatorMetricsReadThePodWebhooksHandling checks that the pod webhook's own latency histogram is read,
// and no other webhook's.
func TestOperatorMetricsReadThePodWebhooksHandling(t *testing.T) {
	raw := "# TYPE controller_runtime_reconcile_time_seconds histogram\n" +
		"controller_runtime_reconcile_time_seconds_bucket{controller=\"sidecarset\",le=\"+Inf\"} 1\n" +
		"controller_runtime_reconcile_time_seconds_sum{controller=\"sidecarset\"} 0.01\n" +
		"controller_runtime_reconcile_time_seconds_count{controller=\"sidecarset\"} 1\n" +
		"# TYPE controller_runtime_webhook_latency_seconds histogram\n" +
		"controller_runtime_webhook_latency_seconds_bucket{webhook=\"/inject-v1-pod\",le=\"+Inf\"} 4\n" +
		"controller_runtime_webhook_latency_seconds_sum{webhook=\"/inject-v1-pod\"} 0.02\n" +
		"controller_runtime_webhook_latency_seconds_count{webhook=\"/inject-v1-pod\"} 4\n" +
		"controller_runtime_webhook_latency_seconds_bucket{webhook=\"/validate-sidecarset\",le=\"+Inf\"} 9\n" +
		"controller_runtime_webhook_latency_seconds_sum{webhook=\"/validate-sidecarset\"} 9\n" +
		"controller_runtime_webhook_latency_seconds_count{webhook=\"/validate-sidecarset\"} 9\n"
	m, err := parseOperatorMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.injections != 4 || m.injectSeconds != 0.02 {
		t.Fatalf("the pod webhook's handling read as %v requests in %v s, want 4 in 0.02", m.injections, m.injectSeconds)
	}
	if d := m.minus(operatorMetrics{injections: 1, injectSeconds: 0.005}); d.injections != 3 || d.injectSeconds != 0.015 {
		t.Fatalf("the difference of two scrapes: %v requests in %v s, want 3 in 0.015", d.injections, d.injectSeconds)
	}
}
