// Package helm tests the Helm chart charts/sidecarset-operator with the helm binary the Makefile builds: helm
// lint is clean, the chart at its defaults renders the objects of dist/install.yaml, values land where they
// say, and bad values are refused. The e2e suite installs and upgrades it on the local cluster.
package helm

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sidecarset/sidecarset-operator/localcluster"
)

const (
	chartDir    = "../../charts/sidecarset-operator"
	installYAML = "../../dist/install.yaml"
	installDoc  = "../../docs/install.md"
	// helmEnv names the helm binary make test builds (make helm), at the version the Makefile pins.
	helmEnv = "SIDECARSET_TEST_HELM"
	release = "sidecarset-operator"
)

// helmStandardLabels are the labels the chart adds to every object's own labels, and all it may add.
var helmStandardLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
	"app.kubernetes.io/version"}

func helmBinary(t *testing.T) string {
	t.Helper()
	helm := os.Getenv(helmEnv)
	if helm == "" {
		t.Fatalf("%s is not set: run the tests with make test, which builds helm (make helm) and sets it", helmEnv)
	}
	return helm
}

// runHelm runs helm with args and returns what it printed, stdout and stderr apart.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// Helm keeps its caches and configuration under these; nothing of the user's is read or written.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// render runs helm template on the chart in namespace with the values, and returns the objects by
// "Kind namespace/name".
func render(t *testing.T, namespace string, values map[string]any) map[string]*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace}
	if values != nil {
		args = append(args, "--values", valuesFile(t, values))
	}
	stdout, stderr, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return byKey(t, path)
}

func valuesFile(t *testing.T, values map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func key(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

func byKey(t *testing.T, path string) map[string]*unstructured.Unstructured {
	t.Helper()
	objs, err := localcluster.ReadObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		if _, dup := out[key(u)]; dup {
			t.Fatalf("%s is rendered twice", key(u))
		}
		out[key(u)] = u
	}
	return out
}

func TestChartLintsClean(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"every optional object": {"serviceMonitor": map[string]any{"enabled": true}, "namespace": map[string]any{"create": true},
			"extraArgs": map[string]any{"zap-log-level": "debug"}},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--namespace", "sidecarset-system"}
			if values != nil {
				args = append(args, "--values", valuesFile(t, values))
			}
			stdout, stderr, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
			}
			for _, line := range strings.Split(stdout+stderr, "\n") {
				// helm lint reports at INFO what is only recommended (an icon); anything worse is a finding.
				if strings.HasPrefix(line, "[") && !strings.HasPrefix(line, "[INFO]") {
					t.Errorf("helm lint: %s", line)
				}
			}
			if !strings.Contains(stdout, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint did not pass the chart:\n%s", stdout)
			}
		})
	}
}

// TestChartAtDefaultsRendersTheInstall renders the chart at its defaults into sidecarset-system and compares
// each object to dist/install.yaml's: the same objects but the Namespace (which the chart creates only with
// namespace.create), each the same but for Helm's standard labels and, on the CRD, the annotation that keeps
// it on helm uninstall.
func TestChartAtDefaultsRendersTheInstall(t *testing.T) {
	rendered := render(t, "sidecarset-system", nil)
	install := byKey(t, installYAML)
	for k, want := range install {
		got, ok := rendered[k]
		if want.GetKind() == "Namespace" {
			if ok {
				t.Errorf("%s is rendered at the defaults: the chart creates the namespace only with namespace.create", k)
			}
			continue
		}
		if !ok {
			t.Errorf("%s of dist/install.yaml is not rendered", k)
			continue
		}
		got = got.DeepCopy()
		labels := got.GetLabels()
		for _, l := range helmStandardLabels {
			if labels[l] == "" {
				t.Errorf("%s has no label %s", k, l)
			}
			delete(labels, l)
		}
		if labels := got.GetLabels(); labels["app.kubernetes.io/managed-by"] != "Helm" || labels["app.kubernetes.io/instance"] != release {
			t.Errorf("%s: managed-by %q, instance %q: want Helm and %s", k, labels["app.kubernetes.io/managed-by"],
				labels["app.kubernetes.io/instance"], release)
		}
		got.SetLabels(labels)
		if want.GetKind() == "CustomResourceDefinition" {
			annotations := got.GetAnnotations()
			if annotations["helm.sh/resource-policy"] != "keep" {
				t.Errorf("%s: helm.sh/resource-policy is %q, not keep: helm uninstall would delete every SidecarSet", k,
					annotations["helm.sh/resource-policy"])
			}
			delete(annotations, "helm.sh/resource-policy")
			got.SetAnnotations(annotations)
		}
		if !reflect.DeepEqual(got.Object, want.Object) {
			t.Errorf("%s differs from dist/install.yaml's (rendered, then install's):\n%s", k, diff(t, got.Object, want.Object))
		}
	}
	for k := range rendered {
		if _, ok := install[k]; !ok {
			t.Errorf("%s is rendered at the defaults, and dist/install.yaml has no such object", k)
		}
	}
}

