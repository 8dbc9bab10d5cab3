package gitops

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

// health runs the health check on a SidecarSet given as YAML.
func health(t *testing.T, object string) (status, message string) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(object), &obj); err != nil {
		t.Fatal(err)
	}
	status, message, err := ArgoCDHealth("../..", obj)
	if err != nil {
		t.Fatal(err)
	}
	return status, message
}

func TestArgoCDHealth(t *testing.T) {
	tests := []struct {
		name, object        string
		status, wantMessage string
	}{
		{"no status yet", `
metadata: {name: log-shipper, generation: 1}`, "Progressing", "Waiting for the operator to observe generation 1"},
		{"status of an older generation", `
metadata: {name: log-shipper, generation: 3}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: RolloutComplete, message: 10 of 10 pods on revision log-shipper-1}`,
			"Progressing", "Waiting for the operator to observe generation 3"},
		{"rolled out", `
metadata: {name: log-shipper, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: RolloutComplete, message: 10 of 10 pods on revision log-shipper-2}
  - {type: Drifted, status: "False", reason: UpToDate, message: 10 of 10 pods on revision log-shipper-2}`,
			"Healthy", "10 of 10 pods on revision log-shipper-2"},
		{"a partition reached is healthy", `
metadata: {name: canary, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: RolloutComplete, message: 1 of 10 pods on revision canary-2}
  - {type: Drifted, status: "True", reason: Partitioned, message: 9 pods held back by the partition}`,
			"Healthy", "1 of 10 pods on revision canary-2"},
		{"rolling out", `
metadata: {name: log-shipper, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: RollingOut, message: "4 of 10 pods on revision log-shipper-2; 6 left to update, 2 unavailable (maxUnavailable 2)"}
  - {type: Reconciling, status: "True", reason: RollingOut, message: "4 of 10 pods on revision log-shipper-2; 6 left to update, 2 unavailable (maxUnavailable 2)"}`,
			"Progressing", "4 of 10 pods on revision log-shipper-2; 6 left to update, 2 unavailable (maxUnavailable 2)"},
		{"paused with pods left", `
metadata: {name: log-shipper, generation: 3}
spec: {updateStrategy: {paused: true}}
status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: Paused, message: 4 of 10 pods on revision log-shipper-2}`,
			"Suspended", "4 of 10 pods on revision log-shipper-2"},
		{"stopped by the failure policy", `
metadata: {name: log-shipper, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: FailurePolicyPaused, message: "2 pods failed, maxFailedPods is 2"}
  - {type: Stalled, status: "True", reason: FailurePolicyPaused, message: "2 pods failed, maxFailedPods is 2"}`,
			"Degraded", "FailurePolicyPaused: 2 pods failed, maxFailedPods is 2"},
		{"rolled back", `
metadata: {name: log-shipper, generation: 2}
status:
  observedGeneration: 2
  rolledBackTo: log-shipper-1
  conditions:
  - {type: Ready, status: "False", reason: RolledBack, message: pods returned to revision log-shipper-1}
  - {type: Stalled, status: "True", reason: RolledBack, message: pods returned to revision log-shipper-1}`,
			"Degraded", "RolledBack: pods returned to revision log-shipper-1"},
		{"status without conditions", `
metadata: {name: log-shipper, generation: 1}
status: {observedGeneration: 1}`, "Progressing", "Waiting for the operator to report status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, message := health(t, tt.object)
			if status != tt.status || message != tt.wantMessage {
				t.Errorf("health = %s (%q), want %s (%q)", status, message, tt.status, tt.wantMessage)
			}
		})
	}
}

// TestArgoCDHealthOfComputedStatuses runs the health check on statuses the operator computes, not fixtures:
// a change that reached no running pod is never Healthy.
func TestArgoCDHealthOfComputedStatuses(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ready := func(name string) status.Pod {
		return status.Pod{Pod: rollout.Pod{Namespace: "shop", Name: name, OnTarget: true, Ready: true, ReadySince: rollout.At(now.Add(-time.Hour))},
			Revision: "logs-2"}
	}
	for _, tt := range []struct {
		name string
		pod  status.Pod
		want string
	}{
		{"every pod on the latest revision", ready("web-1"), "Healthy"},
		{"a pod that needs recreating", status.Pod{Pod: rollout.Pod{Namespace: "shop", Name: "web-1", Ready: true}, Revision: "logs-1"}, "Degraded"},
		{"a pod never injected", status.Pod{Pod: rollout.Pod{Namespace: "shop", Name: "web-1", Ready: true}, Missing: true}, "Degraded"},
		{"a pod with a name conflict", func() status.Pod { p := ready("web-1"); p.Conflicted = true; return p }(), "Degraded"},
		{"a pod on the latest revision whose app fails", func() status.Pod { p := ready("web-1"); p.Ready = false; return p }(), "Healthy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pods := []status.Pod{ready("web-0"), tt.pod}
			planned := make([]rollout.Pod, len(pods))
			for i := range pods {
				planned[i] = pods[i].Pod
			}
			plan, err := rollout.Compute(&appsv1alpha1.UpdateStrategy{}, planned, now)
			if err != nil {
				t.Fatal(err)
			}
			st := status.Compute(&appsv1alpha1.SidecarSetStatus{}, status.Input{Generation: 2, LatestRevision: "logs-2",
				Revisions: []string{"logs-2", "logs-1"}, Pods: pods, Plan: plan}, metav1.NewTime(now))
			obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&appsv1alpha1.SidecarSet{
				ObjectMeta: metav1.ObjectMeta{Name: "logs", Generation: 2}, Status: st})
			if err != nil {
				t.Fatal(err)
			}
			got, message, err := ArgoCDHealth("../..", obj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("health = %s (%s), want %s", got, message, tt.want)
			}
		})
	}
}
