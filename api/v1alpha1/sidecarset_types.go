package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SidecarSetSpec says which pods get which sidecars, and how a changed sidecar reaches running pods.
//
// +kubebuilder:validation:XValidation:rule="(has(self.containers) && size(self.containers) > 0) || (has(self.initContainers) && size(self.initContainers) > 0)",message="a SidecarSet must inject at least one container or initContainer"
// +kubebuilder:validation:XValidation:rule="!has(self.containers) || !has(self.initContainers) || !self.containers.exists(c, self.initContainers.exists(i, i.name == c.name))",message="container names must be unique across containers and initContainers"
type SidecarSetSpec struct {
	// selector picks the pods that get the sidecars, by their labels. It is required and must not be empty:
	// an empty selector would inject into every pod of the cluster.
	// +required
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must not be empty: set matchLabels or matchExpressions, an empty selector would inject into every pod"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn'] && has(e.values) && size(e.values) > 0) || (e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0)))",message="matchExpressions: the operator must be In or NotIn with values, or Exists or DoesNotExist without"
	Selector *metav1.LabelSelector `json:"selector"`

	// namespaceSelector limits injection to pods in namespaces whose labels match. When unset, pods of every
	// namespace are considered. The operator's own namespace and kube-system are never injected.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn'] && has(e.values) && size(e.values) > 0) || (e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0)))",message="matchExpressions: the operator must be In or NotIn with values, or Exists or DoesNotExist without"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// containers are the sidecar containers added to each matched pod's containers. Their images are updated
	// in place in running pods when they change here.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Containers []SidecarContainer `json:"containers,omitempty"`

	// initContainers are added to each matched pod's initContainers. One with restartPolicy: Always is a
	// native sidecar: it runs for the pod's lifetime and its image is updated in place like a container's.
	// Any other is a classic init container that runs to completion; it is injected into new pods only.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	InitContainers []SidecarContainer `json:"initContainers,omitempty"`

	// volumes are added to a matched pod only when one of its injected sidecars mounts them, and only when
	// the pod has no volume of the same name already (the pod's own volume wins).
	// +optional
	// +listType=map
	// +listMapKey=name
	Volumes []corev1.Volume `json:"volumes,omitempty"`

	// imagePullSecrets are added to each matched pod's imagePullSecrets, without duplicates. Keyed by name, so
	// a server-side apply of one entry merges with the others.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:XValidation:rule="self.all(s, has(s.name) && s.name != '')",message="each imagePullSecrets entry must name a Secret"
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// patchPodMetadata adds labels and annotations to each matched pod when the sidecars are injected.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	PatchPodMetadata []PodMetadataPatch `json:"patchPodMetadata,omitempty"`

	// injectionStrategy controls injection into new pods.
	// +optional
	InjectionStrategy InjectionStrategy `json:"injectionStrategy,omitempty"`

	// updateStrategy controls how a changed sidecar reaches pods that are already running.
	// +optional
	// +kubebuilder:default={}
	UpdateStrategy UpdateStrategy `json:"updateStrategy,omitempty"`

	// revisionHistoryLimit is how many old revisions of this SidecarSet are kept. A revision that a pod still
	// runs, or that injectionStrategy.revisionName pins, is kept whatever the limit. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="revisionHistoryLimit must be at least 1"
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
}

// SidecarContainer is a container to inject, with where and how to inject it.
//
// +kubebuilder:validation:XValidation:rule="has(self.image) && size(self.image) > 0",message="image is required: a sidecar without an image would make every matched pod invalid"
// +kubebuilder:validation:XValidation:rule="size(self.name) <= 63 && self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="name must be a DNS label: at most 63 lower case letters, digits or '-', starting and ending with a letter or digit"
type SidecarContainer struct {
	corev1.Container `json:",inline"`

	// podInjectPolicy says where the sidecar goes among the pod's own containers: BeforeAppContainers or
	// AfterAppContainers. When unset, sidecar containers and native sidecars go before the app's containers
	// (so they start first), and classic init containers go after the app's init containers.
	// +optional
	// +kubebuilder:validation:Enum=BeforeAppContainers;AfterAppContainers
	PodInjectPolicy PodInjectPolicy `json:"podInjectPolicy,omitempty"`

	// shareVolumePolicy Enabled also mounts every volumeMount of the pod's app containers into this sidecar
	// (a log shipper reading the app's log directory, for example). Defaults to Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	// +kubebuilder:validation:Enum=Enabled;Disabled
	ShareVolumePolicy ShareVolumePolicy `json:"shareVolumePolicy,omitempty"`

	// transferEnv copies environment variables from an app container of the pod into this sidecar. A
	// variable the source container does not have is skipped.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	TransferEnv []TransferEnvVar `json:"transferEnv,omitempty"`
}

