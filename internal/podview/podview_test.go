package podview

import (
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/rollout"
)

func decode(t testing.TB, doc string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(doc), p); err != nil {
		t.Fatal(err)
	}
	return p
}

const injected = `
metadata:
  name: web-1
  generateName: web-
  namespace: shop
  uid: u-1
  resourceVersion: "42"
  labels: {app: web}
  annotations: {sidecarset.io/state: '{"logs":{"revision":"r1","images":{"shipper":"shipper:1"}}}', kubectl.kubernetes.io/last-applied-configuration: '{"big":"json"}'}
  managedFields: [{manager: kubectl, operation: Apply}]
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: u1}]
spec:
  nodeName: node-1
  initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always, args: [--big]}]
  containers:
  - {name: app, image: web:1}
  - {name: shipper, image: shipper:1, env: [{name: A, value: b}], volumeMounts: [{name: v, mountPath: /v}]}
  volumes: [{name: v, emptyDir: {}}]
  tolerations: [{key: k, operator: Exists}]
status:
  phase: Running
  podIP: 10.0.0.1
  conditions:
  - {type: PodScheduled, status: "True", message: long}
  - {type: Ready, status: "False", lastTransitionTime: "2026-11-25T10:00:00Z"}
  initContainerStatuses: [{name: proxy, image: proxy:1, imageID: proxy@sha256:1, containerID: "c://0", restartCount: 2, ready: true}]
  containerStatuses:
  - {name: app, image: web:1, containerID: "c://1", ready: true, lastState: {terminated: {exitCode: 1, message: a long log tail}}}
  - {name: shipper, image: shipper:2, containerID: "c://2", state: {waiting: {reason: ErrImagePull, message: not found}}}
`

func TestCompactKeepsWhatTheOperatorReadsOfAnInjectedPod(t *testing.T) {
	out, err := Compact(decode(t, injected))
	if err != nil {
		t.Fatal(err)
	}
	v := out.(*View)
	var got corev1.Pod
	v.expand(&got)

	want := decode(t, `
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  uid: u-1
  resourceVersion: "42"
  labels: {app: web}
  annotations: {sidecarset.io/state: '{"logs":{"revision":"r1","images":{"shipper":"shipper:1"}}}'}
spec:
  nodeName: node-1
  initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always}]
  containers: [{name: app, image: web:1}, {name: shipper, image: shipper:1}]
status:
  phase: Running
  conditions: [{type: Ready, status: "False", lastTransitionTime: "2026-11-25T10:00:00Z"}]
  initContainerStatuses: [{name: proxy, image: proxy:1, imageID: proxy@sha256:1, containerID: "c://0", restartCount: 2, ready: true}]
  containerStatuses:
  - {name: app, image: web:1, containerID: "c://1", ready: true}
  - {name: shipper, image: shipper:2, containerID: "c://2", state: {waiting: {reason: ErrImagePull, message: not found}}}
`)
	if !equality.Semantic.DeepEqual(&got, want) {
		t.Errorf("expanded view:\n%s\nwant:\n%s", toYAML(t, &got), toYAML(t, want))
	}

	state, err := podstate.Read(v)
	if err != nil || state["logs"].Revision != "r1" {
		t.Fatalf("state %v, %v", state, err)
	}
}

func TestCompactKeepsLittleOfAPodNoSidecarSetInjected(t *testing.T) {
	out, _ := Compact(decode(t, `
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
  annotations: {note: x}
  deletionTimestamp: "2026-11-25T10:00:00Z"
spec:
  containers: [{name: app, image: web:1}]
status:
  phase: Running
  conditions: [{type: Initialized, status: "True"}, {type: Ready, status: "True"}]
  containerStatuses: [{name: app, image: web:1, ready: true}]
`))
	v := out.(*View)
	if v.Annotations != nil || v.Injected != nil {
		t.Errorf("kept more than metadata, phase and readiness: %+v", v)
	}
	var got corev1.Pod
	v.expand(&got)
	if got.Labels["app"] != "web" || got.Status.Phase != corev1.PodRunning || len(got.Status.Conditions) != 1 ||
		got.Status.Conditions[0].Type != corev1.PodReady || got.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Errorf("lost what counting a missing pod reads: %+v", got)
	}
	if v.DeletionTimestamp == nil {
		t.Error("the deletion timestamp was lost: the pod would still be rolled out to")
	}
}

