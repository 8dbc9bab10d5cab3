// Package localcluster runs a Kubernetes cluster on the local machine, for the demo (make demo), the
// benchmarks (make bench) and the end-to-end suite: etcd and kube-apiserver (through controller-runtime's
// envtest), kube-controller-manager, kube-scheduler, and kwok as the kubelet of a set of simulated nodes, all
// from the binaries hack/setup-control-plane.sh builds. On it, Deployments, StatefulSets, DaemonSets and Jobs
// create real pods that are scheduled, started and, when their images change in place, restarted container by
// container (see stages.yaml). The operator runs beside it as a separate process, as its users run it
// (operator.go).
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options says what local cluster to start. The zero value of each field picks the default.
type Options struct {
	// Dir holds the cluster's kubeconfigs, kwok stages and component logs; it is created. Required.
	Dir string
	// AssetsDir holds the control-plane binaries; default $KUBEBUILDER_ASSETS.
	AssetsDir string
	// Nodes is the number of simulated nodes; default 4.
	Nodes int
	// PodsPerNode is each node's pod capacity; default 110, as a kubelet's.
	PodsPerNode int
	// RestartDelay is how long the simulated kubelet takes to restart a container whose image changed;
	// default 1s.
	RestartDelay time.Duration
	// ClientQPS and ClientBurst rate-limit the controller-manager and scheduler (kwok is not rate-limited);
	// default 500 and 1000, so that creating thousands of pods is not limited by the simulation.
	ClientQPS, ClientBurst int
	// KubeletWorkers is how many pod stages the simulated kubelet plays at once, across all its nodes;
	// default 32. Real kubelets work on their own pods in parallel; kwok's own default of 4 made the
	// simulation, not the operator, the limit of a large rollout.
	KubeletWorkers int
	// Progress receives a line per step; default nowhere.
	Progress io.Writer
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("localcluster: Options.Dir is required")
	}
	if o.AssetsDir == "" {
		o.AssetsDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if o.AssetsDir == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: the local cluster needs the binaries of " +
			"hack/setup-control-plane.sh (make control-plane builds them once and prints their directory)")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(o.AssetsDir, b)); err != nil {
			return fmt.Errorf("%s is missing from %s: run hack/setup-control-plane.sh to build it", b, o.AssetsDir)
		}
	}
	if o.Nodes <= 0 {
		o.Nodes = 4
	}
	if o.PodsPerNode <= 0 {
		o.PodsPerNode = 110
	}
	if o.RestartDelay <= 0 {
		o.RestartDelay = time.Second
	}
	if o.ClientQPS <= 0 {
		o.ClientQPS = 500
	}
	if o.ClientBurst <= 0 {
		o.ClientBurst = 1000
	}
	if o.KubeletWorkers <= 0 {
		o.KubeletWorkers = 32
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// Cluster is a running local cluster.
type Cluster struct {
	// Config is an administrator's client configuration.
	Config *rest.Config
	// Kubeconfig is the path of an administrator's kubeconfig, for kubectl.
	Kubeconfig string
	// Dir is Options.Dir.
	Dir string

	opts  Options
	env   *envtest.Environment
	procs []*Process
}

// Start starts a local cluster and waits until its nodes are ready and pods can be created in the default
// namespace. On error, whatever was started is stopped again.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	started := &Cluster{Dir: opts.Dir, opts: opts}
	c = started
	defer func() {
		if err != nil { // c is nil by now: stop what was started
			_ = started.Stop()
			c = nil
		}
	}()

	c.progress("Starting etcd and kube-apiserver")
	c.env = &envtest.Environment{BinaryAssetsDirectory: opts.AssetsDir}
	api := c.env.ControlPlane.GetAPIServer()
	// envtest turns the ServiceAccount admission plugin off; a real cluster has it, and pods get their
	// service account token volume from it before any webhook sees them.
	api.Configure().Disable("disable-admission-plugins")
	api.Configure().Set("max-requests-inflight", "1600").Set("max-mutating-requests-inflight", "800")
	if _, err := c.env.Start(); err != nil {
		return nil, fmt.Errorf("starting the API server: %w", err)
	}
	admin, err := c.env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding the admin user: %w", err)
	}
	c.Config = admin.Config()
	c.Config.QPS, c.Config.Burst = float32(opts.ClientQPS), opts.ClientBurst
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(opts.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}

	stages, err := KwokConfig(opts.RestartDelay, opts.KubeletWorkers)
	if err != nil {
		return nil, err
	}
	stagesPath := filepath.Join(opts.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stagesPath, []byte(stages), 0o644); err != nil {
		return nil, err
	}
	qps, burst := strconv.Itoa(opts.ClientQPS), strconv.Itoa(opts.ClientBurst)
	c.progress("Starting kube-controller-manager, kube-scheduler and kwok")
	for _, p := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{"--kubeconfig=" + c.Kubeconfig, "--controllers=*,-serviceaccount-token",
			"--leader-elect=false", "--secure-port=0", "--kube-api-qps=" + qps, "--kube-api-burst=" + burst,
			"--concurrent-replicaset-syncs=10", "--concurrent-statefulset-syncs=10"}},
		{"kube-scheduler", []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
			"--kube-api-qps=" + qps, "--kube-api-burst=" + burst}},
		{"kwok", []string{"--kubeconfig=" + c.Kubeconfig, "--manage-all-nodes=true", "--server-address=127.0.0.1:0",
			"--config=" + stagesPath}},
	} {
		proc, err := StartProcess(p.name, filepath.Join(opts.AssetsDir, p.name), p.args, nil, c.logPath(p.name))
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, proc)
	}

	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	c.progress(fmt.Sprintf("Creating %d simulated nodes", opts.Nodes))
	if err := c.createNodes(ctx, cs); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, cs); err != nil {
		return nil, err
	}
	c.progress("Local cluster ready; kubeconfig: " + c.Kubeconfig)
	return c, nil
}

