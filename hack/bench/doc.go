package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sidecarset/sidecarset-operator/localcluster"
	"github.com/sidecarset/sidecarset-operator/localcluster/benchmark"
)

// The generated section of docs/benchmarks.md lies between these markers; the rest of the page is written by
// hand.
const (
	beginMarker = "<!-- BEGIN local-cluster results: written by make bench -->"
	endMarker   = "<!-- END local-cluster results -->"
)

func waitNamespaceGone(ctx context.Context, local *localcluster.Cluster, name string) error {
	cs, err := kubernetes.NewForConfig(local.Config)
	if err != nil {
		return err
	}
	fmt.Printf("Waiting for namespace %s and its pods to be deleted\n", name)
	return wait.PollUntilContextTimeout(ctx, time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		var pods *corev1.PodList
		if pods, err = cs.CoreV1().Pods(name).List(ctx, metav1.ListOptions{Limit: 1}); err == nil && len(pods.Items) == 0 {
			return true, nil
		}
		return false, nil
	})
}

// writeDoc rewrites the generated section of the benchmarks page with the report.
func writeDoc(path string, r Report) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	page := string(data)
	begin, end := strings.Index(page, beginMarker), strings.Index(page, endMarker)
	if begin < 0 || end < begin {
		return fmt.Errorf("%s has no %q ... %q section to write the results into", path, beginMarker, endMarker)
	}
	section := beginMarker + "\n" + render(r) + endMarker
	return os.WriteFile(path, []byte(page[:begin]+section+page[end+len(endMarker):]), 0o644)
}

