package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// injectionError is the result label of a pod the webhook could not handle; the other results are the
// inject.Outcome values.
const injectionError = "error"

// injections counts, per SidecarSet, what the webhook did to the pods that SidecarSet selected. The
// controller-runtime webhook metrics (controller_runtime_webhook_latency_seconds and friends) are served from
// the same registry.
var injections = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "sidecarset_injections_total",
	Help: "Pods the injection webhook handled, by SidecarSet and result: injected, already_injected, conflict (some sidecars skipped for a name collision) or error.",
}, []string{"sidecarset", "result"})

func init() {
	metrics.Registry.MustRegister(injections)
}
