package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
)

// SidecarSetValidator is the validating admission webhook for SidecarSets: it refuses a SidecarSet whose
// sidecars no pod could carry, with the errors the API server would give for the pod, at the SidecarSet's
// own fields; warns of the Pod Security levels its sidecars do not meet; and warns when a change strips a
// sidecar of fields it had, the mark of a JSON merge patch that replaced a whole list to change one image.
// It reads and writes nothing.
type SidecarSetValidator struct{}

var _ admission.Handler = &SidecarSetValidator{}

// Handle validates a SidecarSet being created, or updated with a changed spec.
func (v *SidecarSetValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	set := &appsv1alpha1.SidecarSet{}
	if err := json.Unmarshal(req.Object.Raw, set); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the SidecarSet: %w", err))
	}
	var old *appsv1alpha1.SidecarSet
	if req.Operation == admissionv1.Update {
		old = &appsv1alpha1.SidecarSet{}
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
	if old != nil {
		resp.Warnings = removedSidecarFields(&old.Spec, &set.Spec)
	}
	resp.Warnings = append(resp.Warnings, podvalidation.SidecarSetPodSecurity(&set.Spec)...)
	return resp
}

// removedSidecarFields warns, for each sidecar that before and after both have (containers and
// initContainers, matched by name), of the fields the sidecar had set before and has empty after. A JSON merge patch
// replaces a list whole: `kubectl patch --type merge` of containers with just a name and an image drops
// everything else of the sidecar, and its pods would get it so. Each warning names the path, the fields in
// the order of the sidecar's schema, and the safe ways to change one field.
func removedSidecarFields(before, after *appsv1alpha1.SidecarSetSpec) []string {
	var warnings []string
	for _, list := range []struct {
		path          string
		before, after []appsv1alpha1.SidecarContainer
	}{
		{"spec.containers", before.Containers, after.Containers},
		{"spec.initContainers", before.InitContainers, after.InitContainers},
	} {
		for i := range list.after {
			n := &list.after[i]
			for j := range list.before {
				if list.before[j].Name != n.Name {
					continue
				}
				if removed := emptiedFields(&list.before[j], n); len(removed) > 0 {
					warnings = append(warnings, fmt.Sprintf("%s[%s]: this change removes %s from the sidecar; "+
						"if you meant to change only its image, use a JSON patch or server-side apply (see docs/user-guide.md)",
						list.path, n.Name, strings.Join(removed, ", ")))
				}
				break
			}
		}
	}
	return warnings
}

// emptiedFields lists the top-level fields of a sidecar (those of its container, then its own), by their
// JSON names, that are set before and empty after. A field holding its default counts as empty: a merge
// patch that drops it gets the default back from the API server.
func emptiedFields(before, after *appsv1alpha1.SidecarContainer) []string {
	var out []string
	collect := func(o, n reflect.Value) {
		for i := range o.NumField() {
			f := o.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !unset(o.Field(i)) && unset(n.Field(i)) {
				out = append(out, name)
			}
		}
	}
	collect(reflect.ValueOf(before.Container), reflect.ValueOf(after.Container))
	o, n := *before, *after
	o.Container, n.Container = corev1.Container{}, corev1.Container{}
	// The CRD defaults shareVolumePolicy to Disabled.
	if o.ShareVolumePolicy == appsv1alpha1.ShareVolumePolicyDisabled {
		o.ShareVolumePolicy = ""
	}
	if n.ShareVolumePolicy == appsv1alpha1.ShareVolumePolicyDisabled {
		n.ShareVolumePolicy = ""
	}
	collect(reflect.ValueOf(o), reflect.ValueOf(n))
	return out
}

// unset says whether a field holds nothing: nil, an empty list or map, or a zero value. A pointer to a zero
// value is set (a false *bool says false).
func unset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Struct:
		for i := range v.NumField() {
			if !unset(v.Field(i)) {
				return false
			}
		}
		return true
	default:
		return v.IsZero()
	}
}
