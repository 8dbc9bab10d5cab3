package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sidecarset/sidecarset-operator/internal/inplace"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
)

func TestTrimPodKeepsWhatTheOperatorReads(t *testing.T) {
	p := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(`
metadata:
  name: web-1
  namespace: shop
  resourceVersion: "42"
  labels: {app: web}
  annotations: {sidecarset.io/state: '{"logs":{"revision":"r1","images":{"shipper":"shipper:1"}}}', kubectl.kubernetes.io/last-applied-configuration: '{"big":"json"}'}
  managedFields: [{manager: kubectl, operation: Apply}]
spec:
  nodeName: node-1
  initContainers: [{name: proxy, image: proxy:1, restartPolicy: Always, args: [--big]}]
  containers: [{name: shipper, image: shipper:1, env: [{name: A, value: b}], volumeMounts: [{name: v, mountPath: /v}]}]
  volumes: [{name: v, emptyDir: {}}]
  tolerations: [{key: k, operator: Exists}]
status:
  phase: Running
  podIP: 10.0.0.1
  conditions: [{type: Ready, status: "True"}]
  containerStatuses: [{name: shipper, image: shipper:1, containerID: "c://1", ready: true}]
`), p); err != nil {
		t.Fatal(err)
	}
	before := p.DeepCopy()
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, Message: "long"})
	p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Message: "a long log tail"}
	out, err := TrimPod(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if len(got.Annotations) != 1 || got.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil {
		t.Errorf("annotations or last state not trimmed: %v, %+v", got.Annotations, got.Status.ContainerStatuses[0])
	}
	if got.ManagedFields != nil || got.Spec.Volumes != nil || got.Spec.Tolerations != nil || got.Status.PodIP != "" ||
		got.Spec.Containers[0].Env != nil || got.Spec.InitContainers[0].Args != nil {
		t.Errorf("not trimmed: %+v", got)
	}
	if got.ResourceVersion != "42" || got.Labels["app"] != "web" || got.Spec.NodeName != "node-1" ||
		!equality.Semantic.DeepEqual(got.Status.Conditions, before.Status.Conditions) ||
		!equality.Semantic.DeepEqual(got.Status.ContainerStatuses, before.Status.ContainerStatuses) {
		t.Errorf("trimmed too much: %+v", got)
	}
	// What the rollout reads still works on the trimmed pod.
	state, err := podstate.Read(got)
	if err != nil || state["logs"].Revision != "r1" {
		t.Fatalf("state %v, %v", state, err)
	}
	change, ok := inplace.Plan(got, state["logs"], "r2", map[string]string{"shipper": "shipper:2", "proxy": "proxy:2"}, metav1.Now().Time)
	if !ok || len(change.Images) != 2 || *got.Spec.InitContainers[0].RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("change %+v, ok %v", change, ok)
	}
}

func TestTrimPodKeepsLittleOfAPodNoSidecarSetInjected(t *testing.T) {
	p := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(`
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: u1}]
spec:
  containers: [{name: app, image: web:1}]
status:
  phase: Running
  conditions:
  - {type: Initialized, status: "True"}
  - {type: Ready, status: "True"}
  containerStatuses: [{name: app, image: web:1, ready: true}]
`), p); err != nil {
		t.Fatal(err)
	}
	out, _ := TrimPod(p)
	got := out.(*corev1.Pod)
	if got.Spec.Containers != nil || got.Status.ContainerStatuses != nil || got.OwnerReferences != nil {
		t.Errorf("not trimmed: %+v", got)
	}
	if got.Labels["app"] != "web" || got.Status.Phase != corev1.PodRunning || len(got.Status.Conditions) != 1 ||
		got.Status.Conditions[0].Type != corev1.PodReady {
		t.Errorf("trimmed too much: %+v", got)
	}
}
