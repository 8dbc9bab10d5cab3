package controllers

import (
	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// TrimPod is the pod informer's transform: it keeps what the operator reads of a pod and drops the rest before
// the pod enters the cache, so memory grows slowly with the cluster's pods. It keeps the metadata but
// managedFields, owner references and every annotation other than the state annotation; each container's
// name, image and restartPolicy; the Ready condition; and of each container status what judging an in-place
// update reads (image, imageID, containerID, restart count, readiness, and the waiting reason). Of a pod no
// SidecarSet injected (no state annotation), which can be counted as missing its sidecars but never updated
// in place, it keeps only the metadata, the phase and the Ready condition.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	pod.OwnerReferences = nil
	state, injected := pod.Annotations[appsv1alpha1.StateAnnotation]
	pod.Annotations = nil
	var ready []corev1.PodCondition
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready = append(ready, corev1.PodCondition{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime})
		}
	}
	if !injected {
		pod.Spec = corev1.PodSpec{}
		pod.Status = corev1.PodStatus{Phase: pod.Status.Phase, Conditions: ready}
		return pod, nil
	}
	pod.Annotations = map[string]string{appsv1alpha1.StateAnnotation: state}
	trim := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
		}
		return out
	}
	trimStatus := func(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
		out := make([]corev1.ContainerStatus, len(ss))
		for i, s := range ss {
			out[i] = corev1.ContainerStatus{Name: s.Name, Image: s.Image, ImageID: s.ImageID, ContainerID: s.ContainerID,
				RestartCount: s.RestartCount, Ready: s.Ready}
			if w := s.State.Waiting; w != nil {
				out[i].State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
			}
		}
		return out
	}
	pod.Spec = corev1.PodSpec{
		Containers:     trim(pod.Spec.Containers),
		InitContainers: trim(pod.Spec.InitContainers),
		NodeName:       pod.Spec.NodeName,
	}
	pod.Status = corev1.PodStatus{
		Phase:                 pod.Status.Phase,
		Conditions:            ready,
		ContainerStatuses:     trimStatus(pod.Status.ContainerStatuses),
		InitContainerStatuses: trimStatus(pod.Status.InitContainerStatuses),
	}
	return pod, nil
}