// PodInjectPolicy places a sidecar relative to the pod's own containers.
type PodInjectPolicy string

const (
	// BeforeAppContainers places the sidecar ahead of the pod's own containers.
	BeforeAppContainers PodInjectPolicy = "BeforeAppContainers"
	// AfterAppContainers places the sidecar behind the pod's own containers.
	AfterAppContainers PodInjectPolicy = "AfterAppContainers"
)

// ShareVolumePolicy says whether a sidecar also mounts the app containers' volume mounts.
type ShareVolumePolicy string

const (
	// ShareVolumePolicyEnabled mounts every app container's volumeMounts into the sidecar too.
	ShareVolumePolicyEnabled ShareVolumePolicy = "Enabled"
	// ShareVolumePolicyDisabled mounts only the sidecar's own volumeMounts.
	ShareVolumePolicyDisabled ShareVolumePolicy = "Disabled"
)

// TransferEnvVar names an environment variable of an app container to copy into a sidecar.
type TransferEnvVar struct {
	// sourceContainerName is the app container to copy the variable from.
	// +required
	// +kubebuilder:validation:MinLength=1
	SourceContainerName string `json:"sourceContainerName"`

	// envName is the name of the variable to copy.
	// +required
	// +kubebuilder:validation:MinLength=1
	EnvName string `json:"envName"`
}

// PodMetadataPatch is a set of labels and annotations to add to matched pods.
//
// +kubebuilder:validation:XValidation:rule="has(self.labels) || has(self.annotations)",message="each patchPodMetadata entry must set labels or annotations"
type PodMetadataPatch struct {
	// labels to add to the pod.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('sidecarset.io/'))",message="labels with the sidecarset.io/ prefix are reserved for the operator"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="label keys must be qualified names, such as team or example.com/team"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].matches('^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$'))",message="label values must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	Labels map[string]LabelValue `json:"labels,omitempty"`

	// annotations to add to the pod.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('sidecarset.io/'))",message="annotations with the sidecarset.io/ prefix are reserved for the operator"
	Annotations map[string]string `json:"annotations,omitempty"`

	// policy says what happens when the pod already has one of these keys: Retain keeps the pod's own value,
	// Overwrite replaces it. Defaults to Retain.
	// +optional
	// +kubebuilder:default=Retain
	// +kubebuilder:validation:Enum=Retain;Overwrite
	Policy PodMetadataPatchPolicy `json:"policy,omitempty"`
}

// LabelValue is the value of a pod label: at most 63 characters.
// +kubebuilder:validation:MaxLength=63
type LabelValue string

// PodMetadataPatchPolicy says whether a metadata patch may replace a pod's own value.
type PodMetadataPatchPolicy string

const (
	// PodMetadataPatchRetain never replaces a value the pod already has.
	PodMetadataPatchRetain PodMetadataPatchPolicy = "Retain"
	// PodMetadataPatchOverwrite replaces the pod's value.
	PodMetadataPatchOverwrite PodMetadataPatchPolicy = "Overwrite"
)

