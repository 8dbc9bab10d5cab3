// Package testenv prepares the real control plane (etcd and kube-apiserver, through controller-runtime's
// envtest) that the project's suites run against, with the SidecarSet CRD installed.
package testenv

import (
	"errors"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// New returns an environment that installs the CRDs of config/crd/bases; root is the path from the calling
// test's package to the repository root. It fails, saying what to do, when KUBEBUILDER_ASSETS does not point
// at the control-plane binaries.
func New(root string) (*envtest.Environment, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, " +
			"which builds the test control plane once and points KUBEBUILDER_ASSETS at it")
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}, nil
}
