// Package benchmark measures the operator on the local cluster (package localcluster), running as a separate
// process as its users run it: how long an in-place rollout of N pods takes against its physical bound, the
// most pods unavailable at once, API writes per updated pod, the same for an in-place resize of the sidecar
// on those pods, what the webhook costs pod creation, and the operator's memory and CPU. make bench runs it
// at N = 1,000 and 10,000 (hack/bench); the end-to-end suite runs it at N = 100, so it never rots. RunMany
// measures the same operator with 100, 1,000 and 10,000 SidecarSets in place (many.go).
package benchmark

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// Options is one benchmark run.
type Options struct {
	// Name names the run's namespace and SidecarSet.
	Name string
	// Pods is N, the pods of the Deployment the SidecarSet selects.
	Pods int
	// UnmatchedPods are created first, in a Deployment no SidecarSet selects, to measure pod creation
	// without the webhook and that the API server never calls it for them.
	UnmatchedPods int
	// SerialPods pairs of pods, one matched and one not, are created one at a time after the rollout, to
	// measure what the webhook adds to a single pod's creation in a quiet cluster; default 100.
	SerialPods int
	// MaxUnavailable is the rollout's budget, for example "10%".
	MaxUnavailable string
	// RestartDelay is the simulated kubelet's restart delay (localcluster.Options.RestartDelay).
	RestartDelay time.Duration
	// Settle is how long after the pods were created the operator's RSS at rest is read (RSSSettledMiB);
	// 0 does not read it.
	Settle time.Duration
	// Timeout bounds each wait.
	Timeout  time.Duration
	Progress io.Writer
}