// InjectionStrategy controls injection into new pods.
type InjectionStrategy struct {
	// paused stops injecting into new pods. Pods that already have the sidecars keep them.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// revisionName is the revision new pods are injected with instead of the latest: the name of a stored
	// revision of this SidecarSet (one of its ControllerRevisions, as status.revisions lists them). It decides
	// only what a new pod gets at creation: the rollout then moves new pods, like every matched pod, to the
	// latest revision under updateStrategy (in place when the two differ only in images, resources and metadata; otherwise they are
	// reported NotUpgradable). To keep new pods on the pinned revision, pause the rollout
	// (updateStrategy.paused, or type NotUpdate), or limit it: updateStrategy.selector updates only the pods
	// it matches, and updateStrategy.partition holds back that many pods, the last in update order. A name
	// that matches no stored revision gives new pods the latest revision, and the SidecarSet is Stalled with
	// reason RevisionNotFound until the name is corrected or removed. A rollback by the failure policy comes
	// first: new pods get the revision it returned to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="revisionName must be a DNS subdomain name: lower case letters, digits, '-' and '.', starting and ending with a letter or digit"
	RevisionName *string `json:"revisionName,omitempty"`
}

// UpdateStrategyType says whether running pods are updated.
// +kubebuilder:validation:Enum=RollingUpdate;NotUpdate
type UpdateStrategyType string

const (
	// RollingUpdateStrategyType updates the sidecars of running pods in place, batch by batch.
	RollingUpdateStrategyType UpdateStrategyType = "RollingUpdate"
	// NotUpdateStrategyType injects new pods only; running pods keep the sidecar they were created with.
	NotUpdateStrategyType UpdateStrategyType = "NotUpdate"
)

