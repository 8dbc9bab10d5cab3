package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
)

// SidecarSetValidator is the validating admission webhook for SidecarSets: it refuses a SidecarSet whose
// sidecars no pod could carry, with the errors the API server would give for the pod, at the SidecarSet's
// own fields; and warns of the Pod Security levels its sidecars do not meet. It reads and writes nothing.
type SidecarSetValidator struct{}

var _ admission.Handler = &SidecarSetValidator{}

// Handle validates a SidecarSet being created, or updated with a changed spec.
func (v *SidecarSetValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	set := &appsv1alpha1.SidecarSet{}
	if err := json.Unmarshal(req.Object.Raw, set); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the SidecarSet: %w", err))
	}
	if req.Operation == admissionv1.Update {
		old := &appsv1alpha1.SidecarSet{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the stored SidecarSet: %w", err))
		}
		// A SidecarSet stored before this validation existed can still be labelled, annotated and have its
		// finalizer removed.
		if equality.Semantic.DeepEqual(old.Spec, set.Spec) {
			return admission.Allowed("the spec is unchanged")
		}
	}
	if errs := podvalidation.SidecarSet(&set.Spec); len(errs) > 0 {
		status := apierrors.NewInvalid(appsv1alpha1.GroupVersion.WithKind("SidecarSet").GroupKind(), set.Name, errs).ErrStatus
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
	}
	resp := admission.Allowed("")
	resp.Warnings = podvalidation.SidecarSetPodSecurity(&set.Spec)
	return resp
}