// Result is what a run measured. Durations are in seconds, memory in MiB.
type Result struct {
	// OperatorFlags are the operator's flags for this run when they are not its defaults (the tuned column).
	OperatorFlags string `json:"operatorFlags,omitempty"`
	Pods          int    `json:"pods"`
	UnmatchedPods int    `json:"unmatchedPods"`
	// ClusterPods is every pod in the cluster while the rollout ran.
	ClusterPods int `json:"clusterPods"`

	Budget         int     `json:"maxUnavailablePods"`
	RestartDelay   float64 `json:"restartDelaySeconds"`
	RolloutSeconds float64 `json:"rolloutSeconds"`
	// BoundSeconds is ceil(N / budget) × restart delay: every batch waits for the kubelets to restart.
	BoundSeconds float64 `json:"boundSeconds"`
	RatioToBound float64 `json:"ratioToBound"`
	// MostUnavailable is the most pods not ready at once, sampled from a pod informer during the rollout.
	MostUnavailable int `json:"mostUnavailable"`
	// UpdateSecondsP50 and UpdateSecondsP90 are how long one pod's update took, from the informer seeing its
	// new spec image (the operator's write) to seeing it ready on that image: the simulated kubelet's part,
	// which the restart delay bounds from below.
	UpdateSecondsP50 float64 `json:"podUpdateSecondsP50"`
	UpdateSecondsP90 float64 `json:"podUpdateSecondsP90"`
	// BudgetUse is the time-averaged share of maxUnavailable that pods in update used: 1 when the operator
	// always had a full budget of pods updating. The rollout takes about
	// N x mean update time / (budget x BudgetUse), which splits its overhead between the kubelet and the
	// operator.
	BudgetUse float64 `json:"budgetUse"`
	// PodWrites are the API server's successful PATCH and UPDATE requests to pods during the rollout;
	// PodWriteConflicts those it refused because the pod had changed since it was read (nothing written).
	PodWrites         int     `json:"podWrites"`
	WritesPerPod      float64 `json:"writesPerUpdatedPod"`
	PodWriteConflicts int     `json:"podWriteConflicts"`

	// The resize rollout, run after the image rollout on the same pods: the sidecar's CPU request goes from
	// SidecarCPURequestBefore to SidecarCPURequestAfter, which the operator applies to each pod with one write
	// to its resize subresource and one patch of the pod, within the same budget. ResizeRolloutSeconds runs
	// from the SidecarSet's update to the pod informer seeing every matched pod's container status report the
	// new request; its bound is BoundSeconds, as for the image rollout.
	ResizeRolloutSeconds float64 `json:"resizeRolloutSeconds"`
	ResizeRatioToBound   float64 `json:"resizeRatioToBound"`
	// ResizeMostInFlight is the most pods being resized at once, as the informer saw them: the sidecar's CPU
	// request in the pod's spec differing from the one its container status reports.
	ResizeMostInFlight int `json:"resizeMostInFlight"`
	// ResizePodWrites are the API server's successful PATCH and UPDATE requests to pods during the resize
	// rollout, ResizeSubresourceWrites those to their resize subresource, and ResizeWritesPerPod both over N.
	// ResizeWriteConflicts are the requests of either kind it refused with a 409 (nothing written).
	ResizePodWrites         int     `json:"resizePodWrites"`
	ResizeSubresourceWrites int     `json:"resizeSubresourceWrites"`
	ResizeWritesPerPod      float64 `json:"resizeWritesPerPod"`
	ResizeWriteConflicts    int     `json:"resizeWriteConflicts"`
	// ResizeRSSPeakMiB is the operator's peak RSS during the resize rollout: its first reconcile observes every
	// pod again for the new target, each then carrying its state's record of the image update.
	ResizeRSSPeakMiB float64 `json:"resizeOperatorRSSPeakMiB,omitempty"`

	// CreateUnmatchedSeconds and CreateMatchedSeconds are the time from creating a Deployment to the API
	// server holding all its pods, without and with the webhook.
	CreateUnmatchedSeconds float64 `json:"createUnmatchedSeconds"`
	CreateMatchedSeconds   float64 `json:"createMatchedSeconds"`
	// WebhookCallsUnmatched is how often the API server called the webhook for the unmatched pods.
	WebhookCallsUnmatched int `json:"webhookCallsUnmatched"`
	WebhookCallsMatched   int `json:"webhookCallsMatched"`
	// WebhookP50Ms and WebhookP99Ms are from the API server's admission duration histogram of the webhook.
	WebhookP50Ms float64 `json:"webhookP50Milliseconds"`
	WebhookP99Ms float64 `json:"webhookP99Milliseconds"`

	// Pods created one at a time in a quiet cluster: the API server's webhook histogram over their calls,
	// and each create's latency as the client saw it, with the webhook called (matched) and not.
	WebhookSerialCalls  int     `json:"webhookSerialCalls"`
	WebhookSerialP50Ms  float64 `json:"webhookSerialP50Milliseconds"`
	WebhookSerialP99Ms  float64 `json:"webhookSerialP99Milliseconds"`
	WebhookSerialMeanMs float64 `json:"webhookSerialMeanMilliseconds"`
	// WebhookSerialWithin5ms is the share of those calls in the histogram's bucket of 5 ms.
	WebhookSerialWithin5ms   float64 `json:"webhookSerialWithin5ms"`
	CreateSerialMatchedP50Ms float64 `json:"createSerialMatchedP50Milliseconds"`
	CreateSerialMatchedP99Ms float64 `json:"createSerialMatchedP99Milliseconds"`
	// The same for the benchmark's do-nothing webhook, called for pods created among the others: what the
	// API server spends on calling any webhook on this machine, the control for the operator's figures.
	ControlSerialCalls         int     `json:"controlWebhookSerialCalls"`
	ControlSerialP50Ms         float64 `json:"controlWebhookSerialP50Milliseconds"`
	ControlSerialP99Ms         float64 `json:"controlWebhookSerialP99Milliseconds"`
	ControlSerialMeanMs        float64 `json:"controlWebhookSerialMeanMilliseconds"`
	ControlSerialWithin5ms     float64 `json:"controlWebhookSerialWithin5ms"`
	CreateSerialControlP50Ms   float64 `json:"createSerialControlP50Milliseconds"`
	CreateSerialControlP99Ms   float64 `json:"createSerialControlP99Milliseconds"`
	CreateSerialUnmatchedP50Ms float64 `json:"createSerialUnmatchedP50Milliseconds"`
	CreateSerialUnmatchedP99Ms float64 `json:"createSerialUnmatchedP99Milliseconds"`
	// The webhook's own answer time: AdmissionReviews of a matched pod posted to it one at a time over a
	// kept-alive connection, as the API server's webhook client sends them, timed by the sender.
	WebhookDirectP50Ms float64 `json:"webhookDirectP50Milliseconds"`
	WebhookDirectP99Ms float64 `json:"webhookDirectP99Milliseconds"`

	// A burst: BurstPods matched pods created at once, each admitted by the do-nothing control webhook, the
	// patching control and the operator's webhook in turn, so that the three are called for the same pods
	// under the same load; the API server's histogram of each over the burst.
	BurstPods           int     `json:"burstPods,omitempty"`
	BurstSeconds        float64 `json:"burstSeconds,omitempty"`
	BurstWebhookMeanMs  float64 `json:"burstWebhookMeanMilliseconds,omitempty"`
	BurstWebhookP50Ms   float64 `json:"burstWebhookP50Milliseconds,omitempty"`
	BurstControlMeanMs  float64 `json:"burstControlMeanMilliseconds,omitempty"`
	BurstControlP50Ms   float64 `json:"burstControlP50Milliseconds,omitempty"`
	BurstPatchingMeanMs float64 `json:"burstPatchingControlMeanMilliseconds,omitempty"`
	BurstPatchingP50Ms  float64 `json:"burstPatchingControlP50Milliseconds,omitempty"`
	// BurstOperatorCPUSeconds is the operator's CPU time during the burst: its webhook shares the CPU with
	// its reconciles and its pod cache.
	BurstOperatorCPUSeconds float64 `json:"burstOperatorCPUSeconds,omitempty"`
	// BurstHandlingMeanMs is the operator's own mean time over the burst's admissions, from reading a request
	// to writing its answer (its webhook latency histogram): the rest of the API server's time for a call is
	// spent outside the operator's handler (in the API server, on the wire, and waiting for the operator to
	// read the request).
	BurstHandlingMeanMs float64 `json:"burstHandlingMeanMilliseconds,omitempty"`
	// BurstRatios are the operator's mean over the control's of each of burstRounds bursts, in their order;
	// the Burst figures above are the burst of the median ratio.
	BurstRatios []float64 `json:"burstRatios,omitempty"`
	// BurstPatchingRatios are the operator's mean over the patching control's of each burst.
	BurstPatchingRatios []float64 `json:"burstPatchingRatios,omitempty"`

	// RSSIdleMiB is the operator's RSS 2 s after the pods were created and ready, before the rollout;
	// RSSSettledMiB the same Options.Settle after, once the memos of SidecarSets at rest were dropped.
	RSSIdleMiB    float64 `json:"operatorRSSIdleMiB"`
	RSSSettledMiB float64 `json:"operatorRSSSettledMiB,omitempty"`
	SettleSeconds float64 `json:"settleSeconds,omitempty"`
	RSSPeakMiB    float64 `json:"operatorRSSPeakMiB"`
	CPUSeconds    float64 `json:"operatorCPUSecondsDuringRollout"`
	// ClusterCPUSeconds is the CPU time each process of the local cluster used during the rollout, by name:
	// the machine's two cores are shared by all of them and the operator.
	ClusterCPUSeconds map[string]float64 `json:"clusterCPUSecondsDuringRollout,omitempty"`

	// The operator's own account of the rollout, from its metrics: how many times the SidecarSet was
	// reconciled, how long a reconcile took on average, and how long a SidecarSet waited in the work queue
	// before a reconcile started.
	Reconciles      int     `json:"reconcilesDuringRollout"`
	ReconcileMeanMs float64 `json:"reconcileMeanMilliseconds"`
	QueueWaitMeanMs float64 `json:"queueWaitMeanMilliseconds"`
	// PhaseMeanMs splits ReconcileMeanMs by phase (sidecarset_reconcile_phase_seconds): gather (reading the
	// caches), decide (the pure decision) and apply (revisions, status write, events; pod writes are sent
	// without waiting for them).
	PhaseMeanMs map[string]float64 `json:"reconcilePhaseMeanMilliseconds,omitempty"`
}

const (
	sidecarName = "agent"
	imageBefore = "example.com/agent:1"
	imageAfter  = "example.com/agent:2"
	// sidecarMemoryRequest is the sidecar's memory request, which the resize rollout leaves as it is.
	sidecarMemoryRequest = "16Mi"
	// SidecarCPURequestBefore and SidecarCPURequestAfter are the sidecar's CPU request before and after the
	// resize rollout.
	SidecarCPURequestBefore = "10m"
	SidecarCPURequestAfter  = "20m"
)