func (c *Cluster) progress(msg string) { fmt.Fprintf(c.opts.Progress, "[cluster] %s\n", msg) }

func (c *Cluster) logPath(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

func (c *Cluster) createNodes(ctx context.Context, cs kubernetes.Interface) error {
	for i := range c.opts.Nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", i),
				Labels:      map[string]string{"type": "kwok", corev1.LabelHostname: fmt.Sprintf("kwok-node-%d", i)},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
					corev1.ResourcePods: *resource.NewQuantity(int64(c.opts.PodsPerNode), resource.DecimalSI),
				},
				Capacity: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
					corev1.ResourcePods: *resource.NewQuantity(int64(c.opts.PodsPerNode), resource.DecimalSI),
				},
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
	}
	return nil
}

// waitReady waits for every node to be ready and schedulable, and for the default namespace's ServiceAccount,
// which the ServiceAccount admission plugin needs before it admits a pod there.
func (c *Cluster) waitReady(ctx context.Context, cs kubernetes.Interface) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.checkProcesses(); err != nil {
			return false, err
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			if nodeReady(&n) {
				ready++
			}
		}
		if ready < c.opts.Nodes {
			return false, nil
		}
		_, err = cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the local cluster's nodes to be ready (logs in %s): %w", filepath.Join(c.Dir, "logs"), err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *Cluster) checkProcesses() error {
	for _, p := range c.procs {
		if err := p.Exited(); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the components and the API server, in reverse order of start.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].Stop())
	}
	c.procs = nil
	if c.env != nil {
		errs = append(errs, c.env.Stop())
	}
	return errors.Join(errs...)
}

// Process is a component of the local cluster running as a child process, its output in a log file.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// StartProcess starts binary with args (and env added to this process's environment), its output appended
// to logPath.
func StartProcess(name, binary string, args, env []string, logPath string) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited returns an error when the process has exited, naming its log.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); see %s", p.Name, p.err, p.LogPath)
	default:
		return nil
	}
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop asks the process to exit (SIGTERM) and kills it after 15 seconds.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Kill kills the process (SIGKILL), as a crash or an evicted node would, and waits for it to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Processes returns the process ID of each process of the control plane, by name: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok. envtest starts the first two; they are found as this
// process's children running those binaries.
func (c *Cluster) Processes() map[string]int {
	out := map[string]int{}
	for _, p := range c.procs {
		out[p.Name] = p.Pid()
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		name := filepath.Base(exe)
		if name != "etcd" && name != "kube-apiserver" {
			continue
		}
		if parentPid(pid) == self {
			out[name] = pid
		}
	}
	return out
}

// parentPid reads a process's parent from /proc/<pid>/status; 0 when it cannot.
func parentPid(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "PPid:"); ok {
			ppid, _ := strconv.Atoi(strings.TrimSpace(rest))
			return ppid
		}
	}
	return 0
}
