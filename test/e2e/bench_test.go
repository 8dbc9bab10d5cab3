//go:build e2e

package e2e

import (
	"encoding/json"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/sidecarset/sidecarset-operator/localcluster/benchmark"
)

// The benchmark of make bench at N = 100, so that it never rots. Only what must hold at any speed is asserted:
// timings are printed, never judged, on these shared machines.
var _ = Describe("The local-cluster benchmark at N = 100", func() {
	It("measures a rollout within its budget, with one write per pod and no webhook call for unmatched pods", func() {
		res, err := benchmark.Run(ctx, local, operator, benchmark.Options{
			Name: uniqueName("bench"), Pods: 100, UnmatchedPods: 100, MaxUnavailable: "10%",
			SerialPods: 20, RestartDelay: restartDelay, Progress: GinkgoWriter,
		})
		Expect(err).NotTo(HaveOccurred())
		out, _ := json.MarshalIndent(res, "", "  ")
		GinkgoWriter.Printf("%s\n", out)

		Expect(res.Budget).To(Equal(10))
		Expect(res.MostUnavailable).To(BeNumerically(">", 0), "no pod was seen restarting")
		Expect(res.MostUnavailable).To(BeNumerically("<=", res.Budget))
		Expect(res.PodWrites).To(Equal(100), "pod writes during the rollout of 100 pods")
		Expect(res.ResizePodWrites).To(Equal(100), "pod patches during the resize of 100 pods")
		Expect(res.ResizeSubresourceWrites).To(Equal(100), "resize subresource writes during the resize of 100 pods")
		Expect(res.ResizeMostInFlight).To(BeNumerically(">", 0), "no pod was seen being resized")
		Expect(res.ResizeMostInFlight).To(BeNumerically("<=", res.Budget))
		Expect(res.ResizeRSSPeakMiB).To(BeNumerically(">", 0), "the operator's RSS was not sampled during the resize")
		Expect(res.WebhookCallsUnmatched).To(BeZero())
		Expect(res.WebhookCallsMatched).To(Equal(100), "webhook calls for 100 matched pods: one each, not reinvoked")
		Expect(res.WebhookP99Ms).To(BeNumerically(">", 0))
		Expect(res.WebhookSerialCalls).To(Equal(20), "20 matched pods created one at a time, among 20 for the control webhook and 20 for none")
		Expect(res.ControlSerialCalls).To(Equal(20), "the control webhook is called for its 20 pods, and only for them")
		Expect(res.CreateSerialMatchedP50Ms).To(BeNumerically(">", 0))
		Expect(res.CreateSerialUnmatchedP50Ms).To(BeNumerically(">", 0))
		// Three bursts, each after the pods of the one before are gone; the one of the median ratio is reported.
		Expect(res.BurstRatios).To(HaveLen(3))
		Expect(res.BurstPatchingRatios).To(HaveLen(3), "each burst also times the patching control")
		Expect(res.BurstPatchingMeanMs).To(BeNumerically(">", 0))
		Expect(res.BurstPods).To(Equal(100))
		ratios := slices.Sorted(slices.Values(res.BurstRatios))
		Expect(res.BurstWebhookMeanMs/res.BurstControlMeanMs).To(BeNumerically("~", ratios[1], 0.01), "the median burst is the one reported")
		Expect(res.RolloutSeconds).To(BeNumerically(">=", res.BoundSeconds), "faster than the kubelets restart")
		Expect(res.RSSIdleMiB).To(BeNumerically(">", 0))
		Expect(res.CPUSeconds).To(BeNumerically(">", 0))
		// A rollout of 10 batches takes at least one reconcile per batch; the operator's metrics say so.
		Expect(res.Reconciles).To(BeNumerically(">=", 10), "reconciles during the rollout, from the operator's metrics")
		Expect(res.ReconcileMeanMs).To(BeNumerically(">", 0))
		Expect(res.ClusterCPUSeconds).To(HaveKey("kube-apiserver"))
		Expect(res.ClusterCPUSeconds).To(HaveKey("etcd"))
		Expect(res.ClusterCPUSeconds).To(HaveKey("kwok"))
	})
})

var _ = Describe("The paired rollouts of make bench at N = 100", func() {
	It("rolls the same pods out in turns with the operator at two sets of flags, each within its budget", func() {
		tuned, err := local.StartOperator(ctx, operator.Binary, "--kube-api-qps=1000", "--kube-api-burst=2000")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			Expect(tuned.Stop()).To(Succeed())
			ensureOperatorRunning()
		})
		res, err := benchmark.RunPaired(ctx, local, benchmark.PairedOptions{
			Name: uniqueName("paired"), Pods: 100, MaxUnavailable: "10%", RestartDelay: restartDelay, Rounds: 2,
			Progress: GinkgoWriter,
			Columns: [2]benchmark.PairedColumn{
				{Name: "defaults", Operator: operator},
				{Name: "tuned", Flags: "--kube-api-qps=1000 --kube-api-burst=2000", Operator: tuned},
			},
		})
		Expect(err).NotTo(HaveOccurred())
		out, _ := json.MarshalIndent(res, "", "  ")
		GinkgoWriter.Printf("%s\n", out)

		Expect(res.Budget).To(Equal(10))
		Expect(res.Rollouts).To(HaveLen(4))
		var order []int
		for _, ro := range res.Rollouts {
			order = append(order, ro.Column)
			Expect(ro.RolloutSeconds).To(BeNumerically(">=", res.BoundSeconds), "faster than the kubelets restart")
			Expect(ro.MostUnavailable).To(BeNumerically(">", 0), "no pod was seen restarting")
			Expect(ro.MostUnavailable).To(BeNumerically("<=", res.Budget))
			// The process measured is the one that made the rollout: the operator of its column, running.
			Expect(ro.OperatorCPUSeconds).To(BeNumerically(">", 0))
			Expect(ro.ClusterCPUSeconds).To(BeNumerically(">", 0))
		}
		Expect(order).To(Equal([]int{0, 1, 1, 0}), "the second round runs the columns in the other order")
		Expect(res.Ratios).To(HaveLen(2))
		Expect(res.Ratios[0]).To(BeNumerically("~", res.Rollouts[0].RolloutSeconds/res.Rollouts[1].RolloutSeconds, 0.01))
		Expect(res.Ratios[1]).To(BeNumerically("~", res.Rollouts[3].RolloutSeconds/res.Rollouts[2].RolloutSeconds, 0.01))
		Expect(res.Ratio).To(BeNumerically("~", (res.Ratios[0]+res.Ratios[1])/2, 0.01))
		Expect(operator.Running()).To(BeFalse(), "the phase leaves its operators stopped")
		Expect(tuned.Running()).To(BeFalse(), "the phase leaves its operators stopped")
	})
})
