package localcluster

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

//go:embed stages.yaml
var stagesTemplate string

// Selector expressions (jq, as kwok evaluates them) shared by the in-place update stages.
const (
	// changedExpr is "false" while some container's spec image differs from the image in its status: the
	// kubelet has a container to restart.
	changedExpr = `([.spec.containers[], (.spec.initContainers // [])[] | {(.name): .image}] | add) == ` +
		`([(.status.containerStatuses // [])[], (.status.initContainerStatuses // [])[] | {(.name): .image}] | add)`
	// failingExpr is "true" while a container's spec image has a failure marker that its status does not
	// show yet: that container is about to fail rather than restart.
	failingExpr = `. as $p | [ $p.spec.containers[], ($p.spec.initContainers // [])[] | ` +
		`select(.image | test("badpull|crashloop")) | .name as $n | .image as $i | ` +
		`([ ($p.status.containerStatuses // [])[], ($p.status.initContainerStatuses // [])[] | select(.name == $n) ][0]) as $s | ` +
		`($s == null or $s.image != $i) ] | any`

	// resizeExpr is "true" while some container's (or native sidecar's) requests or limits in the spec differ
	// from the resources its status reports: the kubelet has a resize to make. A missing map equals an empty one.
	resizeExpr = `def res: {requests: (.resources.requests // {}), limits: (.resources.limits // {})}; ` +
		`([.spec.containers[], (.spec.initContainers // [])[] | {(.name): res}] | add) != ` +
		`([(.status.containerStatuses // [])[], (.status.initContainerStatuses // [])[] | {(.name): res}] | add)`
	// resizeConditionsExpr is "true" while the pod has a PodResizePending or PodResizeInProgress condition.
	resizeConditionsExpr = `[(.status.conditions // [])[] | select(.type == "PodResizePending" or .type == "PodResizeInProgress")] | length > 0`
	// quantityDef parses a resource quantity as the API server writes it (a number, then a suffix or an exponent).
	quantityDef = `def qty: capture("^(?<n>[0-9.]+)(?<s>[a-zA-Z]*)$") as $q | ` +
		`({"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, ` +
		`"Ki": pow(2; 10), "Mi": pow(2; 20), "Gi": pow(2; 30), "Ti": pow(2; 40), "Pi": pow(2; 50), "Ei": pow(2; 60)}[$q.s]) as $u | ` +
		`if $u == null then tonumber else ($q.n | tonumber) * $u end; `
)

// The cpu and memory the simulated kubelet has for one pod: it refuses, as Infeasible, a resize that would take a
// pod's requests beyond them. The API server itself (its PodResizeValidator admission) refuses with 403 Forbidden a
// resize beyond the node's allocatable (cpu 32, memory 256Gi as createNodes makes the nodes), so that a kubelet
// never sees one; a real kubelet refuses a resize the API server admitted when its node has less room than it
// advertises (allocatable shrunk, a static CPU or memory manager policy, swap). Half the node's allocatable stands
// in for that room, leaving a window of resizes the API server admits and the kubelet refuses.
const (
	resizeCapacityCPU    = "16"
	resizeCapacityMemory = "128Gi"
)

// currentConditionExpr is "true" while the pod has a condition of the type with status True, set for the pod's
// current generation: the kubelet has answered the latest spec (a resize bumps the generation).
func currentConditionExpr(conditionType string) string {
	return `.metadata.generation as $g | [(.status.conditions // [])[] | ` +
		`select(.type == "` + conditionType + `" and .status == "True" and .observedGeneration == $g)] | length > 0`
}

// infeasibleExpr is "true" while the pod's requests ask for more cpu (in millicores) or memory (in bytes) than the
// kubelet has for it. The requests are summed over its containers and native sidecars, as a kubelet counts a
// running pod against its node (a kubelet also weighs the largest regular init container and the pod overhead,
// which the simulation leaves out).
func infeasibleExpr(milliCPU, memoryBytes int64) string {
	return quantityDef + `[.spec.containers[], ((.spec.initContainers // [])[] | select(.restartPolicy == "Always"))] as $c | ` +
		fmt.Sprintf(`([$c[] | .resources.requests.cpu // empty | qty * 1000 | round] | add // 0) > %d or `, milliCPU) +
		fmt.Sprintf(`([$c[] | .resources.requests.memory // empty | qty] | add // 0) > %d`, memoryBytes)
}

// KwokConfig renders kwok's configuration file: the stages, and kwok's options with workers playing pod
// stages at once. kwok does not default the options of a configuration it loads, so the other options are
// given with kwok's own defaults.
func KwokConfig(restartDelay time.Duration, workers int) (string, error) {
	stages, err := Stages(restartDelay)
	if err != nil {
		return "", err
	}
	return stages + fmt.Sprintf(`---
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: 10.0.0.0/16
  podPlayStageParallelism: %d
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
`, workers), nil
}

// Stages renders the kwok stages of the local cluster, with restartDelay as the time a changed container
// takes to restart on its new image, and a resize to be done.
func Stages(restartDelay time.Duration) (string, error) {
	t, err := template.New("stages").Delims("[[", "]]").Parse(stagesTemplate)
	if err != nil {
		return "", fmt.Errorf("parsing the kwok stages: %w", err)
	}
	var b strings.Builder
	cpu, memory := resource.MustParse(resizeCapacityCPU), resource.MustParse(resizeCapacityMemory)
	err = t.Execute(&b, map[string]any{
		"RestartDelayMilliseconds": restartDelay.Milliseconds(),
		"CapacityMilliCPU":         cpu.MilliValue(),
		"CapacityMemoryBytes":      memory.Value(),
		// Single-quoted YAML: the expressions hold no single quote.
		"Changed":          changedExpr,
		"Failing":          failingExpr,
		"Resize":           resizeExpr,
		"Infeasible":       infeasibleExpr(cpu.MilliValue(), memory.Value()),
		"ResizeStarted":    currentConditionExpr("PodResizeInProgress"),
		"ResizeRefused":    currentConditionExpr("PodResizePending"),
		"ResizeConditions": resizeConditionsExpr,
	})
	if err != nil {
		return "", fmt.Errorf("rendering the kwok stages: %w", err)
	}
	return b.String(), nil
}