func TestCompactPassesAnythingButAPodThrough(t *testing.T) {
	out, _ := Compact(decode(t, injected))
	again, err := Compact(out)
	if err != nil || again != out {
		t.Errorf("a view was not passed through: %v, %v", again, err)
	}
	tombstone := struct{ Key string }{"shop/web-1"}
	if got, _ := Compact(tombstone); got != tombstone {
		t.Errorf("a tombstone was changed: %v", got)
	}
}

func TestDeepCopyObjectSharesNothing(t *testing.T) {
	out, _ := Compact(decode(t, injected))
	v := out.(*View)
	c := v.DeepCopyObject().(*View)
	var a, b corev1.Pod
	v.expand(&a)
	c.expand(&b)
	if !equality.Semantic.DeepEqual(a, b) {
		t.Fatal("the copy differs")
	}
	c.Labels["app"] = "changed"
	c.Annotations["sidecarset.io/state"] = "changed"
	c.DeletionTimestamp = &metav1.Time{}
	c.Injected.Containers[0].Image = "changed"
	*c.Injected.InitContainers[0].RestartPolicy = "changed"
	c.Injected.ContainerStatuses[0].Ready = false
	if v.Labels["app"] != "web" || v.Annotations["sidecarset.io/state"] == "changed" || v.DeletionTimestamp != nil ||
		v.Injected.Containers[0].Image != "web:1" || *v.Injected.InitContainers[0].RestartPolicy != "Always" ||
		!v.Injected.ContainerStatuses[0].Ready {
		t.Errorf("changing the copy changed the view: %+v", v)
	}
	if gvk := v.GetObjectKind().GroupVersionKind(); gvk.Kind != "Pod" || gvk.Version != "v1" {
		t.Errorf("kind %v", gvk)
	}
}

func TestWithOwnContainersCopiesWhatAChangeSets(t *testing.T) {
	out, _ := Compact(decode(t, injected))
	v := out.(*View)
	v.Injected.Resize = &Resize{}
	c := v.WithOwnContainers()
	resources := v.Injected.Containers[0].Resources
	var a, b corev1.Pod
	v.expand(&a)
	c.expand(&b)
	if !equality.Semantic.DeepEqual(a, b) {
		t.Fatal("the copy differs")
	}
	c.Injected.Containers[0].Image = "changed"
	c.Injected.InitContainers[0].Image = "changed"
	c.Injected.Containers[0].Resources = ResourcesOf(&corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}})
	c.Injected.Resize = nil
	if v.Injected.Containers[0].Image != "web:1" || v.Injected.InitContainers[0].Image == "changed" ||
		v.Injected.Containers[0].Resources != resources || v.Injected.Resize == nil {
		t.Errorf("changing the copy's containers changed the view: %+v", v.Injected)
	}
	// What a change does not touch is shared, not copied: the maps are the same maps.
	if reflect.ValueOf(c.Labels).Pointer() != reflect.ValueOf(v.Labels).Pointer() ||
		reflect.ValueOf(c.Annotations).Pointer() != reflect.ValueOf(v.Annotations).Pointer() {
		t.Error("the copy's label or annotation maps are copies")
	}
	if got, want := c.State(), v.State(); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("the copy's state %v, want %v", got, want)
	}
}

