package benchmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// PairedColumn is one operator, by the flags it runs with beyond the benchmark's, and what it is called.
type PairedColumn struct {
	Name     string
	Flags    string
	Operator *localcluster.Operator
}

// PairedOptions compares operators on one rollout: the same pods are rolled out to a new image again and
// again, the operator restarted with each column's flags in turn, so that both columns meet the machine's
// changing load alike. One rollout per column, minutes apart, compared the machine's hours rather than the
// flags on a shared machine.
type PairedOptions struct {
	// Name names the namespace and the SidecarSet.
	Name string
	// Pods are the matched pods; UnmatchedPods, in a Deployment no SidecarSet selects, make the cluster's
	// size.
	Pods, UnmatchedPods int
	MaxUnavailable      string
	RestartDelay        time.Duration
	// Columns are the two operators compared: the ratio is the first's rollout time over the second's.
	Columns [2]PairedColumn
	// Rounds is how many rollouts each column makes, 3 when 0. Round i runs the columns in the order
	// first, second when i is even and second, first when it is odd (A B, B A, A B...), so that a drift of
	// the machine's load over the phase favours neither.
	Rounds   int
	Timeout  time.Duration
	Progress io.Writer
}

// PairedRollout is one rollout of the paired phase.
type PairedRollout struct {
	// Column is the index of the column that made it.
	Column         int     `json:"column"`
	RolloutSeconds float64 `json:"rolloutSeconds"`
	// ClusterCPUSeconds is the CPU the local cluster's processes spent during the rollout, all together:
	// over the machine's cores, the least time any controller could take (the machine's floor).
	ClusterCPUSeconds  float64 `json:"clusterCPUSeconds"`
	OperatorCPUSeconds float64 `json:"operatorCPUSeconds"`
	MostUnavailable    int     `json:"mostUnavailable"`
}

// PairedResult is what the paired phase measured.
type PairedResult struct {
	Pods         int      `json:"pods"`
	ClusterPods  int      `json:"clusterPods"`
	Budget       int      `json:"maxUnavailablePods"`
	BoundSeconds float64  `json:"boundSeconds"`
	Columns      []string `json:"columns"`
	// Flags are each column's flags beyond the benchmark's, "" for the defaults.
	Flags    []string        `json:"flags"`
	Rollouts []PairedRollout `json:"rollouts"`
	// Ratios are each round's first column's rollout time over its second column's; Ratio is their median.
	Ratios []float64 `json:"ratios"`
	Ratio  float64   `json:"ratio"`
}

// RunPaired runs the paired phase and removes what it created. It leaves every column's operator stopped.
func RunPaired(ctx context.Context, local *localcluster.Cluster, o PairedOptions) (PairedResult, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	res := PairedResult{Pods: o.Pods}
	for _, c := range o.Columns {
		if c.Operator == nil {
			return res, fmt.Errorf("paired column %q has no operator", c.Name)
		}
		res.Columns, res.Flags = append(res.Columns, c.Name), append(res.Flags, c.Flags)
	}
	// The first column's operator is the one running; the others are stopped until their turn (Stop does
	// nothing to a stopped one).
	for _, c := range o.Columns[1:] {
		if err := c.Operator.Stop(); err != nil {
			return res, err
		}
	}
	first := o.Columns[0].Operator
	if !first.Running() {
		if err := first.Start(ctx); err != nil {
			return res, err
		}
	}
	r := &runner{Options: Options{Name: o.Name, Pods: o.Pods, MaxUnavailable: o.MaxUnavailable, RestartDelay: o.RestartDelay,
		Timeout: o.Timeout, Progress: o.Progress}, local: local, operator: first}
	if err := r.setup(); err != nil {
		return res, err
	}
	// What the phase created is deleted while an operator still runs, then the operators are stopped.
	defer func() {
		for _, c := range o.Columns {
			_ = c.Operator.Stop()
		}
	}()
	defer r.cleanup()
	p := &paired{runner: r, o: o, res: &res}
	err := p.run(ctx)
	return res, err
}

// paired is the paired phase in progress.
type paired struct {
	*runner
	o   PairedOptions
	res *PairedResult
	// running is the index of the column whose operator runs.
	running int
	token   string
}

