package inplace

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const from = `
containers: [{name: shipper, image: shipper:1, args: [--fast]}, {name: agent, image: agent:1}]
initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}, {name: setup, image: setup:1}]
volumes: [{name: cfg, configMap: {name: cfg}}]
`

func TestDiff(t *testing.T) {
	sized := strings.Replace(from, "args: [--fast]}", "args: [--fast], resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}}", 1)
	tests := []struct {
		name string
		from string // from when ""
		to   string
		want string // "name=image,..." sorted, then "name resized" sorted, "(restarts)" when resizing restarts it; or "not updatable"
	}{
		{"the same revision", "", from, ""},
		{"a sidecar image", "", strings.Replace(from, "shipper:1", "shipper:2", 1), "shipper=shipper:2"},
		{"two images", "", strings.NewReplacer("shipper:1", "shipper:2", "agent:1", "agent:3").Replace(from), "agent=agent:3,shipper=shipper:2"},
		{"a native sidecar image", "", strings.Replace(from, "proxy:1", "proxy:2", 1), "proxy=proxy:2"},
		{"a classic init container image", "", strings.Replace(from, "setup:1", "setup:2", 1), "not updatable"},
		{"an image and an argument", "", strings.NewReplacer("shipper:1", "shipper:2", "--fast", "--slow").Replace(from), "not updatable"},
		{"a new sidecar", "", strings.Replace(from, "{name: agent, image: agent:1}]", "{name: agent, image: agent:1}, {name: extra, image: extra:1}]", 1), "not updatable"},
		{"a volume", "", strings.Replace(from, "name: cfg}", "name: other}", 1), "not updatable"},
		{"a pull secret", "", from + "imagePullSecrets: [{name: reg}]\n", "not updatable"},
		{"a metadata patch", "", from + "patchPodMetadata: [{labels: {a: b}}]\n", "metadata"},
		{"an image and a metadata patch", "", strings.Replace(from, "shipper:1", "shipper:2", 1) + "patchPodMetadata: [{annotations: {a: b}}]\n", "shipper=shipper:2,metadata"},
		{"a removed sidecar", "", strings.Replace(from, ", {name: agent, image: agent:1}", "", 1), "not updatable"},
		{"resources given to a sidecar", "", sized, "shipper resized"},
		{"a sidecar's resources scaled down", sized, strings.Replace(sized, "cpu: 100m", "cpu: 50m", 1), "shipper resized"},
		{"a limit added", strings.Replace(sized, ", limits: {memory: 128Mi}", "", 1), sized, "shipper resized"},
		{"a limit removed, which the API server refuses to resize", sized, strings.Replace(sized, ", limits: {memory: 128Mi}", "", 1), "not updatable"},
		{"a request removed, which the API server refuses to resize", sized, strings.Replace(sized, "cpu: 100m, ", "", 1), "not updatable"},
		{"resources removed", sized, from, "not updatable"},
		{"an image and resources together", sized, strings.NewReplacer("cpu: 100m", "cpu: 1", "shipper:1", "shipper:2").Replace(sized), "shipper=shipper:2,shipper resized"},
		{"a native sidecar's resources", "", strings.Replace(from, "restartPolicy: Always}", "restartPolicy: Always, resources: {limits: {cpu: 200m}}}", 1), "proxy resized"},
		{"a request written as the limit it defaults to", strings.Replace(from, "restartPolicy: Always}", "restartPolicy: Always, resources: {limits: {cpu: 200m}}}", 1),
			strings.Replace(from, "restartPolicy: Always}", "restartPolicy: Always, resources: {requests: {cpu: 0.2}, limits: {cpu: 200m}}}", 1), ""},
		{"a resize restarting the sidecar for memory", sized,
			strings.NewReplacer("memory: 128Mi}", "memory: 256Mi}", "args: [--fast]", "args: [--fast], resizePolicy: [{resourceName: memory, restartPolicy: RestartContainer}]").Replace(sized), "not updatable"},
		{"memory resized under a policy restarting for it", strings.Replace(sized, "args: [--fast]", "args: [--fast], resizePolicy: [{resourceName: memory, restartPolicy: RestartContainer}]", 1),
			strings.NewReplacer("memory: 128Mi}", "memory: 256Mi}", "args: [--fast]", "args: [--fast], resizePolicy: [{resourceName: memory, restartPolicy: RestartContainer}]").Replace(sized), "shipper resized (restarts)"},
		{"cpu resized under a policy restarting for memory", strings.Replace(sized, "args: [--fast]", "args: [--fast], resizePolicy: [{resourceName: memory, restartPolicy: RestartContainer}]", 1),
			strings.NewReplacer("cpu: 100m", "cpu: 200m", "args: [--fast]", "args: [--fast], resizePolicy: [{resourceName: memory, restartPolicy: RestartContainer}]").Replace(sized), "shipper resized"},
		{"ephemeral storage, which is not resized in place", "", strings.Replace(from, "args: [--fast]}", "args: [--fast], resources: {requests: {ephemeral-storage: 1Gi}}}", 1), "not updatable"},
		{"a classic init container's resources", "", strings.Replace(from, "{name: setup, image: setup:1}", "{name: setup, image: setup:1, resources: {requests: {cpu: 1}}}", 1), "not updatable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.from
			if base == "" {
				base = from
			}
			d, ok := Diff(fixture.Injected(t, base), fixture.Injected(t, tt.to))
			got := "not updatable"
			if ok {
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(d.Images)) {
					parts = append(parts, k+"="+d.Images[k])
				}
				for _, k := range slices.Sorted(maps.Keys(d.Resources)) {
					if d.ResizeRestarts[k] {
						k += " resized (restarts)"
					} else {
						k += " resized"
					}
					parts = append(parts, k)
				}
				if d.Metadata != nil {
					parts = append(parts, "metadata")
				}
				got = strings.Join(parts, ",")
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// runningPod is a pod running proxy:1 (a native sidecar), shipper:1 and its app. The tests read it through
// fixture.View(t, p, podstate.State{}): an empty state annotation, which makes the pod cache keep the pod's
// containers, as it does once a SidecarSet injected a pod.
func runningPod(t *testing.T) *corev1.Pod {
	t.Helper()
	return fixture.Pod(t, `
spec:
  initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}]
  containers: [{name: shipper, image: shipper:1}, {name: app, image: web:1}]
status:
  initContainerStatuses:
  - {name: proxy, image: proxy:1, imageID: "sha256:p1", containerID: "c://p-1", restartCount: 0, ready: true, state: {running: {}}}
  containerStatuses:
  - {name: shipper, image: shipper:1, imageID: "sha256:s1", containerID: "c://s-1", restartCount: 2, ready: true, state: {running: {}}}
  - {name: app, image: web:1, imageID: "sha256:w1", containerID: "c://a-1", restartCount: 0, ready: true, state: {running: {}}}
`)
}

func TestPlan(t *testing.T) {
	p := runningPod(t)
	current := podstate.SidecarSetState{Revision: "logs-r1", Images: map[string]string{"shipper": "shipper:1", "proxy": "proxy:1"}}
	change, ok := Plan(fixture.View(t, p, podstate.State{}), current, "logs-r2", Delta{Images: map[string]string{"shipper": "shipper:2", "proxy": "proxy:2"}}, now)
	if !ok {
		t.Fatal("not updatable")
	}
	if len(change.Images) != 2 || change.Images["shipper"] != "shipper:2" || change.Images["proxy"] != "proxy:2" {
		t.Errorf("images %v", change.Images)
	}
	st := change.State
	if st.Revision != "logs-r2" || st.Images["shipper"] != "shipper:2" || st.Update == nil || st.Update.From != "logs-r1" || !st.Update.StartedAt.Time.Equal(now) {
		t.Fatalf("state %+v", st)
	}
	if m := st.Update.Containers["shipper"]; m != (podstate.ContainerMark{ContainerID: "c://s-1", RestartCount: 2, ImageID: "sha256:s1"}) {
		t.Errorf("shipper mark %+v", m)
	}
	if _, ok := st.Update.Containers["app"]; ok {
		t.Error("the app container must not be part of the update")
	}
	if current.Images["shipper"] != "shipper:1" {
		t.Error("Plan modified the current state")
	}

	// A container whose spec already has the image (a write that landed, then a retry) is not changed again.
	change, ok = Plan(fixture.View(t, p, podstate.State{}), current, "logs-r2", Delta{Images: map[string]string{"shipper": "shipper:1"}}, now)
	if !ok || len(change.Images) != 0 || change.State.Update != nil || change.State.Revision != "logs-r2" {
		t.Errorf("change %+v", change)
	}

	// A sidecar the pod lacks (skipped for a conflict) makes the pod not updatable.
	if _, ok := Plan(fixture.View(t, p, podstate.State{}), current, "logs-r2", Delta{Images: map[string]string{"gone": "gone:2"}}, now); ok {
		t.Error("a missing sidecar must make the pod not updatable")
	}
}

// TestPlanSharesTheDeltasImages checks that the changes of pods moving alike hold the delta's map of images,
// not copies (a step keeps a thousand in flight), and that a pod whose images differ gets its own.
func TestPlanSharesTheDeltasImages(t *testing.T) {
	p := runningPod(t)
	delta := Delta{Images: map[string]string{"shipper": "shipper:2", "proxy": "proxy:2"}}
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	current := podstate.SidecarSetState{Revision: "logs-r1", Images: map[string]string{"shipper": "shipper:1", "proxy": "proxy:1"}}
	for range 2 {
		change, ok := Plan(fixture.View(t, p, podstate.State{}), current, "logs-r2", delta, now)
		if !ok || !same(change.Images, delta.Images) || !same(change.State.Images, delta.Images) {
			t.Fatalf("the change's images %v and state's %v are not the delta's map", change.Images, change.State.Images)
		}
	}
	// A pod with a sidecar the delta leaves alone records it in a state of its own.
	current.Images["debug"] = "debug:1"
	change, _ := Plan(fixture.View(t, p, podstate.State{}), current, "logs-r2", delta, now)
	if same(change.State.Images, delta.Images) || change.State.Images["debug"] != "debug:1" || change.State.Images["shipper"] != "shipper:2" {
		t.Errorf("state images %v", change.State.Images)
	}
	if len(delta.Images) != 2 || delta.Images["shipper"] != "shipper:2" {
		t.Errorf("Plan modified the delta: %v", delta.Images)
	}
}

// updated returns the running pod after Plan wrote shipper:2, and the recorded update.
func updated(t *testing.T) (*corev1.Pod, *podstate.Update) {
	p := runningPod(t)
	change, _ := Plan(fixture.View(t, p, podstate.State{}), podstate.SidecarSetState{Revision: "r1"}, "r2", Delta{Images: map[string]string{"shipper": "shipper:2"}}, now)
	p.Spec.Containers[0].Image = "shipper:2"
	return p, change.State.Update
}

func TestProgress(t *testing.T) {
	type statusEdit func(s *corev1.ContainerStatus)
	restarted := func(s *corev1.ContainerStatus) {
		s.Image, s.ImageID, s.ContainerID, s.RestartCount, s.Ready = "shipper:2", "sha256:s2", "c://s-2", 3, true
	}
	tests := []struct {
		name  string
		edit  statusEdit
		after time.Duration
		want  Phase
		why   string
	}{
		{"the kubelet has not acted yet", func(*corev1.ContainerStatus) {}, time.Second, Updating, "still runs shipper:1"},
		{"restarted on the new image and ready", restarted, time.Second, Done, ""},
		{"restarted, not ready yet", func(s *corev1.ContainerStatus) { restarted(s); s.Ready = false }, time.Second, Updating, "restarted, not ready yet"},
		{"new image reported but not restarted", func(s *corev1.ContainerStatus) { s.Image = "shipper:2" }, time.Second, Updating, "not restarted yet"},
		{"restarted with only the restart count changed", func(s *corev1.ContainerStatus) {
			s.Image, s.RestartCount = "shipper:2", 3
		}, time.Second, Done, ""},
		{"a tag moved to the same digest still finishes", func(s *corev1.ContainerStatus) {
			s.Image, s.ContainerID, s.Ready = "shipper:2", "c://s-2", true
		}, time.Second, Done, ""},
		{"the runtime reports the image normalized", func(s *corev1.ContainerStatus) {
			restarted(s)
			s.Image = "docker.io/library/shipper:2"
		}, time.Second, Done, ""},
		{"a new imageID under another name counts as the new image", func(s *corev1.ContainerStatus) {
			restarted(s)
			s.Image = "registry.example.com/mirror/shipper@sha256:s2"
		}, time.Second, Done, ""},
		{"image pull back-off fails at once", func(s *corev1.ContainerStatus) {
			s.Image = "shipper:2"
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}}
		}, time.Second, Failed, "container shipper is in ImagePullBackOff: not found"},
		{"a failure of the image before the update waits for the kubelet", func(s *corev1.ContainerStatus) {
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "shipper:1 not found"}}
		}, time.Second, Updating, "still runs shipper:1"},
		{"a crash loop fails at once", func(s *corev1.ContainerStatus) {
			restarted(s)
			s.Ready = false
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		}, time.Second, Failed, "container shipper is in CrashLoopBackOff"},
		{"not ready past the deadline fails", func(s *corev1.ContainerStatus) { restarted(s); s.Ready = false }, 11 * time.Minute, Failed,
			"container shipper is not ready 10m0s after its update: restarted, not ready yet"},
		{"a missing status waits", nil, time.Second, Updating, "container shipper: no status yet"},
		{"a crash long after the update is not the update's failure", func(s *corev1.ContainerStatus) {
			restarted(s)
			s.Ready = false
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		}, 21 * time.Minute, Done, ""},
		{"an image that never pulled stays failed", func(s *corev1.ContainerStatus) {
			s.Image = "shipper:2"
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}
		}, 21 * time.Minute, Failed, "ImagePullBackOff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, update := updated(t)
			if tt.edit == nil {
				p.Status.ContainerStatuses = p.Status.ContainerStatuses[1:]
			} else {
				tt.edit(&p.Status.ContainerStatuses[0])
			}
			phase, why := Progress(fixture.View(t, p, podstate.State{}), update, 10*time.Minute, now.Add(tt.after))
			if phase != tt.want || (tt.why != "" && !strings.Contains(why, tt.why)) {
				t.Errorf("Progress = %s (%s), want %s (%s)", phase, why, tt.want, tt.why)
			}
		})
	}
}

