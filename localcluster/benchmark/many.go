package benchmark

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// ManyOptions is the "many SidecarSets" phase: SidecarSets created cumulatively up to each of Counts, each
// selecting its own label app=set-<i> so that no pod matches most of them, and what having them in place costs
// the API server, the operator and a pod's admission.
type ManyOptions struct {
	// Counts are the SidecarSets in place at each measurement, ascending: 100, 1000, 10000 creates 100, then
	// up to 1,000, then up to 10,000.
	Counts []int
	// Workers is how many creates are in flight at once while a batch is created; default 16.
	Workers int
	// AdmissionPods matched pods (and as many no SidecarSet selects, in turn) are created one at a time at each
	// count; default 20.
	AdmissionPods int
	// ConfigName is the operator's --webhook-config-name, the base name of its MutatingWebhookConfigurations;
	// default sidecarset-operator, the operator's default.
	ConfigName string
	// Timeout bounds each wait; default 30 minutes.
	Timeout  time.Duration
	Progress io.Writer
}

// ManyNamespace holds the pods of the many-SidecarSets phase; the caller waits for it to be gone.
const ManyNamespace = "bench-many"

// manyLabel marks the SidecarSets of the phase, which deletes them all at the end.
const manyLabel = "sidecarset.io/bench-many"

// manyPrefix starts the names of the phase's SidecarSets: many-0, many-1...
const manyPrefix = "many-"

// ManyResult is what the phase measured with SidecarSets in place. Durations are in seconds, sizes in bytes.
type ManyResult struct {
	// SidecarSets are the phase's SidecarSets in place when the rest was measured; Created of them were
	// created in this batch, the rest before it.
	SidecarSets int `json:"sidecarSets"`
	Created     int `json:"created"`
	// CreateSeconds is from the batch's first create call to the return of its last (Workers at once; the
	// API server calls the operator's validating webhook for each). RegisteredSeconds is from the same start
	// until every one of the SidecarSets has its entry in a MutatingWebhookConfiguration, as a watch of the
	// configurations sees them, and ReadySeconds until every one is Ready, as a watch of the SidecarSets sees
	// them.
	CreateSeconds     float64 `json:"createSeconds"`
	Workers           int     `json:"createWorkers"`
	RegisteredSeconds float64 `json:"registeredSeconds"`
	ReadySeconds      float64 `json:"readySeconds"`
	// The writes to the operator's MutatingWebhookConfigurations during the batch, from the batch's start
	// until every SidecarSet was Ready. ConfigWriteRequests and ConfigBodyBytes are the API server's
	// apiserver_request_body_size_bytes histogram for resource mutatingwebhookconfigurations, verbs create,
	// update and patch: how many request bodies it read and their bytes, as sent (the operator's client sends
	// built-in types as protobuf), refused requests included; ConfigWriteConflicts the requests refused with
	// a 409 (apiserver_request_total).
	ConfigWriteRequests  int   `json:"configWriteRequests"`
	ConfigBodyBytes      int64 `json:"configRequestBodyBytes"`
	ConfigWriteConflicts int   `json:"configWriteConflicts"`
	// ConfigVersions are the configurations' versions stored during the batch, as the benchmark's watch saw
	// them (each created or updated configuration is one), and ConfigVersionJSONBytes the sum of their
	// sizes as JSON.
	ConfigVersions         int   `json:"configVersions"`
	ConfigVersionJSONBytes int64 `json:"configVersionJSONBytes"`
	// Configurations is how many MutatingWebhookConfigurations the operator keeps with the SidecarSets in
	// place, and LargestConfigurationBytes the largest one's size as JSON.
	Configurations            int `json:"configurations"`
	LargestConfigurationBytes int `json:"largestConfigurationJSONBytes"`
	// NewInjectingSeconds is from creating one more SidecarSet (the create call's start) to the return of the
	// first pod create the webhook injected, pods matching it being created every 50 ms; NewInjectingPods is
	// how many pods were created until then, the injected one included.
	NewInjectingSeconds float64 `json:"newSidecarSetInjectingSeconds"`
	NewInjectingPods    int     `json:"newSidecarSetPodsCreated"`
	// AdmissionPods matched pods and as many no SidecarSet selects, created one at a time in turn: the p50 of
	// each create call's latency, as the client saw it.
	AdmissionPods           int     `json:"admissionPods"`
	AdmissionMatchedP50Ms   float64 `json:"admissionMatchedP50Milliseconds"`
	AdmissionUnmatchedP50Ms float64 `json:"admissionUnmatchedP50Milliseconds"`
	// RSSMiB is the operator's resident memory with the SidecarSets in place, 2 s after they were all Ready;
	// CPUSeconds its CPU time during the batch.
	RSSMiB     float64 `json:"operatorRSSMiB"`
	CPUSeconds float64 `json:"operatorCPUSeconds"`
}

