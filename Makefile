# sidecarset-operator

# Tools are pinned and installed into bin/ on first use.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
# gojq is the jq the end-to-end suite runs the documentation's jq commands with (as jq), so that they do not
# depend on a jq installed on the machine.
GOJQ_VERSION ?= v0.12.19
# Helm lints and renders the chart in make test, and installs it on the local cluster in make test-e2e. It is run
# as a binary, built from its Go module, never linked into the operator's go.mod.
HELM_VERSION ?= v4.3.2
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOJQ ?= $(LOCALBIN)/gojq-$(GOJQ_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)

# The operator's image, as dist/install.yaml and the OLM bundle name it.
IMG ?= sidecarset-operator:latest
# The version of the OLM bundle.
VERSION ?= 0.1.0
ARCH ?= amd64

# The kubectl plugin's release (make plugin-release): the platforms it is cross-compiled for, its version, where
# its archives and krew manifest are written, and where users download the archives from (the manifest's uri).
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
PLUGIN_VERSION ?= v$(VERSION)
PLUGIN_DIST ?= dist/plugin
PLUGIN_URL ?= https://github.com/sidecarset/sidecarset-operator/releases/download/$(PLUGIN_VERSION)

# The control plane of the local cluster and of the tests (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok), built from source once and cached outside the checkout; see
# hack/setup-control-plane.sh.
SETUP_CONTROL_PLANE ?= hack/setup-control-plane.sh

GO_TEST_FLAGS ?=

# What make manifests and make generate write; make verify fails when they differ from what is committed.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml dist/install.yaml docs/api.md \
	bundle bundle.Dockerfile charts

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Try it

.PHONY: demo
demo: build ## Start a local cluster with the operator and show injection and an in-place rollout (DEMO_ARGS=--exit to exit when done).
	KUBEBUILDER_ASSETS="$$($(SETUP_CONTROL_PLANE))" go run ./hack/demo --operator $(LOCALBIN)/sidecarset-operator $(DEMO_ARGS)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests under config/.
	$(CONTROLLER_GEN) rbac:roleName=sidecarset-operator paths="./..." output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/crd-bounds config/crd/bases/apps.sidecarset.io_sidecarsets.yaml

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods of the API types and the API reference (docs/api.md).
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."
	go run ./hack/apidocs api/v1alpha1 docs/api.md

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files --cached --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet (the e2e suite included).
	go vet ./...
	go vet -tags e2e ./test/...

.PHONY: verify
verify: manifests generate build-installer bundle helm-chart vet ## Fail when generated code or manifests are stale, or gofmt or vet complain.
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change these files (run make fmt):"; echo "$$unformatted"; exit 1; fi
	@if ! git diff --quiet -- $(GENERATED); then \
	  echo "Generated files are stale (run make manifests generate and commit the result):"; \
	  git --no-pager diff --stat -- $(GENERATED); exit 1; fi
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
	if [ -n "$$untracked" ]; then echo "Generated files are not committed:"; echo "$$untracked"; exit 1; fi
	@echo "verify: generated code and manifests are current; gofmt and vet are clean"

.PHONY: control-plane
control-plane: ## Build (once) the control plane binaries of the local cluster and the tests, and print their directory.
	@$(SETUP_CONTROL_PLANE)

.PHONY: test
test: helm ## Run the unit and envtest suites against a real kube-apiserver (builds it once, then cached).
	SIDECARSET_TEST_HELM=$(HELM) KUBEBUILDER_ASSETS="$$($(SETUP_CONTROL_PLANE))" go test ./... -coverprofile cover.out $(GO_TEST_FLAGS)

.PHONY: test-e2e
test-e2e: gojq helm ## Run the end-to-end suite on the local cluster, the operator running as a separate process.
	SIDECARSET_E2E_JQ=$(GOJQ) SIDECARSET_TEST_HELM=$(HELM) KUBEBUILDER_ASSETS="$$($(SETUP_CONTROL_PLANE))" go test -tags e2e ./test/e2e -count 1 -timeout 30m -v -ginkgo.v $(if $(CI),-ginkgo.no-color) $(GO_TEST_FLAGS)