// diff prints the lines of two objects' YAML that differ.
func diff(t *testing.T, got, want map[string]any) string {
	t.Helper()
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	var out []string
	for i := range max(len(gl), len(wl)) {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d:\n  + %s\n  - %s", i+1, a, b))
		}
		if len(out) == 10 {
			break
		}
	}
	return strings.Join(out, "\n")
}

func TestChartValuesLandWhereTheySay(t *testing.T) {
	const ns = "platform-operators"
	rendered := render(t, ns, map[string]any{
		"replicaCount":        3,
		"image":               map[string]any{"repository": "registry.example.com/sidecarset-operator", "tag": "v9.9.9", "pullPolicy": "IfNotPresent"},
		"webhook":             map[string]any{"failurePolicy": "Ignore", "timeoutSeconds": 7},
		"extraArgs":           map[string]any{"zap-log-level": "debug", "kube-api-qps": 200},
		"serviceMonitor":      map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}, "interval": "30s"},
		"nodeSelector":        map[string]any{"node-role.kubernetes.io/control-plane": ""},
		"tolerations":         []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}},
		"priorityClassName":   "system-cluster-critical",
		"podLabels":           map[string]any{"team": "platform"},
		"podAnnotations":      map[string]any{"example.com/owner": "platform"},
		"imagePullSecrets":    []any{map[string]any{"name": "registry"}},
		"namespace":           map[string]any{"create": true},
		"metrics":             map[string]any{"port": 9443 + 1},
		"podDisruptionBudget": map[string]any{"minAvailable": "50%"},
	})
	get := func(k string) *unstructured.Unstructured {
		t.Helper()
		u, ok := rendered[k]
		if !ok {
			t.Fatalf("%s is not rendered; rendered: %v", k, slices.Sorted(maps.Keys(rendered)))
		}
		return u
	}
	expect := func(k string, path string, want any) {
		t.Helper()
		got, found, err := unstructured.NestedFieldNoCopy(get(k).Object, strings.Split(path, ".")...)
		if err != nil || !found {
			t.Errorf("%s has no %s (%v)", k, path, err)
			return
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s %s = %v, want %v", k, path, got, want)
		}
	}
	deployment := "Deployment " + ns + "/sidecarset-operator"
	expect(deployment, "spec.replicas", 3)
	expect(deployment, "spec.template.spec.nodeSelector", map[string]any{"node-role.kubernetes.io/control-plane": ""})
	expect(deployment, "spec.template.spec.tolerations", []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}})
	expect(deployment, "spec.template.spec.priorityClassName", "system-cluster-critical")
	expect(deployment, "spec.template.spec.imagePullSecrets", []any{map[string]any{"name": "registry"}})
	expect(deployment, "spec.template.metadata.labels.team", "platform")
	expect(deployment, "spec.template.metadata.annotations", map[string]any{"example.com/owner": "platform"})
	// The selector stays as it was: a Deployment's selector cannot change on upgrade.
	expect(deployment, "spec.selector.matchLabels", map[string]any{"app.kubernetes.io/component": "operator", "app.kubernetes.io/name": "sidecarset-operator"})

	containers, _, _ := unstructured.NestedSlice(get(deployment).Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("the Deployment has %d containers, want the operator's", len(containers))
	}
	ctr := containers[0].(map[string]any)
	if ctr["image"] != "registry.example.com/sidecarset-operator:v9.9.9" || ctr["imagePullPolicy"] != "IfNotPresent" {
		t.Errorf("image %v, pull policy %v", ctr["image"], ctr["imagePullPolicy"])
	}
	var args []string
	for _, a := range ctr["args"].([]any) {
		args = append(args, a.(string))
	}
	for _, want := range []string{"--webhook-failure-policy=Ignore", "--webhook-timeout-seconds=7", "--metrics-bind-address=:9444"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v have no %s", args, want)
		}
	}
	if slices.Contains(args, "--webhook-failure-policy=Fail") {
		t.Errorf("args %v still have the default failure policy", args)
	}
	// Extra flags come after the chart's own, in the order of their names, so that one given twice wins.
	if tail := args[len(args)-2:]; !slices.Equal(tail, []string{"--kube-api-qps=200", "--zap-log-level=debug"}) {
		t.Errorf("args end in %v, want the extra flags", tail)
	}
	var metricsPort any
	for _, p := range ctr["ports"].([]any) {
		if p.(map[string]any)["name"] == "metrics" {
			metricsPort = p.(map[string]any)["containerPort"]
		}
	}
	if fmt.Sprint(metricsPort) != "9444" {
		t.Errorf("the metrics containerPort is %v, want 9444", metricsPort)
	}

	monitor := "ServiceMonitor " + ns + "/sidecarset-operator"
	expect(monitor, "metadata.labels.release", "prometheus")
	endpoints, _, _ := unstructured.NestedSlice(get(monitor).Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["interval"] != "30s" {
		t.Errorf("ServiceMonitor endpoints %v: want one, at interval 30s", endpoints)
	}
	expect("PodDisruptionBudget "+ns+"/sidecarset-operator", "spec.minAvailable", "50%")
	if labels := get("Namespace /" + ns).GetLabels(); labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("the Namespace's labels %v do not enforce the restricted Pod Security Standard", labels)
	}
	for _, binding := range []string{"ClusterRoleBinding /sidecarset-operator", "RoleBinding " + ns + "/sidecarset-operator"} {
		subjects, _, _ := unstructured.NestedSlice(get(binding).Object, "subjects")
		if len(subjects) != 1 || subjects[0].(map[string]any)["namespace"] != ns {
			t.Errorf("%s subjects %v: want the ServiceAccount of namespace %s", binding, subjects, ns)
		}
	}
	// Cluster-scoped objects keep their names: one operator per cluster.
	get("CustomResourceDefinition /sidecarsets.apps.sidecarset.io")
	get("ClusterRole /sidecarset-operator-metrics-reader")

	// And the objects turned off are left out.
	rendered = render(t, ns, map[string]any{"podDisruptionBudget": map[string]any{"enabled": false},
		"metrics": map[string]any{"service": map[string]any{"enabled": false}, "secure": false}})
	for k, u := range rendered {
		if u.GetKind() == "PodDisruptionBudget" || u.GetName() == "sidecarset-operator-metrics" {
			t.Errorf("%s is rendered though turned off", k)
		}
	}
	d := rendered[deployment]
	containers, _, _ = unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if !slices.Contains(containers[0].(map[string]any)["args"].([]any), any("--metrics-secure=false")) {
		t.Errorf("metrics.secure false renders no --metrics-secure=false")
	}
}