// Run runs one benchmark on a local cluster with the operator running, and removes what it created.
func Run(ctx context.Context, local *localcluster.Cluster, operator *localcluster.Operator, o Options) (Result, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.SerialPods == 0 {
		o.SerialPods = 100
	}
	r := &runner{Options: o, local: local, operator: operator, res: Result{Pods: o.Pods, UnmatchedPods: o.UnmatchedPods,
		RestartDelay: o.RestartDelay.Seconds()}}
	if err := r.setup(); err != nil {
		return Result{}, err
	}
	defer r.cleanup()
	if err := r.run(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

type runner struct {
	Options
	local    *localcluster.Cluster
	operator *localcluster.Operator
	c        client.Client
	cs       kubernetes.Interface
	res      Result
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.Progress, "[bench %s] "+format+"\n", append([]any{r.Name}, args...)...)
}

func (r *runner) setup() error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := appsv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg := *r.local.Config
	var err error
	if r.c, err = client.New(&cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	r.cs, err = kubernetes.NewForConfig(&cfg)
	return err
}

func (r *runner) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = r.c.Delete(ctx, &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: r.Name}})
	_ = r.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.Name}})
}

// createNamespace creates the namespace ns and waits until pods can be created in it (its default
// ServiceAccount exists).
func (r *runner) createNamespace(ctx context.Context, ns string) error {
	if err := r.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	return r.poll(ctx, "the namespace's default ServiceAccount", func(ctx context.Context) (bool, error) {
		err := r.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
}

// createInjecting creates the SidecarSet, which selects app=matched, and waits until a pod of that label
// created in ns gets its sidecar.
func (r *runner) createInjecting(ctx context.Context, set *appsv1alpha1.SidecarSet, ns string) error {
	if err := r.c.Create(ctx, set); err != nil {
		return fmt.Errorf("creating the SidecarSet: %w", err)
	}
	probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe", Labels: map[string]string{"app": "matched"}},
		Spec: podSpec()}
	return localcluster.WaitInjecting(ctx, r.c, probe, r.Timeout)
}

// budgetAndBound are a rollout's budget of N pods and its bound, ceil(N / budget) × the restart delay.
func (r *runner) budgetAndBound() (int, float64, error) {
	budget, err := intstr.GetScaledValueFromIntOrPercent(ptr.To(intstr.Parse(r.MaxUnavailable)), r.Pods, false)
	if err != nil {
		return 0, 0, err
	}
	budget = max(budget, 1)
	return budget, float64((r.Pods+budget-1)/budget) * r.RestartDelay.Seconds(), nil
}

func (r *runner) run(ctx context.Context) error {
	ns := r.Name
	if err := r.createNamespace(ctx, ns); err != nil {
		return err
	}

	// The sidecar has requests so that the resize rollout can change them; the app container has none, so
	// the pods are Burstable and stay so.
	sidecar := corev1.Container{Name: sidecarName, Image: imageBefore, Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(SidecarCPURequestBefore),
			corev1.ResourceMemory: resource.MustParse(sidecarMemoryRequest),
		},
	}}
	set := &appsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name},
		Spec: appsv1alpha1.SidecarSetSpec{
			Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "matched"}},
			Containers: []appsv1alpha1.SidecarContainer{{Container: sidecar}},
			UpdateStrategy: appsv1alpha1.UpdateStrategy{
				MaxUnavailable: ptr.To(intstr.Parse(r.MaxUnavailable)),
			},
		},
	}
	if err := r.createInjecting(ctx, set, ns); err != nil {
		return err
	}

	// Pods no SidecarSet selects: the API server must not call the webhook for them.
	if r.UnmatchedPods > 0 {
		before, err := scrapeAPIServer(ctx, r.cs)
		if err != nil {
			return err
		}
		r.logf("creating %d pods no SidecarSet selects", r.UnmatchedPods)
		took, err := r.createPods(ctx, ns, "unmatched", r.UnmatchedPods)
		if err != nil {
			return err
		}
		after, err := scrapeAPIServer(ctx, r.cs)
		if err != nil {
			return err
		}
		r.res.CreateUnmatchedSeconds = took.Seconds()
		r.res.WebhookCallsUnmatched = int(after.webhook.count - before.webhook.count)
		r.logf("%d unmatched pods created in %.1fs; webhook calls for them: %d", r.UnmatchedPods, took.Seconds(), r.res.WebhookCallsUnmatched)
		// The matched pods are created into a settled cluster, not one still starting the unmatched pods.
		if err := r.waitPodsReady(ctx, ns, r.UnmatchedPods); err != nil {
			return err
		}
	}

	before, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	r.logf("creating %d pods the SidecarSet selects", r.Pods)
	took, err := r.createPods(ctx, ns, "matched", r.Pods)
	if err != nil {
		return err
	}
	after, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	calls := after.webhook.minus(before.webhook)
	r.res.CreateMatchedSeconds = took.Seconds()
	r.res.WebhookCallsMatched = int(calls.count)
	r.res.WebhookP50Ms = round(calls.quantile(0.5)*1000, 2)
	r.res.WebhookP99Ms = round(calls.quantile(0.99)*1000, 2)
	r.logf("%d matched pods created in %.1fs; webhook p50 %.2f ms, p99 %.2f ms over %d calls",
		r.Pods, took.Seconds(), r.res.WebhookP50Ms, r.res.WebhookP99Ms, r.res.WebhookCallsMatched)

	if err := r.waitPodsReady(ctx, ns, r.UnmatchedPods+r.Pods); err != nil {
		return err
	}
	if err := r.waitSidecarSetReady(ctx, set.Name, 1, imageBefore); err != nil {
		return err
	}
	watch, err := r.watchPods(ctx, ns)
	if err != nil {
		return err
	}
	defer watch.stop()
	if err := r.rollout(ctx, set.Name, watch); err != nil {
		return err
	}
	if err := r.resize(ctx, set.Name, watch); err != nil {
		return err
	}
	return r.serialAdmission(ctx, ns)
}