func (p *paired) run(ctx context.Context) error {
	ns := p.Name
	if err := p.createNamespace(ctx, ns); err != nil {
		return err
	}
	set := &appsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name},
		Spec: appsv1alpha1.SidecarSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "matched"}},
			Containers:     []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: sidecarName, Image: pairedImage(0)}}},
			UpdateStrategy: appsv1alpha1.UpdateStrategy{MaxUnavailable: ptr.To(intstr.Parse(p.MaxUnavailable))},
		},
	}
	if err := p.createInjecting(ctx, set, ns); err != nil {
		return err
	}
	if p.o.UnmatchedPods > 0 {
		p.logf("creating %d pods no SidecarSet selects", p.o.UnmatchedPods)
		if _, err := p.createPods(ctx, ns, "unmatched", p.o.UnmatchedPods); err != nil {
			return err
		}
	}
	p.logf("creating %d pods the SidecarSet selects", p.Pods)
	if _, err := p.createPods(ctx, ns, "matched", p.Pods); err != nil {
		return err
	}
	if err := p.waitPodsReady(ctx, ns, p.o.UnmatchedPods+p.Pods); err != nil {
		return err
	}
	if err := p.waitSidecarSetReady(ctx, set.Name, 1, pairedImage(0)); err != nil {
		return err
	}
	var pods metav1.PartialObjectMetadataList
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := p.c.List(ctx, &pods); err != nil {
		return err
	}
	p.res.ClusterPods = len(pods.Items)
	var err error
	if p.res.Budget, p.res.BoundSeconds, err = p.budgetAndBound(); err != nil {
		return err
	}
	if p.token, err = p.metricsToken(ctx); err != nil {
		return err
	}
	watch, err := p.watchImages(ctx, ns)
	if err != nil {
		return err
	}
	defer watch.stop()

	n := 0 // rollouts made
	times := [2][]float64{}
	for round := range p.o.Rounds {
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for _, col := range order {
			if err := p.switchTo(ctx, col, set.Name); err != nil {
				return err
			}
			n++
			ro, err := p.rollout(ctx, set.Name, int64(n+1), pairedImage(n), watch)
			if err != nil {
				return fmt.Errorf("rollout %d (%s): %w", n, p.o.Columns[col].Name, err)
			}
			ro.Column = col
			p.res.Rollouts = append(p.res.Rollouts, ro)
			times[col] = append(times[col], ro.RolloutSeconds)
		}
		p.res.Ratios = append(p.res.Ratios, round2(times[0][round]/times[1][round]))
	}
	p.res.Ratio = round2(median(p.res.Ratios))
	p.logf("%s over %s: %v, median %.2f", p.o.Columns[0].Name, p.o.Columns[1].Name, p.res.Ratios, p.res.Ratio)
	return nil
}

// switchTo stops the running operator and starts column col's, unless it is the one running, and waits until
// it reconciles (it then holds the lease and its controller runs) and the API server calls its webhooks.
func (p *paired) switchTo(ctx context.Context, col int, setName string) error {
	next := p.o.Columns[col].Operator
	switched := false
	if col != p.running || !next.Running() {
		if err := p.o.Columns[p.running].Operator.Stop(); err != nil {
			return fmt.Errorf("stopping the %s operator: %w", p.o.Columns[p.running].Name, err)
		}
		if err := next.Start(ctx); err != nil {
			return fmt.Errorf("starting the %s operator: %w", p.o.Columns[col].Name, err)
		}
		p.running, switched = col, true
	}
	p.operator = next
	if err := p.poll(ctx, "the "+p.o.Columns[col].Name+" operator to reconcile", func(ctx context.Context) (bool, error) {
		m, err := p.scrapeOperator(ctx, p.token)
		if errors.Is(err, errNoReconcileMetrics) {
			return false, nil // started, holding the lease or waiting for it, and not reconciled yet
		}
		return err == nil && m.reconciles > 0, err
	}); err != nil || !switched {
		return err
	}
	return p.waitValidating(ctx, setName)
}

