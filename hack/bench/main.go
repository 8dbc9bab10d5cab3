// Command bench runs the local-cluster benchmarks of make bench: it starts the local cluster (localcluster)
// with enough simulated nodes, runs the operator as a separate process as its users run it, measures a run at
// each size (localcluster/benchmark), then once the many-SidecarSets phase (benchmark.RunMany), and writes the
// results to docs/benchmarks.json and the generated section of docs/benchmarks.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sidecarset/sidecarset-operator/localcluster"
	"github.com/sidecarset/sidecarset-operator/localcluster/benchmark"
)

// Report is docs/benchmarks.json.
type Report struct {
	Date    string            `json:"date"`
	Machine Machine           `json:"machine"`
	Version map[string]string `json:"versions"`
	// Settings are the operator's and the cluster's settings the runs used.
	Settings map[string]string `json:"settings"`
	// RSSEmptyMiB is the operator's resident memory in a cluster with no pods, ready.
	RSSEmptyMiB float64            `json:"operatorRSSEmptyClusterMiB"`
	Runs        []benchmark.Result `json:"runs"`
	// ManySidecarSets is the many-SidecarSets phase, one result per count of SidecarSets in place; reports
	// from before it have none.
	ManySidecarSets []benchmark.ManyResult `json:"manySidecarSets,omitempty"`
	// Paired is the paired phase: rollouts at the defaults and at the tuned flags in turns; reports from
	// before it have none.
	Paired *benchmark.PairedResult `json:"pairedRollouts,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryGiB int    `json:"memoryGiB"`
}

// settle is how long after the pods were created the operator's RSS at rest is read: past the 30 s after
// which the reconciler drops the memo of a SidecarSet no reconcile took (docs/design.md 1.2) and its sweep's
// 6 s.
const settle = 45 * time.Second

func main() {
	sizes := flag.String("sizes", "1000,10000", "Comma-separated N: the matched pods of each run.")
	clusterPods := flag.Int("cluster-pods", 10000, "Pods in the cluster during the first run: N matched, the rest matched by no SidecarSet.")
	restartDelay := flag.Duration("restart-delay", 500*time.Millisecond, "The simulated kubelet's container restart delay.")
	binary := flag.String("operator", "bin/sidecarset-operator", "The operator binary.")
	qps := flag.Int("kube-api-qps", 0, "The operator's --kube-api-qps; 0 runs it at its default, as users do.")
	burst := flag.Int("kube-api-burst", 0, "The operator's --kube-api-burst; 0 runs it at its default.")
	extra := flag.String("operator-args", "", "More operator flags, space-separated (for example --pprof-bind-address=127.0.0.1:6060).")
	workers := flag.Int("kubelet-workers", 32, "Pod stages the simulated kubelet plays at once, across all nodes.")
	jsonOut := flag.String("json", "docs/benchmarks.json", "Where to write the results as JSON.")
	docOut := flag.String("doc", "docs/benchmarks.md", "The page whose generated section is rewritten.")
	dir := flag.String("dir", "", "Directory for the cluster's kubeconfig and logs (default: a new temporary directory).")
	render := flag.Bool("render", false, "Only rewrite the page's generated section from the JSON, without measuring.")
	many := flag.String("many-sidecarsets", "100,1000,10000",
		"Comma-separated, ascending: the SidecarSets in place at each measurement of the many-SidecarSets phase, "+
			"created cumulatively after the runs; empty or 0 leaves the phase out.")
	manyWorkers := flag.Int("many-workers", 16, "SidecarSet creates in flight at once in the many-SidecarSets phase.")
	tunedArgs := flag.String("tuned-args", "--kube-api-qps=1000 --kube-api-burst=2000",
		"The operator's flags of the tuned column: the rollout of --tuned-size pods again, with the operator restarted with these.")
	tunedSize := flag.Int("tuned-size", 1000, "N of the tuned column's rollout; 0 leaves it out.")
	pairedRounds := flag.Int("paired-rounds", 3,
		"Rollouts each of the defaults and the tuned flags make in the paired phase, in turns, after the tuned column; 0 leaves it out.")
	flag.Parse()
	if *render {
		if err := rerender(*jsonOut, *docOut); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctrllog.SetLogger(logr.Discard()) // the benchmark's clients log nothing worth reading

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	counts, err := parseCounts(*many)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: --many-sidecarsets: %v\n", err)
		os.Exit(2)
	}
	tuned := tunedRun{size: *tunedSize, args: strings.Fields(*tunedArgs), pairedRounds: *pairedRounds}
	if err := run(ctx, *sizes, *clusterPods, *restartDelay, *workers, *binary, *qps, *burst, strings.Fields(*extra), *jsonOut, *docOut, *dir,
		counts, *manyWorkers, tuned); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// tunedRun is the tuned column: a rollout of size pods with the operator at args.
type tunedRun struct {
	size int
	args []string
	// pairedRounds are the rounds of the paired phase (benchmark.RunPaired), 0 for none.
	pairedRounds int
}

func run(ctx context.Context, sizesFlag string, clusterPods int, restartDelay time.Duration, workers int, binary string, qps, burst int, extra []string,
	jsonOut, docOut, dir string, manyCounts []int, manyWorkers int, tuned tunedRun) error {
	var sizes []int
	most := 0
	for _, s := range strings.Split(sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--sizes: %q is not a positive number", s)
		}
		sizes = append(sizes, n)
		most = max(most, n)
	}
	most = max(most, clusterPods)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sidecarset-bench-"); err != nil {
			return err
		}
	}
	const podsPerNode = 500
	nodes := most/podsPerNode + 2
	fmt.Printf("Local cluster with %d simulated nodes of %d pods; files and logs in %s\n", nodes, podsPerNode, dir)
	local, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Nodes: nodes, PodsPerNode: podsPerNode, RestartDelay: restartDelay,
		Progress: os.Stdout, ClientQPS: 2000, ClientBurst: 4000, KubeletWorkers: workers})
	if err != nil {
		return err
	}
	defer local.Stop()
	if err := local.Install(ctx, "."); err != nil {
		return err
	}
	var flags []string
	if qps > 0 {
		flags = append(flags, fmt.Sprintf("--kube-api-qps=%d", qps))
	}
	if burst > 0 {
		flags = append(flags, fmt.Sprintf("--kube-api-burst=%d", burst))
	}
	flags = append(flags, extra...)
	operator, err := local.StartOperator(ctx, binary, flags...)
	if err != nil {
		return err
	}
	defer operator.Stop()

	report := Report{
		Date:    time.Now().UTC().Format("2006-01-02"),
		Machine: machine(),
		Version: map[string]string{"go": runtime.Version(), "kubernetes": envOr("K8S_VERSION", "v1.37.2"),
			"etcd": envOr("ETCD_VERSION", "v3.6.16"), "kwok": envOr("KWOK_VERSION", "v0.8.0")},
		Settings: map[string]string{
			"maxUnavailable": "10%", "restartDelay": restartDelay.String(),
			"operatorFlags":    strings.Join(flags, " "),
			"nodes":            strconv.Itoa(nodes),
			"kubeletWorkers":   strconv.Itoa(workers),
			"resizeCPURequest": benchmark.SidecarCPURequestBefore + " → " + benchmark.SidecarCPURequestAfter,
		},
	}
	if len(manyCounts) > 0 {
		report.Settings["manySidecarSetsWorkers"] = strconv.Itoa(manyWorkers)
	}
	time.Sleep(3 * time.Second)
	if rss, err := benchmark.ResidentMiB(operator.Pid()); err == nil {
		report.RSSEmptyMiB = rss
	}
	for i, n := range sizes {
		unmatched := 0
		if i == 0 {
			unmatched = max(clusterPods-n, 0)
		}
		res, err := benchmark.Run(ctx, local, operator, benchmark.Options{
			Name: fmt.Sprintf("bench-%d", n), Pods: n, UnmatchedPods: unmatched, MaxUnavailable: "10%",
			RestartDelay: restartDelay, Settle: settle, Timeout: 20 * time.Minute, Progress: os.Stdout,
		})
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		report.Runs = append(report.Runs, res)
		if err := waitNamespaceGone(ctx, local, fmt.Sprintf("bench-%d", n)); err != nil {
			return err
		}
	}
	var pairedErr error
	// The tuned column: the same rollout with the operator restarted at the flags documented for large
	// clusters, in the same cluster and run, so that the defaults are compared with them on equal terms.
	if tuned.size > 0 && len(tuned.args) > 0 {
		if err := operator.Stop(); err != nil {
			return fmt.Errorf("stopping the operator for the tuned run: %w", err)
		}
		tunedOperator, err := local.StartOperator(ctx, binary, append(slices.Clone(flags), tuned.args...)...)
		if err != nil {
			return fmt.Errorf("starting the operator with %s: %w", strings.Join(tuned.args, " "), err)
		}
		name := fmt.Sprintf("bench-tuned-%d", tuned.size)
		res, err := benchmark.Run(ctx, local, tunedOperator, benchmark.Options{
			Name: name, Pods: tuned.size, UnmatchedPods: max(clusterPods-tuned.size, 0), MaxUnavailable: "10%",
			RestartDelay: restartDelay, Timeout: 20 * time.Minute, Progress: os.Stdout,
		})
		if err != nil {
			return fmt.Errorf("N=%d at %s: %w", tuned.size, strings.Join(tuned.args, " "), err)
		}
		res.OperatorFlags = strings.Join(tuned.args, " ")
		report.Runs = append(report.Runs, res)
		if err := waitNamespaceGone(ctx, local, name); err != nil {
			return err
		}
		// The paired phase: the same comparison made in turns, which a drift of the machine's load between
		// the two columns above cannot decide. Like the many-SidecarSets phase, a failure of it keeps what the
		// runs measured: it is reported, and returned once the report is written.
		if tuned.pairedRounds > 0 {
			name := fmt.Sprintf("bench-paired-%d", tuned.size)
			paired, err := benchmark.RunPaired(ctx, local, benchmark.PairedOptions{
				Name: name, Pods: tuned.size, UnmatchedPods: max(clusterPods-tuned.size, 0), MaxUnavailable: "10%",
				RestartDelay: restartDelay, Rounds: tuned.pairedRounds, Timeout: 20 * time.Minute, Progress: os.Stdout,
				Columns: [2]benchmark.PairedColumn{
					{Name: "defaults", Operator: operator},
					{Name: "tuned", Flags: strings.Join(tuned.args, " "), Operator: tunedOperator},
				},
			})
			if err == nil {
				report.Paired = &paired
			}
			// Its namespace is deleted even when it failed; the next phase starts once it is gone.
			if gone := waitNamespaceGone(ctx, local, name); err == nil {
				err = gone
			}
			if err != nil {
				pairedErr = fmt.Errorf("paired rollouts: %w", err)
				fmt.Fprintf(os.Stderr, "bench: %v\n", pairedErr)
			}
		}
		if err := tunedOperator.Stop(); err != nil {
			return err
		}
		// The many-SidecarSets phase measures the defaults again.
		if !operator.Running() {
			if err := operator.Start(ctx); err != nil {
				return fmt.Errorf("restarting the operator at its defaults: %w", err)
			}
		}
	}

	// The many-SidecarSets phase runs last, once: what it measured is kept even if it fails part way, and its
	// error returned once the report is written.
	var manyErr error
	if len(manyCounts) > 0 {
		report.ManySidecarSets, manyErr = benchmark.RunMany(ctx, local, operator, benchmark.ManyOptions{
			Counts: manyCounts, Workers: manyWorkers, Timeout: 30 * time.Minute, Progress: os.Stdout,
		})
		if manyErr == nil {
			manyErr = waitNamespaceGone(ctx, local, benchmark.ManyNamespace)
		}
		if manyErr != nil {
			manyErr = fmt.Errorf("many SidecarSets: %w", manyErr)
			fmt.Fprintf(os.Stderr, "bench: %v\n", manyErr)
		}
	}

	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonOut, append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeDoc(docOut, report); err != nil {
		return err
	}
	fmt.Printf("Wrote %s and the local-cluster section of %s\n", jsonOut, docOut)
	return errors.Join(pairedErr, manyErr)
}

// parseCounts parses the --many-sidecarsets list: positive and ascending; empty or "0" is none.
func parseCounts(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", part)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("the counts must be ascending: %s", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func rerender(jsonPath, docPath string) error {
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	return writeDoc(docPath, r)
}

func envOr(k, v string) string {
	if s := os.Getenv(k); s != "" {
		return s
	}
	return v
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
				m.MemoryGiB = (kb + (1<<20)/2) >> 20
			}
		}
	}
	return m
}