func toYAML(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	p = p.DeepCopy()
	p.CreationTimestamp = metav1.Time{}
	out, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestEqualLabelsAndStatesAreSharedAndForgotten(t *testing.T) {
	pod := func(name, hash, state string) *corev1.Pod {
		p := decode(t, injected)
		p.Name = name
		p.Labels = map[string]string{"app": "web", "pod-template-hash": hash}
		p.Annotations["sidecarset.io/state"] = state
		return p
	}
	same := func(a, b map[string]string) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	compact := func(p *corev1.Pod) *View { v, _ := Compact(p); return v.(*View) }

	a := compact(pod("web-a", "h1", `{"logs":{"revision":"r1"}}`))
	b := compact(pod("web-b", "h1", `{"logs":{"revision":"r1"}}`))
	c := compact(pod("web-c", "h2", `{"logs":{"revision":"r2"}}`))
	if !same(a.Labels, b.Labels) || !same(a.Annotations, b.Annotations) {
		t.Error("equal labels or states are not shared")
	}
	if same(a.Labels, c.Labels) || same(a.Annotations, c.Annotations) || c.Labels["pod-template-hash"] != "h2" {
		t.Error("different labels or states are shared")
	}
	if a.Labels["pod-template-hash"] != "h1" || a.Annotations["sidecarset.io/state"] != `{"logs":{"revision":"r1"}}` {
		t.Errorf("shared maps hold %v, %v", a.Labels, a.Annotations)
	}
	// A state recording an update is each pod's own: equal ones (as a test makes them) are not shared, the
	// table keeps no entry for them, and the view keeps the annotation without a map of its own.
	updated := `{"logs":{"revision":"r2","update":{"from":"r1","startedAt":"2026-12-03T10:00:00Z"}}}`
	d, e := compact(pod("web-d", "h1", updated)), compact(pod("web-e", "h1", updated))
	sharedMaps.Lock()
	_, tabled := sharedMaps.byContent[content(map[string]string{"sidecarset.io/state": updated})]
	sharedMaps.Unlock()
	if d.annotations == e.annotations || tabled || d.Annotations != nil || d.StateAnnotation() != updated {
		t.Errorf("states recording an update: shared %v, in the table %v, map %v, held %q", d.annotations == e.annotations, tabled, d.Annotations, d.StateAnnotation())
	}
	if got := d.GetAnnotations(); !maps.Equal(got, map[string]string{"sidecarset.io/state": updated}) {
		t.Errorf("the annotations of a view with its own state read %v", got)
	}
	if got := d.DeepCopyObject().(*View).StateAnnotation(); got != updated {
		t.Errorf("a copy of a view with its own state holds %q", got)
	}
	if st := d.State(); st["logs"].Update == nil || st["logs"].Revision != "r2" {
		t.Errorf("the own state decodes to %+v", st)
	}
	if names := d.StateNames(); !slices.Equal(names, []string{"logs"}) || !same(d.Labels, a.Labels) {
		t.Errorf("a view with its own state names %v; its labels are shared: %v", names, same(d.Labels, a.Labels))
	}
	// What pods updated from one revision to another have alike, up to the update's start time and from the
	// last container's image ID, is one string for all; the middle is each pod's own.
	ran := func(at, id string) string {
		return `{"logs":{"revision":"r2","update":{"from":"r1","startedAt":"` + at + `","containers":{"shipper":{"containerID":"` + id +
			`","restartCount":0,"imageID":"sha256:s1"}}}}}`
	}
	f, g := compact(pod("web-f", "h1", ran("2026-12-03T10:00:05Z", "c://f"))), compact(pod("web-g", "h1", ran("2026-12-03T10:00:06Z", "c://g")))
	fo, gho := f.annotations.own, g.annotations.own
	if fo.head != gho.head || fo.foot != gho.foot || fo.head.Value() != `{"logs":{"revision":"r2","update":{"from":"r1","startedAt":"` ||
		fo.foot.Value() != `"imageID":"sha256:s1"}}}}}` || fo.own != `2026-12-03T10:00:05Z","containers":{"shipper":{"containerID":"c://f","restartCount":0,` ||
		f.StateAnnotation() != ran("2026-12-03T10:00:05Z", "c://f") || g.StateAnnotation() != ran("2026-12-03T10:00:06Z", "c://g") {
		t.Errorf("own states: %+v and %+v; they read %q and %q", fo, gho, f.StateAnnotation(), g.StateAnnotation())
	}
	if d.StateAnnotation() != updated || e.annotations.own.foot != (unique.Handle[string]{}) {
		t.Errorf("a state with no image ID reads %q, its foot %v", d.StateAnnotation(), e.annotations.own.foot)
	}

	// Once no view holds them, the table forgets the maps.
	key := content(map[string]string{"app": "web", "pod-template-hash": "h1"})
	a, b, c = nil, nil, nil
	for i := 0; i < 20; i++ {
		runtime.GC()
		sharedMaps.Lock()
		_, kept := sharedMaps.byContent[key]
		sharedMaps.Unlock()
		if !kept {
			return
		}
	}
	t.Errorf("the table still holds %q after its views were collected (%v)", key, fmt.Sprint(a, b, c))
}

func TestTheViewIsAnObjectOfItsOwnFields(t *testing.T) {
	out, _ := Compact(decode(t, injected))
	var obj metav1.Object = out.(*View)
	if obj.GetName() != "web-1" || obj.GetNamespace() != "shop" || obj.GetUID() != "u-1" || obj.GetResourceVersion() != "42" ||
		obj.GetLabels()["app"] != "web" || len(obj.GetAnnotations()) != 1 || obj.GetDeletionTimestamp() != nil {
		t.Errorf("metadata read through metav1.Object: %+v", obj)
	}
	if obj.GetGenerateName() != "" || obj.GetOwnerReferences() != nil || obj.GetManagedFields() != nil {
		t.Error("fields the view does not keep are not empty")
	}
	if key, err := cache.MetaNamespaceKeyFunc(obj); err != nil || key != "shop/web-1" {
		t.Errorf("informer key %q, %v", key, err)
	}
	// 176 bytes, and 8 for the interned node name the planner spreads zones by.
	if size := unsafe.Sizeof(View{}); size > 184 {
		t.Errorf("a View is %d bytes; it was 184, and every pod of the cluster has one", size)
	}
}

func TestStateIsDecodedOnceForEqualAnnotations(t *testing.T) {
	a, _ := Compact(decode(t, injected))
	other := decode(t, injected)
	other.Name, other.UID = "web-2", "u-2"
	b, _ := Compact(other)
	va, vb := a.(*View), b.(*View)

	want, err := podstate.Read(decode(t, injected))
	if err != nil {
		t.Fatal(err)
	}
	if got := va.State(); !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("State() = %v, want %v", got, want)
	}
	if reflect.ValueOf(va.State()).Pointer() != reflect.ValueOf(vb.State()).Pointer() {
		t.Errorf("two views with the same state annotation decoded it twice")
	}
	runtime.KeepAlive(va)
	runtime.KeepAlive(vb)

	// A copy owns its maps, and still reads its state.
	if got := va.DeepCopyObject().(*View).State(); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("a copy's State() = %v, want %v", got, want)
	}
}