// TestProgressHolds wants Progress to answer at every instant up to ProgressHolds's as it answers when asked,
// for updates before, between and past their deadlines, and ProgressHolds to name the first instant after
// which an update not done may be answered otherwise.
func TestProgressHolds(t *testing.T) {
	const deadline = 10 * time.Minute
	restarted := func(s *corev1.ContainerStatus) {
		s.Image, s.ImageID, s.ContainerID, s.RestartCount, s.Ready = "shipper:2", "sha256:s2", "c://s-2", 3, true
	}
	edits := map[string]func(s *corev1.ContainerStatus){
		"not acted on":         func(*corev1.ContainerStatus) {},
		"restarted, not ready": func(s *corev1.ContainerStatus) { restarted(s); s.Ready = false },
		"restarted and ready":  restarted,
		"restarted, then crashing": func(s *corev1.ContainerStatus) {
			restarted(s)
			s.Ready, s.State = false, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		},
		"never pulled": func(s *corev1.ContainerStatus) {
			s.Image, s.State = "shipper:2", corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			p, update := updated(t)
			edit(&p.Status.ContainerStatuses[0])
			v := fixture.View(t, p, podstate.State{})
			start := update.StartedAt.Time
			for at := -time.Minute; at <= 25*time.Minute; at += 15 * time.Second {
				asked := start.Add(at)
				phase, why := Progress(v, update, deadline, asked)
				until := ProgressHolds(update, deadline, asked)
				later := []time.Time{asked.Add(time.Hour), asked.Add(48 * time.Hour)}
				if !until.IsZero() {
					if until.Before(asked) {
						t.Fatalf("asked at %s: holds until %s, before it", at, until.Sub(start))
					}
					later = []time.Time{until, asked.Add(until.Sub(asked) / 2)}
				}
				for _, then := range later {
					if p2, why2 := Progress(v, update, deadline, then); p2 != phase || why2 != why {
						t.Errorf("asked at %s: %s (%s); at %s, within what ProgressHolds says, %s (%s)",
							at, phase, why, then.Sub(start), p2, why2)
					}
				}
			}
			if phase, _ := Progress(v, update, deadline, start.Add(time.Second)); phase != Done {
				if got := ProgressHolds(update, deadline, start.Add(time.Second)); !got.Equal(start.Add(deadline)) {
					t.Errorf("an update not done holds until %s after its start, want its deadline", got.Sub(start))
				}
			}
		})
	}
	if got := ProgressHolds(nil, deadline, now); !got.IsZero() {
		t.Errorf("no update: holds until %s, want for good", got)
	}
}

