package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// simulatedLabel on a namespace hands its pods to the test kubelet; unreadyLabel on a pod keeps it unready.
const (
	simulatedLabel = "test.sidecarset.io/kubelet"
	unreadyLabel   = "test.sidecarset.io/unready"
)

// kubelet is a test-only stand-in for the kubelet, writing pod status through the status subresource as a
// kubelet would: containers run and are ready; a container whose spec image changed is restarted on the new
// image after restartDelay (new containerID and imageID, restartCount+1), not ready meanwhile, and the
// others are left exactly as they were; an image tagged "badpull" stays in ImagePullBackOff until the spec
// goes back to an image it can run. Container statuses report the resources of the spec, and a resize is
// applied at once, without a restart.
type kubelet struct {
	client       client.Client
	restartDelay time.Duration

	mu          sync.Mutex
	changedAt   map[string]time.Time // "ns/pod/container" -> when its new spec image was first seen
	maxUnready  map[string]int       // namespace -> most pods not ready at once
	lastUnready map[string]int
}

func (k *kubelet) run(ctx context.Context) {
	k.changedAt, k.maxUnready, k.lastUnready = map[string]time.Time{}, map[string]int{}, map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(25 * time.Millisecond):
		}
		var nss corev1.NamespaceList
		if err := k.client.List(ctx, &nss, client.HasLabels{simulatedLabel}); err != nil {
			continue
		}
		for _, ns := range nss.Items {
			k.sync(ctx, ns.Name)
		}
	}
}

// mostUnready is the most pods of the namespace seen not ready at once.
func (k *kubelet) mostUnready(namespace string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.maxUnready[namespace]
}

func (k *kubelet) sync(ctx context.Context, namespace string) {
	var pods corev1.PodList
	if err := k.client.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return
	}
	unready := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		before := p.Status.DeepCopy()
		ready := k.syncContainers(p, p.Spec.InitContainers, &p.Status.InitContainerStatuses, true) &&
			k.syncContainers(p, p.Spec.Containers, &p.Status.ContainerStatuses, false)
		ready = ready && p.Labels[unreadyLabel] != "true"
		setReady(p, ready)
		if !ready {
			unready++
		}
		if !equalStatus(before, &p.Status) {
			_ = k.client.Status().Update(ctx, p)
		}
	}
	k.mu.Lock()
	k.lastUnready[namespace] = unready
	k.maxUnready[namespace] = max(k.maxUnready[namespace], unready)
	k.mu.Unlock()
}

// syncContainers brings the statuses of containers in step with their spec and says whether all are ready.
// Of init containers only native sidecars are simulated (classic ones are taken as completed).
func (k *kubelet) syncContainers(p *corev1.Pod, spec []corev1.Container, statuses *[]corev1.ContainerStatus, init bool) bool {
	allReady := true
	for _, c := range spec {
		if init && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			continue
		}
		key := p.Namespace + "/" + p.Name + "/" + c.Name
		idx := -1
		for i := range *statuses {
			if (*statuses)[i].Name == c.Name {
				idx = i
			}
		}
		if idx < 0 {
			*statuses = append(*statuses, running(c, 0))
			continue
		}
		st := &(*statuses)[idx]
		if st.Resources == nil || !equality.Semantic.DeepEqual(*st.Resources, c.Resources) {
			st.Resources = c.Resources.DeepCopy()
		}
		if st.Image == c.Image {
			allReady = allReady && st.Ready
			continue
		}
		if strings.Contains(c.Image, "badpull") {
			// As a kubelet does, the status of a container that cannot start names the spec's image.
			st.Image, st.ImageID, st.Ready = c.Image, "", false
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "simulated: image not found"}}
			allReady = false
			continue
		}
		k.mu.Lock()
		first, seen := k.changedAt[key]
		if !seen {
			first = time.Now()
			k.changedAt[key] = first
		}
		k.mu.Unlock()
		if time.Since(first) < k.restartDelay {
			st.Ready = false // restarting
			allReady = false
			continue
		}
		*st = running(c, st.RestartCount+1)
		k.mu.Lock()
		delete(k.changedAt, key)
		k.mu.Unlock()
	}
	return allReady
}

func running(c corev1.Container, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: "sha256:" + c.Image, Ready: true, RestartCount: restarts,
		ContainerID: fmt.Sprintf("sim://%s-%d", c.Name, restarts), Resources: c.Resources.DeepCopy(),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}
}

func setReady(p *corev1.Pod, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady {
			if c.Status != status {
				c.Status, c.LastTransitionTime = status, metav1.Now()
			}
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()})
}

func equalStatus(a, b *corev1.PodStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