func TestStateOfAPodWithoutOrWithAnUnreadableAnnotation(t *testing.T) {
	plain, _ := Compact(decode(t, `{metadata: {name: a, namespace: shop}}`))
	if st := plain.(*View).State(); len(st) != 0 {
		t.Errorf("a pod without the state annotation has state %v", st)
	}
	broken, _ := Compact(decode(t, `{metadata: {name: b, namespace: shop, annotations: {sidecarset.io/state: '{not json'}}}`))
	if st := broken.(*View).State(); len(st) != 0 {
		t.Errorf("an unreadable state annotation reads as %v, want none", st)
	}
	if _, ok := broken.(*View).State()["logs"]; ok {
		t.Errorf("an unreadable state names a SidecarSet")
	}
}

// TestStateOfIsStatesEntry: StateOf gives State's entry, for a state shared by equal annotations, one recording
// an update (the pod's own, decoded for that entry alone), none, and an unreadable one.
func TestStateOfIsStatesEntry(t *testing.T) {
	updated := podstate.State{
		"logs":  {Revision: "r2", Images: map[string]string{"shipper": "shipper:2"}, Update: &podstate.Update{From: "r1", StartedAt: metav1.Now()}},
		"proxy": {Revision: "p1", Images: map[string]string{"proxy": "proxy:1"}},
	}.Encode()
	for _, annotation := range []string{"", `{"logs":{"revision":"r1","images":{"shipper":"shipper:1"}}}`, updated, "{not json"} {
		p := decode(t, injected)
		if annotation == "" {
			delete(p.Annotations, appsv1alpha1.StateAnnotation)
		} else {
			p.Annotations[appsv1alpha1.StateAnnotation] = annotation
		}
		v, _ := Compact(p)
		view := v.(*View)
		for _, name := range []string{"logs", "proxy", "absent"} {
			want, wantOK := view.State()[name]
			got, ok := view.StateOf(name)
			if ok != wantOK || !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("annotation %q: StateOf(%s) = %+v, %v; State() has %+v, %v", annotation, name, got, ok, want, wantOK)
			}
		}
		if annotation == updated {
			if st, _ := view.StateOf("logs"); st.Update == nil || st.Update.From != "r1" {
				t.Errorf("the update's record reads %+v", st.Update)
			}
		}
	}
}

