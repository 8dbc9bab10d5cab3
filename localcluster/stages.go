package localcluster

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
	"time"
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
)

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
// takes to restart on its new image.
func Stages(restartDelay time.Duration) (string, error) {
	t, err := template.New("stages").Delims("[[", "]]").Parse(stagesTemplate)
	if err != nil {
		return "", fmt.Errorf("parsing the kwok stages: %w", err)
	}
	var b strings.Builder
	err = t.Execute(&b, map[string]any{
		"RestartDelayMilliseconds": restartDelay.Milliseconds(),
		// Single-quoted YAML: the expressions hold no single quote.
		"Changed": changedExpr,
		"Failing": failingExpr,
	})
	if err != nil {
		return "", fmt.Errorf("rendering the kwok stages: %w", err)
	}
	return b.String(), nil
}
