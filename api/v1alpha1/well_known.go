package v1alpha1

// Labels and annotations the operator reads and writes. The sidecarset.io/ prefix is reserved: a SidecarSet
// cannot set such keys through patchPodMetadata.
const (
	// InjectLabel on a pod set to "false" opts the pod out of every SidecarSet: the API server does not even
	// call the operator's webhook for it.
	InjectLabel = "sidecarset.io/inject"

	// StateAnnotation on a pod records, per SidecarSet, the revision injected and the image of each injected
	// sidecar container, as JSON. Status, drift and in-place updates are computed from it.
	StateAnnotation = "sidecarset.io/state"

	// SidecarSetNameLabel on a ControllerRevision names the SidecarSet it belongs to.
	SidecarSetNameLabel = "sidecarset.io/sidecarset-name"

	// RevisionHashLabel on a ControllerRevision holds the revision's hash.
	RevisionHashLabel = "sidecarset.io/revision-hash"
)
