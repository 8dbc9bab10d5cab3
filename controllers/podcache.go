package controllers

import (
	corev1 "k8s.io/api/core/v1"
)

// TrimPod is the pod informer's transform: it keeps what the operator reads of a pod (its metadata but
// managedFields, each container's name, image and restartPolicy, and the conditions and container statuses)
// and drops the rest before the pod enters the cache, so memory grows slowly with the cluster's pods.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
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