// RunMany runs the many-SidecarSets phase and removes the SidecarSets and the namespace it created; the
// operator then deletes the configurations it no longer needs. It returns the counts measured so far with an
// error.
func RunMany(ctx context.Context, local *localcluster.Cluster, operator *localcluster.Operator, o ManyOptions) ([]ManyResult, error) {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.AdmissionPods <= 0 {
		o.AdmissionPods = 20
	}
	if o.ConfigName == "" {
		o.ConfigName = "sidecarset-operator"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for i, n := range o.Counts {
		if n < 1 || (i > 0 && n <= o.Counts[i-1]) {
			return nil, fmt.Errorf("the counts of SidecarSets must be positive and ascending: %v", o.Counts)
		}
	}
	r := &runner{Options: Options{Name: "many", Timeout: o.Timeout, Progress: o.Progress}, local: local, operator: operator}
	if err := r.setup(); err != nil {
		return nil, err
	}
	m := &manyRunner{runner: r, o: o}
	defer m.cleanup()
	err := m.run(ctx)
	return m.results, err
}

type manyRunner struct {
	*runner
	o       ManyOptions
	results []ManyResult
	// next is the index of the next SidecarSet to create: many-<next>.
	next    int
	configs *configWatch
	sets    *readyWatch
}

func (m *manyRunner) run(ctx context.Context) error {
	if err := m.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ManyNamespace}}); err != nil {
		return err
	}
	if err := m.poll(ctx, "the namespace's default ServiceAccount", func(ctx context.Context) (bool, error) {
		err := m.c.Get(ctx, types.NamespacedName{Namespace: ManyNamespace, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	var err error
	if m.configs, err = m.watchConfigs(ctx); err != nil {
		return err
	}
	defer m.configs.stop()
	if m.sets, err = m.watchSidecarSets(ctx); err != nil {
		return err
	}
	defer m.sets.stop()

	for _, n := range m.o.Counts {
		res, err := m.measure(ctx, n)
		if err != nil {
			if res.ReadySeconds > 0 { // what was measured before the failure is kept
				m.results = append(m.results, res)
			}
			return fmt.Errorf("with %d SidecarSets: %w", n, err)
		}
		m.results = append(m.results, res)
	}
	return nil
}

// measure creates SidecarSets up to n and measures with them in place.
func (m *manyRunner) measure(ctx context.Context, n int) (ManyResult, error) {
	res := ManyResult{SidecarSets: n, Created: n - m.next, Workers: m.o.Workers}
	proc := process{pid: m.operator.Pid()}
	cpuBefore, err := proc.cpuSeconds()
	if err != nil {
		return res, err
	}
	before, err := scrapeAPIServer(ctx, m.cs)
	if err != nil {
		return res, err
	}
	versionsBefore, jsonBefore := m.configs.written()

	m.logf("creating %d SidecarSets, %d at once, up to %d", res.Created, m.o.Workers, n)
	start := time.Now()
	if err := m.createSidecarSets(ctx, m.next, n); err != nil {
		return res, err
	}
	m.next = n
	res.CreateSeconds = round(time.Since(start).Seconds(), 2)
	m.logf("%d SidecarSets created in %.1fs", res.Created, res.CreateSeconds)

	var registeredAt time.Time
	lastReport := time.Now()
	err = m.poll(ctx, fmt.Sprintf("%d SidecarSets to be registered and Ready", n), func(context.Context) (bool, error) {
		entries := m.configs.entries()
		if registeredAt.IsZero() && entries >= n {
			registeredAt = time.Now()
		}
		ready := m.sets.ready()
		if time.Since(lastReport) >= 5*time.Second {
			m.logf("%6.1fs: %d/%d entries registered, %d/%d SidecarSets Ready%s", time.Since(start).Seconds(), entries, n, ready, n,
				m.sets.example())
			lastReport = time.Now()
		}
		return !registeredAt.IsZero() && ready >= n, nil
	})
	if err != nil {
		return res, err
	}
	res.RegisteredSeconds = round(registeredAt.Sub(start).Seconds(), 2)
	res.ReadySeconds = round(time.Since(start).Seconds(), 2)
	// The last write's watch event and the metrics of its request may trail the SidecarSets' status a little.
	time.Sleep(2 * time.Second)
	after, err := scrapeAPIServer(ctx, m.cs)
	if err != nil {
		return res, err
	}
	cpuAfter, err := proc.cpuSeconds()
	if err != nil {
		return res, err
	}
	res.CPUSeconds = round(cpuAfter-cpuBefore, 2)
	res.ConfigWriteRequests = int(after.configWrites.count - before.configWrites.count)
	res.ConfigBodyBytes = int64(after.configWrites.sum - before.configWrites.sum)
	res.ConfigWriteConflicts = int(after.configWriteConflicts - before.configWriteConflicts)
	versionsAfter, jsonAfter := m.configs.written()
	res.ConfigVersions = versionsAfter - versionsBefore
	res.ConfigVersionJSONBytes = jsonAfter - jsonBefore
	res.Configurations, res.LargestConfigurationBytes = m.configs.sizes()
	if rss, err := proc.rss(); err == nil {
		res.RSSMiB = mib(rss)
	}
	m.logf("%d SidecarSets registered in %.1fs, Ready in %.1fs; %d configuration writes (%d refused) of %d bytes (%.0f a SidecarSet), "+
		"%d stored versions of %d JSON bytes; %d configurations, the largest %d JSON bytes; operator RSS %.1f MiB, %.1f CPU s",
		n, res.RegisteredSeconds, res.ReadySeconds, res.ConfigWriteRequests, res.ConfigWriteConflicts, res.ConfigBodyBytes,
		PerSidecarSet(res.ConfigBodyBytes, res.Created), res.ConfigVersions, res.ConfigVersionJSONBytes, res.Configurations,
		res.LargestConfigurationBytes, res.RSSMiB, res.CPUSeconds)

	// The pods each measurement creates are deleted after it: a pod created before the new SidecarSet's entry
	// took effect lacks its sidecar, which keeps that SidecarSet from being Ready, and no pod is to match most
	// of the SidecarSets.
	if err := m.newSidecarSetInjecting(ctx, &res); err != nil {
		return res, err
	}
	if err := m.deletePods(ctx); err != nil {
		return res, err
	}
	if err := m.admission(ctx, &res); err != nil {
		return res, err
	}
	return res, m.deletePods(ctx)
}

// deletePods deletes the phase's pods at once and waits until they are gone.
func (m *manyRunner) deletePods(ctx context.Context) error {
	if err := m.c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ManyNamespace), client.GracePeriodSeconds(0)); err != nil {
		return fmt.Errorf("deleting the pods of %s: %w", ManyNamespace, err)
	}
	return m.poll(ctx, "the pods of "+ManyNamespace+" to be deleted", func(ctx context.Context) (bool, error) {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
		if err := m.c.List(ctx, &list, client.InNamespace(ManyNamespace), client.Limit(1)); err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	})
}

// manySidecarSet is the phase's SidecarSet i: a sidecar for the pods labelled app=set-<i>.
func manySidecarSet(i int) *appsv1alpha1.SidecarSet {
	return &appsv1alpha1.SidecarSet{
		ObjectMeta: metav1.ObjectMeta{Name: manyPrefix + strconv.Itoa(i), Labels: map[string]string{manyLabel: "true"}},
		Spec: appsv1alpha1.SidecarSetSpec{
			Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": manyApp(i)}},
			Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: sidecarName, Image: imageBefore}}},
		},
	}
}

