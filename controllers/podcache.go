package controllers

import (
	corev1 "k8s.io/api/core/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// TrimPod is the pod informer's transform: it keeps what the operator reads of a pod (its metadata but
// managedFields and owner references, each container's name, image and restartPolicy, and the conditions and
// container statuses) and drops the rest before the pod enters the cache, so memory grows slowly with the
// cluster's pods. Of a pod no SidecarSet injected (no state annotation), which can be counted as missing its
// sidecars but never updated in place, it keeps only the metadata, the phase and the Ready condition.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	pod.OwnerReferences = nil
	if _, injected := pod.Annotations[appsv1alpha1.StateAnnotation]; !injected {
		var ready []corev1.PodCondition
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = append(ready, c)
			}
		}
		pod.Spec = corev1.PodSpec{}
		pod.Status = corev1.PodStatus{Phase: pod.Status.Phase, Conditions: ready}
		return pod, nil
	}
	trim := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
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
		Conditions:            pod.Status.Conditions,
		ContainerStatuses:     pod.Status.ContainerStatuses,
		InitContainerStatuses: pod.Status.InitContainerStatuses,
	}
	return pod, nil
}
