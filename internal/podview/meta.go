package podview

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// View implements metav1.Object over the fields it keeps. The fields it does not keep read as empty and
// their setters do nothing: nothing writes a view but Compact.
var _ metav1.Object = &View{}

func (v *View) GetNamespace() string                { return v.Namespace }
func (v *View) SetNamespace(namespace string)       { v.Namespace = namespace }
func (v *View) GetName() string                     { return v.Name }
func (v *View) SetName(name string)                 { v.Name = name }
func (v *View) GetUID() types.UID                   { return v.UID }
func (v *View) SetUID(uid types.UID)                { v.UID = uid }
func (v *View) GetResourceVersion() string          { return v.ResourceVersion }
func (v *View) SetResourceVersion(version string)   { v.ResourceVersion = version }
func (v *View) GetLabels() map[string]string        { return v.Labels }
func (v *View) SetLabels(labels map[string]string)  { v.Labels, v.labels = labels, nil }
func (v *View) GetDeletionTimestamp() *metav1.Time  { return v.DeletionTimestamp }
func (v *View) SetDeletionTimestamp(t *metav1.Time) { v.DeletionTimestamp = t }

// GetAnnotations returns the annotations the view keeps: a map made for the call when the view keeps its state
// annotation without one (View.Annotations).
func (v *View) GetAnnotations() map[string]string {
	if v.annotations != nil && v.annotations.m == nil {
		return map[string]string{appsv1alpha1.StateAnnotation: v.annotations.own.String()}
	}
	return v.Annotations
}

func (v *View) SetAnnotations(annotations map[string]string) {
	v.Annotations, v.annotations = annotations, nil
}

func (v *View) GetGenerateName() string                       { return "" }
func (v *View) SetGenerateName(string)                        {}
func (v *View) GetGeneration() int64                          { return 0 }
func (v *View) SetGeneration(int64)                           {}
func (v *View) GetSelfLink() string                           { return "" }
func (v *View) SetSelfLink(string)                            {}
func (v *View) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (v *View) SetCreationTimestamp(metav1.Time)              {}
func (v *View) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (v *View) SetDeletionGracePeriodSeconds(*int64)          {}
func (v *View) GetFinalizers() []string                       { return nil }
func (v *View) SetFinalizers([]string)                        {}
func (v *View) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (v *View) SetOwnerReferences([]metav1.OwnerReference)    {}
func (v *View) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (v *View) SetManagedFields([]metav1.ManagedFieldsEntry)  {}