// TestChartRefusesBadValues checks helm refuses values that cannot work, with an error naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"failure policy", map[string]any{"webhook": map[string]any{"failurePolicy": "Sometimes"}},
			[]string{"/webhook/failurePolicy", "'Fail', 'Ignore'"}},
		{"timeout", map[string]any{"webhook": map[string]any{"timeoutSeconds": 30}}, []string{"/webhook/timeoutSeconds", "10"}},
		{"misspelt value", map[string]any{"replicas": 3}, []string{"'replicas' not allowed"}},
		{"ServiceMonitor over plain HTTP", map[string]any{"serviceMonitor": map[string]any{"enabled": true},
			"metrics": map[string]any{"secure": false}}, []string{"keep metrics.secure true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runHelm(t, "template", release, chartDir, "--values", valuesFile(t, tc.values))
			if err == nil {
				t.Fatalf("helm template accepted %v:\n%s", tc.values, stdout)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("the error does not say %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestValuesAreDocumented checks the values table of docs/install.md's Helm section names every value of
// values.yaml (a map's own keys, such as resources.limits, are the map's), and no value the chart lacks.
func TestValuesAreDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(installDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(doc), "\n## 4. Helm\n")
	if !found {
		t.Fatal("docs/install.md has no section 4. Helm")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z.]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	if len(documented) == 0 {
		t.Fatal("docs/install.md: the Helm section has no table of values")
	}
	var leaves []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 || documented[prefix] {
			leaves = append(leaves, prefix)
			return
		}
		for k, child := range m {
			walk(strings.TrimPrefix(prefix+"."+k, "."), child)
		}
	}
	walk("", values)
	for _, leaf := range leaves {
		if !documented[leaf] {
			t.Errorf("docs/install.md does not document the value %s", leaf)
		}
		delete(documented, leaf)
	}
	for k := range documented {
		t.Errorf("docs/install.md documents the value %s, which values.yaml does not have", k)
	}
}