// serialAdmission creates pods one at a time, alternately matched and unmatched so that any drift in the
// machine's load hits both alike, and measures what the webhook adds to each creation.
func (r *runner) serialAdmission(ctx context.Context, ns string) error {
	control, err := startControlWebhook(ctx, r.c, ns)
	if err != nil {
		return err
	}
	defer control.stop(context.Background(), r.c)
	if err := r.waitControlWebhook(ctx, ns); err != nil {
		return err
	}
	time.Sleep(5 * time.Second) // let the cluster settle after the rollout
	before, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	r.logf("creating %d pods one at a time: a third matched, a third for the do-nothing control webhook, a third for no webhook", 3*r.SerialPods)
	latencies := map[string][]float64{}
	for i := range r.SerialPods {
		for _, kind := range []string{"matched", "control", "unmatched"} {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("single-%s-%d", kind, i),
				Labels: map[string]string{"app": "single-" + kind}}, Spec: podSpec()}
			switch kind {
			case "matched":
				pod.Labels["app"] = "matched"
			case "control":
				pod.Labels[controlLabel] = "true"
			}
			start := time.Now()
			if err := r.c.Create(ctx, pod); err != nil {
				return fmt.Errorf("creating pod %s: %w", pod.Name, err)
			}
			latencies[kind] = append(latencies[kind], time.Since(start).Seconds()*1000)
		}
	}
	after, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	r.res.WebhookSerialCalls, r.res.WebhookSerialP50Ms, r.res.WebhookSerialP99Ms, r.res.WebhookSerialMeanMs,
		r.res.WebhookSerialWithin5ms = callStats(after.webhook.minus(before.webhook))
	r.res.ControlSerialCalls, r.res.ControlSerialP50Ms, r.res.ControlSerialP99Ms, r.res.ControlSerialMeanMs,
		r.res.ControlSerialWithin5ms = callStats(after.control.minus(before.control))
	for _, l := range latencies {
		sort.Float64s(l)
	}
	r.res.CreateSerialMatchedP50Ms = round(percentile(latencies["matched"], 0.5), 2)
	r.res.CreateSerialMatchedP99Ms = round(percentile(latencies["matched"], 0.99), 2)
	r.res.CreateSerialControlP50Ms = round(percentile(latencies["control"], 0.5), 2)
	r.res.CreateSerialControlP99Ms = round(percentile(latencies["control"], 0.99), 2)
	r.res.CreateSerialUnmatchedP50Ms = round(percentile(latencies["unmatched"], 0.5), 2)
	r.res.CreateSerialUnmatchedP99Ms = round(percentile(latencies["unmatched"], 0.99), 2)
	r.logf("one at a time: create p50/p99 %.2f/%.2f ms matched, %.2f/%.2f ms control, %.2f/%.2f ms unmatched",
		r.res.CreateSerialMatchedP50Ms, r.res.CreateSerialMatchedP99Ms, r.res.CreateSerialControlP50Ms, r.res.CreateSerialControlP99Ms,
		r.res.CreateSerialUnmatchedP50Ms, r.res.CreateSerialUnmatchedP99Ms)
	r.logf("API server histogram, one at a time: the operator's webhook mean %.2f ms, p50/p99 %.2f/%.2f ms, %.0f%% within 5 ms (%d calls); "+
		"the control webhook mean %.2f ms, p50/p99 %.2f/%.2f ms, %.0f%% within 5 ms (%d calls)",
		r.res.WebhookSerialMeanMs, r.res.WebhookSerialP50Ms, r.res.WebhookSerialP99Ms, r.res.WebhookSerialWithin5ms*100, r.res.WebhookSerialCalls,
		r.res.ControlSerialMeanMs, r.res.ControlSerialP50Ms, r.res.ControlSerialP99Ms, r.res.ControlSerialWithin5ms*100, r.res.ControlSerialCalls)

	direct, err := r.postAdmissionReviews(ctx, ns, 2*r.SerialPods)
	if err != nil {
		return err
	}
	r.res.WebhookDirectP50Ms = round(percentile(direct, 0.5), 2)
	r.res.WebhookDirectP99Ms = round(percentile(direct, 0.99), 2)
	r.logf("the webhook answers an AdmissionReview in %.2f ms p50, %.2f ms p99 (%d posted one at a time)",
		r.res.WebhookDirectP50Ms, r.res.WebhookDirectP99Ms, len(direct))
	return r.burstAdmission(ctx, ns)
}

// burstPods is the size of the admission burst: the pods created at once.
const burstPods = 1000

// burstRounds is how many bursts are measured, each after the pods of the one before are gone: the figure of
// one burst swings from run to run by more than the target's margin, so the burst of the median ratio is
// reported, with every round's ratio.
const burstRounds = 3

// burstResult is what one burst measured.
type burstResult struct {
	seconds, operatorCPU, handlingMeanMs       float64
	meanMs, p50Ms, controlMeanMs, controlP50Ms float64
	patchingMeanMs, patchingP50Ms              float64
}

func (b burstResult) ratio() float64 { return b.meanMs / b.controlMeanMs }

// burstAdmission measures burstRounds bursts (burst) and reports the one of the median ratio.
func (r *runner) burstAdmission(ctx context.Context, ns string) error {
	var rounds []burstResult
	for i := range burstRounds {
		b, err := r.burst(ctx, ns, i+1)
		if err != nil {
			return err
		}
		rounds = append(rounds, b)
		r.res.BurstRatios = append(r.res.BurstRatios, round(b.ratio(), 2))
		r.res.BurstPatchingRatios = append(r.res.BurstPatchingRatios, round(b.meanMs/b.patchingMeanMs, 2))
	}
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b burstResult) int { return cmp.Compare(a.ratio(), b.ratio()) })
	m := sorted[len(sorted)/2]
	r.res.BurstPods = min(burstPods, r.Pods)
	r.res.BurstSeconds, r.res.BurstOperatorCPUSeconds = round(m.seconds, 2), round(m.operatorCPU, 2)
	r.res.BurstHandlingMeanMs = m.handlingMeanMs
	r.res.BurstWebhookMeanMs, r.res.BurstWebhookP50Ms = m.meanMs, m.p50Ms
	r.res.BurstControlMeanMs, r.res.BurstControlP50Ms = m.controlMeanMs, m.controlP50Ms
	r.res.BurstPatchingMeanMs, r.res.BurstPatchingP50Ms = m.patchingMeanMs, m.patchingP50Ms
	r.logf("bursts: the operator's mean over the control's %v, over the patching control's %v; the burst of the median first ratio is reported",
		r.res.BurstRatios, r.res.BurstPatchingRatios)
	return nil
}