func TestWorkloadOf(t *testing.T) {
	controller := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: ptr.To(true)}}
	}
	for _, tt := range []struct {
		name string
		meta metav1.ObjectMeta
		want string
	}{
		{"a Deployment's pod, through its ReplicaSet", metav1.ObjectMeta{Labels: map[string]string{"pod-template-hash": "5d8c7f"},
			OwnerReferences: controller("ReplicaSet", "web-5d8c7f")}, "Deployment/web"},
		{"a ReplicaSet of its own", metav1.ObjectMeta{OwnerReferences: controller("ReplicaSet", "batch")}, "ReplicaSet/batch"},
		{"a StatefulSet's pod", metav1.ObjectMeta{OwnerReferences: controller("StatefulSet", "db")}, "StatefulSet/db"},
		{"an owner that is not the controller", metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "j"}}}, ""},
		{"a bare pod", metav1.ObjectMeta{}, ""},
	} {
		pod := &corev1.Pod{ObjectMeta: tt.meta}
		if got := rollout.WorkloadOf(pod); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		v, _ := Compact(pod)
		var expanded corev1.Pod
		v.(*View).expand(&expanded)
		if got := rollout.WorkloadOf(&expanded); got != tt.want || v.(*View).Workload() != tt.want {
			t.Errorf("%s: through the view %q and %q, want %q", tt.name, v.(*View).Workload(), got, tt.want)
		}
	}
}

// expand writes into pod the corev1.Pod the view was made from, holding just the view's fields; its workload
// is its one owner reference, the controller, so rollout.WorkloadOf reads the same workload from it. Comparing
// it with the pod holds Compact to keeping every field the operator reads.
func (v *View) expand(pod *corev1.Pod) {
	*pod = corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: v.Name, Namespace: v.Namespace, UID: v.UID, ResourceVersion: v.ResourceVersion,
			Labels: v.Labels, Annotations: v.Annotations, DeletionTimestamp: v.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: v.Phase},
	}
	pod.Spec.NodeName = v.Node()
	if kind, name, ok := strings.Cut(v.Workload(), "/"); ok {
		pod.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, Controller: ptr.To(true)}}
	}
	if v.Ready != "" {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: v.Ready, LastTransitionTime: v.ReadySince}}
	}
	if in := v.Injected; in != nil {
		pod.Spec.Containers = expandContainers(in.Containers)
		pod.Spec.InitContainers = expandContainers(in.InitContainers)
		pod.Status.ContainerStatuses = expandStatuses(in.ContainerStatuses)
		pod.Status.InitContainerStatuses = expandStatuses(in.InitContainerStatuses)
	}
}

func expandContainers(cs []Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
	}
	return out
}

func expandStatuses(ss []ContainerStatus) []corev1.ContainerStatus {
	if ss == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i, s := range ss {
		out[i] = corev1.ContainerStatus{Name: s.Name, Image: s.Image, ImageID: s.ImageID, ContainerID: s.ContainerID,
			RestartCount: s.RestartCount, Ready: s.Ready}
		if s.WaitingReason != "" || s.WaitingMessage != "" {
			out[i].State.Waiting = &corev1.ContainerStateWaiting{Reason: s.WaitingReason, Message: s.WaitingMessage}
		}
	}
	return out
}

func TestResourcesOf(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name string
		in   *corev1.ResourceRequirements
		want string
	}{
		{"none", nil, ""},
		{"empty", &corev1.ResourceRequirements{}, ""},
		{"requests and limits, canonical", &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: q("64Mi"), corev1.ResourceCPU: q("0.1")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("128Mi")}}, "requests cpu=100m memory=64Mi, limits memory=128Mi"},
		{"a limit requests itself, as the API server defaults it", &corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: q("1")}}, "requests cpu=1, limits cpu=1"},
		{"resources not resized in place are left out", &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}}, ""},
	}
	for _, tt := range tests {
		if got := ResourcesOf(tt.in); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCompactKeepsResourcesAndResize(t *testing.T) {
	q := resource.MustParse
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{appsv1alpha1.StateAnnotation: "{}"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a:1", Resources: r}}},
		Status: corev1.PodStatus{
			ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Image: "a:1", Resources: &r}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue},
				{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: "Deferred", Message: "no room"},
			},
		},
	}
	obj, err := Compact(pod)
	if err != nil {
		t.Fatal(err)
	}
	v := obj.(*View)
	if v.Injected.Containers[0].Resources != "requests cpu=100m" || v.Injected.ContainerStatuses[0].Resources != "requests cpu=100m" {
		t.Errorf("resources %+v %+v", v.Injected.Containers, v.Injected.ContainerStatuses)
	}
	if got := *v.Injected.Resize; got != (Resize{InProgress: true, Pending: "Deferred", Message: "no room"}) {
		t.Errorf("resize %+v", got)
	}
	cp := v.DeepCopyObject().(*View)
	cp.Injected.Resize.Pending = ""
	if v.Injected.Resize.Pending != "Deferred" {
		t.Error("a copy shares the resize with its view")
	}
	pod.Generation = 3
	pod.Status.Conditions[0].ObservedGeneration, pod.Status.Conditions[1].ObservedGeneration = 2, 3
	obj, _ = Compact(pod)
	if got := *obj.(*View).Injected.Resize; got != (Resize{Pending: "Deferred", Message: "no room"}) {
		t.Errorf("a condition of an earlier generation must be left out: %+v", got)
	}
	pod.Status.Conditions[0].Status, pod.Status.Conditions[1].Status = corev1.ConditionFalse, corev1.ConditionFalse
	obj, _ = Compact(pod)
	if obj.(*View).Injected.Resize != nil {
		t.Error("conditions not True must read as no resize")
	}
}

