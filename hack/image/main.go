// Command image builds the operator's container image without a container daemon (make image): one layer
// holding the static operator binary, run as a non-root user, written as an OCI image layout and as a
// tarball that docker load and podman load accept.
//
//	go run ./hack/image --binary bin/linux_amd64/sidecarset-operator --tag sidecarset-operator:latest
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user and group: the conventional "nonroot" of distroless images, so a pod's runAsNonRoot holds.
const nonRoot = "65532:65532"

// binaryPath is where the operator lives in the image, and its entrypoint.
const binaryPath = "/sidecarset-operator"

func main() {
	binary := flag.String("binary", "", "The statically linked operator binary for the image's platform.")
	tag := flag.String("tag", "sidecarset-operator:latest", "The image reference written into the tarball.")
	arch := flag.String("arch", "amd64", "The binary's architecture.")
	layoutDir := flag.String("layout", "dist/image", "Where to write the OCI image layout.")
	tarPath := flag.String("tarball", "dist/sidecarset-operator.tar", "Where to write the tarball for docker load.")
	version := flag.String("version", "dev", "The version recorded in the image's labels.")
	flag.Parse()
	if err := run(*binary, *tag, *arch, *layoutDir, *tarPath, *version); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(binary, tag, arch, layoutDir, tarPath, version string) error {
	img, err := Build(binary, arch, version)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	if err := os.RemoveAll(layoutDir); err != nil {
		return err
	}
	p, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()})); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(tarPath), 0o755); err != nil {
		return err
	}
	if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("Built %s (%s): OCI layout %s, tarball %s\n", ref, digest, layoutDir, tarPath)
	return nil
}

// Build returns the image: the binary at /sidecarset-operator as the entrypoint, run as a non-root user, on
// no base at all (the operator is a static binary and reads no file of the image but itself).
func Build(binary, arch, version string) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the operator binary (build it for linux/%s first): %w", arch, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time makes the same binary give the same image digest.
	epoch := time.Unix(0, 0)
	for _, h := range []*tar.Header{
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: epoch},
		{Name: binaryPath[1:], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: epoch},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", arch, v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{binaryPath}
	cfg.Config.User = nonRoot
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "sidecarset-operator",
		"org.opencontainers.image.description": "Runs sidecar containers across a fleet: injection, in-place rollouts, drift status",
		"org.opencontainers.image.version":     version,
	}
	return mutate.ConfigFile(img, cfg)
}
