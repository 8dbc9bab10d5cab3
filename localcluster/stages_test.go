package localcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// stage is what the tests read of a rendered kwok Stage.
type stage struct {
	Metadata struct{ Name string }
	Spec     struct {
		ResourceRef struct{ Kind string }
		Selector    struct {
			MatchExpressions []struct {
				Key      string
				Operator string
				Values   []string
			}
		}
		Delay *struct{ DurationMilliseconds int64 }
		Next  struct{ StatusTemplate string }
	}
}

func renderStages(t *testing.T, restartDelay time.Duration) []stage {
	t.Helper()
	out, err := Stages(restartDelay)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "[[") {
		t.Fatalf("unrendered template left in the stages:\n%s", out)
	}
	var stages []stage
	for _, doc := range strings.Split(out, "\n---\n") {
		var s stage
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("a stage is not valid YAML: %v\n%s", err, doc)
		}
		stages = append(stages, s)
	}
	return stages
}

func TestStagesRenderTheRestartDelayAndSelectors(t *testing.T) {
	stages := renderStages(t, 750*time.Millisecond)
	var names []string
	delays := map[string]int64{}
	keys := map[string]bool{}
	for _, s := range stages {
		names = append(names, s.Metadata.Name)
		if s.Spec.Delay != nil {
			delays[s.Metadata.Name] = s.Spec.Delay.DurationMilliseconds
		}
		for _, e := range s.Spec.Selector.MatchExpressions {
			if e.Key == "" {
				t.Errorf("stage %s has a selector without a key", s.Metadata.Name)
			}
			keys[e.Key] = true
		}
	}
	want := "node-initialize node-heartbeat pod-start pod-container-stop pod-container-restart pod-container-fail " +
		"pod-resize-infeasible pod-resize-start pod-resize-finish pod-resize-clear pod-complete pod-delete"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("stages %s, want %s", got, want)
	}
	// A resize takes as long as an image restart; it is allocated, refused or cleared at once.
	for _, s := range []string{"pod-container-restart", "pod-container-fail", "pod-resize-finish"} {
		if delays[s] != 750 {
			t.Errorf("stage %s waits %d ms, want the restart delay of 750 ms", s, delays[s])
		}
	}
	for _, s := range []string{"pod-container-stop", "pod-resize-infeasible", "pod-resize-start", "pod-resize-clear"} {
		if d, ok := delays[s]; ok {
			t.Errorf("stage %s waits %d ms, want it at once", s, d)
		}
	}
	cpu, memory := resource.MustParse(resizeCapacityCPU), resource.MustParse(resizeCapacityMemory)
	for name, expr := range map[string]string{
		"changed":           changedExpr,
		"failing":           failingExpr,
		"resize":            resizeExpr,
		"infeasible":        infeasibleExpr(cpu.MilliValue(), memory.Value()),
		"resize started":    currentConditionExpr("PodResizeInProgress"),
		"resize refused":    currentConditionExpr("PodResizePending"),
		"resize conditions": resizeConditionsExpr,
	} {
		if !keys[expr] {
			t.Errorf("the %s expression is not the key of any selector", name)
		}
	}
}

// The stages of a running pod must exclude one another, or kwok plays one of them at random. Each pair differs in
// the values it asks of some key (pod-container-fail selects on failingExpr instead, which is true only while an
// image changes, when changedExpr is false).
func TestTheStagesOfARunningPodExcludeOneAnother(t *testing.T) {
	var running []stage
	for _, s := range renderStages(t, time.Second) {
		switch s.Metadata.Name {
		case "pod-container-stop", "pod-container-restart", "pod-resize-infeasible", "pod-resize-start",
			"pod-resize-finish", "pod-resize-clear":
			running = append(running, s)
		}
	}
	if len(running) != 6 {
		t.Fatalf("found %d of the 6 stages of a running pod", len(running))
	}
	for i, a := range running {
		for _, b := range running[i+1:] {
			if !excludes(a, b) {
				t.Errorf("stages %s and %s can match the same pod", a.Metadata.Name, b.Metadata.Name)
			}
		}
	}
	for _, s := range running {
		if s.Metadata.Name == "pod-container-stop" || s.Metadata.Name == "pod-container-restart" {
			continue
		}
		if vals, ok := selects(s, changedExpr); !ok || !slices.Equal(vals, []string{"true"}) {
			t.Errorf("stage %s does not wait for the images to settle (changed %v)", s.Metadata.Name, vals)
		}
	}
}