func render(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMeasured on %s on %s (%d cores, %d GiB), Go %s, Kubernetes %s, etcd %s, kwok %s. Restart delay %s, "+
		"`maxUnavailable: %s`, %s, %s simulated nodes%s. Raw figures: [benchmarks.json](benchmarks.json).\n\n",
		r.Date, r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryGiB, strings.TrimPrefix(r.Version["go"], "go"),
		r.Version["kubernetes"], r.Version["etcd"], r.Version["kwok"], r.Settings["restartDelay"], r.Settings["maxUnavailable"],
		operatorFlags(r.Settings["operatorFlags"]), r.Settings["nodes"], workersNote(r.Settings["kubeletWorkers"]))

	row := func(name string, cell func(benchmark.Result) string, target string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, run := range r.Runs {
			fmt.Fprintf(&b, " %s |", cell(run))
		}
		fmt.Fprintf(&b, " %s |\n", target)
	}
	fmt.Fprint(&b, "| |")
	for _, run := range r.Runs {
		if run.OperatorFlags != "" {
			fmt.Fprintf(&b, " N = %s, `%s` |", thousands(run.Pods), run.OperatorFlags)
			continue
		}
		fmt.Fprintf(&b, " N = %s |", thousands(run.Pods))
	}
	fmt.Fprint(&b, " target |\n|---|")
	for range r.Runs {
		fmt.Fprint(&b, "---:|")
	}
	fmt.Fprint(&b, "---|\n")
	row("pods in the cluster during the rollout", func(x benchmark.Result) string { return thousands(x.ClusterPods) }, "")
	row("rollout time", func(x benchmark.Result) string { return fmt.Sprintf("%.2f s", x.RolloutSeconds) }, "")
	if tuned := slices.IndexFunc(r.Runs, func(x benchmark.Result) bool { return x.OperatorFlags != "" }); tuned >= 0 {
		t := r.Runs[tuned]
		name := "rollout time / the same rollout at the tuned flags"
		if r.Paired != nil {
			name += " (one rollout each; the paired rollouts below decide)"
		}
		row(name, func(x benchmark.Result) string {
			if x.OperatorFlags != "" || x.Pods != t.Pods || t.RolloutSeconds == 0 {
				return "-"
			}
			ratio := x.RolloutSeconds / t.RolloutSeconds
			return verdict(fmt.Sprintf("%.2f", ratio), ratio <= 1.1)
		}, "≤ 1.1 (N = 1,000)")
	}
	row("bound: ceil(N / budget) × restart delay", func(x benchmark.Result) string {
		return fmt.Sprintf("%.1f s (%d batches of %d)", x.BoundSeconds, (x.Pods+x.Budget-1)/x.Budget, x.Budget)
	}, "")
	row("rollout time / bound", func(x benchmark.Result) string {
		return verdict(fmt.Sprintf("%.2f", x.RatioToBound), x.RatioToBound <= ratioTarget(x.Pods))
	},
		"≤ 1.15 (N = 1,000), ≤ 1.5 (N = 10,000)")
	row("one pod's update, p50 / p90 (write to ready on the new image)", func(x benchmark.Result) string {
		return fmt.Sprintf("%.2f / %.2f s", x.UpdateSecondsP50, x.UpdateSecondsP90)
	}, "")
	row("budget use (time-averaged pods in update / budget)", func(x benchmark.Result) string {
		return fmt.Sprintf("%.0f%%", x.BudgetUse*100)
	}, "")
	row("most pods unavailable at once", func(x benchmark.Result) string {
		return verdict(fmt.Sprintf("%d of %d allowed", x.MostUnavailable, x.Budget), x.MostUnavailable <= x.Budget)
	}, "≤ maxUnavailable, at every sample")
	row("pod writes per updated pod", func(x benchmark.Result) string {
		return verdict(fmt.Sprintf("%.3f (%s writes)", x.WritesPerPod, thousands(x.PodWrites)), x.PodWrites == x.Pods)
	}, "exactly 1")
	row("pod writes the API server refused (409: the pod changed since it was read; nothing written)", func(x benchmark.Result) string {
		return thousands(x.PodWriteConflicts)
	}, "")
	row("resize rollout time (the sidecar's CPU request changed, resized in place)", func(x benchmark.Result) string {
		if !resized(x) {
			return "-"
		}
		return fmt.Sprintf("%.2f s", x.ResizeRolloutSeconds)
	}, "")
	row("resize rollout time / bound", func(x benchmark.Result) string {
		if !resized(x) {
			return "-"
		}
		return fmt.Sprintf("%.2f", x.ResizeRatioToBound)
	}, "")
	row("most pods being resized at once (spec request ≠ status request)", func(x benchmark.Result) string {
		if !resized(x) {
			return "-"
		}
		return verdict(fmt.Sprintf("%d of %d allowed", x.ResizeMostInFlight, x.Budget), x.ResizeMostInFlight <= x.Budget)
	}, "≤ maxUnavailable, at every sample")
	row("writes per resized pod (patches of the pod + writes to its resize subresource)", func(x benchmark.Result) string {
		if !resized(x) {
			return "-"
		}
		return verdict(fmt.Sprintf("%.3f (%s + %s writes)", x.ResizeWritesPerPod, thousands(x.ResizePodWrites), thousands(x.ResizeSubresourceWrites)),
			x.ResizePodWrites == x.Pods && x.ResizeSubresourceWrites == x.Pods)
	}, "exactly 2: one resize, one patch")
	row("pod and resize writes the API server refused during the resize rollout (409; nothing written)", func(x benchmark.Result) string {
		if !resized(x) {
			return "-"
		}
		return thousands(x.ResizeWriteConflicts)
	}, "")
	row("time to create the unmatched pods (no webhook call)", func(x benchmark.Result) string {
		if x.UnmatchedPods == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f s for %s", x.CreateUnmatchedSeconds, thousands(x.UnmatchedPods))
	}, "")
	row("time to create the matched pods (webhook called)", func(x benchmark.Result) string {
		return fmt.Sprintf("%.1f s for %s", x.CreateMatchedSeconds, thousands(x.Pods))
	}, "")
	row("webhook p50 / p99 per matched pod creation, all N at once (API server histogram)", func(x benchmark.Result) string {
		return verdict(fmt.Sprintf("%.2f / %.2f ms", x.WebhookP50Ms, x.WebhookP99Ms), x.WebhookP99Ms <= 5)
	}, "p99 ≤ 5 ms")
	row("under a burst of 1,000 matched pods created at once, each admitted by the do-nothing control, the patching control and the operator's webhook in turn: webhook mean, p50, operator vs do-nothing control (API server histogram); of three bursts, the one of the median ratio, and each burst's ratio", func(x benchmark.Result) string {
		if x.BurstPods == 0 {
			return "-"
		}
		figure := fmt.Sprintf("%.1f, %.1f vs %.1f, %.1f ms", x.BurstWebhookMeanMs, x.BurstWebhookP50Ms, x.BurstControlMeanMs, x.BurstControlP50Ms)
		if len(x.BurstRatios) > 0 {
			ratios := make([]string, len(x.BurstRatios))
			for i, r := range x.BurstRatios {
				ratios[i] = fmt.Sprintf("%.2f×", r)
			}
			figure += " (" + strings.Join(ratios, ", ") + ")"
		}
		return verdict(figure, x.BurstWebhookMeanMs <= 1.2*x.BurstControlMeanMs)
	}, "operator's mean ≤ 1.2 × the control's")
	row("under the same bursts, a control that answers with a patch of one label (the API server encodes, patches, decodes, compares and defaults the pod within the call it times, as for any webhook that changes it): its mean, p50; each burst's operator mean over it", func(x benchmark.Result) string {
		if x.BurstPatchingMeanMs == 0 {
			return "-"
		}
		ratios := make([]string, len(x.BurstPatchingRatios))
		for i, r := range x.BurstPatchingRatios {
			ratios[i] = fmt.Sprintf("%.2f×", r)
		}
		return fmt.Sprintf("%.1f, %.1f ms (%s)", x.BurstPatchingMeanMs, x.BurstPatchingP50Ms, strings.Join(ratios, ", "))
	}, "")
	row("of the operator's mean in that burst, its own handling: from reading a request to writing the answer (its webhook latency histogram)", func(x benchmark.Result) string {
		if x.BurstHandlingMeanMs == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f ms", x.BurstHandlingMeanMs)
	}, "")
	row("the operator's CPU during that burst", func(x benchmark.Result) string {
		if x.BurstPods == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f s in %.1f s", x.BurstOperatorCPUSeconds, x.BurstSeconds)
	}, "")
	row("webhook p50 / p99 per matched pod creation, one pod at a time (API server histogram)", func(x benchmark.Result) string {
		if x.WebhookSerialCalls == 0 {
			return "-"
		}
		return verdict(fmt.Sprintf("%.2f / %.2f ms", x.WebhookSerialP50Ms, x.WebhookSerialP99Ms), x.WebhookSerialP99Ms <= 5)
	}, "p99 ≤ 5 ms")
	row("one pod at a time: mean, and share within the 5 ms bucket (API server histogram)", func(x benchmark.Result) string {
		if x.WebhookSerialMeanMs == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f ms, %.0f%%", x.WebhookSerialMeanMs, x.WebhookSerialWithin5ms*100)
	}, "")
	row("the same for a do-nothing webhook (the control): p50 / p99, mean, share within 5 ms", func(x benchmark.Result) string {
		if x.ControlSerialCalls == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f / %.2f ms, %.2f ms, %.0f%%", x.ControlSerialP50Ms, x.ControlSerialP99Ms, x.ControlSerialMeanMs,
			x.ControlSerialWithin5ms*100)
	}, "")
	row("one pod at a time: create latency p50 / p99, matched vs control vs no webhook (client)", func(x benchmark.Result) string {
		if x.WebhookSerialCalls == 0 {
			return "-"
		}
		if x.ControlSerialCalls == 0 {
			return fmt.Sprintf("%.2f / %.2f vs - vs %.2f / %.2f ms", x.CreateSerialMatchedP50Ms, x.CreateSerialMatchedP99Ms,
				x.CreateSerialUnmatchedP50Ms, x.CreateSerialUnmatchedP99Ms)
		}
		return fmt.Sprintf("%.2f / %.2f vs %.2f / %.2f vs %.2f / %.2f ms", x.CreateSerialMatchedP50Ms, x.CreateSerialMatchedP99Ms,
			x.CreateSerialControlP50Ms, x.CreateSerialControlP99Ms, x.CreateSerialUnmatchedP50Ms, x.CreateSerialUnmatchedP99Ms)
	}, "")
	row("the webhook's own answer, p50 / p99 (AdmissionReviews posted to it one at a time)", func(x benchmark.Result) string {
		if x.WebhookDirectP50Ms == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f / %.2f ms", x.WebhookDirectP50Ms, x.WebhookDirectP99Ms)
	}, "")
	row("webhook calls for pods no SidecarSet selects", func(x benchmark.Result) string {
		if x.UnmatchedPods == 0 {
			return "-"
		}
		return verdict(fmt.Sprintf("%d of %s pods", x.WebhookCallsUnmatched, thousands(x.UnmatchedPods)), x.WebhookCallsUnmatched == 0)
	}, "0")
	row("operator RSS idle, before the rollout: 2 s after the pods were created and ready", func(x benchmark.Result) string {
		return verdict(fmt.Sprintf("%.1f MiB", x.RSSIdleMiB), x.RSSIdleMiB <= 64)
	}, "≤ 64 MiB")
	row("operator RSS at rest, before the rollout: the same, read later, once the SidecarSet's memo was dropped", func(x benchmark.Result) string {
		if x.RSSSettledMiB == 0 {
			return "-"
		}
		return verdict(fmt.Sprintf("%.1f MiB after %.0f s", x.RSSSettledMiB, x.SettleSeconds), x.RSSSettledMiB <= 64)
	}, "≤ 64 MiB")
	row("operator RSS peak, during the rollout", func(x benchmark.Result) string { return fmt.Sprintf("%.1f MiB", x.RSSPeakMiB) }, "")
	row("operator RSS peak, during the resize rollout", func(x benchmark.Result) string {
		if x.ResizeRSSPeakMiB == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f MiB", x.ResizeRSSPeakMiB)
	}, "")
	row("operator RSS growth per pod over an empty cluster", func(x benchmark.Result) string {
		perPod := (x.RSSIdleMiB - r.RSSEmptyMiB) * 1024 / float64(x.ClusterPods)
		return verdict(fmt.Sprintf("%.2f KiB", perPod), perPod < 2)
	}, "< 2 KiB")
	row("operator CPU during the rollout", func(x benchmark.Result) string { return fmt.Sprintf("%.2f s", x.CPUSeconds) }, "")
	row("the cluster's CPU during the rollout, by process", func(x benchmark.Result) string { return cpuByProcess(x.ClusterCPUSeconds) }, "")
	row("the machine's floor: the cluster's CPU for the rollout / cores; rollout time / floor", func(x benchmark.Result) string {
		floor := cpuFloor(x.ClusterCPUSeconds, r.Machine.Cores)
		if floor == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f s; %.2f", floor, x.RolloutSeconds/floor)
	}, "")
	row("SidecarSet reconciles during the rollout; mean time each, and queued before it", func(x benchmark.Result) string {
		if x.Reconciles == 0 {
			return "-"
		}
		return fmt.Sprintf("%s; %.1f ms, %.1f ms", thousands(x.Reconciles), x.ReconcileMeanMs, x.QueueWaitMeanMs)
	}, "mean ≤ 20 ms at N = 10,000")
	row("mean time of a reconcile by phase: gather (caches), decide (pure), apply (revisions, status write, events)", func(x benchmark.Result) string {
		if len(x.PhaseMeanMs) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f, %.1f, %.1f ms", x.PhaseMeanMs["gather"], x.PhaseMeanMs["decide"], x.PhaseMeanMs["apply"])
	}, "")
	fmt.Fprintf(&b, "\nThe operator's RSS in the empty cluster, ready: %.1f MiB.\n\n", r.RSSEmptyMiB)
	if slices.ContainsFunc(r.Runs, resized) {
		change := r.Settings["resizeCPURequest"]
		if change == "" {
			change = "changed"
		} else {
			change = "from " + strings.Replace(change, " → ", " to ", 1)
		}
		fmt.Fprintf(&b, "The resize rollout follows the image rollout on the same pods: the sidecar's CPU request goes %s "+
			"(a JSON patch of the SidecarSet), and its time runs from that update to the pod informer seeing every matched "+
			"pod's container status report the new request; its bound is the image rollout's. A pod is being resized "+
			"while the request in its spec differs from the one in its status, counted at every informer event. Its "+
			"writes are the API server's successful PATCH and UPDATE requests to pods and to their `resize` subresource "+
			"(`apiserver_request_total`) from the update until the SidecarSet is Ready on the new request, and its "+
			"refused writes the 409s of either over that time.\n\n", change)
	}
	b.WriteString(renderPaired(r))
	b.WriteString(renderMany(r))
	return b.String()
}

