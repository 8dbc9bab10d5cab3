package inject

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sidecarset/sidecarset-operator/internal/fixture"
)

// hostPortCheck stands in for the API server: it refuses a pod with a container named "bad", or two
// containers on one host port, naming the first.
func hostPortCheck(calls *int) Check {
	return func(p *corev1.Pod) string {
		*calls++
		seen := map[int32]string{}
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			if c.Name == "bad" {
				return `container "bad" is refused`
			}
			for _, port := range c.Ports {
				if other, ok := seen[port.HostPort]; ok && port.HostPort != 0 {
					return fmt.Sprintf("host port %d of %q is taken by %q", port.HostPort, c.Name, other)
				}
				seen[port.HostPort] = c.Name
			}
		}
		return ""
	}
}

func TestChecked(t *testing.T) {
	app := `{spec: {containers: [{name: app, image: app:1, ports: [{containerPort: 80, hostPort: 80}]}]}}`
	good := sidecars(t, "a-good", `{containers: [{name: good, image: good:1}]}`)
	bad := sidecars(t, "b-bad", `{containers: [{name: bad, image: bad:1}]}`)
	port9100 := sidecars(t, "c-metrics", `{containers: [{name: metrics, image: m:1, ports: [{containerPort: 9100, hostPort: 9100}]}]}`)
	alsoPort9100 := sidecars(t, "d-exporter", `{containers: [{name: exporter, image: e:1, ports: [{containerPort: 9100, hostPort: 9100}]}]}`)
	port80 := sidecars(t, "e-proxy", `{containers: [{name: proxy, image: p:1, ports: [{containerPort: 80, hostPort: 80}]}]}`)

	tests := []struct {
		name     string
		pod      string
		sets     []Sidecars
		injected string            // container names of the result
		skipped  map[string]string // SidecarSet -> reason
		calls    int               // runs of check
	}{
		{"a pod that passes with its sidecars is checked once", app, []Sidecars{good, port9100}, "good,metrics,app", nil, 1},
		{"a SidecarSet that breaks the pod is skipped, the others injected", app, []Sidecars{port80, good, bad}, "good,app",
			map[string]string{"b-bad": `container "bad" is refused`, "e-proxy": `host port 80 of "app" is taken by "proxy"`}, 5},
		{"of two SidecarSets that clash only together, the first by name is kept", app, []Sidecars{alsoPort9100, port9100}, "metrics,app",
			map[string]string{"d-exporter": `host port 9100 of "exporter" is taken by "metrics"`}, 4},
		{"a pod refused without sidecars is injected as Inject does", `{spec: {containers: [{name: bad, image: x}]}}`, []Sidecars{good},
			"good,bad", nil, 2},
		{"nothing selected, nothing checked", app, nil, "app", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fixture.Pod(t, tt.pod)
			original := p.DeepCopy()
			calls := 0
			got, results, err := Checked(p, tt.sets, hostPortCheck(&calls))
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(p, original) {
				t.Fatal("Checked modified its input")
			}
			if n := names(got.Spec.Containers); n != tt.injected {
				t.Errorf("containers %s, want %s", n, tt.injected)
			}
			if calls != tt.calls {
				t.Errorf("check ran %d times, want %d", calls, tt.calls)
			}
			st := state(t, got)
			for _, r := range results {
				want := tt.skipped[r.SidecarSet]
				if r.Skipped != want || st[r.SidecarSet].Skipped != want {
					t.Errorf("%s: skipped %q, recorded %q, want %q", r.SidecarSet, r.Skipped, st[r.SidecarSet].Skipped, want)
				}
				if want != "" {
					if r.Outcome() != OutcomeSkipped || len(r.Injected) > 0 || len(st[r.SidecarSet].Images) > 0 {
						t.Errorf("%s: skipped, yet %+v", r.SidecarSet, r)
					}
					if msgs := r.Messages(); len(msgs) != 1 || msgs[0] != "SidecarSet "+r.SidecarSet+": sidecars not injected: "+want {
						t.Errorf("%s: messages %q", r.SidecarSet, msgs)
					}
				}
			}
			assertPatchReproduces(t, original, got)

			// The pod's creation reinvoking the webhook changes nothing: a skipped SidecarSet stays skipped.
			calls = 0
			again, _, err := Checked(got, tt.sets, hostPortCheck(&calls))
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(again, got) || calls != 0 {
				t.Errorf("a second injection changed the pod or ran check %d times", calls)
			}
			if strings.Contains(names(got.Spec.Containers), "bad") && tt.skipped["b-bad"] != "" {
				t.Error("a skipped sidecar was injected")
			}
		})
	}
}