func TestProgressOfANativeSidecarAndWithoutUpdate(t *testing.T) {
	p := runningPod(t)
	change, _ := Plan(fixture.View(t, p, podstate.State{}), podstate.SidecarSetState{Revision: "r1"}, "r2", Delta{Images: map[string]string{"proxy": "proxy:2"}}, now)
	p.Spec.InitContainers[0].Image = "proxy:2"
	if phase, _ := Progress(fixture.View(t, p, podstate.State{}), change.State.Update, time.Minute, now); phase != Updating {
		t.Errorf("before the restart: %s", phase)
	}
	s := &p.Status.InitContainerStatuses[0]
	s.Image, s.ContainerID, s.RestartCount = "proxy:2", "c://p-2", 1
	if phase, why := Progress(fixture.View(t, p, podstate.State{}), change.State.Update, time.Minute, now); phase != Done {
		t.Errorf("after the restart: %s (%s)", phase, why)
	}
	if phase, _ := Progress(fixture.View(t, p, podstate.State{}), nil, time.Minute, now); phase != Done {
		t.Errorf("no update: %s", phase)
	}
}

func TestApplySetsTheChangedImagesOnly(t *testing.T) {
	pod := fixture.View(t, &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "proxy", Image: "proxy:1"}},
		Containers:     []corev1.Container{{Name: "app", Image: "app:1"}, {Name: "shipper", Image: "shipper:1"}},
	}}, podstate.State{})
	got := Apply(pod, Change{Images: map[string]string{"proxy": "proxy:2", "shipper": "shipper:2", "gone": "gone:2"}})
	if img := got.Injected.InitContainers[0].Image; img != "proxy:2" {
		t.Errorf("native sidecar image = %s, want proxy:2", img)
	}
	if img := got.Injected.Containers[1].Image; img != "shipper:2" {
		t.Errorf("sidecar image = %s, want shipper:2", img)
	}
	if img := got.Injected.Containers[0].Image; img != "app:1" {
		t.Errorf("the app container's image changed to %s", img)
	}
	if len(got.Injected.Containers)+len(got.Injected.InitContainers) != 3 {
		t.Errorf("Apply added a container for a name the pod does not have")
	}
	if pod.Injected.Containers[1].Image != "shipper:1" || pod.Injected.InitContainers[0].Image != "proxy:1" {
		t.Errorf("Apply modified the cache's view: %+v", pod.Injected)
	}
}

