package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// injectionError is the result label of a pod the webhook could not handle; the other results are the
// inject.Outcome values.
const injectionError = "error"

// injections counts, per SidecarSet, what the webhook did to the pods that SidecarSet selected. The
// controller-runtime webhook metrics (controller_runtime_webhook_latency_seconds and friends) are served from
// the same registry.
var injections = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "sidecarset_injections_total",
	Help: "Pods the injection webhook handled, by SidecarSet and result: injected, already_injected, conflict (some sidecars skipped for a name collision), skipped (no sidecar injected: the API server would have refused the pod with them) or error.",
}, []string{"sidecarset", "result"})

func init() {
	metrics.Registry.MustRegister(injections)
}

// Rollout metrics. sidecarset_pods is set from each SidecarSet's status and its series are deleted with the
// SidecarSet, so no series outlives what it describes.
var (
	sidecarSetPods = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sidecarset_pods",
		Help: "Pods per SidecarSet and state: matched, updated, ready, outdated, not_upgradable, missing, failed.",
	}, []string{"sidecarset", "state"})

	inplaceUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidecarset_inplace_updates_total",
		Help: "In-place sidecar updates written to pods, by SidecarSet and result: written or error.",
	}, []string{"sidecarset", "result"})

	evictionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidecarset_evictions_total",
		Help: "Pods evicted to be recreated (updateStrategy.recreate), by SidecarSet and result: evicted, refused (by a PodDisruptionBudget, tried again later) or error.",
	}, []string{"sidecarset", "result"})

	rolloutDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidecarset_rollout_duration_seconds",
		Help:    "Time from a rollout starting (Reconciling turning True) to its finishing (Ready again), by SidecarSet.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 s to about 2.3 h
	}, []string{"sidecarset"})
)

func init() {
	metrics.Registry.MustRegister(sidecarSetPods, inplaceUpdates, evictionsTotal, rolloutDuration, reconcilePhase)
}

// reconcilePhase splits controller_runtime_reconcile_time_seconds of the SidecarSet controller into its
// parts: gather (reading the caches), decide (step.Decide, pure) and apply (the revisions, the status write
// and the events; pod writes are sent without waiting). It is not per SidecarSet, so that its series stay
// three with any number of them.
var reconcilePhase = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "sidecarset_reconcile_phase_seconds",
	Help:    "Time a SidecarSet reconcile spent in each phase: gather (reading the caches), decide (the pure decision) and apply (revisions, status, events).",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to about 4 s
}, []string{"phase"})

// The sidecars' cost, set from each SidecarSet's status (status.sidecarResources) and deleted with the
// SidecarSet, as sidecarset_pods. The unit label is kube-state-metrics' for container resources, so the two
// join: core for CPU, byte for memory.
var (
	sidecarResourceRequests = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sidecarset_sidecar_resource_requests",
		Help: "CPU (cores) and memory (bytes) the SidecarSet's sidecars request, summed over the matched pods that carry them.",
	}, []string{"sidecarset", "resource", "unit"})

	sidecarResourceLimits = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sidecarset_sidecar_resource_limits",
		Help: "CPU (cores) and memory (bytes) limits of the SidecarSet's sidecars, summed over the matched pods that carry them; sidecars without a limit add nothing, and a resource no sidecar limits has no series.",
	}, []string{"sidecarset", "resource", "unit"})

	sidecarRequestRatio = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sidecarset_sidecar_resource_request_ratio",
		Help: "The SidecarSet's sidecars' requests as a fraction (0 to 1) of all the requests of the matched pods that carry them, by resource.",
	}, []string{"sidecarset", "resource"})
)

func init() {
	metrics.Registry.MustRegister(sidecarResourceRequests, sidecarResourceLimits, sidecarRequestRatio)
}

// recordSidecarResources sets the cost gauges of a SidecarSet from its status, and deletes the series of a
// resource its status does not report.
func recordSidecarResources(name string, r *appsv1alpha1.SidecarResources) {
	var requests, limits, podRequests corev1.ResourceList
	if r != nil {
		requests, limits, podRequests = r.Requests, r.Limits, r.PodRequests
	}
	for _, res := range []struct {
		name corev1.ResourceName
		unit string
	}{{corev1.ResourceCPU, "core"}, {corev1.ResourceMemory, "byte"}} {
		setOrDelete(sidecarResourceRequests, requests, res.name, name, string(res.name), res.unit)
		setOrDelete(sidecarResourceLimits, limits, res.name, name, string(res.name), res.unit)
		request, ok := requests[res.name]
		total := podRequests[res.name]
		if ok && !total.IsZero() {
			sidecarRequestRatio.WithLabelValues(name, string(res.name)).Set(request.AsApproximateFloat64() / total.AsApproximateFloat64())
		} else {
			sidecarRequestRatio.DeleteLabelValues(name, string(res.name))
		}
	}
}

// setOrDelete sets the gauge of labels to resource res of list, in base units, or deletes it when list has
// none.
func setOrDelete(g *prometheus.GaugeVec, list corev1.ResourceList, res corev1.ResourceName, labels ...string) {
	if q, ok := list[res]; ok {
		g.WithLabelValues(labels...).Set(q.AsApproximateFloat64())
	} else {
		g.DeleteLabelValues(labels...)
	}
}

// recordPods sets the pod gauges of a SidecarSet from its status.
func recordPods(name string, st *appsv1alpha1.SidecarSetStatus) {
	for state, n := range map[string]int32{
		"matched": st.MatchedPods, "updated": st.UpdatedPods, "ready": st.ReadyPods, "outdated": st.OutdatedPods,
		"not_upgradable": st.NotUpgradablePods, "missing": st.MissingPods, "failed": st.FailedPods,
	} {
		sidecarSetPods.WithLabelValues(name, state).Set(float64(n))
	}
}

// forgetSidecarSet deletes every series of a deleted SidecarSet.
func forgetSidecarSet(name string) {
	labels := prometheus.Labels{"sidecarset": name}
	sidecarSetPods.DeletePartialMatch(labels)
	sidecarResourceRequests.DeletePartialMatch(labels)
	sidecarResourceLimits.DeletePartialMatch(labels)
	sidecarRequestRatio.DeletePartialMatch(labels)
	inplaceUpdates.DeletePartialMatch(labels)
	evictionsTotal.DeletePartialMatch(labels)
	rolloutDuration.DeletePartialMatch(labels)
	injections.DeletePartialMatch(labels)
}
