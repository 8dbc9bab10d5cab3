package gitops

import (
	"testing"

	"sigs.k8s.io/yaml"
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
