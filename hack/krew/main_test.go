package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReleaseFillsTheManifestWithTheArchivesDigests(t *testing.T) {
	dist := t.TempDir()
	platforms := []string{"linux/amd64", "darwin/arm64"}
	for _, p := range platforms {
		dir := filepath.Join(dist, strings.Replace(p, "/", "_", 1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, binary), []byte("binary for "+p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := release("v1.2.3", dist, platforms, "https://example.com/r/v1.2.3/", "sidecarset.yaml.tmpl"); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(dist, "sidecarset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		archive := "kubectl-sidecarset_v1.2.3_" + goos + "_" + goarch + ".tar.gz"
		data, err := os.ReadFile(filepath.Join(dist, archive))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		first[archive] = digest
		for _, want := range []string{"uri: https://example.com/r/v1.2.3/" + archive, "sha256: " + digest, "os: " + goos, "arch: " + goarch} {
			if !strings.Contains(string(manifest), want) {
				t.Errorf("the manifest does not say %q:\n%s", want, manifest)
			}
		}
		if files := entries(t, data); files[binary] != "binary for "+p || !strings.Contains(files[completion], "kubectl sidecarset __complete") {
			t.Errorf("%s holds %v", archive, files)
		}
	}
	if !strings.Contains(string(manifest), "version: v1.2.3") {
		t.Errorf("the manifest does not give the version:\n%s", manifest)
	}

	// The same binaries give the same archives.
	if err := release("v1.2.3", dist, platforms, "https://example.com/r/v1.2.3/", "sidecarset.yaml.tmpl"); err != nil {
		t.Fatal(err)
	}
	for archive, digest := range first {
		data, _ := os.ReadFile(filepath.Join(dist, archive))
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
			t.Errorf("%s differs when packed again", archive)
		}
	}

	if err := release("1.2", dist, platforms, "", "sidecarset.yaml.tmpl"); err == nil {
		t.Error("a version krew does not take was accepted")
	}
}

func entries(t *testing.T, archive []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(strings.NewReader(string(archive)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Mode != 0o755 {
			t.Errorf("%s has mode %o, want 755", h.Name, h.Mode)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = string(data)
	}
}