func TestPatch(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "proxy", Image: "proxy:1"}},
		Containers:     []corev1.Container{{Name: "app", Image: "app:1"}, {Name: "shipper", Image: "shipper:1"}},
	}}
	pod.ResourceVersion = "42"
	other := podstate.SidecarSetState{Revision: "metrics-1", Images: map[string]string{"agent": "agent:1"}}
	pod.Annotations = map[string]string{appsv1alpha1.StateAnnotation: podstate.State{
		"metrics": other, "logs": {Revision: "logs-1"}}.Encode()}
	change := Change{Images: map[string]string{"shipper": "shipper:2", "proxy": "proxy:2"},
		State: podstate.SidecarSetState{Revision: "logs-2", Images: map[string]string{"shipper": "shipper:2", "proxy": "proxy:2"}}}

	raw, err := Patch(fixture.View(t, pod, nil), "logs", change)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata struct {
			Annotations     map[string]string `json:"annotations"`
			ResourceVersion string            `json:"resourceVersion"`
		} `json:"metadata"`
		Spec struct {
			Containers, InitContainers []map[string]string
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Metadata.ResourceVersion != "42" {
		t.Errorf("the patch is guarded by resourceVersion %q, want 42", got.Metadata.ResourceVersion)
	}
	if len(got.Spec.Containers) != 1 || got.Spec.Containers[0]["name"] != "shipper" || got.Spec.Containers[0]["image"] != "shipper:2" {
		t.Errorf("spec.containers = %v, want only shipper at shipper:2", got.Spec.Containers)
	}
	if len(got.Spec.InitContainers) != 1 || got.Spec.InitContainers[0]["name"] != "proxy" || got.Spec.InitContainers[0]["image"] != "proxy:2" {
		t.Errorf("spec.initContainers = %v, want only proxy at proxy:2", got.Spec.InitContainers)
	}
	written, err := podstate.Read(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: got.Metadata.Annotations}})
	if err != nil {
		t.Fatal(err)
	}
	if written["logs"].Revision != "logs-2" || written["metrics"].Revision != other.Revision {
		t.Errorf("the written state is %v: want logs at logs-2 and metrics' entry kept", written)
	}

	pod.Annotations[appsv1alpha1.StateAnnotation] = "{broken"
	if _, err := Patch(fixture.View(t, pod, nil), "logs", change); err == nil {
		t.Errorf("a pod with an unreadable state annotation was patched, losing the other SidecarSets' entries")
	}
}