// UpdateStrategy controls how a changed sidecar reaches running pods.
//
// +kubebuilder:validation:XValidation:rule="!has(self.partition) || !has(self.selector) || (type(self.partition) == int ? self.partition == 0 : self.partition == '0%')",message="partition and selector cannot both be set: use partition to hold back a number of pods, or selector to choose the pods that update"
// +kubebuilder:validation:XValidation:rule="!has(self.recreate) || !has(self.recreate.policy) || self.recreate.policy != 'Evict' || !has(self.type) || self.type != 'NotUpdate'",message="recreate.policy Evict cannot be set with type NotUpdate, which updates no running pod"
type UpdateStrategy struct {
	// type is RollingUpdate (update running pods in place, batch by batch) or NotUpdate (inject new pods only).
	// Defaults to RollingUpdate.
	// +optional
	// +kubebuilder:default=RollingUpdate
	Type UpdateStrategyType `json:"type,omitempty"`

	// paused stops updating running pods; updates already in flight finish. Pausing on purpose is not a
	// failure: the SidecarSet stays Ready.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// maxUnavailable is the most matched pods that may be unavailable at once during an update, counting
	// pods that are unavailable for any reason: an integer, or a percentage of the matched pods rounded up.
	// At least 1. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="maxUnavailable must be an integer of at least 1 or a percentage from 1% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// maxUnavailablePerWorkload is the most matched pods of one workload that may be unavailable at once during
	// an update, counting pods unavailable for any reason: an integer, or a percentage of that workload's
	// matched pods rounded up, at least 1. A workload is the pods' controller: the Deployment of a
	// ReplicaSet's pods, a StatefulSet, a DaemonSet, a Job, or any other owner; a pod without one is a
	// workload of its own. Defaults to 25%, the maxUnavailable a Deployment's own rollout uses: a workload
	// of 2 to 4 replicas loses at most 1 at a time and keeps serving, one of 8 at most 2, and a workload of
	// a single replica is updated alone, as its own rollout would update it. It applies with maxUnavailable,
	// which bounds the whole fleet.
	// +optional
	// +kubebuilder:default="25%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="maxUnavailablePerWorkload must be an integer of at least 1 or a percentage from 1% to 100%"
	MaxUnavailablePerWorkload *intstr.IntOrString `json:"maxUnavailablePerWorkload,omitempty"`

	// partition is how many matched pods stay on older revisions: an integer, or a percentage of the matched
	// pods rounded up. The pods last in update order are the ones held back. Cannot be set with selector,
	// except as 0 or 0%, which hold nothing back.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="partition must be an integer of at least 0 or a percentage from 0% to 100%"
	Partition *intstr.IntOrString `json:"partition,omitempty"`

	// selector limits updates to the matched pods with these labels; the others stay on their revision.
	// Cannot be set with a partition other than 0 or 0%.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn'] && has(e.values) && size(e.values) > 0) || (e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0)))",message="matchExpressions: the operator must be In or NotIn with values, or Exists or DoesNotExist without"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// priorityStrategy updates pods matching higher-weighted selectors first.
	// +optional
	PriorityStrategy *UpdatePriorityStrategy `json:"priorityStrategy,omitempty"`

	// scatterStrategy spreads each batch across pods with these labels, so that no single label value (a
	// zone, an app) has all its pods updated at once.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ScatterStrategy []UpdateScatterTerm `json:"scatterStrategy,omitempty"`

	// minReadySeconds is how long an updated sidecar must be ready before its pod counts as available again.
	// Defaults to 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// progressDeadlineSeconds is how long the rollout may go without progress (a pod becoming updated and
	// available) before the SidecarSet is Stalled; it is also how long an updated sidecar may take to become
	// ready before its pod counts as failed. Defaults to 600.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// failurePolicy says what to do when updated sidecars fail.
	// +optional
	// +kubebuilder:default={}
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`

	// recreate says whether the rollout replaces the pods it cannot update in place: pods whose revision
	// differs from the latest in more than images, resources and metadata (a command, an environment variable, a port,
	// a volume, a sidecar added or removed), and pods without the sidecars (created before the SidecarSet or
	// while its webhook was unreachable). Such a pod is evicted through the Eviction API, so every
	// PodDisruptionBudget is honoured, and its controller creates the replacement, which the webhook injects
	// with the latest revision. Only pods of a ReplicaSet, StatefulSet or DaemonSet are evicted; bare pods
	// and Job pods are reported, never evicted. Evictions take the same budgets as in-place updates
	// (maxUnavailable, maxUnavailablePerWorkload, partition, selector, priority, pause, failure policy); an
	// evicted pod counts as unavailable until its replacement is ready. Unset, nothing is evicted.
	// +optional
	Recreate *RecreateStrategy `json:"recreate,omitempty"`
}

// RecreateStrategy says how the rollout replaces the pods it cannot update in place.
type RecreateStrategy struct {
	// policy is Never (the default: report such pods, never evict them) or Evict.
	// +optional
	// +kubebuilder:default=Never
	Policy RecreatePolicy `json:"policy,omitempty"`

	// maxPerWorkload is the most pods of one workload (Deployment, StatefulSet, DaemonSet) that are evicted
	// and not yet replaced by a ready pod at any time, on top of maxUnavailablePerWorkload: a workload without
	// a PodDisruptionBudget is never emptied. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	MaxPerWorkload *int32 `json:"maxPerWorkload,omitempty"`
}

// RecreatePolicy says whether pods the rollout cannot update in place are replaced.
// +kubebuilder:validation:Enum=Never;Evict
type RecreatePolicy string

const (
	// RecreateNever reports pods that cannot be updated in place and leaves them running.
	RecreateNever RecreatePolicy = "Never"
	// RecreateEvict evicts them, within the rollout's budgets, for their controllers to recreate.
	RecreateEvict RecreatePolicy = "Evict"
)

// UpdatePriorityStrategy orders updates by weighted selectors.
type UpdatePriorityStrategy struct {
	// weightPriority lists selectors with weights; a pod gets the weight of the first term it matches (0 if
	// none) and pods with higher weights are updated first.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	WeightPriority []UpdatePriorityWeightTerm `json:"weightPriority"`
}

// UpdatePriorityWeightTerm gives the pods matching a selector a weight.
type UpdatePriorityWeightTerm struct {
	// weight from 1 to 100; higher is updated first.
	// +required
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 100",message="weight must be between 1 and 100"
	Weight int32 `json:"weight"`

	// matchSelector picks the pods that get this weight.
	// +required
	MatchSelector metav1.LabelSelector `json:"matchSelector"`
}

// UpdateScatterTerm is a pod label whose pods are spread across batches.
type UpdateScatterTerm struct {
	// key of the pod label.
	// +required
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`

	// value of the pod label.
	// +required
	Value string `json:"value"`
}

