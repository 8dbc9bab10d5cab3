#!/usr/bin/env bash
# Builds the Kubernetes control plane of the local cluster (localcluster: make demo, make bench, make test-e2e)
# and of the envtest suites, from source through the Go module proxy: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl and kwok (the simulated kubelet).
#
# The binaries go into a cache directory outside the checkout, keyed by their versions, so a second run is
# instant. Progress goes to stderr; the directory (for KUBEBUILDER_ASSETS) is the only thing on stdout.
#
#   KUBEBUILDER_ASSETS="$(hack/setup-control-plane.sh)" go test ./...
#
# Environment:
#   SIDECARSET_CACHE_DIR  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/sidecarset-operator)
#   K8S_VERSION, ETCD_VERSION, KWOK_VERSION  override the pinned versions
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}

cache_root=${SIDECARSET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sidecarset-operator}
dir="$cache_root/control-plane/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

log() { printf '[control-plane] %s\n' "$*" >&2; }

complete() {
  local b
  for b in "${binaries[@]}"; do [ -x "$dir/$b" ] || return 1; done
}

if complete; then
  echo "$dir"
  exit 0
fi

mkdir -p "$dir"
# One build at a time per cache directory: a second caller waits, then finds the binaries built.
exec 9>"$dir/.lock"
if ! flock -n 9; then
  log "another build is running in $dir; waiting for it"
  flock 9
fi
if complete; then
  echo "$dir"
  exit 0
fi

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
work="$dir/.build"
mkdir -p "$work"
start=$SECONDS
log "building into $dir (first run only: 20 to 30 minutes on 2 cores with a cold module cache)"

# etcd: a tiny main around etcdmain, in its own throw-away module.
if [ ! -x "$dir/etcd" ]; then
  log "etcd $ETCD_VERSION: building (about 30 s)"
  mkdir -p "$work/etcd"
  (
    cd "$work/etcd"
    cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    [ -f go.mod ] || go mod init local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
    go mod tidy >&2
    go build -trimpath -ldflags='-s -w' -o "$dir/etcd.tmp" .
  )
  mv "$dir/etcd.tmp" "$dir/etcd"
  log "etcd: done ($((SECONDS - start)) s elapsed)"
fi

if [ ! -x "$dir/kwok" ]; then
  log "kwok $KWOK_VERSION: building (about 1 minute)"
  mkdir -p "$work/kwok-bin"
  GOBIN="$work/kwok-bin" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  mv "$work/kwok-bin/kwok" "$dir/kwok"
  log "kwok: done ($((SECONDS - start)) s elapsed)"
fi

# Kubernetes: a throw-away module requiring k8s.io/kubernetes, whose staging replaces are rewritten to the
# published k8s.io/* modules of the matching version.
k8s_missing=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$dir/$b" ] || k8s_missing+=("$b")
done
if [ ${#k8s_missing[@]} -gt 0 ]; then
  log "kubernetes $K8S_VERSION: resolving modules"
  mod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  [ -n "$mod" ] || { log "could not download k8s.io/kubernetes@${K8S_VERSION}"; exit 1; }
  staging_version="v0.${K8S_VERSION#v1.}"
  go_line=$(grep -m1 '^go ' "$mod")
  mkdir -p "$work/kubernetes"
  (
    cd "$work/kubernetes"
    {
      echo "module local/kubernetes"
      echo
      echo "$go_line"
      echo
      echo "require k8s.io/kubernetes ${K8S_VERSION}"
      echo
      echo "replace ("
      sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$mod"
      echo ")"
    } >go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    log "kubernetes: go mod tidy (downloads the dependencies once)"
    go mod tidy >&2
    minor=${K8S_VERSION#v1.}
    minor=${minor%%.*}
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
      ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
    done
    pkgs=()
    for b in "${k8s_missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    log "kubernetes: building ${k8s_missing[*]} (the longest step: 10 to 20 minutes on 2 cores)"
    mkdir -p out
    go build -trimpath -ldflags="$ldflags" -o out/ "${pkgs[@]}"
    for b in "${k8s_missing[@]}"; do mv "out/$b" "$dir/$b"; done
  )
  log "kubernetes: done ($((SECONDS - start)) s elapsed)"
fi

rm -rf "$work"
complete || { log "build finished but binaries are missing in $dir"; exit 1; }
log "ready in $((SECONDS - start)) s: $dir"
echo "$dir"