func TestLeftBehind(t *testing.T) {
	from := fixture.Injected(t, `{containers: [{name: shipper, image: shipper:1}]}`)
	states := []podstate.SidecarSetState{
		{Revision: "logs-1"}, {Revision: "logs-1"}, {Revision: "logs-0"},
		{Revision: "logs-2"}, // already on the new revision
		{Revision: "logs-1", Skipped: "the pod would be invalid"}, // carries none of the sidecars
	}
	for _, tt := range []struct {
		name string
		to   string
		want int
	}{
		{"an image change is made in place", `{containers: [{name: shipper, image: shipper:2}]}`, 0},
		{"a changed argument leaves the pods on other revisions behind", `{containers: [{name: shipper, image: shipper:1, args: [--x]}]}`, 3},
		{"a new sidecar too", `{containers: [{name: shipper, image: shipper:1}, {name: agent, image: agent:1}]}`, 3},
	} {
		if got := LeftBehind(from, fixture.Injected(t, tt.to), "logs-2", states); got != tt.want {
			t.Errorf("%s: %d left behind, want %d", tt.name, got, tt.want)
		}
	}
}

// sizedPod is the running pod with shipper sized at 100m/64Mi, as its spec and its status say.
func sizedPod(t *testing.T) *corev1.Pod {
	t.Helper()
	p := runningPod(t)
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}
	p.Spec.Containers[0].Resources = r
	p.Status.ContainerStatuses[0].Resources = r.DeepCopy()
	return p
}

