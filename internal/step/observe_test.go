package step

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fx "github.com/sidecarset/sidecarset-operator/internal/fixture" // renamed: fixture is this package's fixture type
	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/internal/status"
)

func observedPod(t *testing.T, state string) (*podview.View, podstate.State) {
	t.Helper()
	p := fx.Pod(t, `
metadata: {namespace: ns, name: web-1, labels: {app: web}}
spec:
  containers: [{name: shipper, image: shipper:1}, {name: app, image: web:1}]
status:
  conditions: [{type: Ready, status: "True", lastTransitionTime: "2026-11-25T11:00:00Z"}]
  containerStatuses:
  - {name: shipper, image: shipper:1, imageID: "sha256:s1", containerID: "c://s-1", ready: true, state: {running: {}}}
  - {name: app, image: web:1, containerID: "c://a-1", ready: true, state: {running: {}}}
`)
	if state != "" {
		p.Annotations = map[string]string{"sidecarset.io/state": state}
	}
	s, err := podstate.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return view(t, p, nil), s
}

func contentsOf(t testing.TB) map[string]revision.Injected {
	return map[string]revision.Injected{
		"logs-r1": fx.Injected(t, `{containers: [{name: shipper, image: shipper:1}]}`),
		"logs-r2": fx.Injected(t, `{containers: [{name: shipper, image: shipper:2}]}`),
		"logs-r3": fx.Injected(t, `{containers: [{name: shipper, image: shipper:2, args: [--new]}]}`),
	}
}

func TestObserve(t *testing.T) {
	tests := []struct {
		name   string
		state  string
		target string
		check  func(t *testing.T, o status.Pod, delta inplace.Delta, progress string)
	}{
		{"never injected", "", "logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if !o.Missing || o.Updatable || o.OnTarget || !o.Ready {
				t.Errorf("%+v", o)
			}
		}},
		{"behind by an image", `{"logs":{"revision":"logs-r1","images":{"shipper":"shipper:1"}}}`, "logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if !o.Updatable || o.OnTarget || delta.Images["shipper"] != "shipper:2" || o.Revision != "logs-r1" {
				t.Errorf("%+v", o)
			}
			if !o.ReadySince.Time().Equal(time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)) {
				t.Errorf("ready since %v", o.ReadySince.Time())
			}
		}},
		{"behind by more than images", `{"logs":{"revision":"logs-r1","images":{"shipper":"shipper:1"}}}`, "logs-r3", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if o.Updatable || o.Missing {
				t.Errorf("%+v", o)
			}
		}},
		{"on a revision no longer stored", `{"logs":{"revision":"logs-r0","images":{"shipper":"shipper:0"}}}`, "logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if o.Updatable || o.OnTarget {
				t.Errorf("%+v", o)
			}
		}},
		{"a conflicted pod is not updated in place", `{"logs":{"revision":"logs-r1","conflicts":["shipper"]}}`, "logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if !o.Conflicted || o.Updatable {
				t.Errorf("%+v", o)
			}
		}},
		{"a pod injection skipped has nothing to update in place", `{"logs":{"revision":"logs-r1","skipped":"the pod would be invalid: x"}}`, "logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if o.Skipped != "the pod would be invalid: x" || o.Updatable || !delta.Empty() {
				t.Errorf("%+v", o)
			}
		}},
		{"on target with an update in flight", `{"logs":{"revision":"logs-r2","images":{"shipper":"shipper:2"},
			"update":{"from":"logs-r1","startedAt":"2026-11-25T11:59:00Z","containers":{"shipper":{"containerID":"c://s-1","restartCount":0,"imageID":"sha256:s1"}}}}}`,
			"logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
				if !o.OnTarget || !o.Updating || o.Failed || progress == "" {
					t.Errorf("%+v", o)
				}
			}},
		{"on target, settled", `{"logs":{"revision":"logs-r2","images":{"shipper":"shipper:2"}}}`, "logs-r2", func(t *testing.T, o status.Pod, delta inplace.Delta, progress string) {
			if !o.OnTarget || o.Updating || o.Failed {
				t.Errorf("%+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, state := observedPod(t, tt.state)
			st, ok := state["logs"]
			counted, delta, progress, _ := newObserver(contentsOf(t), 10*time.Minute, now).observe(p, st, ok, tt.target)
			var d inplace.Delta
			if delta != nil {
				d = *delta
			}
			tt.check(t, counted, d, progress)
		})
	}
}

func TestTracked(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"running", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"pending", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, true},
		{"succeeded (a completed Job's)", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"failed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
		{"being deleted", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false},
	}
	for _, tt := range tests {
		v, err := podview.Compact(&tt.pod)
		if err != nil {
			t.Fatal(err)
		}
		if got := Tracked(v.(*podview.View)); got != tt.want {
			t.Errorf("%s: Tracked = %v, want %v", tt.name, got, tt.want)
		}
	}
}