// renderPaired renders the paired phase: each column's rollouts in the order they ran, and the ratio of
// the defaults to the tuned flags, round by round. A report from before the phase renders nothing.
func renderPaired(r Report) string {
	p := r.Paired
	if p == nil || len(p.Columns) != 2 || len(p.Ratios) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**Paired rollouts**: the rollout above, of %s pods among %s, made %d times more, the operator restarted "+
		"between with %s and with %s in turns (round by round: first, second; then second, first...), so that a drift "+
		"of the machine's load favours neither; each rollout to a new image, from its update until every pod runs it, "+
		"ready. Bound %.1f s (%d at a time).\n\n",
		thousands(p.Pods), thousands(p.ClusterPods), len(p.Rollouts), pairedName(p, 0), pairedName(p, 1), p.BoundSeconds, p.Budget)
	fmt.Fprintf(&b, "| | %s | %s | target |\n|---|---:|---:|---|\n", pairedName(p, 0), pairedName(p, 1))
	cell := func(col int, f func(benchmark.PairedRollout) string) string {
		var parts []string
		for _, ro := range p.Rollouts {
			if ro.Column == col {
				parts = append(parts, f(ro))
			}
		}
		return strings.Join(parts, ", ")
	}
	row := func(name string, f func(benchmark.PairedRollout) string) {
		fmt.Fprintf(&b, "| %s | %s | %s | |\n", name, cell(0, f), cell(1, f))
	}
	row("rollout time, in the order they ran", func(ro benchmark.PairedRollout) string { return fmt.Sprintf("%.2f s", ro.RolloutSeconds) })
	row("the machine's floor: the cluster's CPU / cores", func(ro benchmark.PairedRollout) string {
		return fmt.Sprintf("%.1f s", ro.ClusterCPUSeconds/float64(max(r.Machine.Cores, 1)))
	})
	row("operator CPU", func(ro benchmark.PairedRollout) string { return fmt.Sprintf("%.1f s", ro.OperatorCPUSeconds) })
	row("most pods unavailable at once", func(ro benchmark.PairedRollout) string {
		return verdict(thousands(ro.MostUnavailable), ro.MostUnavailable <= p.Budget)
	})
	ratios := make([]string, len(p.Ratios))
	for i, x := range p.Ratios {
		ratios[i] = fmt.Sprintf("%.2f", x)
	}
	fmt.Fprintf(&b, "| rollout time, %s / %s: median of the rounds (each round's) | %s (%s) | | ≤ 1.1 |\n\n",
		pairedName(p, 0), pairedName(p, 1), verdict(fmt.Sprintf("%.2f", p.Ratio), p.Ratio <= 1.1), strings.Join(ratios, ", "))
	return b.String()
}

