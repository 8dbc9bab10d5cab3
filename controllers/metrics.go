package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
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

	rolloutDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidecarset_rollout_duration_seconds",
		Help:    "Time from a rollout starting (Reconciling turning True) to its finishing (Ready again), by SidecarSet.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 s to about 2.3 h
	}, []string{"sidecarset"})
)

func init() {
	metrics.Registry.MustRegister(sidecarSetPods, inplaceUpdates, rolloutDuration)
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
	inplaceUpdates.DeletePartialMatch(labels)
	rolloutDuration.DeletePartialMatch(labels)
	injections.DeletePartialMatch(labels)
}
