package v1alpha1

// The defaults of the optional fields the operator reads. The API server sets them (the +kubebuilder:default
// markers on the fields, which TestDefaultsMatchTheCRD holds equal to these); the operator applies them too,
// for an object read from a server that did not (one that predates the CRD's defaults).
const (
	// DefaultRevisionHistoryLimit is spec.revisionHistoryLimit when unset.
	DefaultRevisionHistoryLimit = 10
	// DefaultMaxUnavailable is updateStrategy.maxUnavailable when unset.
	DefaultMaxUnavailable = 1
	// DefaultMaxUnavailablePerWorkload is updateStrategy.maxUnavailablePerWorkload when unset.
	DefaultMaxUnavailablePerWorkload = "25%"
	// DefaultProgressDeadlineSeconds is updateStrategy.progressDeadlineSeconds when unset.
	DefaultProgressDeadlineSeconds = 600
	// DefaultMaxFailedPods is updateStrategy.failurePolicy.maxFailedPods when unset.
	DefaultMaxFailedPods = 1
	// DefaultRecreateMaxPerWorkload is updateStrategy.recreate.maxPerWorkload when unset.
	DefaultRecreateMaxPerWorkload = 1
)