// waitValidating waits until the API server sends a change of the SidecarSet's spec to the running operator's
// validating webhook, by a server-side dry run of one. Each operator of the local cluster serves at a port of
// its own, and the new leader writes its address into the webhook configurations: until the API server's
// informer has it, a spec change would be sent to the stopped operator and refused, since that entry fails
// closed. (In a cluster every replica is behind the one Service, and nothing changes.)
func (p *paired) waitValidating(ctx context.Context, setName string) error {
	var first, last error
	start := time.Now()
	err := p.poll(ctx, "the API server to call the "+p.o.Columns[p.running].Name+" operator's webhook", func(ctx context.Context) (bool, error) {
		last = p.patchSidecar(ctx, setName, "image", "example.com/agent:dry-run", client.DryRunAll)
		if first == nil {
			first = last
		}
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	if first != nil {
		p.logf("the API server called the %s operator's webhook after %.2fs; it refused before: %v",
			p.o.Columns[p.running].Name, time.Since(start).Seconds(), first)
	}
	return err
}

// rollout changes the sidecar's image to image, the SidecarSet's generation becoming generation, and times the
// rollout until every matched pod runs it, ready, and the SidecarSet is Ready on it.
func (p *paired) rollout(ctx context.Context, setName string, generation int64, image string, watch *imageWatch) (PairedRollout, error) {
	var ro PairedRollout
	proc := process{pid: p.operator.Pid()}
	cpuBefore, err := proc.cpuSeconds()
	if err != nil {
		return ro, err
	}
	clusterBefore := p.clusterCPU()
	watch.target(image)
	p.logf("rolling %s out to %d pods with the %s operator", image, p.Pods, p.o.Columns[p.running].Name)
	start := time.Now()
	if err := p.patchSidecar(ctx, setName, "image", image); err != nil {
		return ro, err
	}
	if err := p.poll(ctx, "the rollout of "+image, func(context.Context) (bool, error) {
		return !watch.doneAt().IsZero(), nil
	}); err != nil {
		return ro, err
	}
	ro.RolloutSeconds = round2(watch.doneAt().Sub(start).Seconds())
	ro.MostUnavailable = watch.mostNotReady()
	cpuAfter, err := proc.cpuSeconds()
	if err != nil {
		return ro, err
	}
	ro.OperatorCPUSeconds = round2(cpuAfter - cpuBefore)
	for name, after := range p.clusterCPU() {
		if before, ok := clusterBefore[name]; ok {
			ro.ClusterCPUSeconds += after - before
		}
	}
	ro.ClusterCPUSeconds = round2(ro.ClusterCPUSeconds)
	p.logf("rolled out in %.2fs, at most %d unavailable; cluster CPU %.1f s, operator CPU %.2f s",
		ro.RolloutSeconds, ro.MostUnavailable, ro.ClusterCPUSeconds, ro.OperatorCPUSeconds)
	return ro, p.waitSidecarSetReady(ctx, setName, generation, image)
}

// pairedImage is the sidecar's image after the i-th rollout of the paired phase (the 0th: as created). Each
// rollout has an image of its own, so that none goes back to a revision the operator knew.
func pairedImage(i int) string { return fmt.Sprintf("example.com/agent:paired-%d", i) }

// imageWatch follows the matched pods through an informer: which run the target image, ready, and which are
// not ready, since the target was last set.
type imageWatch struct {
	mu     sync.Mutex
	inf    cache.SharedIndexInformer
	image  string
	ready  map[string]bool // ready on image
	down   map[string]bool // not ready
	most   int
	done   time.Time
	n      int
	stopCh chan struct{}
}

func (p *paired) watchImages(ctx context.Context, ns string) (*imageWatch, error) {
	w := &imageWatch{n: p.Pods, stopCh: make(chan struct{}), ready: map[string]bool{}, down: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(p.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "app=matched" }))
	w.inf = factory.Core().V1().Pods().Informer()
	if _, err := w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(obj) },
		UpdateFunc: func(_, obj any) { w.observe(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				w.mu.Lock()
				delete(w.ready, p.Name)
				delete(w.down, p.Name)
				w.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	factory.Start(w.stopCh)
	if !cache.WaitForCacheSync(ctx.Done(), w.inf.HasSynced) {
		close(w.stopCh)
		return nil, fmt.Errorf("the pod informer did not sync: %w", ctx.Err())
	}
	return w, nil
}

func (w *imageWatch) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.see(p)
}

// see records the pod; the caller holds w.mu.
func (w *imageWatch) see(p *corev1.Pod) {
	ready := localcluster.PodReady(p)
	if ready {
		delete(w.down, p.Name)
	} else {
		w.down[p.Name] = true
	}
	w.most = max(w.most, len(w.down))
	if ready && w.image != "" && runs(p, sidecarName, w.image) {
		w.ready[p.Name] = true
	} else {
		delete(w.ready, p.Name)
	}
	if len(w.ready) == w.n && w.done.IsZero() && w.image != "" {
		w.done = time.Now()
	}
}

// target starts following a rollout to image: the pods are counted again from the informer's store.
func (w *imageWatch) target(image string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.image, w.done, w.most = image, time.Time{}, 0
	clear(w.ready)
	clear(w.down)
	for _, obj := range w.inf.GetStore().List() {
		if p, ok := obj.(*corev1.Pod); ok {
			w.see(p)
		}
	}
}

func (w *imageWatch) doneAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

func (w *imageWatch) mostNotReady() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most
}

func (w *imageWatch) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
}

func round2(v float64) float64 { return round(v, 2) }

// median is the median of vs (the mean of the middle two of an even count), 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
