package benchmark

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"

	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// apiMetrics is a scrape of the API server's /metrics, reduced to what the benchmark reads.
type apiMetrics struct {
	// podWrites counts PATCH and UPDATE requests to pods themselves (not their status or binding
	// subresources, which the simulated kubelet and the scheduler write).
	podWrites float64
	// podWriteConflicts are pod writes refused because the pod changed since the writer read it.
	podWriteConflicts float64
	// resizeWrites and resizeWriteConflicts are the same for PATCH and UPDATE requests to pods' resize
	// subresource, which only an in-place resize writes.
	resizeWrites, resizeWriteConflicts float64
	// webhook is the admission duration histogram of the operator's webhook entries for pod CREATEs.
	webhook histogram
	// control is the same histogram of the benchmark's own do-nothing webhook (controlWebhookName), and
	// patching that of its patching control (patchingControlWebhookName).
	control, patching histogram
	// configWrites is the request body size histogram (apiserver_request_body_size_bytes) of the creates,
	// updates and patches of MutatingWebhookConfigurations: its count the requests whose body the API server
	// read, its sum their bytes. configWriteConflicts are those writes refused with a 409.
	configWrites         histogram
	configWriteConflicts float64
}

// histogram is a cumulative Prometheus histogram: upper bound → count, and the total count.
type histogram struct {
	buckets map[float64]float64
	count   float64
	sum     float64
}

// add adds a scraped histogram's observations.
func (h *histogram) add(s *dto.Histogram) {
	h.count += float64(s.GetSampleCount())
	h.sum += s.GetSampleSum()
	for _, b := range s.Bucket {
		h.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
	}
}

// mean is the mean observation; NaN when there are none.
func (h histogram) mean() float64 {
	if h.count == 0 {
		return math.NaN()
	}
	return h.sum / h.count
}

// within is the share of observations at most le, read off the bucket of that bound (no interpolation).
func (h histogram) within(le float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	return h.buckets[le] / h.count
}

func scrapeAPIServer(ctx context.Context, cs kubernetes.Interface) (apiMetrics, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return apiMetrics{}, fmt.Errorf("scraping the API server's metrics: %w", err)
	}
	return parseAPIMetrics(raw)
}

// parseAPIMetrics reduces a scrape of the API server's /metrics to what the benchmark reads.
func parseAPIMetrics(raw []byte) (apiMetrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return apiMetrics{}, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	m := apiMetrics{webhook: histogram{buckets: map[float64]float64{}}, control: histogram{buckets: map[float64]float64{}},
		patching:     histogram{buckets: map[float64]float64{}},
		configWrites: histogram{buckets: map[float64]float64{}}}
	if f := families["apiserver_request_total"]; f != nil {
		for _, s := range f.Metric {
			l := labels(s)
			if mutatingConfigs(l) && l["code"] == "409" && writeVerbs[l["verb"]] {
				m.configWriteConflicts += s.GetCounter().GetValue()
				continue
			}
			if l["resource"] != "pods" || l["group"] != "" || (l["verb"] != "PATCH" && l["verb"] != "PUT" && l["verb"] != "UPDATE") {
				continue
			}
			var writes, conflicts *float64
			switch l["subresource"] {
			case "":
				writes, conflicts = &m.podWrites, &m.podWriteConflicts
			case "resize":
				writes, conflicts = &m.resizeWrites, &m.resizeWriteConflicts
			default:
				continue
			}
			switch {
			case strings.HasPrefix(l["code"], "2"):
				*writes += s.GetCounter().GetValue()
			case l["code"] == "409":
				*conflicts += s.GetCounter().GetValue()
			}
		}
	}
	if f := families["apiserver_request_body_size_bytes"]; f != nil {
		for _, s := range f.Metric {
			l := labels(s)
			if mutatingConfigs(l) && writeVerbs[strings.ToUpper(l["verb"])] {
				m.configWrites.add(s.GetHistogram())
			}
		}
	}
	if f := families["apiserver_admission_webhook_admission_duration_seconds"]; f != nil {
		for _, s := range f.Metric {
			l := labels(s)
			if l["operation"] != "CREATE" {
				continue
			}
			switch {
			case strings.HasSuffix(l["name"], ".inject.sidecarset.io"):
				m.webhook.add(s.GetHistogram())
			case l["name"] == controlWebhookName:
				m.control.add(s.GetHistogram())
			case l["name"] == patchingControlWebhookName:
				m.patching.add(s.GetHistogram())
			}
		}
	}
	return m, nil
}

// writeVerbs are the verbs of writes with a body, as apiserver_request_total (POST, PUT, PATCH, APPLY) and
// apiserver_request_body_size_bytes (create, update, patch, upper-cased here) name them.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "CREATE": true, "UPDATE": true}

