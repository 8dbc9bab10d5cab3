package v1alpha1

// Condition types of a SidecarSet. They follow kstatus, so kubectl wait, Argo CD and Flux read them: Ready is
// always present; Reconciling and Stalled are present only while True; Drifted says whether any matched pod
// is off the latest revision.
const (
	// ConditionReady is True when the rollout reached its target: every pod the update strategy allows to be
	// updated is updated and available, and nothing failed. An intended pause or partition is not a failure.
	ConditionReady = "Ready"

	// ConditionReconciling is True while pods are being updated.
	ConditionReconciling = "Reconciling"

	// ConditionStalled is True when the rollout cannot progress without a human: the progress deadline
	// passed, the failure policy tripped, or the pinned revision does not exist.
	ConditionStalled = "Stalled"

	// ConditionDrifted is True when a matched pod does not run the latest revision; its reason is the main
	// cause.
	ConditionDrifted = "Drifted"
)

// Reasons of the Ready condition.
const (
	// ReasonRolloutComplete: every matched pod runs the latest revision or is held back on purpose
	// (updateStrategy.partition or selector), and every update made has landed.
	ReasonRolloutComplete = "RolloutComplete"

	// ReasonRollingOut: pods are being updated.
	ReasonRollingOut = "RollingOut"

	// ReasonWebhookNotRegistered: the SidecarSet injects, and its entry is not (yet) in the operator's
	// MutatingWebhookConfiguration, so the API server does not call the webhook for its pods: new pods get no
	// sidecars. Reconciling is True with the same reason until the entry is written.
	ReasonWebhookNotRegistered = "WebhookNotRegistered"
)

// Reasons of the Stalled condition. Besides these, pods that cannot reach the latest revision without help
// stall a SidecarSet with the Drifted reason that names them (ReasonNotUpgradable, ReasonMissingSidecar,
// ReasonConflict, ReasonInjectionSkipped), and so does a rollback (ReasonRolledBack).
const (
	// ReasonProgressDeadlineExceeded: no pod became updated and available for progressDeadlineSeconds.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"

	// ReasonFailurePolicyPaused: maxFailedPods pods failed and the failure policy paused the rollout.
	ReasonFailurePolicyPaused = "FailurePolicyPaused"

	// ReasonRevisionNotFound: injectionStrategy.revisionName names a revision that does not exist.
	ReasonRevisionNotFound = "RevisionNotFound"
)

// Reasons of the Drifted condition: the main cause of the drift, or ReasonUpToDate when there is none.
const (
	// ReasonUpToDate: every matched pod runs the latest revision.
	ReasonUpToDate = "UpToDate"

	// ReasonOutdated: pods run an older revision that can be updated in place.
	ReasonOutdated = "Outdated"

	// ReasonNotUpgradable: pods run an older revision that differs in more than images, resources and metadata; they need to be
	// recreated to get the latest revision.
	ReasonNotUpgradable = "NotUpgradable"

	// ReasonMissingSidecar: matched pods were never injected.
	ReasonMissingSidecar = "MissingSidecar"

	// ReasonConflict: a sidecar was not injected into pods because its name collides with a container of the
	// pod or a sidecar of another SidecarSet.
	ReasonConflict = "Conflict"

	// ReasonInjectionSkipped: the sidecars were not injected into pods because the API server would have
	// refused the pod with them: the pod would have been invalid (a sidecar mounting a volume the pod does
	// not have, a port or name clash with an app container), or would not have met the Pod Security level
	// its namespace enforces. The pods run without this SidecarSet's sidecars.
	ReasonInjectionSkipped = "InjectionSkipped"

	// ReasonPartitioned: pods are held back on purpose by updateStrategy.partition or updateStrategy.selector.
	ReasonPartitioned = "Partitioned"

	// ReasonPaused: pods are behind because updateStrategy.paused is set, or updateStrategy.type is NotUpdate.
	ReasonPaused = "Paused"

	// ReasonRolledBack: the failure policy rolled the pods back to the previous revision and pinned injection
	// to it; the rollout is Stalled until the spec changes.
	ReasonRolledBack = "RolledBack"
)
