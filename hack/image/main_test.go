package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image make image builds: a layout and a tarball holding the operator as a non-root entrypoint, and the
// binary inside runs.
func TestImageRunsTheOperatorAsNonRoot(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "sidecarset-operator")
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "../..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	layoutDir, tarPath := filepath.Join(dir, "layout"), filepath.Join(dir, "image.tar")
	if err := run(binary, "sidecarset-operator:test", "amd64", layoutDir, tarPath, "test"); err != nil {
		t.Fatal(err)
	}

	p, err := layout.FromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	index, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil || len(manifest.Manifests) != 1 {
		t.Fatalf("the layout holds %d images (%v), want 1", len(manifest.Manifests), err)
	}
	img, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/sidecarset-operator" {
		t.Errorf("entrypoint %v, want the operator binary", cfg.Config.Entrypoint)
	}
	if uid, _, _ := strings.Cut(cfg.Config.User, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("user %q: the image must run as a numeric non-root user", cfg.Config.User)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}

	// The tarball holds the same image (its manifest is docker's, so the configs are compared).
	fromTar, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := img.ConfigName()
	c2, _ := fromTar.ConfigName()
	if c1 != c2 {
		t.Errorf("the tarball holds config %s, the layout %s", c2, c1)
	}

	// The binary taken out of the image's layer runs: --help lists the operator's flags.
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	extracted := filepath.Join(dir, "extracted")
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "sidecarset-operator" {
			f, err := os.OpenFile(extracted, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
			found = true
		}
	}
	if !found {
		t.Fatal("the layer has no /sidecarset-operator")
	}
	out, err := exec.Command(extracted, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-webhook-certs") {
		t.Errorf("the image's binary --help: %v\n%s", err, out)
	}
}
