package status

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/internal/podview"
)

// Cost is what a SidecarSet's sidecars take of the pods that carry them, summed over those pods: their CPU and
// memory requests and limits, and the requests of every container of those pods, the sidecars' included.
// CPU is in millicores, memory in bytes.
type Cost struct {
	// Pods are the pods summed: those that carry at least one of the SidecarSet's sidecars.
	Pods int32
	// Sidecars are the sidecars' requests and limits. A sidecar without a limit adds nothing to the limits.
	Sidecars podview.Amounts
	// PodRequestMilliCPU and PodRequestMemory are the requests of every container of those pods that runs
	// beside the app: its containers and native sidecars, whoever injected them.
	PodRequestMilliCPU, PodRequestMemory int64
}

// PodCost is what one pod adds to a Cost.
type PodCost struct {
	// Carries: the pod carries at least one of the SidecarSet's sidecars; it adds nothing otherwise.
	Carries  bool
	Sidecars podview.Amounts
	// RequestMilliCPU and RequestMemory are the requests of the pod's containers that run beside the app.
	RequestMilliCPU, RequestMemory int64
}

// PodCostOf is what the pod, as the cache shows it, adds to the Cost of a SidecarSet's sidecars, given the
// pod's state for it (carried false when it has none). A reconcile sums it over the tracked matched pods,
// keeping each pod's between reconciles (step.Memo): it reads the view alone, so it holds for as long as the
// view does.
//
// It reads the pod's spec, which is what the pod runs (an in-place resize changes it), not the revision the
// pod was injected with: pods injected with an older revision cost what they still run. The SidecarSet's
// sidecars in the pod are the containers its state names; another SidecarSet's sidecars in the same pod
// count as the pod's own containers. A pod whose sidecars were skipped at injection, or that never got them,
// adds nothing. Classic init containers (without restartPolicy Always), the SidecarSet's or the app's, have
// exited before the app starts: they hold nothing while the pod runs, and are left out. A limit without a
// request requests the limit, as the API server defaults it (podview.Amounts). No quantity is parsed here:
// Compact worked out each container's numbers. 10,000 pods of four containers take 0.8 ms
// (BenchmarkPodCostOf), about half of it looking the containers up in the state's sidecars.
func PodCostOf(st podstate.SidecarSetState, carried bool, pod *podview.View) PodCost {
	var pc PodCost
	if pod.Injected == nil || !carried || st.Skipped != "" || len(st.Images) == 0 {
		return pc
	}
	for i, list := range [2][]podview.Container{pod.Injected.Containers, pod.Injected.InitContainers} {
		for j := range list {
			ctr := &list[j]
			_, ours := st.Images[ctr.Name]
			pc.Carries = pc.Carries || ours
			if i == 1 && (ctr.RestartPolicy == nil || *ctr.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue // a classic init container: exited before the app started
			}
			a := ctr.Amounts()
			pc.RequestMilliCPU += a.RequestMilliCPU
			pc.RequestMemory += a.RequestMemory
			if ours {
				add(&pc.Sidecars, a)
			}
		}
	}
	if !pc.Carries {
		return PodCost{}
	}
	return pc
}

// Add adds what one pod costs.
func (c *Cost) Add(pc PodCost) {
	if !pc.Carries {
		return
	}
	c.Pods++
	add(&c.Sidecars, pc.Sidecars)
	c.PodRequestMilliCPU += pc.RequestMilliCPU
	c.PodRequestMemory += pc.RequestMemory
}

func add(sum *podview.Amounts, a podview.Amounts) {
	sum.RequestMilliCPU += a.RequestMilliCPU
	sum.RequestMemory += a.RequestMemory
	sum.LimitMilliCPU += a.LimitMilliCPU
	sum.LimitMemory += a.LimitMemory
}

// status is the cost as the SidecarSet's status reports it; nil when no matched pod carries a sidecar. The
// requests always name both resources; the limits only those some sidecar limits; the share only those the
// pods request some of.
func (c Cost) status() *appsv1alpha1.SidecarResources {
	if c.Pods == 0 {
		return nil
	}
	out := &appsv1alpha1.SidecarResources{
		Pods: c.Pods,
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    cpuQuantity(c.Sidecars.RequestMilliCPU),
			corev1.ResourceMemory: memoryQuantity(c.Sidecars.RequestMemory),
		},
		PodRequests: corev1.ResourceList{
			corev1.ResourceCPU:    cpuQuantity(c.PodRequestMilliCPU),
			corev1.ResourceMemory: memoryQuantity(c.PodRequestMemory),
		},
		RequestShare: appsv1alpha1.ResourceShare{
			CPU:    percent(c.Sidecars.RequestMilliCPU, c.PodRequestMilliCPU),
			Memory: percent(c.Sidecars.RequestMemory, c.PodRequestMemory),
		},
	}
	if c.Sidecars.LimitMilliCPU > 0 || c.Sidecars.LimitMemory > 0 {
		out.Limits = corev1.ResourceList{}
		if c.Sidecars.LimitMilliCPU > 0 {
			out.Limits[corev1.ResourceCPU] = cpuQuantity(c.Sidecars.LimitMilliCPU)
		}
		if c.Sidecars.LimitMemory > 0 {
			out.Limits[corev1.ResourceMemory] = memoryQuantity(c.Sidecars.LimitMemory)
		}
	}
	return out
}

// cpuQuantity is milli millicores, as kubectl prints CPU: 2500 is "2500m", 3000 is "3".
func cpuQuantity(milli int64) resource.Quantity {
	return *resource.NewMilliQuantity(milli, resource.DecimalSI)
}

// memoryQuantity is bytes in binary or decimal units, whichever prints shorter, binary ones on a tie, so a
// sum prints as its terms were written: 64Mi times 25 is "1600Mi" (not "1677721600"), 100M times 25
// "2500M", 1T times 4 "4T" (not "3906250000Ki").
func memoryQuantity(bytes int64) resource.Quantity {
	binary, decimal := resource.NewQuantity(bytes, resource.BinarySI), resource.NewQuantity(bytes, resource.DecimalSI)
	if len(decimal.String()) < len(binary.String()) {
		return *decimal
	}
	return *binary
}

// percent is part as a percentage of whole, to one decimal place, halves rounded up; "" when whole is 0.
// Worked numbers: 2500m of 22500m is 11.11%, "11.1%"; 1 of 800 is 0.125%, "0.1%"; 1 of 2000 is 0.05%,
// "0.1%"; 0 of 4000 is "0.0%"; 64Mi of 64Mi is "100.0%". The share is a report, not an input to any
// decision: float64's 53 bits are more than a tenth of a percent needs, even over petabytes.
func percent(part, whole int64) string {
	if whole <= 0 {
		return ""
	}
	tenths := int64(math.Round(float64(part) * 1000 / float64(whole)))
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}
