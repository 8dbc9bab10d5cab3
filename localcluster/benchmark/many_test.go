package benchmark

import (
	"encoding/json"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAPIMetricsReadTheWritesToMutatingWebhookConfigurations(t *testing.T) {
	raw := []byte(`# TYPE apiserver_request_body_size_bytes histogram
apiserver_request_body_size_bytes_bucket{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="create",le="50000"} 2
apiserver_request_body_size_bytes_bucket{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="create",le="+Inf"} 2
apiserver_request_body_size_bytes_sum{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="create"} 4600
apiserver_request_body_size_bytes_count{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="create"} 2
apiserver_request_body_size_bytes_bucket{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="update",le="50000"} 1
apiserver_request_body_size_bytes_bucket{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="update",le="+Inf"} 3
apiserver_request_body_size_bytes_sum{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="update"} 250000
apiserver_request_body_size_bytes_count{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="update"} 3
apiserver_request_body_size_bytes_bucket{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="delete",le="+Inf"} 4
apiserver_request_body_size_bytes_sum{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="delete"} 400
apiserver_request_body_size_bytes_count{group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",verb="delete"} 4
apiserver_request_body_size_bytes_bucket{group="admissionregistration.k8s.io",resource="validatingwebhookconfigurations",verb="update",le="+Inf"} 1
apiserver_request_body_size_bytes_sum{group="admissionregistration.k8s.io",resource="validatingwebhookconfigurations",verb="update"} 9999
apiserver_request_body_size_bytes_count{group="admissionregistration.k8s.io",resource="validatingwebhookconfigurations",verb="update"} 1
# TYPE apiserver_request_total counter
apiserver_request_total{code="409",component="apiserver",group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",scope="resource",subresource="",verb="PUT",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",scope="resource",subresource="",verb="PUT",version="v1"} 1
apiserver_request_total{code="409",component="apiserver",group="admissionregistration.k8s.io",resource="mutatingwebhookconfigurations",scope="resource",subresource="",verb="DELETE",version="v1"} 5
apiserver_request_total{code="409",component="apiserver",group="admissionregistration.k8s.io",resource="validatingwebhookconfigurations",scope="resource",subresource="",verb="PUT",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="PATCH",version="v1"} 1
`)
	m, err := parseAPIMetrics(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.configWrites.count != 5 || m.configWrites.sum != 254600 {
		t.Errorf("configuration writes: %v requests of %v bytes; want 5 of 254600 (creates and updates only)", m.configWrites.count, m.configWrites.sum)
	}
	if m.configWriteConflicts != 2 {
		t.Errorf("configuration writes refused: %v, want 2 (the PUTs, not the DELETEs or other resources)", m.configWriteConflicts)
	}
	if m.podWriteConflicts != 1 {
		t.Errorf("pod write conflicts: %v, want 1", m.podWriteConflicts)
	}
	before := apiMetrics{configWrites: histogram{buckets: map[float64]float64{}, count: 2, sum: 4600}}
	if d := m.configWrites.minus(before.configWrites); d.count != 3 || d.sum != 250000 {
		t.Errorf("writes between two scrapes: %v of %v bytes, want 3 of 250000", d.count, d.sum)
	}
}

func TestVersionLogCountsEachVersionOnce(t *testing.T) {
	l := versionLog{seen: map[string]string{}}
	for _, v := range []struct {
		name, rv string
		size     int
		isNew    bool
	}{
		{"cfg", "1", 100, true},
		{"cfg", "1", 100, false}, // a relist delivers it again
		{"cfg", "2", 150, true},
		{"cfg-1", "3", 70, true},
		{"cfg", "2", 150, false},
	} {
		if got := l.observe(v.name, v.rv, v.size); got != v.isNew {
			t.Errorf("observe(%s, %s) = %v, want %v", v.name, v.rv, got, v.isNew)
		}
	}
	if l.versions != 3 || l.bytes != 320 {
		t.Errorf("%d versions of %d bytes, want 3 of 320", l.versions, l.bytes)
	}
}

func TestCountEntriesCountsThePhasesEntriesOnce(t *testing.T) {
	wh := func(names ...string) []admissionregistrationv1.MutatingWebhook {
		var out []admissionregistrationv1.MutatingWebhook
		for _, n := range names {
			out = append(out, admissionregistrationv1.MutatingWebhook{Name: n})
		}
		return out
	}
	configs := map[string]*admissionregistrationv1.MutatingWebhookConfiguration{
		"sidecarset-operator":   {Webhooks: wh("many-0.inject.sidecarset.io", "many-1.inject.sidecarset.io", "other.inject.sidecarset.io")},
		"sidecarset-operator-1": {Webhooks: wh("many-2.inject.sidecarset.io", "many-1.inject.sidecarset.io", "many-3.example.com")},
	}
	if got := countEntries(configs, manyPrefix); got != 3 {
		t.Errorf("countEntries = %d, want 3", got)
	}
}

func TestConfigJSONSizeIsTheObjectAsJSONWithItsKind(t *testing.T) {
	c := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator", ResourceVersion: "12"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "many-0.inject.sidecarset.io"}}}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got := ConfigJSONSize(c)
	kind := len(`"kind":"MutatingWebhookConfiguration","apiVersion":"admissionregistration.k8s.io/v1",`)
	if got != len(data)+kind {
		t.Errorf("ConfigJSONSize = %d, want %d (%d without apiVersion and kind)", got, len(data)+kind, len(data))
	}
	if c.Kind != "" {
		t.Errorf("ConfigJSONSize changed the object: kind %q", c.Kind)
	}
	if strings.Contains(string(data), "kind") {
		t.Errorf("the object had a kind before: %s", data)
	}
}

func TestPerSidecarSet(t *testing.T) {
	if got := PerSidecarSet(9000, 900); got != 10 {
		t.Errorf("PerSidecarSet(9000, 900) = %v, want 10", got)
	}
	if got := PerSidecarSet(9000, 0); got != 0 {
		t.Errorf("PerSidecarSet(9000, 0) = %v, want 0", got)
	}
}

func TestManySidecarSetSelectsItsOwnLabel(t *testing.T) {
	s := manySidecarSet(42)
	if s.Name != "many-42" || s.Labels[manyLabel] != "true" || s.Spec.Selector.MatchLabels["app"] != "set-42" ||
		len(s.Spec.Containers) != 1 || s.Spec.Containers[0].Name != sidecarName {
		t.Errorf("SidecarSet 42: %+v", s)
	}
}