// FailureAction is what the operator does when too many updated sidecars fail.
// +kubebuilder:validation:Enum=Pause;Rollback
type FailureAction string

const (
	// FailureActionPause stops the rollout and marks the SidecarSet Stalled.
	FailureActionPause FailureAction = "Pause"
	// FailureActionRollback returns failed and updated pods to the previous revision's images in place and
	// pins injection to that revision.
	FailureActionRollback FailureAction = "Rollback"
)

// FailurePolicy says what to do when updated sidecars fail.
type FailurePolicy struct {
	// maxFailedPods is how many pods may fail (an updated sidecar in ImagePullBackOff, ErrImagePull or
	// CrashLoopBackOff, or not ready within progressDeadlineSeconds) before action is taken: an integer, or
	// a percentage of the matched pods rounded up. At least 1. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="maxFailedPods must be an integer of at least 1 or a percentage from 1% to 100%"
	MaxFailedPods *intstr.IntOrString `json:"maxFailedPods,omitempty"`

	// action is Pause (stop the rollout) or Rollback (return the pods to the previous revision in place and
	// pin injection to it). Either way the SidecarSet is Stalled until the spec changes. Defaults to Pause.
	// +optional
	// +kubebuilder:default=Pause
	Action FailureAction `json:"action,omitempty"`
}

// SidecarSetStatus reports how far the matched pods are from the latest revision.
type SidecarSetStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// latestRevision is the name of the ControllerRevision of the current spec.
	// +optional
	LatestRevision string `json:"latestRevision,omitempty"`

	// rolledBackTo is the revision the failure policy (action Rollback) returned the pods to. While it is set
	// for the observed generation, pods are kept on it and new pods are injected with it; changing the spec
	// ends it.
	// +optional
	RolledBackTo string `json:"rolledBackTo,omitempty"`

	// matchedPods is how many pods the selectors match.
	// +optional
	MatchedPods int32 `json:"matchedPods"`

	// updatedPods is how many matched pods run the latest revision.
	// +optional
	UpdatedPods int32 `json:"updatedPods"`

	// readyPods is how many matched pods are ready.
	// +optional
	ReadyPods int32 `json:"readyPods"`

	// updatedReadyPods is how many matched pods run the latest revision and are ready, their in-place update
	// (if any) finished: the sidecar restarted on its new image.
	// +optional
	UpdatedReadyPods int32 `json:"updatedReadyPods"`

	// driftedPods is how many matched pods do not run the latest revision: outdatedPods + notUpgradablePods +
	// missingPods.
	// +optional
	DriftedPods int32 `json:"driftedPods"`

	// outdatedPods is how many matched pods run an older revision that differs only in images, resources and metadata, so they can
	// be updated in place.
	// +optional
	OutdatedPods int32 `json:"outdatedPods"`

	// notUpgradablePods is how many matched pods run an older revision that differs in more than images, resources and metadata (a
	// new sidecar, a changed command, a new volume): they get the latest revision only when recreated.
	// +optional
	NotUpgradablePods int32 `json:"notUpgradablePods"`

	// missingPods is how many matched pods have none of this SidecarSet's sidecars: created before it, created
	// while injection was paused, skipped because of a name conflict, or skipped at injection because the API
	// server would have refused the pod with them (the Drifted reason InjectionSkipped).
	// +optional
	MissingPods int32 `json:"missingPods"`

	// failedPods is how many matched pods have an updated sidecar that failed: ImagePullBackOff, ErrImagePull,
	// CrashLoopBackOff, or not ready within progressDeadlineSeconds.
	// +optional
	FailedPods int32 `json:"failedPods"`

	// revisions says how many matched pods run each revision, newest first.
	// +optional
	// +listType=map
	// +listMapKey=name
	Revisions []RevisionPodCount `json:"revisions,omitempty"`

	// sidecarResources is what the sidecars take of the matched pods that carry them: their CPU and memory
	// requests and limits summed over those pods, and their share of those pods' requests. Absent while no
	// matched pod carries a sidecar.
	// +optional
	SidecarResources *SidecarResources `json:"sidecarResources,omitempty"`

	// collisionCount counts hash collisions between revision names; it salts the next revision hash.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`

	// conditions are Ready, Reconciling, Stalled and Drifted, in the form kstatus, kubectl wait, Argo CD and
	// Flux read.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SidecarResources is what a SidecarSet's sidecars take of the matched pods that carry them, as the pods'