// pairedName names a paired column: by its flags, or as the defaults.
func pairedName(p *benchmark.PairedResult, col int) string {
	if p.Flags[col] == "" {
		return "the defaults"
	}
	return "`" + p.Flags[col] + "`"
}

// manyColumns are the counts of the many-SidecarSets table when a report has none (from before the phase).
var manyColumns = []int{100, 1000, 10000}

// storageHalf is half the storage's default request limit (etcd's --max-request-bytes, 1.5 MiB): no
// configuration should come near it.
const storageHalf = 768 << 10

// renderMany renders the many-SidecarSets phase's table; a report from before the phase shows "-" in every
// cell.
func renderMany(r Report) string {
	var b strings.Builder
	cols := r.ManySidecarSets
	if len(cols) == 0 {
		for _, n := range manyColumns {
			cols = append(cols, benchmark.ManyResult{SidecarSets: n})
		}
	}
	workers := r.Settings["manySidecarSetsWorkers"]
	if workers == "" {
		workers = "several"
	}
	fmt.Fprintf(&b, "**Many SidecarSets**, created cumulatively (%s creates at once), each selecting its own label `app=set-<i>`:\n\n", workers)
	fmt.Fprint(&b, "| |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s SidecarSets |", thousands(c.SidecarSets))
	}
	fmt.Fprint(&b, " target |\n|---|")
	for range cols {
		fmt.Fprint(&b, "---:|")
	}
	fmt.Fprint(&b, "---|\n")
	row := func(name string, cell func(benchmark.ManyResult) string, target string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, c := range cols {
			s := "-"
			if measured(c) {
				s = cell(c)
			}
			fmt.Fprintf(&b, " %s |", s)
		}
		fmt.Fprintf(&b, " %s |\n", target)
	}
	row("SidecarSets created in the batch (the rest already in place)", func(x benchmark.ManyResult) string { return thousands(x.Created) }, "")
	row("time to create them (each validated by the operator's webhook)", func(x benchmark.ManyResult) string {
		return fmt.Sprintf("%.1f s (%.0f a second)", x.CreateSeconds, rate(x.Created, x.CreateSeconds))
	}, "")
	row("from the batch's start: every entry registered / every SidecarSet Ready", func(x benchmark.ManyResult) string {
		return fmt.Sprintf("%.1f / %.1f s", x.RegisteredSeconds, x.ReadySeconds)
	}, "")
	row("bytes written to the MutatingWebhookConfigurations during the batch (request bodies, protobuf)", func(x benchmark.ManyResult) string {
		return fmt.Sprintf("%s in %s writes (%s refused)", byteSize(float64(x.ConfigBodyBytes)), thousands(x.ConfigWriteRequests),
			thousands(x.ConfigWriteConflicts))
	}, "")
	row("the same per SidecarSet created", func(x benchmark.ManyResult) string {
		return byteSize(benchmark.PerSidecarSet(x.ConfigBodyBytes, x.Created))
	}, "about the same in every batch: total linear in N")
	row("configuration versions stored during the batch (watch): how many, their JSON bytes, per SidecarSet created", func(x benchmark.ManyResult) string {
		return fmt.Sprintf("%s, %s, %s", thousands(x.ConfigVersions), byteSize(float64(x.ConfigVersionJSONBytes)),
			byteSize(benchmark.PerSidecarSet(x.ConfigVersionJSONBytes, x.Created)))
	}, "")
	row("configurations, and the largest one's JSON size", func(x benchmark.ManyResult) string {
		return verdict(fmt.Sprintf("%s; %s", thousands(x.Configurations), byteSize(float64(x.LargestConfigurationBytes))),
			x.LargestConfigurationBytes <= storageHalf)
	}, "≤ 768 KiB, half the storage's request limit")
	row("one more SidecarSet: from its creation to the first pod injected (a pod created every 50 ms)", func(x benchmark.ManyResult) string {
		if x.NewInjectingPods == 0 {
			return "-"
		}
		return verdict(fmt.Sprintf("%.2f s (%d pods)", x.NewInjectingSeconds, x.NewInjectingPods), x.NewInjectingSeconds <= 2)
	}, "≤ 2 s with 10,000 in place")
	row("a pod's create, one at a time, p50: matched vs selected by none (client)", func(x benchmark.ManyResult) string {
		if x.AdmissionPods == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f vs %.2f ms (%d each)", x.AdmissionMatchedP50Ms, x.AdmissionUnmatchedP50Ms, x.AdmissionPods)
	}, "")
	row("operator RSS with them in place", func(x benchmark.ManyResult) string { return fmt.Sprintf("%.1f MiB", x.RSSMiB) }, "")
	// The growth per SidecarSet created, over the column before (the first over the empty cluster).
	growth := map[int]float64{}
	before := r.RSSEmptyMiB
	for _, c := range cols {
		if measured(c) && c.Created > 0 && c.RSSMiB > 0 {
			growth[c.SidecarSets] = (c.RSSMiB - before) * 1024 / float64(c.Created)
			before = c.RSSMiB
		}
	}
	row("operator RSS growth per SidecarSet created, over the column before (the first: over the empty cluster)", func(x benchmark.ManyResult) string {
		g, ok := growth[x.SidecarSets]
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.1f KiB", g)
	}, "")
	row("operator CPU during the batch", func(x benchmark.ManyResult) string { return fmt.Sprintf("%.1f s", x.CPUSeconds) }, "")
	b.WriteString("\n")
	return b.String()
}