func resources(cpu, memory string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}
}

func TestPlanAResize(t *testing.T) {
	p := sizedPod(t)
	current := podstate.SidecarSetState{Revision: "r1", Images: map[string]string{"shipper": "shipper:1"}}
	delta := Delta{Images: map[string]string{"shipper": "shipper:2"}, Resources: map[string]corev1.ResourceRequirements{"shipper": resources("200m", "64Mi")}}
	change, ok := Plan(fixture.View(t, p, podstate.State{}), current, "r2", delta, now)
	if !ok {
		t.Fatal("not updatable")
	}
	if change.Images["shipper"] != "shipper:2" || podview.ResourcesOf(ptr.To(change.Resources["shipper"])) != "requests cpu=200m memory=64Mi" {
		t.Errorf("change %+v", change)
	}
	if u := change.State.Update; u == nil || !slices.Equal(u.Resized, []string{"shipper"}) || len(u.Containers) != 1 {
		t.Errorf("update %+v", u)
	}

	// A resize that landed (its pod patch did not) is waited for, not written again.
	p.Spec.Containers[0].Resources = resources("200m", "64Mi")
	change, _ = Plan(fixture.View(t, p, podstate.State{}), current, "r2", Delta{Resources: delta.Resources}, now)
	if len(change.Resources) != 0 || change.State.Update == nil || !slices.Equal(change.State.Update.Resized, []string{"shipper"}) {
		t.Errorf("change %+v, update %+v", change, change.State.Update)
	}

	// And once the kubelet reports it, there is nothing to wait for.
	p.Status.ContainerStatuses[0].Resources = ptr.To(resources("0.2", "64Mi"))
	change, _ = Plan(fixture.View(t, p, podstate.State{}), current, "r2", Delta{Resources: delta.Resources}, now)
	if len(change.Resources) != 0 || change.State.Update != nil || change.State.Revision != "r2" {
		t.Errorf("change %+v", change)
	}
}