func manyApp(i int) string { return "set-" + strconv.Itoa(i) }

// createSidecarSets creates the phase's SidecarSets from index from up to (not including) to, Workers at once.
func (m *manyRunner) createSidecarSets(ctx context.Context, from, to int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	indexes := make(chan int)
	errs := make(chan error, m.o.Workers)
	var wg sync.WaitGroup
	for range m.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range indexes {
				if err := m.c.Create(ctx, manySidecarSet(i)); err != nil {
					errs <- fmt.Errorf("creating SidecarSet %s%d: %w", manyPrefix, i, err)
					cancel()
					return
				}
			}
		}()
	}
	lastReport := time.Now()
feed:
	for i := from; i < to; i++ {
		select {
		case indexes <- i:
		case <-ctx.Done():
			break feed
		}
		if time.Since(lastReport) >= 5*time.Second {
			m.logf("%d/%d SidecarSets created", i-from, to-from)
			lastReport = time.Now()
		}
	}
	close(indexes)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// newSidecarSetInjecting creates one more SidecarSet and then pods it selects every 50 ms until one comes
// back injected. The SidecarSet stays: it is the first of the next batch, and the pods are deleted after.
func (m *manyRunner) newSidecarSetInjecting(ctx context.Context, res *ManyResult) error {
	i := m.next
	set := manySidecarSet(i)
	m.logf("creating one more SidecarSet, %s, and a pod it selects every 50 ms until one is injected", set.Name)
	start := time.Now()
	if err := m.c.Create(ctx, set); err != nil {
		return fmt.Errorf("creating SidecarSet %s: %w", set.Name, err)
	}
	m.next++
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := start.Add(m.Timeout)
	for k := 0; ; k++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ManyNamespace, Name: fmt.Sprintf("new-%d-%d", i, k),
			Labels: map[string]string{"app": manyApp(i)}}, Spec: podSpec()}
		if err := m.c.Create(ctx, pod); err != nil {
			return fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
		if injected(pod) {
			res.NewInjectingSeconds = round(time.Since(start).Seconds(), 3)
			res.NewInjectingPods = k + 1
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no pod of SidecarSet %s was injected in %s (%d pods created)", set.Name, m.Timeout, k+1)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	m.logf("a pod of the new SidecarSet was injected %.3fs after its creation (%d pods created)", res.NewInjectingSeconds, res.NewInjectingPods)
	return nil
}

// injected says whether the webhook injected the phase's sidecar into the pod.
func injected(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == sidecarName {
			return true
		}
	}
	return false
}