func TestAmounts(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name string
		in   corev1.ResourceRequirements
		want Amounts
	}{
		{"none", corev1.ResourceRequirements{}, Amounts{}},
		{"requests and limits", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("0.1"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("128Mi")}},
			Amounts{RequestMilliCPU: 100, RequestMemory: 64 << 20, LimitMilliCPU: 1500, LimitMemory: 128 << 20}},
		{"a limit requests itself, as the API server defaults it", corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: q("100M")}},
			Amounts{RequestMemory: 100_000_000, LimitMemory: 100_000_000}},
		{"fractions round up, to a millicore and a byte", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100u"), corev1.ResourceMemory: q("1.5")}},
			Amounts{RequestMilliCPU: 1, RequestMemory: 2}},
		{"resources not resized in place are left out", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}}, Amounts{}},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{appsv1alpha1.StateAnnotation: "{}"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a:1", Resources: tt.in}}},
		}
		obj, _ := Compact(pod)
		c := obj.(*View).Injected.Containers[0]
		if got := c.Amounts(); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
		// What a copy reads once its Resources changed (inplace.Apply) is worked out from them again.
		if got := parseAmounts(c.Resources); got != tt.want {
			t.Errorf("%s: parsed from %q: %+v, want %+v", tt.name, c.Resources, got, tt.want)
		}
	}
}

func TestAmountsFollowResourcesChangedInACopy(t *testing.T) {
	q := resource.MustParse
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{appsv1alpha1.StateAnnotation: "{}"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a:1", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}}}},
	}
	obj, _ := Compact(pod)
	cp := obj.(*View).DeepCopyObject().(*View)
	if got := cp.Injected.Containers[0].Amounts(); got != (Amounts{RequestMilliCPU: 100}) {
		t.Errorf("a copy reads %+v", got)
	}
	cp.Injected.Containers[0].Resources = ResourcesOf(&corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: q("250m")}})
	if got := cp.Injected.Containers[0].Amounts(); got != (Amounts{RequestMilliCPU: 250, LimitMilliCPU: 250}) {
		t.Errorf("a copy resized to %q reads %+v", cp.Injected.Containers[0].Resources, got)
	}
	if got := obj.(*View).Injected.Containers[0].Amounts(); got != (Amounts{RequestMilliCPU: 100}) {
		t.Errorf("the view reads %+v after its copy changed", got)
	}
}

