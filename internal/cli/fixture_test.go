package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

// The fleet of the tests: SidecarSet logs, at its second spec (shipper:2), with three stored revisions (r0,
// whose sidecar had other args; r1, shipper:1; and the latest), and pods in every state the status tells
// apart. The clock is 12:00; the SidecarSet was created at 10:00.

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const logsSet = `
metadata: {name: logs, uid: logs-uid, generation: 2, creationTimestamp: "2026-11-25T10:00:00Z"}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: shipper, image: shipper:2, volumeMounts: [{name: logs, mountPath: /logs}]}]
  volumes: [{name: logs, emptyDir: {}}]
  updateStrategy: {maxUnavailable: 2}
`

// contents are what the revisions of logs inject, by short name.
var contents = map[string]string{
	"r0": `{containers: [{name: shipper, image: shipper:1, args: [--old], volumeMounts: [{name: logs, mountPath: /logs}]}], volumes: [{name: logs, emptyDir: {}}]}`,
	"r1": `{containers: [{name: shipper, image: shipper:1, volumeMounts: [{name: logs, mountPath: /logs}]}], volumes: [{name: logs, emptyDir: {}}]}`,
}

func sidecarSet(t testing.TB, manifest string) *appsv1alpha1.SidecarSet {
	t.Helper()
	return fixture.Decode[appsv1alpha1.SidecarSet](t, manifest)
}

// revisionName is the name of the revision of logs with the short name (r0, r1, or latest).
func revisionName(t testing.TB, short string) string {
	t.Helper()
	if short == "latest" {
		return revision.For(sidecarSet(t, logsSet))
	}
	return revision.Name("logs", revision.Hash(fixture.Injected(t, contents[short]), nil))
}

// controllerRevisions are the stored revisions of logs as the operator stores them, and one of another
// SidecarSet of the same name (deleted), which is not logs's.
func controllerRevisions(t testing.TB) []appsv1.ControllerRevision {
	t.Helper()
	set := sidecarSet(t, logsSet)
	latest := revision.InjectedOf(&set.Spec)
	cr := func(name string, number int64, in revision.Injected, owner string) appsv1.ControllerRevision {
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		return appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Namespace: DefaultOperatorNamespace, Name: name,
				Labels: map[string]string{appsv1alpha1.SidecarSetNameLabel: "logs"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: appsv1alpha1.GroupVersion.String(), Kind: "SidecarSet",
					Name: "logs", UID: "logs-uid", Controller: ptr.To(true)}}},
			Data: runtime.RawExtension{Raw: data}, Revision: number,
		}
	}
	stale := cr("logs-deadbeef00", 7, fixture.Injected(t, contents["r1"]), "")
	stale.OwnerReferences[0].UID = "an-earlier-logs"
	return []appsv1.ControllerRevision{
		cr(revisionName(t, "latest"), 3, latest, ""),
		cr(revisionName(t, "r1"), 2, fixture.Injected(t, contents["r1"]), ""),
		cr(revisionName(t, "r0"), 1, fixture.Injected(t, contents["r0"]), ""),
		stale,
	}
}

func storedRevisions(t testing.TB) []revision.Stored {
	t.Helper()
	stored, unreadable := StoredOf(sidecarSet(t, logsSet), controllerRevisions(t))
	if len(unreadable) > 0 {
		t.Fatalf("unreadable revisions: %v", unreadable)
	}
	return stored
}

// fleetPod builds a pod of Deployment web labelled app=web, created at 11:00, ready, from YAML that adds
// to or overrides it. In the YAML, {r0}, {r1} and {latest} stand for the revision names.
func fleetPod(t testing.TB, name, extra string) corev1.Pod {
	t.Helper()
	base := fmt.Sprintf(`
metadata:
  namespace: shop
  name: %s
  labels: {app: web, pod-template-hash: 5d8f}
  creationTimestamp: "2026-11-25T11:00:00Z"
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f, uid: rs, controller: true}]
spec:
  containers: [{name: app, image: web:1}]
status:
  phase: Running
  conditions: [{type: Ready, status: "True", lastTransitionTime: "2026-11-25T11:00:00Z"}]
`, name)
	pod := fixture.Pod(t, base)
	if extra != "" {
		for _, short := range []string{"r0", "r1", "latest"} {
			extra = strings.ReplaceAll(extra, "{"+short+"}", revisionName(t, short))
		}
		over := fixture.Pod(t, extra)
		if over.Namespace != "" {
			pod.Namespace = over.Namespace
		}
		if over.Labels != nil {
			pod.Labels = over.Labels
		}
		if over.Annotations != nil {
			pod.Annotations = over.Annotations
		}
		if !over.CreationTimestamp.IsZero() {
			pod.CreationTimestamp = over.CreationTimestamp
		}
		if over.OwnerReferences != nil {
			pod.OwnerReferences = over.OwnerReferences
		}
		if len(over.Spec.Containers) > 0 {
			pod.Spec = over.Spec
		}
		if over.Status.Phase != "" {
			pod.Status = over.Status
		}
		if over.DeletionTimestamp != nil {
			pod.DeletionTimestamp = over.DeletionTimestamp
		}
	}
	return *pod
}