// burst creates burstPods matched pods at once, through one Deployment whose pods are labelled for both
// control webhooks too: the API server admits each pod through the do-nothing control, the patching control
// and the operator's webhook in turn (configurations in the order of their names, the controls' first), so
// the three are timed for the same pods at the same moments and the load of the machine, which swings within a
// burst, weighs on each alike. It reads each webhook's calls off the API server's histogram; then it deletes
// the Deployment and waits for its pods to be gone.
func (r *runner) burst(ctx context.Context, ns string, round int) (burstResult, error) {
	var out burstResult
	n := min(burstPods, r.Pods)
	time.Sleep(5 * time.Second) // let the cluster settle after what came before
	before, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return out, err
	}
	token, err := r.metricsToken(ctx)
	if err != nil {
		return out, err
	}
	operatorBefore, err := r.scrapeOperator(ctx, token)
	if err != nil {
		return out, err
	}
	proc := process{pid: r.operator.Pid()}
	cpuBefore, err := proc.cpuSeconds()
	if err != nil {
		return out, err
	}
	r.logf("burst %d of %d: creating %d matched pods at once, each admitted by both control webhooks and the operator's", round, burstRounds, n)
	start := time.Now()
	labels := map[string]string{"app": "matched", "burst": fmt.Sprintf("burst-%d", round), controlLabel: "true", patchingControlLabel: "true"}
	if _, err := r.createDeployment(ctx, ns, labels["burst"], labels, n); err != nil {
		return out, err
	}
	out.seconds = time.Since(start).Seconds()
	cpuAfter, err := proc.cpuSeconds()
	if err != nil {
		return out, err
	}
	out.operatorCPU = cpuAfter - cpuBefore
	after, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return out, err
	}
	operatorAfter, err := r.scrapeOperator(ctx, token)
	if err != nil {
		return out, err
	}
	if handled := operatorAfter.minus(operatorBefore); handled.injections > 0 {
		out.handlingMeanMs = math.Round(handled.injectSeconds/handled.injections*1000*100) / 100
	}
	var calls, controlCalls, patchingCalls int
	calls, out.p50Ms, _, out.meanMs, _ = callStats(after.webhook.minus(before.webhook))
	controlCalls, out.controlP50Ms, _, out.controlMeanMs, _ = callStats(after.control.minus(before.control))
	patchingCalls, out.patchingP50Ms, _, out.patchingMeanMs, _ = callStats(after.patching.minus(before.patching))
	r.logf("burst %d: %d pods created in %.1fs (operator CPU %.2f s): the operator's webhook mean %.2f ms, p50 %.2f ms (%d calls), "+
		"of which %.2f ms in its handler; the control's mean %.2f ms, p50 %.2f ms (%d calls); the patching control's mean %.2f ms, p50 %.2f ms (%d calls)",
		round, n, out.seconds, out.operatorCPU, out.meanMs, out.p50Ms, calls, out.handlingMeanMs, out.controlMeanMs, out.controlP50Ms, controlCalls,
		out.patchingMeanMs, out.patchingP50Ms, patchingCalls)
	// Each pod calls each webhook once; a creation the API server refused and the ReplicaSet controller
	// retried calls all three again. More calls of the operator's than of the patching control's would be
	// reinvocations, the operator's webhook called before the controls: the pairing would be lost.
	if calls < n || controlCalls < n || patchingCalls < n || calls > patchingCalls {
		return out, fmt.Errorf("the burst of %d pods called the operator's webhook %d times, the control %d times and the patching control %d times, not once a pod each",
			n, calls, controlCalls, patchingCalls)
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: labels["burst"]}}
	if err := r.c.Delete(ctx, d, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		return out, fmt.Errorf("deleting Deployment %s: %w", d.Name, err)
	}
	err = r.poll(ctx, fmt.Sprintf("the pods of burst %d to be gone", round), func(ctx context.Context) (bool, error) {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
		if err := r.c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"burst": labels["burst"]}); err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	})
	return out, err
}

// postAdmissionReviews posts n AdmissionReviews of a matched pod to the webhook one at a time, over one
// kept-alive connection after a first post that opens it, and returns each answer's time in milliseconds,
// sorted. Every answer must be an allowed JSON patch.
func (r *runner) postAdmissionReviews(ctx context.Context, ns string, n int) ([]float64, error) {
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "matched-", Namespace: ns, Labels: map[string]string{"app": "matched"}},
		Spec:       podSpec()}
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	review, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "bench", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: ns,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("https://localhost:%d%s", r.operator.WebhookPort, webhookconfig.InjectPath)
	// The benchmark checks timing, not the serving certificate, which the operator rotates itself.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	defer hc.CloseIdleConnections()
	var out []float64
	for i := range n + 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(review))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("posting an AdmissionReview to the webhook: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start).Seconds() * 1000
		if err != nil {
			return nil, err
		}
		var answer admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &answer); err != nil || answer.Response == nil || !answer.Response.Allowed ||
			len(answer.Response.Patch) == 0 {
			return nil, fmt.Errorf("the webhook did not inject the pod: %s %s", resp.Status, body)
		}
		if i > 0 { // the first post also opened the connection
			out = append(out, took)
		}
	}
	sort.Float64s(out)
	return out, nil
}

