// Package v1alpha1 contains the SidecarSet API of the apps.sidecarset.io group.
//
// A SidecarSet injects sidecar containers into the pods its selectors match, updates those sidecars in place
// when their images change, and reports in its status how far the matched pods have drifted from the latest
// revision.
//
// +kubebuilder:object:generate=true
// +groupName=apps.sidecarset.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the SidecarSet API.
	GroupVersion = schema.GroupVersion{Group: "apps.sidecarset.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
