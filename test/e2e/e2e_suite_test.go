//go:build e2e

// Package e2e holds the end-to-end suite: whole workloads on the local cluster (kube-controller-manager,
// kube-scheduler and kwok's simulated kubelets on the test API server), with the operator running as a
// separate process as its users run it, as its own ServiceAccount under the RBAC of config/rbac.
//
//	make test-e2e
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// root is the repository root, from this package.
const root = "../.."

// restartDelay is how long a simulated kubelet takes to restart a container on a new image.
const restartDelay = 500 * time.Millisecond

var (
	ctx       context.Context
	cancel    context.CancelFunc
	local     *localcluster.Cluster
	operator  *localcluster.Operator
	k8sClient client.Client
	clientset kubernetes.Interface
	scheme    = runtime.NewScheme()
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "End-to-end suite on the local cluster")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(appsv1alpha1.AddToScheme(scheme)).To(Succeed())

	dir, err := os.MkdirTemp("", "sidecarset-e2e-")
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("Local cluster files and component logs: %s\n", dir)

	// The binary under test is built from this checkout, never taken stale from bin/.
	binary := filepath.Join(dir, "sidecarset-operator")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = root
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed(), "building the operator")

	local, err = localcluster.Start(ctx, localcluster.Options{Dir: dir, Nodes: 6, RestartDelay: restartDelay, Progress: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	Expect(local.Install(ctx, root)).To(Succeed())
	// SIDECARSET_E2E_OPERATOR_ARGS adds flags to the operator under test, to compare settings.
	operator, err = local.StartOperator(ctx, binary, strings.Fields(os.Getenv("SIDECARSET_E2E_OPERATOR_ARGS"))...)
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.New(local.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(local.Config)
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if operator != nil {
		Expect(operator.Stop()).To(Succeed())
	}
	if local != nil {
		Expect(local.Stop()).To(Succeed())
	}
	if cancel != nil {
		cancel()
	}
})

// On failure, the end of the operator's log goes with the spec's output.
var _ = JustAfterEach(func() {
	if !CurrentSpecReport().Failed() || operator == nil {
		return
	}
	if data, err := os.ReadFile(operator.LogPath); err == nil {
		if len(data) > 20000 {
			data = data[len(data)-20000:]
		}
		GinkgoWriter.Printf("--- end of the operator's log (%s) ---\n%s\n", operator.LogPath, data)
	}
})