// admission creates AdmissionPods pods selected by the first SidecarSet and as many no SidecarSet selects,
// one at a time and in turn, and keeps the p50 of each kind's create latency.
func (m *manyRunner) admission(ctx context.Context, res *ManyResult) error {
	var matched, unmatched []float64
	for k := range m.o.AdmissionPods {
		for _, kind := range []string{"matched", "unmatched"} {
			app := "none"
			if kind == "matched" {
				app = manyApp(0)
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ManyNamespace, Name: fmt.Sprintf("admit-%d-%s-%d", res.SidecarSets, kind, k),
				Labels: map[string]string{"app": app}}, Spec: podSpec()}
			start := time.Now()
			if err := m.c.Create(ctx, pod); err != nil {
				return fmt.Errorf("creating pod %s: %w", pod.Name, err)
			}
			took := time.Since(start).Seconds() * 1000
			if kind == "matched" {
				if !injected(pod) {
					return fmt.Errorf("pod %s, which SidecarSet %s0 selects, was not injected", pod.Name, manyPrefix)
				}
				matched = append(matched, took)
			} else {
				unmatched = append(unmatched, took)
			}
		}
	}
	sort.Float64s(matched)
	sort.Float64s(unmatched)
	res.AdmissionPods = m.o.AdmissionPods
	res.AdmissionMatchedP50Ms = round(percentile(matched, 0.5), 2)
	res.AdmissionUnmatchedP50Ms = round(percentile(unmatched, 0.5), 2)
	m.logf("one pod at a time with %d SidecarSets: create p50 %.2f ms matched, %.2f ms unmatched (%d pods each)",
		res.SidecarSets, res.AdmissionMatchedP50Ms, res.AdmissionUnmatchedP50Ms, m.o.AdmissionPods)
	return nil
}