.PHONY: bench
bench: bench-go bench-cluster ## Run every benchmark (results and method in docs/benchmarks.md).

.PHONY: bench-go
bench-go: ## Run the Go benchmarks of the hot paths: admission handler, planner, status.
	go test ./... -run '^$$' -bench . -benchmem -benchtime 3s -count 3

.PHONY: bench-cluster
bench-cluster: build ## Measure rollouts, admission, memory and CPU on the local cluster at N = 1,000 and 10,000 pods.
	KUBEBUILDER_ASSETS="$$($(SETUP_CONTROL_PLANE))" go run ./hack/bench --operator $(LOCALBIN)/sidecarset-operator $(BENCH_ARGS)

##@ Build

.PHONY: helm-chart
helm-chart: build-installer ## Write the Helm chart charts/sidecarset-operator from the rendered install and config/prometheus.
	go run ./hack/helmchart --version $(VERSION) --install dist/install.yaml \
	  --prometheus <($(KUSTOMIZE) build config/prometheus) --out charts/sidecarset-operator

.PHONY: bundle
bundle: build-installer ## Write the OLM bundle (bundle/, bundle.Dockerfile) from config/manifests and the rendered install.
	go run ./hack/bundle --version $(VERSION) --image $(IMG)

.PHONY: image
image: ## Build the operator's image without a container daemon: dist/image (OCI layout) and dist/sidecarset-operator.tar (docker load).
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) go build -trimpath -ldflags='-s -w' -o $(LOCALBIN)/linux_$(ARCH)/sidecarset-operator .
	go run ./hack/image --binary $(LOCALBIN)/linux_$(ARCH)/sidecarset-operator --arch $(ARCH) --tag $(IMG)

.PHONY: build-installer
build-installer: manifests kustomize ## Render config/default into dist/install.yaml, the kubectl apply install (IMG sets the image).
	@mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml
	cd config/manager && $(KUSTOMIZE) edit set image controller=sidecarset-operator:latest

.PHONY: build
build: ## Build the operator binary into bin/sidecarset-operator, and the kubectl plugin into bin/kubectl-sidecarset.
	go build -o $(LOCALBIN)/sidecarset-operator .
	go build -o $(LOCALBIN)/kubectl-sidecarset ./cmd/kubectl-sidecarset

.PHONY: plugin-release
plugin-release: ## Cross-compile the kubectl plugin (linux, darwin; amd64, arm64) into dist/plugin/ archives, with their krew manifest.
	rm -rf $(PLUGIN_DIST)
	for platform in $(PLUGIN_PLATFORMS); do \
	  os=$${platform%/*} arch=$${platform#*/}; \
	  echo "Building kubectl-sidecarset for $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags='-s -w -X main.version=$(PLUGIN_VERSION)' \
	    -o $(PLUGIN_DIST)/$${os}_$${arch}/kubectl-sidecarset ./cmd/kubectl-sidecarset; \
	done
	go run ./hack/krew --version $(PLUGIN_VERSION) --dist $(PLUGIN_DIST) --url $(PLUGIN_URL) --platforms "$(PLUGIN_PLATFORMS)"

.PHONY: run
run: ## Run the operator against the cluster of the current kubeconfig.
	go run . $(ARGS)

##@ Tools

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into bin/.
$(KUSTOMIZE):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $(KUSTOMIZE)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

.PHONY: gojq
gojq: $(GOJQ) ## Install gojq into bin/ (the jq of the documentation's commands in the end-to-end suite).
$(GOJQ):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/itchyny/gojq/cmd/gojq@$(GOJQ_VERSION)
	mv $(LOCALBIN)/gojq $(GOJQ)

.PHONY: helm
helm: $(HELM) ## Install helm into bin/ (the chart's lint and render in make test, its install in make test-e2e).
$(HELM):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $(HELM)