// mutatingConfigs says whether a sample's labels are of requests to MutatingWebhookConfigurations themselves.
func mutatingConfigs(l map[string]string) bool {
	return l["group"] == "admissionregistration.k8s.io" && l["resource"] == "mutatingwebhookconfigurations" && l["subresource"] == ""
}

// operatorMetrics is a scrape of the operator's /metrics, reduced to its SidecarSet controller's loop.
type operatorMetrics struct {
	reconciles, reconcileSeconds float64
	queued, queueSeconds         float64
	// phaseSeconds is the time the reconciles spent in each phase (sidecarset_reconcile_phase_seconds).
	phaseSeconds map[string]float64
	// injections and injectSeconds are the pod webhook's requests and the time the operator took over them,
	// from reading a request to writing its answer (controller_runtime_webhook_latency_seconds).
	injections, injectSeconds float64
}

func (m operatorMetrics) minus(earlier operatorMetrics) operatorMetrics {
	d := operatorMetrics{reconciles: m.reconciles - earlier.reconciles, reconcileSeconds: m.reconcileSeconds - earlier.reconcileSeconds,
		queued: m.queued - earlier.queued, queueSeconds: m.queueSeconds - earlier.queueSeconds, phaseSeconds: map[string]float64{},
		injections: m.injections - earlier.injections, injectSeconds: m.injectSeconds - earlier.injectSeconds}
	for phase, s := range m.phaseSeconds {
		d.phaseSeconds[phase] = s - earlier.phaseSeconds[phase]
	}
	return d
}

// parseOperatorMetrics reads controller-runtime's reconcile-time histogram and client-go's work-queue wait
// histogram of the SidecarSet controller from a scrape of the operator.
func parseOperatorMetrics(raw string) (operatorMetrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(raw))
	if err != nil {
		return operatorMetrics{}, fmt.Errorf("parsing the operator's metrics: %w", err)
	}
	m := operatorMetrics{phaseSeconds: map[string]float64{}}
	found := false
	if f := families["sidecarset_reconcile_phase_seconds"]; f != nil {
		for _, s := range f.Metric {
			m.phaseSeconds[labels(s)["phase"]] += s.GetHistogram().GetSampleSum()
		}
	}
	if f := families["controller_runtime_reconcile_time_seconds"]; f != nil {
		for _, s := range f.Metric {
			if labels(s)["controller"] == "sidecarset" {
				m.reconciles += float64(s.GetHistogram().GetSampleCount())
				m.reconcileSeconds += s.GetHistogram().GetSampleSum()
				found = true
			}
		}
	}
	if f := families["controller_runtime_webhook_latency_seconds"]; f != nil {
		for _, s := range f.Metric {
			if labels(s)["webhook"] == webhookconfig.InjectPath {
				m.injections += float64(s.GetHistogram().GetSampleCount())
				m.injectSeconds += s.GetHistogram().GetSampleSum()
			}
		}
	}
	if f := families["workqueue_queue_duration_seconds"]; f != nil {
		for _, s := range f.Metric {
			if labels(s)["name"] == "sidecarset" {
				m.queued += float64(s.GetHistogram().GetSampleCount())
				m.queueSeconds += s.GetHistogram().GetSampleSum()
			}
		}
	}
	if !found {
		return m, errNoReconcileMetrics
	}
	return m, nil
}

// errNoReconcileMetrics is what scrapeOperator returns for an operator that has not reconciled a SidecarSet
// yet: its controller's reconcile histogram shows once the first reconcile is observed.
var errNoReconcileMetrics = errors.New("the operator's metrics have no controller_runtime_reconcile_time_seconds for the sidecarset controller")

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// minus is the histogram of the observations between an earlier scrape and this one.
func (h histogram) minus(earlier histogram) histogram {
	d := histogram{buckets: map[float64]float64{}, count: h.count - earlier.count, sum: h.sum - earlier.sum}
	for le, n := range h.buckets {
		d.buckets[le] = n - earlier.buckets[le]
	}
	return d
}

// quantile estimates the q-quantile by linear interpolation within its bucket, as PromQL's
// histogram_quantile does; NaN when there are no observations.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(h.buckets))
	for le := range h.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := q * h.count
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		n := h.buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return prevBound
			}
			if n == prevCount {
				return le
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(n-prevCount)
		}
		prevBound, prevCount = le, n
	}
	return prevBound
}

// process reads a process's resident memory and CPU time from /proc.
type process struct{ pid int }

// rss is the resident set size in bytes.
func (p process) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.pid)
}

// ResidentMiB is the resident set size of process pid, in MiB.
func ResidentMiB(pid int) (float64, error) {
	b, err := process{pid: pid}.rss()
	return mib(b), err
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on Linux.
const clockTicks = 100

// cpuSeconds is the user and system CPU time the process has used.
func (p process) cpuSeconds() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it start past its closing parenthesis.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", p.pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", p.pid)
	}
	return (utime + stime) / clockTicks, nil
}