func TestResizePatchAndGuard(t *testing.T) {
	p := sizedPod(t)
	p.ResourceVersion = "41"
	view := fixture.View(t, p, podstate.State{})
	change := Change{Resources: map[string]corev1.ResourceRequirements{"shipper": resources("200m", "64Mi"), "proxy": {Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}
	got, err := ResizePatch(view, change)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"resourceVersion":"41"},"spec":{` +
		`"containers":[{"name":"shipper","resources":{"$patch":"replace","requests":{"cpu":"200m","memory":"64Mi"}}}],` +
		`"initContainers":[{"name":"proxy","resources":{"$patch":"replace","limits":{"cpu":"1"}}}]}}`
	if string(got) != want {
		t.Errorf("resize patch\n%s\nwant\n%s", got, want)
	}
	if none, err := ResizePatch(view, Change{Images: map[string]string{"shipper": "shipper:2"}}); none != nil || err != nil {
		t.Errorf("a change without resources resizes: %s, %v", none, err)
	}
	if _, err := ResizePatch(view, Change{Resources: map[string]corev1.ResourceRequirements{"gone": {}}}); err == nil {
		t.Error("a container the pod lacks must be an error")
	}

	patch, err := Patch(view, "logs", Change{Resources: change.Resources, State: podstate.SidecarSetState{Revision: "r2"}})
	if err != nil {
		t.Fatal(err)
	}
	guarded, err := Guard(patch, "42")
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Metadata struct {
			ResourceVersion string            `json:"resourceVersion"`
			Annotations     map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec any `json:"spec"`
	}
	if err := json.Unmarshal(guarded, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Metadata.ResourceVersion != "42" || decoded.Metadata.Annotations[appsv1alpha1.StateAnnotation] == "" || decoded.Spec != nil {
		t.Errorf("guarded patch %s", guarded)
	}
}

func TestProgressOfAResize(t *testing.T) {
	resizedTo := func(cpu string) func(p *corev1.Pod) {
		return func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Resources = ptr.To(resources(cpu, "64Mi")) }
	}
	condition := func(typ corev1.PodConditionType, reason, message string) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message})
		}
	}
	tests := []struct {
		name    string
		edits   []func(p *corev1.Pod)
		refused string
		after   time.Duration
		want    Phase
		why     string
	}{
		{"the kubelet has not acted yet", nil, "", time.Second, Updating, `runs with "requests cpu=100m memory=64Mi", resized to "requests cpu=200m memory=64Mi"`},
		{"in progress", []func(*corev1.Pod){condition(corev1.PodResizeInProgress, "", "")}, "", time.Second, Updating, "resize in progress"},
		{"resized", []func(*corev1.Pod){resizedTo("200m")}, "", time.Second, Done, ""},
		{"resized, the status still saying in progress", []func(*corev1.Pod){resizedTo("200m"), condition(corev1.PodResizeInProgress, "", "")}, "", time.Second, Updating, "resize in progress"},
		{"resized, restarted and not ready yet", []func(*corev1.Pod){resizedTo("200m"), func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Ready = false }},
			"", time.Second, Updating, "resized, not ready yet"},
		{"infeasible fails at once", []func(*corev1.Pod){condition(corev1.PodResizePending, "Infeasible", "Node didn't have enough capacity: cpu, requested: 200, capacity: 100")},
			"", time.Second, Failed, "the kubelet cannot resize shipper (Infeasible): Node didn't have enough capacity"},
		{"deferred waits", []func(*corev1.Pod){condition(corev1.PodResizePending, "Deferred", "Node didn't have enough resource: cpu")}, "", time.Second, Updating,
			"resize Deferred: Node didn't have enough resource: cpu"},
		{"deferred past the deadline fails", []func(*corev1.Pod){condition(corev1.PodResizePending, "Deferred", "Node didn't have enough resource: cpu")}, "", 11 * time.Minute, Failed,
			"container shipper is not resized 10m0s after its update: resize Deferred"},
		{"refused by the API server fails", nil, "Pod QoS is immutable", time.Second, Failed, "the API server refused to resize shipper: Pod QoS is immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sizedPod(t)
			p.Spec.Containers[0].Resources = resources("200m", "64Mi")
			for _, edit := range tt.edits {
				edit(p)
			}
			update := &podstate.Update{From: "r1", Resized: []string{"shipper"}, Refused: tt.refused}
			update.StartedAt.Time = now
			phase, why := Progress(fixture.View(t, p, podstate.State{}), update, 10*time.Minute, now.Add(tt.after))
			if phase != tt.want || (tt.why != "" && !strings.Contains(why, tt.why)) {
				t.Errorf("Progress = %s (%s), want %s (%s)", phase, why, tt.want, tt.why)
			}
		})
	}
}

func TestApplyResizes(t *testing.T) {
	view := fixture.View(t, sizedPod(t), podstate.State{})
	got := Apply(view, Change{Resources: map[string]corev1.ResourceRequirements{"shipper": resources("300m", "64Mi")}})
	if got.Injected.Containers[0].Resources != "requests cpu=300m memory=64Mi" || view.Injected.Containers[0].Resources != "requests cpu=100m memory=64Mi" {
		t.Errorf("applied %q, the view's %q", got.Injected.Containers[0].Resources, view.Injected.Containers[0].Resources)
	}

	// A resize pending before the write is the earlier resize's, not this one's.
	p := sizedPod(t)
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: "Infeasible"})
	view = fixture.View(t, p, podstate.State{})
	if got := Apply(view, Change{Resources: map[string]corev1.ResourceRequirements{"shipper": resources("300m", "64Mi")}}); got.Injected.Resize != nil || view.Injected.Resize == nil {
		t.Errorf("applied resize %+v, the view's %+v", got.Injected.Resize, view.Injected.Resize)
	}
}

func TestRefuseRecordsWhyInTheUpdate(t *testing.T) {
	p := sizedPod(t)
	other := podstate.SidecarSetState{Revision: "metrics-1", Images: map[string]string{"agent": "agent:1"}}
	view := fixture.View(t, p, podstate.State{"metrics": other})
	change, _ := Plan(view, podstate.SidecarSetState{Revision: "r1"}, "r2",
		Delta{Images: map[string]string{"shipper": "shipper:2"}, Resources: map[string]corev1.ResourceRequirements{"shipper": resources("200m", "64Mi")}}, now)
	patch, err := Patch(view, "logs", change)
	if err != nil {
		t.Fatal(err)
	}
	refused, err := Refuse(patch, "logs", "Pod QoS is immutable")
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Containers []map[string]string `json:"containers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(refused, &decoded); err != nil {
		t.Fatal(err)
	}
	state, err := podstate.Parse(decoded.Metadata.Annotations[appsv1alpha1.StateAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	if u := state["logs"].Update; u == nil || u.Refused != "Pod QoS is immutable" || !slices.Equal(u.Resized, []string{"shipper"}) {
		t.Errorf("update %+v", u)
	}
	if state["metrics"].Revision != "metrics-1" || len(decoded.Spec.Containers) != 1 || decoded.Spec.Containers[0]["image"] != "shipper:2" {
		t.Errorf("the rest of the patch changed: %s", refused)
	}
	if change.State.Update.Refused != "" {
		t.Error("Refuse modified the change")
	}
	if _, err := Refuse(patch, "other", "x"); err == nil {
		t.Error("refusing an update the patch does not record must be an error")
	}
}