// rollout changes the sidecar's image and measures the rollout until every matched pod runs the new image,
// ready, as the pod informer sees it.
func (r *runner) rollout(ctx context.Context, setName string, watch *podWatch) error {
	var pods corev1.PodList
	if err := r.c.List(ctx, &pods); err != nil {
		return err
	}
	r.res.ClusterPods = len(pods.Items)
	var err error
	if r.res.Budget, r.res.BoundSeconds, err = r.budgetAndBound(); err != nil {
		return err
	}

	proc := process{pid: r.operator.Pid()}
	created := time.Now()
	time.Sleep(2 * time.Second) // let the operator settle after the pods were created
	idle, err := proc.rss()
	if err != nil {
		return err
	}
	r.res.RSSIdleMiB = mib(idle)
	if r.Settle > 0 {
		time.Sleep(time.Until(created.Add(r.Settle)))
		settled, err := proc.rss()
		if err != nil {
			return err
		}
		r.res.RSSSettledMiB, r.res.SettleSeconds = mib(settled), r.Settle.Seconds()
		r.logf("operator RSS %.1f MiB 2 s after the pods were created, %.1f MiB %s after", r.res.RSSIdleMiB, r.res.RSSSettledMiB, r.Settle)
	}

	peak := newPeakSampler(proc)
	defer peak.stop()
	cpuBefore, err := proc.cpuSeconds()
	if err != nil {
		return err
	}
	metricsBefore, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	token, err := r.metricsToken(ctx)
	if err != nil {
		return err
	}
	operatorBefore, err := r.scrapeOperator(ctx, token)
	if err != nil {
		return err
	}
	clusterBefore := r.clusterCPU()

	r.logf("rolling %s out to %d pods, %d at a time (bound %.1fs)", imageAfter, r.Pods, r.res.Budget, r.res.BoundSeconds)
	start := time.Now()
	if err := r.patchSidecar(ctx, setName, "image", imageAfter); err != nil {
		return err
	}
	lastReport := time.Now()
	var inFlightSum, samples float64
	err = r.poll(ctx, "the rollout", func(context.Context) (bool, error) {
		done, notReady := watch.progress()
		inFlightSum += float64(watch.inFlight())
		samples++
		if time.Since(lastReport) >= 2*time.Second {
			r.logf("%6.1fs: %d/%d pods updated, %d not ready", time.Since(start).Seconds(), done, r.Pods, notReady)
			lastReport = time.Now()
		}
		return done == r.Pods, nil
	})
	if err != nil {
		return err
	}
	r.res.RolloutSeconds = round(watch.doneAt().Sub(start).Seconds(), 2)
	r.res.RatioToBound = round(r.res.RolloutSeconds/r.res.BoundSeconds, 2)
	r.res.MostUnavailable = watch.mostNotReady()
	if samples > 0 {
		r.res.BudgetUse = round(inFlightSum/samples/float64(r.res.Budget), 2)
	}
	if times := watch.updateTimes(); len(times) > 0 {
		r.res.UpdateSecondsP50 = round(percentile(times, 0.5), 2)
		r.res.UpdateSecondsP90 = round(percentile(times, 0.9), 2)
	}

	if err := r.waitSidecarSetReady(ctx, setName, 2, imageAfter); err != nil {
		return err
	}
	cpuAfter, err := proc.cpuSeconds()
	if err != nil {
		return err
	}
	metricsAfter, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	r.res.CPUSeconds = round(cpuAfter-cpuBefore, 2)
	r.res.ClusterCPUSeconds = map[string]float64{}
	for name, after := range r.clusterCPU() {
		if before, ok := clusterBefore[name]; ok {
			r.res.ClusterCPUSeconds[name] = round(after-before, 2)
		}
	}
	operatorAfter, err := r.scrapeOperator(ctx, token)
	if err != nil {
		return err
	}
	rec := operatorAfter.minus(operatorBefore)
	r.res.Reconciles = int(rec.reconciles)
	if rec.reconciles > 0 {
		r.res.ReconcileMeanMs = round(rec.reconcileSeconds/rec.reconciles*1000, 2)
		r.res.PhaseMeanMs = map[string]float64{}
		for phase, s := range rec.phaseSeconds {
			r.res.PhaseMeanMs[phase] = round(s/rec.reconciles*1000, 2)
		}
	}
	if rec.queued > 0 {
		r.res.QueueWaitMeanMs = round(rec.queueSeconds/rec.queued*1000, 2)
	}
	r.res.RSSPeakMiB = mib(peak.stop())
	r.res.PodWrites = int(metricsAfter.podWrites - metricsBefore.podWrites)
	r.res.WritesPerPod = round(float64(r.res.PodWrites)/float64(r.Pods), 3)
	r.res.PodWriteConflicts = int(metricsAfter.podWriteConflicts - metricsBefore.podWriteConflicts)
	r.logf("pod update time p50 %.2fs, p90 %.2fs (restart delay %s); budget use %.0f%%",
		r.res.UpdateSecondsP50, r.res.UpdateSecondsP90, r.RestartDelay, r.res.BudgetUse*100)
	r.logf("rolled out in %.2fs (%.2f × the bound), at most %d unavailable (budget %d), %d pod writes (%.3f per pod, %d conflicts), "+
		"operator RSS %.1f MiB idle, %.1f MiB peak, %.2f CPU s",
		r.res.RolloutSeconds, r.res.RatioToBound, r.res.MostUnavailable, r.res.Budget, r.res.PodWrites, r.res.WritesPerPod, r.res.PodWriteConflicts,
		r.res.RSSIdleMiB, r.res.RSSPeakMiB, r.res.CPUSeconds)
	r.logf("%d reconciles during the rollout, %.1f ms each on average (by phase: %v) after %.1f ms in the queue; cluster CPU s: %v; operator RSS %s",
		r.res.Reconciles, r.res.ReconcileMeanMs, r.res.PhaseMeanMs, r.res.QueueWaitMeanMs, r.res.ClusterCPUSeconds, peak)
	return nil
}

// patchSidecar sets a field of the SidecarSet's sidecar (a JSON pointer below the container, such as "image")
// with a JSON patch, which leaves the rest of the container as it is.
func (r *runner) patchSidecar(ctx context.Context, setName, field, value string, opts ...client.PatchOption) error {
	patch, err := json.Marshal([]map[string]string{
		{"op": "test", "path": "/spec/containers/0/name", "value": sidecarName},
		{"op": "replace", "path": "/spec/containers/0/" + field, "value": value},
	})
	if err != nil {
		return err
	}
	return r.c.Patch(ctx, &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: setName}},
		client.RawPatch(types.JSONPatchType, patch), opts...)
}

// resize changes the sidecar's CPU request on the pods the image rollout left, and measures the resize
// rollout until every matched pod's container status reports the new request, as the pod informer sees it,
// and the SidecarSet is Ready on it.
func (r *runner) resize(ctx context.Context, setName string, watch *podWatch) error {
	want := resource.MustParse(SidecarCPURequestAfter)
	metricsBefore, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	watch.startResize(want)
	peak := newPeakSampler(process{pid: r.operator.Pid()})
	defer peak.stop()
	r.logf("resizing the sidecar's CPU request from %s to %s in %d pods, %d at a time (bound %.1fs)",
		SidecarCPURequestBefore, SidecarCPURequestAfter, r.Pods, r.res.Budget, r.res.BoundSeconds)
	start := time.Now()
	if err := r.patchSidecar(ctx, setName, "resources/requests/cpu", SidecarCPURequestAfter); err != nil {
		return fmt.Errorf("resizing the SidecarSet's sidecar: %w", err)
	}
	lastReport := time.Now()
	err = r.poll(ctx, "the resize rollout", func(context.Context) (bool, error) {
		done, inFlight := watch.resizeProgress()
		if time.Since(lastReport) >= 2*time.Second {
			r.logf("%6.1fs: %d/%d pods resized, %d being resized", time.Since(start).Seconds(), done, r.Pods, inFlight)
			lastReport = time.Now()
		}
		return done == r.Pods, nil
	})
	if err != nil {
		return err
	}
	r.res.ResizeRolloutSeconds = round(watch.resizeDoneAt().Sub(start).Seconds(), 2)
	if r.res.BoundSeconds > 0 {
		r.res.ResizeRatioToBound = round(r.res.ResizeRolloutSeconds/r.res.BoundSeconds, 2)
	}
	r.res.ResizeMostInFlight = watch.mostResizing()
	if err := r.waitSidecarSetReady(ctx, setName, 3, "a CPU request of "+SidecarCPURequestAfter); err != nil {
		return err
	}
	r.res.ResizeRSSPeakMiB = mib(peak.stop())
	metricsAfter, err := scrapeAPIServer(ctx, r.cs)
	if err != nil {
		return err
	}
	r.res.ResizePodWrites = int(metricsAfter.podWrites - metricsBefore.podWrites)
	r.res.ResizeSubresourceWrites = int(metricsAfter.resizeWrites - metricsBefore.resizeWrites)
	r.res.ResizeWritesPerPod = round(float64(r.res.ResizePodWrites+r.res.ResizeSubresourceWrites)/float64(r.Pods), 3)
	podConflicts := int(metricsAfter.podWriteConflicts - metricsBefore.podWriteConflicts)
	resizeConflicts := int(metricsAfter.resizeWriteConflicts - metricsBefore.resizeWriteConflicts)
	r.res.ResizeWriteConflicts = podConflicts + resizeConflicts
	r.logf("resized in %.2fs (%.2f × the bound), at most %d being resized (budget %d), %d pod writes and %d resizes "+
		"(%.3f writes per pod), %d conflicts (%d of pod writes, %d of resizes), operator RSS peak %.1f MiB",
		r.res.ResizeRolloutSeconds, r.res.ResizeRatioToBound, r.res.ResizeMostInFlight, r.res.Budget, r.res.ResizePodWrites,
		r.res.ResizeSubresourceWrites, r.res.ResizeWritesPerPod, r.res.ResizeWriteConflicts, podConflicts, resizeConflicts,
		r.res.ResizeRSSPeakMiB)
	r.logf("resize: operator RSS %s", peak)
	return nil
}

