// Command krew packs the kubectl plugin's release (make plugin-release): for each platform, a tar.gz archive
// of the binary cross-compiled into <dist>/<os>_<arch>/kubectl-sidecarset and of its completion script, then
// the krew manifest rendered from sidecarset.yaml.tmpl with each archive's address and sha256, and a
// sha256sums.txt. The archives are reproducible: their entries have fixed times, owners and modes, so the
// same binaries give the same digests.
//
//	go run ./hack/krew --version v0.1.0 --dist dist/plugin --platforms "linux/amd64 darwin/arm64"
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

// binary is the plugin's file name: kubectl runs kubectl-sidecarset for `kubectl sidecarset`.
const binary = "kubectl-sidecarset"

// completion is the script kubectl (1.26 and later) runs to complete `kubectl sidecarset ...`: cobra's
// hidden __complete command, called through kubectl.
const completion = "kubectl_complete-sidecarset"

const completionScript = `#!/usr/bin/env sh
# Shell completion of "kubectl sidecarset ..." (kubectl 1.26 or later runs this script from the PATH).
exec kubectl sidecarset __complete "$@"
`

// Platform is one archive of the release.
type Platform struct {
	OS, Arch string
	// Archive is the archive's file name, URI where it is downloaded from, SHA256 its digest.
	Archive, URI, SHA256 string
}

func main() {
	version := flag.String("version", "", "The release's version, v1.2.3: in the archives' names and the manifest.")
	dist := flag.String("dist", "dist/plugin", "Where the binaries are, <dist>/<os>_<arch>/"+binary+", and where the release is written.")
	platforms := flag.String("platforms", "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64", "The platforms, os/arch, space-separated.")
	url := flag.String("url", "", "Where the archives are downloaded from (default: the GitHub release of --version).")
	tmpl := flag.String("template", "hack/krew/sidecarset.yaml.tmpl", "The krew manifest's template.")
	flag.Parse()
	if *url == "" {
		*url = "https://github.com/sidecarset/sidecarset-operator/releases/download/" + *version
	}
	if err := release(*version, *dist, strings.Fields(*platforms), *url, *tmpl); err != nil {
		fmt.Fprintf(os.Stderr, "krew: %v\n", err)
		os.Exit(1)
	}
}

var semver = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// release writes the archives, the manifest and the checksums into dist.
func release(version, dist string, platforms []string, url, tmplPath string) error {
	if !semver.MatchString(version) {
		return fmt.Errorf("--version %q: krew wants a semantic version such as v0.1.0", version)
	}
	t, err := template.New(filepath.Base(tmplPath)).Option("missingkey=error").ParseFiles(tmplPath)
	if err != nil {
		return err
	}
	var sums strings.Builder
	data := struct {
		Version   string
		Platforms []Platform
	}{Version: version}
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q is not os/arch", p)
		}
		pl := Platform{OS: goos, Arch: goarch, Archive: fmt.Sprintf("%s_%s_%s_%s.tar.gz", binary, version, goos, goarch)}
		pl.URI = strings.TrimSuffix(url, "/") + "/" + pl.Archive
		if pl.SHA256, err = pack(filepath.Join(dist, goos+"_"+goarch, binary), filepath.Join(dist, pl.Archive)); err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%s  %s\n", pl.SHA256, pl.Archive)
		data.Platforms = append(data.Platforms, pl)
	}
	var manifest bytes.Buffer
	if err := t.Execute(&manifest, data); err != nil {
		return err
	}
	if err := check(manifest.Bytes(), data.Platforms); err != nil {
		return fmt.Errorf("the rendered manifest: %w", err)
	}
	if err := writeFile(filepath.Join(dist, "sidecarset.yaml"), manifest.Bytes(), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dist, "sha256sums.txt"), []byte(sums.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("Wrote %d archives, %s and %s to %s\n", len(data.Platforms), "sidecarset.yaml", "sha256sums.txt", dist)
	return nil
}

// epoch is the time of every archive entry, so that archives of the same binaries are the same bytes.
var epoch = time.Unix(0, 0).UTC()

// pack writes the archive of the binary and the completion script, and returns its sha256.
func pack(binaryPath, archive string) (string, error) {
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return "", fmt.Errorf("%w (build it first: make plugin-release)", err)
	}
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
	}{{binary, bin}, {completion, []byte(completionScript)}} {
		h := &tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg,
			Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	if err := writeFile(archive, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// check reads the rendered manifest back: a krew Plugin whose every platform has the address and digest of
// its archive.
func check(manifest []byte, platforms []Platform) error {
	var plugin struct {
		Kind string `json:"kind"`
		Spec struct {
			Version   string `json:"version"`
			Platforms []struct {
				URI    string `json:"uri"`
				SHA256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(manifest, &plugin); err != nil {
		return err
	}
	if plugin.Kind != "Plugin" || len(plugin.Spec.Platforms) != len(platforms) {
		return fmt.Errorf("want a Plugin with %d platforms, got kind %q with %d", len(platforms), plugin.Kind, len(plugin.Spec.Platforms))
	}
	for i, p := range plugin.Spec.Platforms {
		if p.URI != platforms[i].URI || p.SHA256 != platforms[i].SHA256 || p.Bin != binary {
			return fmt.Errorf("platform %s/%s: uri %q, sha256 %q, bin %q", platforms[i].OS, platforms[i].Arch, p.URI, p.SHA256, p.Bin)
		}
	}
	return nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}
