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
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// SidecarSetValidator is the validating admission webhook for SidecarSets: it refuses a SidecarSet whose
// sidecars no pod could carry, with the errors the API server would give for the pod, at the SidecarSet's
// own fields; warns of the Pod Security levels its sidecars do not meet; and warns when a change strips a
// sidecar of fields it had, the mark of a JSON merge patch that replaced a whole list to change one image;
// and warns when a change cannot be made in place, naming how many running pods it leaves behind. It reads
// the pod cache and writes nothing.
type SidecarSetValidator struct {
	// Pods is the operator's pod cache; without it no pods are counted.
	Pods *PodCache
}

var _ admission.Handler = &SidecarSetValidator{}

// Handle validates a SidecarSet being created, or updated with a changed spec.
func (v *SidecarSetValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
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
		if w := v.leftBehind(ctx, old, set); w != "" {
			resp.Warnings = append(resp.Warnings, w)
		}
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

// leftBehind warns when the change cannot be made in place, with how many running pods keep their sidecars
// until recreated (inplace.LeftBehind), or returns "".
func (v *SidecarSetValidator) leftBehind(ctx context.Context, old, set *appsv1alpha1.SidecarSet) string {
	if v.Pods == nil {
		return ""
	}
	if _, inPlace := inplace.Diff(revision.InjectedOf(&old.Spec), revision.InjectedOf(&set.Spec)); inPlace {
		return "" // no pod is left behind: their states need not be read
	}
	matcher, err := inject.NewMatcher(&old.Spec)
	if err != nil {
		return ""
	}
	views, err := v.Pods.List(matcher.PodSelector())
	if err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Pods not counted for the in-place warning", "error", err.Error())
		return ""
	}
	var states []podstate.SidecarSetState
	for _, view := range views {
		if st, ok := view.StateOf(set.Name); ok && view.DeletionTimestamp == nil {
			states = append(states, st)
		}
	}
	n := inplace.LeftBehind(revision.InjectedOf(&old.Spec), revision.InjectedOf(&set.Spec), revision.For(set), states)
	if n == 0 {
		return ""
	}
	if r := set.Spec.UpdateStrategy.Recreate; r != nil && r.Policy == appsv1alpha1.RecreateEvict {
		return fmt.Sprintf("this change is more than sidecar images, resources and metadata, which is all that can change in running pods: "+
			"the rollout evicts %d running pods for their workloads to recreate them (updateStrategy.recreate), within its budgets; "+
			"bare pods and Job pods among them keep their current sidecars until they are recreated", n)
	}
	return fmt.Sprintf("this change is more than sidecar images, resources and metadata, which is all that can change in running pods: "+
		"%d running pods keep their current sidecars until they are recreated, and the SidecarSet reports them "+
		"as NotUpgradable (Stalled once the rollout is done); new pods get the change", n)
}