// clusterCPU reads the CPU seconds each process of the local cluster has used so far.
func (r *runner) clusterCPU() map[string]float64 {
	out := map[string]float64{}
	for name, pid := range r.local.Processes() {
		if s, err := (process{pid: pid}).cpuSeconds(); err == nil {
			out[name] = s
		}
	}
	return out
}

func (r *runner) poll(ctx context.Context, what string, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, r.Timeout, true, func(ctx context.Context) (bool, error) {
		if !r.operator.Running() {
			return false, fmt.Errorf("the operator exited; log: %s", r.operator.LogPath)
		}
		return cond(ctx)
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
		TerminationGracePeriodSeconds: ptr.To[int64](0),
	}
}

// createPods creates a Deployment of n pods labelled app=<app> and returns how long the API server took to
// hold all n pods.
func (r *runner) createPods(ctx context.Context, ns, app string, n int) (time.Duration, error) {
	return r.createDeployment(ctx, ns, app, map[string]string{"app": app}, n)
}

// createDeployment creates a Deployment of n pods labelled labels and returns how long the API server took
// to hold all n pods.
func (r *runner) createDeployment(ctx context.Context, ns, name string, labels map[string]string, n int) (time.Duration, error) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()},
		},
	}
	start := time.Now()
	if err := r.c.Create(ctx, d); err != nil {
		return 0, fmt.Errorf("creating Deployment %s: %w", name, err)
	}
	err := r.poll(ctx, fmt.Sprintf("%d pods of %s to be created", n, name), func(ctx context.Context) (bool, error) {
		got := &appsv1.Deployment{}
		if err := r.c.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
			return false, err
		}
		if got.Status.Replicas < int32(n) {
			return false, nil
		}
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
		if err := r.c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			return false, err
		}
		return len(list.Items) >= n, nil
	})
	return time.Since(start), err
}

func (r *runner) waitPodsReady(ctx context.Context, ns string, n int) error {
	lastReport := time.Now()
	return r.poll(ctx, fmt.Sprintf("%d pods to be ready", n), func(ctx context.Context) (bool, error) {
		var list corev1.PodList
		if err := r.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if localcluster.PodReady(&list.Items[i]) {
				ready++
			}
		}
		if time.Since(lastReport) >= 5*time.Second {
			r.logf("%d/%d pods ready", ready, n)
			lastReport = time.Now()
		}
		return ready == n && len(list.Items) == n, nil
	})
}

// waitSidecarSetReady waits until the SidecarSet observed generation, counts every matched pod updated, and is
// Ready for that generation; on names what it is Ready on, for the wait's message.
func (r *runner) waitSidecarSetReady(ctx context.Context, name string, generation int64, on string) error {
	return r.poll(ctx, "the SidecarSet to be Ready on "+on, func(ctx context.Context) (bool, error) {
		set := &appsv1alpha1.SidecarSet{}
		if err := r.c.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
			return false, err
		}
		ready := meta.FindStatusCondition(set.Status.Conditions, appsv1alpha1.ConditionReady)
		return set.Status.ObservedGeneration >= generation && set.Status.UpdatedPods == int32(r.Pods) &&
			ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration >= generation, nil
	})
}

// podWatch follows the matched pods through an informer: which are not ready, which run the new sidecar
// image, ready, and which are being resized or report the resize's new CPU request.
type podWatch struct {
	mu       sync.Mutex
	notReady map[string]bool
	updated  map[string]bool
	// patchedAt and doneAt are when each pod was first seen with the new spec image, and ready on it.
	patchedAt, finishedAt map[string]time.Time
	most                  int
	done                  time.Time
	// resizing are the pods whose sidecar CPU request in the spec differs from the one in their status, and
	// mostResize the most of them at once since startResize. Once resizeTo is set (startResize), resized
	// are the pods whose status reports it, and resizeDone is when all n did.
	resizing, resized map[string]bool
	mostResize        int
	resizeTo          *resource.Quantity
	resizeDone        time.Time
	n                 int
	stopCh            chan struct{}
}

func (r *runner) watchPods(ctx context.Context, ns string) (*podWatch, error) {
	w := &podWatch{notReady: map[string]bool{}, updated: map[string]bool{}, n: r.Pods, stopCh: make(chan struct{}),
		patchedAt: map[string]time.Time{}, finishedAt: map[string]time.Time{}, resizing: map[string]bool{}, resized: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(r.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "app=matched" }))
	inf := factory.Core().V1().Pods().Informer()
	observe := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		ready := localcluster.PodReady(p)
		if ready {
			delete(w.notReady, p.Name)
		} else {
			w.notReady[p.Name] = true
		}
		w.most = max(w.most, len(w.notReady))
		now := time.Now()
		if _, seen := w.patchedAt[p.Name]; !seen && specImage(p, sidecarName) == imageAfter {
			w.patchedAt[p.Name] = now
		}
		if ready && runs(p, sidecarName, imageAfter) {
			w.updated[p.Name] = true
			if _, seen := w.finishedAt[p.Name]; !seen {
				w.finishedAt[p.Name] = now
			}
		} else {
			delete(w.updated, p.Name)
		}
		if len(w.updated) == w.n && w.done.IsZero() {
			w.done = time.Now()
		}
		w.observeResize(p, now)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	}); err != nil {
		return nil, err
	}
	factory.Start(w.stopCh)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		close(w.stopCh)
		return nil, fmt.Errorf("the pod informer did not sync: %w", ctx.Err())
	}
	return w, nil
}