// cleanup deletes the phase's SidecarSets and waits until the operator removed their entries (deleting the
// configurations left without any), then deletes the namespace.
func (m *manyRunner) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), m.Timeout)
	defer cancel()
	m.logf("deleting the phase's SidecarSets")
	if err := m.c.DeleteAllOf(ctx, &appsv1alpha1.SidecarSet{}, client.MatchingLabels{manyLabel: "true"}); err != nil {
		// A collection delete of 10,000 objects can outlast the API server's stream: one at a time then.
		m.logf("deleting the SidecarSets at once: %v; deleting them one by one", err)
		var sets appsv1alpha1.SidecarSetList
		if err := m.c.List(ctx, &sets, client.MatchingLabels{manyLabel: "true"}); err != nil {
			m.logf("listing the SidecarSets: %v", err)
		}
		for i := range sets.Items {
			if err := client.IgnoreNotFound(m.c.Delete(ctx, &sets.Items[i])); err != nil {
				m.logf("deleting SidecarSet %s: %v", sets.Items[i].Name, err)
			}
		}
	}
	if m.configs != nil {
		// The watch was stopped by run; start another to follow the entries going.
		if w, err := m.watchConfigs(ctx); err == nil {
			err := m.poll(ctx, "the phase's webhook entries to be removed", func(context.Context) (bool, error) {
				return w.entries() == 0 && w.empty() == 0, nil
			})
			w.stop()
			if err != nil {
				m.logf("%v", err)
			}
		}
	}
	_ = m.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ManyNamespace}})
}

// configWatch follows the operator's MutatingWebhookConfigurations through an informer: the phase's entries
// in them, their sizes, and the versions written.
type configWatch struct {
	mu      sync.Mutex
	base    string
	current map[string]*admissionregistrationv1.MutatingWebhookConfiguration
	log     versionLog
	stopCh  chan struct{}
}

func (m *manyRunner) watchConfigs(ctx context.Context) (*configWatch, error) {
	w := &configWatch{base: m.o.ConfigName, current: map[string]*admissionregistrationv1.MutatingWebhookConfiguration{},
		log: versionLog{seen: map[string]string{}}, stopCh: make(chan struct{})}
	factory := informers.NewSharedInformerFactory(m.cs, 0)
	inf := factory.Admissionregistration().V1().MutatingWebhookConfigurations().Informer()
	observe := func(obj any) {
		c, ok := obj.(*admissionregistrationv1.MutatingWebhookConfiguration)
		if !ok {
			return
		}
		if _, ours := webhookconfig.ShardIndex(w.base, c.Name); !ours {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.current[c.Name] = c
		w.log.observe(c.Name, c.ResourceVersion, ConfigJSONSize(c))
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*admissionregistrationv1.MutatingWebhookConfiguration); ok {
				w.mu.Lock()
				delete(w.current, c.Name)
				w.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	factory.Start(w.stopCh)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		close(w.stopCh)
		return nil, fmt.Errorf("the MutatingWebhookConfiguration informer did not sync: %w", ctx.Err())
	}
	return w, nil
}

// entries is how many of the phase's SidecarSets have an entry in the configurations.
func (w *configWatch) entries() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return countEntries(w.current, manyPrefix)
}

// empty is how many of the operator's configurations hold no webhook (the operator deletes them).
func (w *configWatch) empty() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.current {
		if len(c.Webhooks) == 0 {
			n++
		}
	}
	return n
}

// sizes are how many configurations there are and the largest one's JSON size.
func (w *configWatch) sizes() (count, largest int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.current {
		largest = max(largest, ConfigJSONSize(c))
	}
	return len(w.current), largest
}

// written is how many versions the watch saw and their JSON bytes.
func (w *configWatch) written() (versions int, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.versions, w.log.bytes
}

func (w *configWatch) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
}

