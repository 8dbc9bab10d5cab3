package cli

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

func TestMatchGroupsThePodsItWouldSelect(t *testing.T) {
	set := sidecarSet(t, logsSet)
	r, selected, err := Match(set, fleet(t), namespaces, DefaultOperatorNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if r.Selected != 11 || len(selected) != 11 {
		t.Errorf("selected %d (%d pods), want 11", r.Selected, len(selected))
	}
	if got := fixture.Names(r.Workloads, func(w Workload) string { return w.Namespace + "/" + w.Workload + ":" + itoa(w.Pods) }); got != "batch/Pod/web-bare:1,shop/Deployment/web:10" {
		t.Errorf("workloads %s", got)
	}
	if got := fixture.Names(r.Excluded, func(w Workload) string { return w.Namespace + "/" + w.Workload + ":" + w.Why }); got !=
		"kube-system/Deployment/web:namespace kube-system is never injected,shop/Deployment/web:the pod opted out with sidecarset.io/inject=false" {
		t.Errorf("excluded %s", got)
	}
	if selected[0].Name != "web-bare" {
		t.Errorf("the first pod selected is %s, want batch/web-bare (by namespace and name)", selected[0].Name)
	}

	// A namespaceSelector leaves out the namespaces it does not select.
	set.Spec.NamespaceSelector = labelSelector("env", "dev")
	r, _, err = Match(set, fleet(t), namespaces, DefaultOperatorNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if r.Selected != 1 || !strings.Contains(fixture.Names(r.Excluded, func(w Workload) string { return w.Why }), "the namespaceSelector does not select namespace shop") {
		t.Errorf("with a namespaceSelector: %+v", r)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func equalPods(a, b *corev1.Pod) bool { return equality.Semantic.DeepEqual(a, b) }

func TestMatchGolden(t *testing.T) {
	var out bytes.Buffer
	for _, tc := range []struct {
		title, set, pod string
		namespace       map[string]string
	}{
		{"logs, into a pod it injected before: what its spec injects now", logsSet, "web-current", namespaces["shop"]},
		{"a native sidecar and an environment variable taken from an app container that lacks it", `
metadata: {name: mesh}
spec:
  selector: {matchLabels: {app: web}}
  initContainers:
  - name: proxy
    image: proxy:1
    restartPolicy: Always
  containers:
  - name: agent
    image: agent:1
    transferEnv: [{sourceContainerName: app, envName: APP_NAME}]
  imagePullSecrets: [{name: registry}]
  patchPodMetadata: [{labels: {mesh: "on"}}]`, "web-late", namespaces["shop"]},
		{"in a namespace enforcing restricted, a sidecar that does not meet it, into a pod that does", `
metadata: {name: loose-agent}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: agent, image: agent:1}]`, "web-restricted",
			map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}},
		{"a name taken by the app", `
metadata: {name: clash}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: app, image: agent:1}, {name: agent, image: agent:1}]`, "web-late", namespaces["shop"]},
	} {
		set := sidecarSet(t, tc.set)
		r, _, err := Match(set, fleet(t), namespaces, DefaultOperatorNamespace)
		if err != nil {
			t.Fatal(err)
		}
		pod := restricted(t)
		if tc.pod != pod.Name {
			pod = podNamed(t, tc.pod)
		}
		d, err := DryRunInjection(set, pod, tc.namespace)
		if err != nil {
			t.Fatal(err)
		}
		r.DryRun = &d
		out.WriteString("# " + tc.title + "\n")
		if err := WriteMatch(&out, r); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	golden.Compare(t, "testdata/match.golden", out.String(), "go test ./internal/cli -run TestMatchGolden")
}

func TestDryRunWritesNothingToThePod(t *testing.T) {
	pod := podNamed(t, "web-current")
	before := pod.DeepCopy()
	if _, err := DryRunInjection(sidecarSet(t, logsSet), pod, nil); err != nil {
		t.Fatal(err)
	}
	if !equalPods(before, pod) {
		t.Error("the dry run changed the pod it was given")
	}
}

// restricted is a pod that meets the restricted Pod Security level.
func restricted(t *testing.T) *corev1.Pod {
	p := fleetPod(t, "web-restricted", `
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers: [{name: app, image: web:1, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]`)
	return &p
}

func TestMain(m *testing.M) {
	// As the plugin does, and the operator by default.
	podvalidation.AllowPrivileged(true)
	os.Exit(m.Run())
}