// observeResize records whether the pod is being resized and, once a resize started, whether its status
// reports the new request. The caller holds w.mu.
func (w *podWatch) observeResize(p *corev1.Pod, now time.Time) {
	spec, status := cpuRequests(p, sidecarName)
	if spec.Cmp(status) != 0 {
		w.resizing[p.Name] = true
	} else {
		delete(w.resizing, p.Name)
	}
	w.mostResize = max(w.mostResize, len(w.resizing))
	if w.resizeTo == nil {
		return
	}
	if status.Cmp(*w.resizeTo) == 0 {
		w.resized[p.Name] = true
	} else {
		delete(w.resized, p.Name)
	}
	if len(w.resized) == w.n && w.resizeDone.IsZero() {
		w.resizeDone = now
	}
}

// startResize starts following a resize to the CPU request to: the most pods being resized counts from now.
func (w *podWatch) startResize(to resource.Quantity) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resizeTo = &to
	w.mostResize = len(w.resizing)
}

// resizeProgress is how many pods report the new request, and how many are being resized.
func (w *podWatch) resizeProgress() (resized, inFlight int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.resized), len(w.resizing)
}

func (w *podWatch) mostResizing() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mostResize
}

func (w *podWatch) resizeDoneAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.resizeDone
}

// cpuRequests are the container's CPU request in the pod's spec and in its container status (zero when
// either has none).
func cpuRequests(p *corev1.Pod, container string) (spec, status resource.Quantity) {
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			spec = c.Resources.Requests[corev1.ResourceCPU]
		}
	}
	for _, st := range p.Status.ContainerStatuses {
		if st.Name == container && st.Resources != nil {
			status = st.Resources.Requests[corev1.ResourceCPU]
		}
	}
	return spec, status
}

func specImage(p *corev1.Pod, container string) string {
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

// inFlight is how many pods have the new spec image and are not yet ready on it.
func (w *podWatch) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.patchedAt) - len(w.finishedAt)
}

// updateTimes are the pods' update durations, sorted.
func (w *podWatch) updateTimes() []float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []float64
	for name, start := range w.patchedAt {
		if end, ok := w.finishedAt[name]; ok {
			out = append(out, end.Sub(start).Seconds())
		}
	}
	sort.Float64s(out)
	return out
}

// runs says whether the pod's container status reports image for the container.
func runs(p *corev1.Pod, container, image string) bool {
	for _, st := range p.Status.ContainerStatuses {
		if st.Name == container {
			return st.Image == image && st.Ready
		}
	}
	return false
}

func (w *podWatch) progress() (updated, notReady int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.updated), len(w.notReady)
}

func (w *podWatch) mostNotReady() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most
}

func (w *podWatch) doneAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

func (w *podWatch) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
}

// peakSampler samples a process's RSS every 100 ms and keeps the highest, when it came, and the last.
type peakSampler struct {
	peak, last int64
	start      time.Time
	peakAt     time.Duration
	stopCh     chan struct{}
	done       chan struct{}
}

func newPeakSampler(p process) *peakSampler {
	s := &peakSampler{start: time.Now(), stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := p.rss(); err == nil {
				s.last = rss
				if rss > s.peak {
					s.peak, s.peakAt = rss, time.Since(s.start)
				}
			}
			select {
			case <-s.stopCh:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop stops the sampler (once) and returns the peak.
func (s *peakSampler) stop() int64 {
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
	<-s.done
	return s.peak
}

// String says, once stopped, when the peak came and what the last sample read.
func (s *peakSampler) String() string {
	return fmt.Sprintf("peak %.1f MiB %.1f s in, %.1f MiB at the end", mib(s.peak), s.peakAt.Seconds(), mib(s.last))
}

func mib(b int64) float64 { return round(float64(b)/(1<<20), 1) }

// percentile is the q-quantile of sorted values (the nearest rank at or below it); NaN of none.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// round rounds v to digits decimals; NaN (a quantile of no observations) becomes 0, which JSON can hold.
func round(v float64, digits int) float64 {
	if math.IsNaN(v) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// metricsReader is the ServiceAccount the benchmark reads the operator's metrics as, bound to the
// metrics-reader ClusterRole of config/rbac, as a user's Prometheus would be.
const metricsReader = "sidecarset-bench-metrics"

// metricsToken returns a token of the metrics reader, creating it and its binding the first time.
func (r *runner) metricsToken(ctx context.Context) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.OperatorNamespace, Name: metricsReader}}
	if err := r.c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating ServiceAccount %s: %w", metricsReader, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: metricsReader},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "sidecarset-operator-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: localcluster.OperatorNamespace, Name: metricsReader}},
	}
	if err := r.c.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating ClusterRoleBinding %s: %w", metricsReader, err)
	}
	tr, err := r.cs.CoreV1().ServiceAccounts(localcluster.OperatorNamespace).CreateToken(ctx, metricsReader,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s: %w", metricsReader, err)
	}
	return tr.Status.Token, nil
}

// scrapeOperator reads the SidecarSet controller's loop from the operator's metrics. The binding made just
// before may take a moment to reach the operator's authorizer, so a refusal is retried for a while.
func (r *runner) scrapeOperator(ctx context.Context, token string) (operatorMetrics, error) {
	var m operatorMetrics
	var last error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		raw, err := r.operator.Metrics(ctx, token)
		if err != nil {
			last = err
			return false, nil
		}
		m, err = parseOperatorMetrics(raw)
		return true, err
	})
	if err != nil && last != nil {
		return m, fmt.Errorf("scraping the operator's metrics: %w (last: %v)", err, last)
	}
	return m, err
}

// callStats reads a webhook's calls off its admission histogram: how many, p50, p99 and mean in milliseconds,
// and the share within the 5 ms bucket.
func callStats(h histogram) (calls int, p50, p99, mean, within5ms float64) {
	return int(h.count), round(h.quantile(0.5)*1000, 2), round(h.quantile(0.99)*1000, 2), round(h.mean()*1000, 2),
		round(h.within(0.005), 3)
}

// waitControlWebhook waits until the API server calls the control webhook: its webhook configurations reach
// admission through an informer, a moment after they are created.
func (r *runner) waitControlWebhook(ctx context.Context, ns string) error {
	i := 0
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, r.Timeout, true, func(ctx context.Context) (bool, error) {
		before, err := scrapeAPIServer(ctx, r.cs)
		if err != nil {
			return false, err
		}
		i++
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("control-probe-%d", i),
			Labels: map[string]string{controlLabel: "true", "app": "single-control"}}, Spec: podSpec()}
		if err := r.c.Create(ctx, pod); err != nil {
			return false, err
		}
		after, err := scrapeAPIServer(ctx, r.cs)
		if err != nil {
			return false, err
		}
		return after.control.count > before.control.count, nil
	})
}