// countEntries counts the operator's entries of SidecarSets named with prefix in the configurations, each
// once (an entry left in two configurations by an edit counts once).
func countEntries(configs map[string]*admissionregistrationv1.MutatingWebhookConfiguration, prefix string) int {
	seen := map[string]bool{}
	for _, c := range configs {
		for _, wh := range c.Webhooks {
			if strings.HasPrefix(wh.Name, prefix) && strings.HasSuffix(wh.Name, webhookconfig.NameSuffix) {
				seen[wh.Name] = true
			}
		}
	}
	return len(seen)
}

// versionLog adds up the versions of objects a watch delivers, each resourceVersion once: an informer that
// relists delivers objects it has already seen again, unchanged.
type versionLog struct {
	seen     map[string]string // name -> last resourceVersion
	versions int
	bytes    int64
}

// observe records a version of the object name of size bytes; it says whether the version was new.
func (l *versionLog) observe(name, resourceVersion string, size int) bool {
	if l.seen[name] == resourceVersion {
		return false
	}
	l.seen[name] = resourceVersion
	l.versions++
	l.bytes += int64(size)
	return true
}

// ConfigJSONSize is the size of a MutatingWebhookConfiguration as JSON, apiVersion and kind included (an
// informer's objects come without them), as kubectl get -o json would print it compactly.
func ConfigJSONSize(c *admissionregistrationv1.MutatingWebhookConfiguration) int {
	cp := *c
	cp.TypeMeta = metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingWebhookConfiguration"}
	data, err := json.Marshal(&cp)
	if err != nil {
		return 0
	}
	return len(data)
}

// PerSidecarSet is bytes over the SidecarSets created; 0 when none were.
func PerSidecarSet(bytes int64, created int) float64 {
	if created <= 0 {
		return 0
	}
	return float64(bytes) / float64(created)
}

// readyWatch follows the phase's SidecarSets through an informer and counts those Ready.
type readyWatch struct {
	mu       sync.Mutex
	readySet map[string]bool
	// notReady holds the Ready condition's reason and message of SidecarSets seen not Ready, for the progress.
	notReady map[string]string
	stopCh   chan struct{}
}

func (m *manyRunner) watchSidecarSets(ctx context.Context) (*readyWatch, error) {
	w := &readyWatch{readySet: map[string]bool{}, notReady: map[string]string{}, stopCh: make(chan struct{})}
	wc, err := client.NewWithWatch(m.local.Config, client.Options{Scheme: m.c.Scheme()})
	if err != nil {
		return nil, err
	}
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = manyLabel + "=true"
			var list appsv1alpha1.SidecarSetList
			err := wc.List(ctx, &list, &client.ListOptions{Raw: &opts})
			return &list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = manyLabel + "=true"
			return wc.Watch(ctx, &appsv1alpha1.SidecarSetList{}, &client.ListOptions{Raw: &opts})
		},
	}, &appsv1alpha1.SidecarSet{}, 0, cache.Indexers{})
	observe := func(obj any) {
		s, ok := obj.(*appsv1alpha1.SidecarSet)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if c := meta.FindStatusCondition(s.Status.Conditions, appsv1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
			w.readySet[s.Name] = true
			delete(w.notReady, s.Name)
		} else {
			delete(w.readySet, s.Name)
			w.notReady[s.Name] = "no Ready condition yet"
			if c != nil {
				w.notReady[s.Name] = c.Reason + ": " + c.Message
			}
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*appsv1alpha1.SidecarSet); ok {
				w.mu.Lock()
				delete(w.readySet, s.Name)
				delete(w.notReady, s.Name)
				w.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	go inf.Run(w.stopCh)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		close(w.stopCh)
		return nil, fmt.Errorf("the SidecarSet informer did not sync: %w", ctx.Err())
	}
	return w, nil
}

func (w *readyWatch) ready() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.readySet)
}

// example names one SidecarSet seen not Ready and why, for the progress; "" when every one is.
func (w *readyWatch) example() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, why := range w.notReady {
		if len(why) > 200 {
			why = why[:200] + "..."
		}
		return fmt.Sprintf(" (not Ready: %s, %s)", name, why)
	}
	return ""
}

func (w *readyWatch) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
}
