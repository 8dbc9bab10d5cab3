package localcluster

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestStagesRenderTheRestartDelayAndSelectors(t *testing.T) {
	out, err := Stages(750 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "[[") {
		t.Fatalf("unrendered template left in the stages:\n%s", out)
	}
	var names []string
	delays := map[string]int64{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var stage struct {
			Metadata struct{ Name string }
			Spec     struct {
				Selector struct {
					MatchExpressions []struct{ Key string }
				}
				Delay *struct{ DurationMilliseconds int64 }
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &stage); err != nil {
			t.Fatalf("a stage is not valid YAML: %v\n%s", err, doc)
		}
		names = append(names, stage.Metadata.Name)
		if stage.Spec.Delay != nil {
			delays[stage.Metadata.Name] = stage.Spec.Delay.DurationMilliseconds
		}
		for _, e := range stage.Spec.Selector.MatchExpressions {
			if e.Key == "" {
				t.Errorf("stage %s has a selector without a key", stage.Metadata.Name)
			}
		}
	}
	want := "node-initialize node-heartbeat pod-start pod-container-stop pod-container-restart pod-container-fail pod-complete pod-delete"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("stages %s, want %s", got, want)
	}
	for _, s := range []string{"pod-container-restart", "pod-container-fail"} {
		if delays[s] != 750 {
			t.Errorf("stage %s waits %d ms, want the restart delay of 750 ms", s, delays[s])
		}
	}
	if !strings.Contains(out, changedExpr) || !strings.Contains(out, failingExpr) {
		t.Error("the selector expressions were not rendered into the stages")
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
	if len(kinds) != 9 || kinds[8] != "KwokConfiguration" {
		t.Fatalf("documents %v, want the 8 stages then a KwokConfiguration", kinds)
	}
	if workers != 48 {
		t.Errorf("podPlayStageParallelism %d, want 48", workers)
	}
}
