package v1alpha1_test

import (
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// TestDefaultsMatchTheCRD holds the defaults the operator applies equal to the ones the API server sets.
func TestDefaultsMatchTheCRD(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "apps.sidecarset.io_sidecarsets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	strategy := spec.Properties["updateStrategy"]
	for _, tt := range []struct {
		path  string
		field apiextensionsv1.JSONSchemaProps
		want  string
	}{
		{"spec.revisionHistoryLimit", spec.Properties["revisionHistoryLimit"], jsonOf(t, appsv1alpha1.DefaultRevisionHistoryLimit)},
		{"spec.updateStrategy.maxUnavailable", strategy.Properties["maxUnavailable"], jsonOf(t, appsv1alpha1.DefaultMaxUnavailable)},
		{"spec.updateStrategy.maxUnavailablePerWorkload", strategy.Properties["maxUnavailablePerWorkload"],
			jsonOf(t, appsv1alpha1.DefaultMaxUnavailablePerWorkload)},
		{"spec.updateStrategy.progressDeadlineSeconds", strategy.Properties["progressDeadlineSeconds"],
			jsonOf(t, appsv1alpha1.DefaultProgressDeadlineSeconds)},
		{"spec.updateStrategy.failurePolicy.maxFailedPods", strategy.Properties["failurePolicy"].Properties["maxFailedPods"],
			jsonOf(t, appsv1alpha1.DefaultMaxFailedPods)},
		{"spec.updateStrategy.recreate.maxPerWorkload", strategy.Properties["recreate"].Properties["maxPerWorkload"],
			jsonOf(t, appsv1alpha1.DefaultRecreateMaxPerWorkload)},
	} {
		if tt.field.Default == nil {
			t.Errorf("%s has no default in the CRD", tt.path)
			continue
		}
		if got := string(tt.field.Default.Raw); got != tt.want {
			t.Errorf("%s defaults to %s in the CRD and to %s in the operator", tt.path, got, tt.want)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