// TestViewsOfAWorkloadShareTheirStrings decodes two pods of one workload separately, as two watch events
// arrive with a garbage collection between them, and wants their views to hold one copy of the namespace
// and of each container's name, image and image digest, and the one shared Always of native sidecars; the
// container IDs stay each pod's own.
func TestViewsOfAWorkloadShareTheirStrings(t *testing.T) {
	compact := func(name string) *View {
		p := decode(t, injected)
		p.Name = name
		v, _ := Compact(p)
		return v.(*View)
	}
	a := compact("web-a")
	runtime.GC() // a collection comes between two events of a rollout every few seconds
	b := compact("web-b")
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	ai, bi := a.Injected, b.Injected
	for what, pair := range map[string][2]string{
		"namespace":                  {a.Namespace, b.Namespace},
		"container name":             {ai.Containers[1].Name, bi.Containers[1].Name},
		"container image":            {ai.Containers[1].Image, bi.Containers[1].Image},
		"status image":               {ai.ContainerStatuses[1].Image, bi.ContainerStatuses[1].Image},
		"init container image":       {ai.InitContainers[0].Image, bi.InitContainers[0].Image},
		"init container status ID":   {ai.InitContainerStatuses[0].ImageID, bi.InitContainerStatuses[0].ImageID},
		"init container status name": {ai.InitContainerStatuses[0].Name, bi.InitContainerStatuses[0].Name},
	} {
		if !same(pair[0], pair[1]) {
			t.Errorf("the two views hold two copies of the %s %q", what, pair[0])
		}
	}
	if ai.InitContainers[0].RestartPolicy != bi.InitContainers[0].RestartPolicy || *ai.InitContainers[0].RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("the native sidecars' restartPolicy Always is not shared")
	}
	if same(ai.ContainerStatuses[0].ContainerID, bi.ContainerStatuses[0].ContainerID) {
		t.Error("the container IDs are shared, yet they are each pod's own")
	}
}

// TestAnUpdatedStateIsDecodedOnEachRead: a state that records an in-place update is each pod's own, so its
// decoded maps are not kept with the view (about 1.5 KB a pod); the names of its SidecarSets are.
func TestAnUpdatedStateIsDecodedOnEachRead(t *testing.T) {
	p := decode(t, injected)
	updated := podstate.State{
		"logs":  {Revision: "r2", Images: map[string]string{"shipper": "shipper:2"}, Update: &podstate.Update{From: "r1", StartedAt: metav1.Now()}},
		"proxy": {Revision: "p1", Images: map[string]string{"proxy": "proxy:1"}},
	}
	p.Annotations[appsv1alpha1.StateAnnotation] = updated.Encode()
	v, _ := Compact(p)
	view := v.(*View)
	first, second := view.State(), view.State()
	if !equality.Semantic.DeepEqual(first, second) || first["logs"].Update == nil || first["logs"].Update.From != "r1" {
		t.Fatalf("State() = %v", first)
	}
	if reflect.ValueOf(first).Pointer() == reflect.ValueOf(second).Pointer() {
		t.Error("a state recording an update was kept with the view")
	}
	if names := view.StateNames(); !slices.Equal(names, []string{"logs", "proxy"}) {
		t.Errorf("StateNames() = %v, want [logs proxy]", names)
	}
	if plain, _ := Compact(decode(t, `{metadata: {name: a, namespace: shop}}`)); len(plain.(*View).StateNames()) != 0 {
		t.Error("a pod without a state names SidecarSets")
	}
}

// BenchmarkCompactUpdatedPod is the pod informer's transform of a pod updated in place, whose state
// annotation records the update as the operator writes it in a cluster (a container ID and an image ID):
// the view keeps that state as its own. Besides the transform's allocations it reports held-B/view, what
// 1,000 such views hold of the heap, each made from a pod of its own annotation as the informer decodes
// them: the view's allocations, and whatever of the decoded pod it keeps. Every pod updated in place since
// the operator started has such a view.
func BenchmarkCompactUpdatedPod(b *testing.B) {
	p := decode(b, injected)
	state := podstate.State{
		"logs": {Revision: "logs-711ea1c6c7", Images: map[string]string{"shipper": "example.com/shipper:2"}, Update: &podstate.Update{
			From: "logs-dd9eb05608", StartedAt: metav1.Now(), Containers: map[string]podstate.ContainerMark{"shipper": {
				ContainerID: "containerd://20c7439b9a3d49b5b50614c7f4c86df8", ImageID: "sha256:6dee4c6af5c8604f6e82e75a1451469b90359b05e64805c022c5bb933c6a7026"}}}},
	}.Encode()
	const n = 1_000
	views := make([]*View, n)
	var held uint64
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		base := heapObjects()
		for i := range views {
			p.Annotations[appsv1alpha1.StateAnnotation] = strings.Clone(state) // each pod's own, as decoded
			v, _ := Compact(p)
			if views[i] = v.(*View); views[i].annotations == nil || views[i].annotations.own.own == "" {
				b.Fatal("the view lost its state annotation")
			}
		}
		runtime.GC()
		held = heapObjects() - base
		clear(views)
	}
	b.ReportMetric(float64(held)/n, "held-B/view")
}

// heapObjects is the bytes of the heap's objects, live or not yet collected.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
