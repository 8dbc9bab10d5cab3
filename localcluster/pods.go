package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PodReady says whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitInjecting waits until the API server calls the operator's webhook for pods like probe: a server-side
// dry run of probe (which runs the webhooks and stores nothing) comes back with more containers than it has.
// A new SidecarSet's webhook entry takes effect a moment after it is written.
func WaitInjecting(ctx context.Context, c client.Client, probe *corev1.Pod, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p := probe.DeepCopy()
		if last = c.Create(ctx, p, client.DryRunAll); last != nil {
			return false, nil
		}
		return len(p.Spec.Containers) > len(probe.Spec.Containers), nil
	})
	if err != nil {
		return fmt.Errorf("the webhook never injected a probe pod (last error: %v): %w", last, err)
	}
	return nil
}