// measured says whether the phase measured this count (a report from before it has only the counts).
func measured(x benchmark.ManyResult) bool { return x.Created > 0 || x.ReadySeconds > 0 }

// rate is n per second; 0 without a duration.
func rate(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// byteSize writes a size in bytes: B up to 10 KiB, then KiB up to 1 MiB, then MiB.
func byteSize(b float64) string {
	switch {
	case b < 10<<10:
		return thousands(int(math.Round(b))) + " B"
	case b < 1<<20:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.2f MiB", b/(1<<20))
	}
}

// resized says whether the run measured a resize rollout (reports from before it had none).
func resized(x benchmark.Result) bool { return x.ResizeRolloutSeconds > 0 }

// cpuFloor is the least time the cluster's processes need for the rollout on the machine's cores, had the
// operator used none: their CPU seconds over the number of cores. 0 when they were not measured.
func cpuFloor(cpu map[string]float64, cores int) float64 {
	total := 0.0
	for _, s := range cpu {
		total += s
	}
	if cores < 1 {
		return 0
	}
	return total / float64(cores)
}

// cpuByProcess lists CPU seconds by process, most first; "-" for reports from before they were measured.
func cpuByProcess(cpu map[string]float64) string {
	if len(cpu) == 0 {
		return "-"
	}
	names := make([]string, 0, len(cpu))
	for name := range cpu {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if cpu[names[i]] != cpu[names[j]] {
			return cpu[names[i]] > cpu[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.1f s", name, cpu[name])
	}
	return strings.Join(parts, ", ")
}

func ratioTarget(n int) float64 {
	if n >= 10000 {
		return 1.5
	}
	return 1.15
}

func verdict(s string, met bool) string {
	if met {
		return s + " ✓"
	}
	return s + " ✗"
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// workersNote names the simulated kubelet's parallelism; reports from before it was a setting ran kwok's default.
func workersNote(workers string) string {
	if workers == "" {
		workers = "4"
	}
	return " playing " + workers + " pod stages at once"
}

// operatorFlags says how the operator ran: at its defaults, as users run it, or with the flags given.
func operatorFlags(flags string) string {
	if strings.TrimSpace(flags) == "" {
		return "the operator at its default flags"
	}
	return "operator flags `" + flags + "`"
}