// injected is the YAML of a pod carrying the sidecar shipper on image, with the state annotation state.
func injected(image, state string) string {
	return fmt.Sprintf(`
metadata:
  annotations: {sidecarset.io/state: '%s'}
spec:
  containers: [{name: shipper, image: %s, volumeMounts: [{name: logs, mountPath: /logs}]}, {name: app, image: web:1}]
  volumes: [{name: logs, emptyDir: {}}]
`, state, image)
}

// fleet is every pod of the tests, by name, in the order of the names.
func fleet(t testing.TB) []corev1.Pod {
	t.Helper()
	return []corev1.Pod{
		fleetPod(t, "web-current", injected("shipper:2", `{"logs":{"revision":"{latest}","images":{"shipper":"shipper:2"}}}`)),
		fleetPod(t, "web-old", injected("shipper:1", `{"logs":{"revision":"{r1}","images":{"shipper":"shipper:1"}}}`)),
		fleetPod(t, "web-args", injected("shipper:1", `{"logs":{"revision":"{r0}","images":{"shipper":"shipper:1"}}}`)),
		fleetPod(t, "web-gone", injected("shipper:0", `{"logs":{"revision":"logs-0000000000","images":{"shipper":"shipper:0"}}}`)),
		fleetPod(t, "web-early", `{metadata: {creationTimestamp: "2026-11-25T09:00:00Z"}}`),
		fleetPod(t, "web-late", ""),
		fleetPod(t, "web-clash", `
metadata: {annotations: {sidecarset.io/state: '{"logs":{"revision":"{latest}","conflicts":["shipper"]}}'}}
spec: {containers: [{name: shipper, image: app-shipper:1}, {name: app, image: web:1}]}`),
		fleetPod(t, "web-skipped", `
metadata: {annotations: {sidecarset.io/state: '{"logs":{"revision":"{latest}","skipped":"the pod would be refused: violates PodSecurity \"restricted:latest\": runAsNonRoot != true"}}'}}`),
		fleetPod(t, "web-updating", injected("shipper:2", `{"logs":{"revision":"{latest}","images":{"shipper":"shipper:2"},`+
			`"update":{"from":"{r1}","startedAt":"2026-11-25T11:59:30Z","containers":{"shipper":{"containerID":"c://1","restartCount":0}}}}}`)+`
status:
  phase: Running
  conditions: [{type: Ready, status: "False", lastTransitionTime: "2026-11-25T11:59:31Z"}]
  containerStatuses:
  - {name: shipper, image: shipper:1, containerID: "c://1", restartCount: 0, ready: true, state: {running: {}}}
  - {name: app, image: web:1, ready: true, state: {running: {}}}`),
		fleetPod(t, "web-failed", injected("shipper:2", `{"logs":{"revision":"{latest}","images":{"shipper":"shipper:2"},`+
			`"update":{"from":"{r1}","startedAt":"2026-11-25T11:58:00Z","containers":{"shipper":{"containerID":"c://1","restartCount":0}}}}}`)+`
status:
  phase: Running
  conditions: [{type: Ready, status: "False", lastTransitionTime: "2026-11-25T11:58:01Z"}]
  containerStatuses:
  - {name: shipper, image: shipper:2, containerID: "c://1", restartCount: 0, ready: false, state: {waiting: {reason: ErrImagePull, message: "not found"}}}
  - {name: app, image: web:1, ready: true, state: {running: {}}}`),
		// Matched by labels, never counted.
		fleetPod(t, "web-optout", `{metadata: {labels: {app: web, pod-template-hash: 5d8f, sidecarset.io/inject: "false"}}}`),
		fleetPod(t, "web-system", `{metadata: {namespace: kube-system}}`),
		fleetPod(t, "web-done", `{status: {phase: Succeeded}}`),
		fleetPod(t, "web-bare", `{metadata: {ownerReferences: [], namespace: batch}}`),
	}
}

func podNamed(t testing.TB, name string) *corev1.Pod {
	t.Helper()
	for _, p := range fleet(t) {
		if p.Name == name {
			return &p
		}
	}
	t.Fatalf("no pod %s in the fleet", name)
	return nil
}

var namespaces = map[string]map[string]string{
	"shop":        {"env": "prod"},
	"batch":       {"env": "dev"},
	"kube-system": {},
}
