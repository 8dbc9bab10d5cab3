// Command bundle writes the OLM bundle (make bundle): bundle/manifests with the ClusterServiceVersion, built
// from the hand-written base in config/manifests and the rendered install (dist/install.yaml): the operator's
// Deployment, its cluster and namespace permissions, the CRD, the Services, the PodDisruptionBudget, and
// alm-examples from config/samples; bundle/metadata/annotations.yaml; and bundle.Dockerfile. The output is
// deterministic, so make verify can keep it current.
//
//	go run ./hack/bundle --version 0.1.0 --image sidecarset-operator:latest
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	opversion "github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/sidecarset/sidecarset-operator/localcluster"
)

const (
	packageName    = "sidecarset-operator"
	channel        = "candidate"
	serviceAccount = "sidecarset-operator"
	baseCSV        = "config/manifests/bases/sidecarset-operator.clusterserviceversion.yaml"
)

func main() {
	version := flag.String("version", "0.1.0", "The bundle's version (semver, without v).")
	image := flag.String("image", "sidecarset-operator:latest", "The operator's image.")
	install := flag.String("install", "dist/install.yaml", "The rendered install (make build-installer).")
	out := flag.String("out", "bundle", "Where to write the bundle.")
	flag.Parse()
	if err := run(*version, *image, *install, *out); err != nil {
		fmt.Fprintf(os.Stderr, "bundle: %v\n", err)
		os.Exit(1)
	}
}

func run(version, image, install, out string) error {
	data, err := os.ReadFile(baseCSV)
	if err != nil {
		return err
	}
	var csv operatorsv1alpha1.ClusterServiceVersion
	if err := yaml.UnmarshalStrict(data, &csv); err != nil {
		return fmt.Errorf("%s: %w", baseCSV, err)
	}
	objs, err := localcluster.ReadObjects(install)
	if err != nil {
		return err
	}
	manifests := filepath.Join(out, "manifests")
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return err
	}

	csv.Name = fmt.Sprintf("%s.v%s", packageName, version)
	v, err := semver.Parse(version)
	if err != nil {
		return fmt.Errorf("--version: %w", err)
	}
	csv.Spec.Version = opversion.OperatorVersion{Version: v}
	csv.Annotations["containerImage"] = image
	var deployments []operatorsv1alpha1.StrategyDeploymentSpec
	var clusterPerms, perms []operatorsv1alpha1.StrategyDeploymentPermissions
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := fromUnstructured(u, &d); err != nil {
				return err
			}
			for i := range d.Spec.Template.Spec.Containers {
				d.Spec.Template.Spec.Containers[i].Image = image
			}
			deployments = append(deployments, operatorsv1alpha1.StrategyDeploymentSpec{Name: d.Name, Label: d.Labels, Spec: d.Spec})
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := fromUnstructured(u, &r); err != nil {
				return err
			}
			if r.Name != packageName {
				// Another ClusterRole (the metrics reader) is shipped as is, for users to bind.
				if err := write(filepath.Join(manifests, fileName(u)), clean(u)); err != nil {
					return err
				}
				continue
			}
			clusterPerms = append(clusterPerms, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: serviceAccount, Rules: r.Rules})
		case "Role":
			var r rbacv1.Role
			if err := fromUnstructured(u, &r); err != nil {
				return err
			}
			perms = append(perms, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: serviceAccount, Rules: r.Rules})
		case "CustomResourceDefinition", "Service", "PodDisruptionBudget":
			if err := write(filepath.Join(manifests, fileName(u)), clean(u)); err != nil {
				return err
			}
		case "Namespace", "ServiceAccount", "RoleBinding", "ClusterRoleBinding":
			// OLM creates the ServiceAccount and binds the CSV's permissions to it, in the namespace the
			// operator is installed into.
		default:
			return fmt.Errorf("%s %s: no place for this kind in the bundle", u.GetKind(), u.GetName())
		}
	}
	if len(deployments) != 1 || len(clusterPerms) != 1 || len(perms) != 1 {
		return fmt.Errorf("%s: want one Deployment, one ClusterRole %s and one Role, found %d, %d, %d",
			install, packageName, len(deployments), len(clusterPerms), len(perms))
	}
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{
		StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
		StrategySpec: operatorsv1alpha1.StrategyDetailsDeployment{
			DeploymentSpecs: deployments, ClusterPermissions: clusterPerms, Permissions: perms,
		},
	}
	examples, err := samples("config/samples")
	if err != nil {
		return err
	}
	csv.Annotations["alm-examples"] = examples

	csvObj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&csv)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: csvObj}
	u.SetAPIVersion(operatorsv1alpha1.SchemeGroupVersion.String())
	u.SetKind(operatorsv1alpha1.ClusterServiceVersionKind)
	if err := write(filepath.Join(manifests, packageName+".clusterserviceversion.yaml"), clean(u)); err != nil {
		return err
	}

	labels := [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
		{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
		{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
		{"operators.operatorframework.io.bundle.package.v1", packageName},
		{"operators.operatorframework.io.bundle.channels.v1", channel},
		{"operators.operatorframework.io.bundle.channel.default.v1", channel},
		{"operators.operatorframework.io.test.mediatype.v1", "scorecard+v1"},
		{"operators.operatorframework.io.test.config.v1", "tests/scorecard/"},
	}
	var ann, dockerfile strings.Builder
	ann.WriteString("annotations:\n")
	dockerfile.WriteString("# The OLM bundle image (make bundle writes this file).\nFROM scratch\n\n")
	for _, l := range labels {
		fmt.Fprintf(&ann, "  %s: %s\n", l[0], l[1])
		fmt.Fprintf(&dockerfile, "LABEL %s=%s\n", l[0], l[1])
	}
	dockerfile.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\nCOPY bundle/tests/scorecard /tests/scorecard/\n")
	if err := writeFile(filepath.Join(out, "metadata", "annotations.yaml"), ann.String()); err != nil {
		return err
	}
	if err := writeFile("bundle.Dockerfile", dockerfile.String()); err != nil {
		return err
	}
	return writeFile(filepath.Join(out, "tests", "scorecard", "config.yaml"), scorecard)
}

// scorecard runs the basic and OLM checks of operator-sdk scorecard on the bundle.
const scorecard = `apiVersion: scorecard.operatorframework.io/v1alpha3
kind: Configuration
metadata:
  name: config
stages:
- parallel: true
  tests:
  - entrypoint: [scorecard-test, basic-check-spec]
    image: quay.io/operator-framework/scorecard-test:v1.39.0
    labels: {suite: basic, test: basic-check-spec-test}
  - entrypoint: [scorecard-test, olm-bundle-validation]
    image: quay.io/operator-framework/scorecard-test:v1.39.0
    labels: {suite: olm, test: olm-bundle-validation-test}
  - entrypoint: [scorecard-test, olm-crds-have-validation]
    image: quay.io/operator-framework/scorecard-test:v1.39.0
    labels: {suite: olm, test: olm-crds-have-validation-test}
  - entrypoint: [scorecard-test, olm-spec-descriptors]
    image: quay.io/operator-framework/scorecard-test:v1.39.0
    labels: {suite: olm, test: olm-spec-descriptors-test}
  - entrypoint: [scorecard-test, olm-status-descriptors]
    image: quay.io/operator-framework/scorecard-test:v1.39.0
    labels: {suite: olm, test: olm-status-descriptors-test}
`

// samples is alm-examples: the SidecarSets of config/samples as a JSON array, in file name order.
func samples(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	var all []map[string]any
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		objs, err := localcluster.ReadObjects(f)
		if err != nil {
			return "", err
		}
		for _, u := range objs {
			all = append(all, u.Object)
		}
	}
	data, err := json.MarshalIndent(all, "", "  ")
	return string(data), err
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}