// selects returns the values a stage's In expression of key asks for, or the complement for NotIn of a boolean.
func selects(s stage, key string) ([]string, bool) {
	for _, e := range s.Spec.Selector.MatchExpressions {
		if e.Key != key {
			continue
		}
		switch e.Operator {
		case "In":
			return e.Values, true
		case "NotIn":
			var rest []string
			for _, v := range []string{"true", "false", "True", "False"} {
				if !slices.Contains(e.Values, v) {
					rest = append(rest, v)
				}
			}
			return rest, true
		}
	}
	return nil, false
}

func excludes(a, b stage) bool {
	for _, e := range a.Spec.Selector.MatchExpressions {
		va, okA := selects(a, e.Key)
		vb, okB := selects(b, e.Key)
		if okA && okB && !slices.ContainsFunc(va, func(v string) bool { return slices.Contains(vb, v) }) {
			return true
		}
	}
	return false
}

// A stage that writes a container status field by field must carry its resources over, or an image restart
// would undo a resize.
func TestStagesThatRewriteAContainerStatusKeepItsResources(t *testing.T) {
	var rewriting []string
	for _, s := range renderStages(t, time.Second) {
		tpl := s.Spec.Next.StatusTemplate
		written := strings.Count(tpl, "\n- name: ")
		if written == 0 {
			continue
		}
		rewriting = append(rewriting, s.Metadata.Name)
		for _, field := range []string{"\n  resources: ", "\n  allocatedResources: "} {
			if n := strings.Count(tpl, field); n != written {
				t.Errorf("stage %s writes %d container statuses, %d of them with %q", s.Metadata.Name, written, n, strings.TrimSpace(field))
			}
		}
	}
	want := []string{"pod-start", "pod-container-stop", "pod-container-restart", "pod-container-fail", "pod-complete"}
	if !slices.Equal(rewriting, want) {
		t.Errorf("stages %v write container statuses field by field, want %v", rewriting, want)
	}
}

// The API server refuses a resize beyond the node's allocatable before a kubelet sees it: the simulated kubelet
// must have less room than that, or no resize would ever be Infeasible.
func TestTheKubeletRefusesResizesTheAPIServerAdmits(t *testing.T) {
	cs := fake.NewClientset()
	c := &Cluster{opts: Options{Nodes: 1, PodsPerNode: 110}}
	if err := c.createNodes(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes %v, %v", nodes, err)
	}
	cpu, memory := resource.MustParse(resizeCapacityCPU), resource.MustParse(resizeCapacityMemory)
	alloc := nodes.Items[0].Status.Allocatable
	if cpu.Cmp(*alloc.Cpu()) >= 0 || memory.Cmp(*alloc.Memory()) >= 0 {
		t.Errorf("the simulated kubelet has cpu %s, memory %s for a pod, not less than the nodes' allocatable cpu %s, memory %s",
			&cpu, &memory, alloc.Cpu(), alloc.Memory())
	}

	var infeasible stage
	for _, s := range renderStages(t, time.Second) {
		if s.Metadata.Name == "pod-resize-infeasible" {
			infeasible = s
		}
	}
	for _, want := range []string{
		fmt.Sprintf("capacity: %%d\" $memory %d", memory.Value()),
		fmt.Sprintf("capacity: %%d\" $cpu %d", cpu.MilliValue()),
		`reason: Infeasible`,
	} {
		if !strings.Contains(infeasible.Spec.Next.StatusTemplate, want) {
			t.Errorf("the infeasible stage does not render %q:\n%s", want, infeasible.Spec.Next.StatusTemplate)
		}
	}
	expr := infeasibleExpr(cpu.MilliValue(), memory.Value())
	if !strings.Contains(expr, fmt.Sprintf("> %d or ", cpu.MilliValue())) || !strings.HasSuffix(expr, fmt.Sprintf("> %d", memory.Value())) {
		t.Errorf("the infeasible expression does not compare with the kubelet's room: %s", expr)
	}
}

func TestKwokConfigSetsTheWorkersAfterTheStages(t *testing.T) {
	out, err := KwokConfig(500*time.Millisecond, 48)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "\n---\n")
	var kinds []string
	var workers uint
	for _, doc := range docs {
		var obj struct {
			APIVersion string
			Kind       string
			Options    struct{ PodPlayStageParallelism uint }
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("a document is not valid YAML: %v\n%s", err, doc)
		}
		kinds = append(kinds, obj.Kind)
		if obj.Kind == "KwokConfiguration" {
			if obj.APIVersion != "config.kwok.x-k8s.io/v1alpha1" {
				t.Errorf("KwokConfiguration apiVersion %q", obj.APIVersion)
			}
			workers = obj.Options.PodPlayStageParallelism
		}
	}
	if len(kinds) != 13 || kinds[12] != "KwokConfiguration" {
		t.Fatalf("documents %v, want the 12 stages then a KwokConfiguration", kinds)
	}
	if workers != 48 {
		t.Errorf("podPlayStageParallelism %d, want 48", workers)
	}
}
