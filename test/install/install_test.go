// Package install tests dist/install.yaml, the kubectl apply install, against a real API server.
package install

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sidecarset/sidecarset-operator/localcluster"
)

const installYAML = "../../dist/install.yaml"

func TestInstallManifestAppliesToARealAPIServer(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with make test")
	}
	objs, err := localcluster.ReadObjects(installYAML)
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		if u.GetKind() == "Secret" {
			t.Errorf("the manifest holds Secret %s: certificates are created at runtime, never shipped", u.GetName())
		}
		if strings.Contains(mustJSON(t, u), "caBundle\":\"") {
			t.Errorf("%s %s has a caBundle: the operator injects its CA at runtime", u.GetKind(), u.GetName())
		}
	}
	for _, want := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
		"Role", "RoleBinding", "Service", "Deployment", "PodDisruptionBudget"} {
		if kinds[want] == 0 {
			t.Errorf("the manifest has no %s", want)
		}
	}

	// Applied as `kubectl apply --server-side` does, twice: every object is accepted, and a second apply is
	// a no-op without conflicts.
	for round := 1; round <= 2; round++ {
		for _, u := range objs {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
				t.Fatalf("apply %d: %s %s refused: %v", round, u.GetKind(), u.GetName(), err)
			}
		}
	}

	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: "sidecarsets.apps.sidecarset.io"}, &crd); err != nil {
			return false, err
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the CRD is not established: %v", err)
	}

	// The operator's pod passes the restricted Pod Security Standard its namespace enforces: the API server's
	// PodSecurity admission judges a dry run of a pod made from the Deployment's template.
	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: "sidecarset-system", Name: "sidecarset-operator"}, &d); err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	if !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--leader-elect") {
		t.Error("the Deployment runs two replicas without --leader-elect")
	}
	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: "sidecarset-system"}, &ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace labels %v: the restricted standard is not enforced", ns.Labels)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sidecarset-system", Name: "operator-dry-run",
		Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the operator's pod breaks the restricted Pod Security Standard: %v", err)
	}
	// And the check can fail: a privileged variant is refused.
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	if err := c.Create(ctx, bad, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "allowPrivilegeEscalation") {
		t.Errorf("a pod allowing privilege escalation was not refused by PodSecurity: %v", err)
	}
}

func mustJSON(t *testing.T, u *unstructured.Unstructured) string {
	t.Helper()
	data, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