// clean drops what a bundle manifest must not carry: the namespace (OLM installs into its own), and the empty
// status and creation timestamps of typed objects.
func clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	u = u.DeepCopy()
	u.SetNamespace("")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		removeCreationTimestamps(spec)
	}
	return u
}

func removeCreationTimestamps(v any) {
	switch x := v.(type) {
	case map[string]any:
		if ts, ok := x["creationTimestamp"]; ok && ts == nil {
			delete(x, "creationTimestamp")
		}
		for _, e := range x {
			removeCreationTimestamps(e)
		}
	case []any:
		for _, e := range x {
			removeCreationTimestamps(e)
		}
	}
}

// fileName names a manifest as operator-sdk does: the CRD as <group>_<plural>.yaml, anything else as
// <name>_<group>_<version>_<kind>.yaml (without the group for the core API).
func fileName(u *unstructured.Unstructured) string {
	gvk := u.GroupVersionKind()
	if gvk.Kind == "CustomResourceDefinition" {
		plural, group, _ := strings.Cut(u.GetName(), ".")
		return group + "_" + plural + ".yaml"
	}
	parts := []string{u.GetName()}
	if gvk.Group != "" {
		parts = append(parts, strings.ReplaceAll(gvk.Group, ".", "_"))
	}
	parts = append(parts, gvk.Version, strings.ToLower(gvk.Kind))
	return strings.Join(parts, "_") + ".yaml"
}

func write(path string, u *unstructured.Unstructured) error {
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		return err
	}
	return writeFile(path, string(data))
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