// specs say (after any in-place resize), whatever revision each pod runs. Quantities are written as in a
// container's resources: CPU in cores ("2500m"), memory in bytes ("1600Mi"). A limit without a request
// requests the limit, as the API server defaults it. Classic init containers (without restartPolicy Always)
// have exited before the app starts and are not counted; native sidecars are. Pods whose sidecars were
// skipped at injection, or that never got them, are not counted.
type SidecarResources struct {
	// pods is how many matched pods carry at least one of the sidecars: the pods summed below.
	Pods int32 `json:"pods"`

	// requests are the sidecars' CPU and memory requests, summed over those pods.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`

	// limits are the sidecars' CPU and memory limits, summed over those pods; a sidecar without a limit adds
	// nothing, and a resource no sidecar limits is absent.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`

	// podRequests are the CPU and memory requests of every container of those pods that runs beside the app
	// (its containers and native sidecars, the sidecars included), summed: what requestShare is a share of.
	// +optional
	PodRequests corev1.ResourceList `json:"podRequests,omitempty"`

	// requestShare is the sidecars' requests as a share of podRequests, per resource.
	// +optional
	RequestShare ResourceShare `json:"requestShare,omitempty"`
}

// ResourceShare is a share of CPU and of memory, each a percentage rounded to one decimal place, halves
// up, such as "12.5%"; a resource the pods request none of is absent.
type ResourceShare struct {
	// cpu is the share of the CPU requests.
	// +optional
	CPU string `json:"cpu,omitempty"`

	// memory is the share of the memory requests.
	// +optional
	Memory string `json:"memory,omitempty"`
}

// RevisionPodCount is how many matched pods run one revision.
type RevisionPodCount struct {
	// name of the ControllerRevision.
	// +required
	Name string `json:"name"`

	// pods running it.
	// +required
	Pods int32 `json:"pods"`
}

// SidecarSet injects sidecar containers into the pods its selectors match, updates them in place when their
// images change, and reports the drift of the matched pods from its latest revision.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=scs
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedPods`,description="Pods the selectors match"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedPods`,description="Matched pods on the latest revision"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyPods`,description="Matched pods that are ready"
// +kubebuilder:printcolumn:name="Drifted",type=integer,JSONPath=`.status.driftedPods`,description="Matched pods not on the latest revision"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Latest Revision",type=string,JSONPath=`.status.latestRevision`,priority=1,description="ControllerRevision of the current spec"
// +kubebuilder:printcolumn:name="Sidecar CPU",type=string,JSONPath=`.status.sidecarResources.requests.cpu`,priority=1,description="CPU the sidecars request, summed over the matched pods that carry them"
// +kubebuilder:printcolumn:name="CPU Share",type=string,JSONPath=`.status.sidecarResources.requestShare.cpu`,priority=1,description="The sidecars' share of the CPU those pods request"
// +kubebuilder:printcolumn:name="Sidecar Memory",type=string,JSONPath=`.status.sidecarResources.requests.memory`,priority=1,description="Memory the sidecars request, summed over the matched pods that carry them"
// +kubebuilder:printcolumn:name="Memory Share",type=string,JSONPath=`.status.sidecarResources.requestShare.memory`,priority=1,description="The sidecars' share of the memory those pods request"
type SidecarSet struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to inject and how to update it.
	// +required
	Spec SidecarSetSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status SidecarSetStatus `json:"status,omitempty"`
}

// SidecarSetList is a list of SidecarSets.
//
// +kubebuilder:object:root=true
type SidecarSetList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SidecarSet `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SidecarSet{}, &SidecarSetList{})
}
