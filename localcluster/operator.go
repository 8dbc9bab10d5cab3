package localcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The operator's identity, as config/rbac defines it.
const (
	OperatorNamespace      = "sidecarset-system"
	OperatorServiceAccount = "sidecarset-operator"
)

// Install installs the operator's CRDs (config/crd/bases) and its namespace, ServiceAccount and RBAC
// (config/rbac) by server-side apply, as a user's kubectl apply would; root is the repository's root. It waits
// for the CRDs to be established.
func (c *Cluster) Install(ctx context.Context, root string) error {
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: OperatorNamespace}}
	if err := cl.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", OperatorNamespace, err)
	}
	var crds []string
	for _, dir := range []string{filepath.Join(root, "config", "crd", "bases"), filepath.Join(root, "config", "rbac")} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return err
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			objs, err := ReadObjects(f)
			if err != nil {
				return err
			}
			for _, u := range objs {
				if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.FieldOwner("sidecarset-e2e"), client.ForceOwnership); err != nil {
					return fmt.Errorf("applying %s %s from %s: %w", u.GetKind(), u.GetName(), f, err)
				}
				if u.GetKind() == "CustomResourceDefinition" {
					crds = append(crds, u.GetName())
				}
			}
		}
	}
	for _, name := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := cl.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", name, err)
		}
	}
	return nil
}

// ReadObjects reads the objects of a multi-document YAML file.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as the ServiceAccount namespace/name, with a
// token from the TokenRequest API, and returns its path.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](7 * 24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	user := namespace + "-" + name
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"local": {Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {Token: tr.Status.Token}},
		Contexts:       map[string]*clientcmdapi.Context{user: {Cluster: "local", AuthInfo: user, Namespace: namespace}},
		CurrentContext: user,
	}
	path := filepath.Join(c.Dir, user+".kubeconfig")
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		return "", err
	}
	return path, nil
}

// Operator is the operator running as a separate process, authenticated as its own ServiceAccount, its webhook
// reached by the API server through a URL on the loopback interface.
type Operator struct {
	Binary      string
	Kubeconfig  string
	WebhookPort int
	MetricsPort int
	ProbePort   int
	Args        []string
	LogPath     string

	proc *Process
}

// StartOperator starts the operator binary as its ServiceAccount, with extraArgs after the ones it needs here,
// and waits until it is ready.
func (c *Cluster) StartOperator(ctx context.Context, binary string, extraArgs ...string) (*Operator, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("the operator binary %s is missing (make build builds it): %w", binary, err)
	}
	kubeconfig, err := c.ServiceAccountKubeconfig(ctx, OperatorNamespace, OperatorServiceAccount)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	o := &Operator{Binary: binary, Kubeconfig: kubeconfig, WebhookPort: ports[0], MetricsPort: ports[1], ProbePort: ports[2],
		LogPath: c.logPath("sidecarset-operator")}
	o.Args = append([]string{
		"--namespace=" + OperatorNamespace,
		"--webhook-port=" + strconv.Itoa(o.WebhookPort),
		// localhost rather than 127.0.0.1: the rotated certificate names DNS hosts.
		"--webhook-url=https://localhost:" + strconv.Itoa(o.WebhookPort),
		"--webhook-cert-dir=" + filepath.Join(c.Dir, "operator-certs"),
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(o.MetricsPort),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(o.ProbePort),
		"--leader-elect",
	}, extraArgs...)
	return o, o.Start(ctx)
}

// Start starts the operator process (again, after Kill or Stop, with the same ports and arguments) and waits
// until its readiness probe passes.
func (o *Operator) Start(ctx context.Context) error {
	if o.Running() {
		return errors.New("the operator is already running")
	}
	proc, err := StartProcess("sidecarset-operator", o.Binary, o.Args, []string{"KUBECONFIG=" + o.Kubeconfig}, o.LogPath)
	if err != nil {
		return err
	}
	o.proc = proc
	return o.WaitReady(ctx, time.Minute)
}

// WaitReady waits until the operator's readiness probe passes.
func (o *Operator) WaitReady(ctx context.Context, timeout time.Duration) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", o.ProbePort)
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := o.proc.Exited(); err != nil {
			return false, err
		}
		resp, err := http.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the operator to be ready (log: %s): %w", o.LogPath, err)
	}
	return nil
}

// Running says whether the operator process is running.
func (o *Operator) Running() bool { return o.proc != nil && o.proc.Exited() == nil }

// Kill kills the operator process with SIGKILL, as a crash would.
func (o *Operator) Kill() { o.proc.Kill() }

// Stop stops the operator process with SIGTERM, as a rolling update of its Deployment would.
func (o *Operator) Stop() error { return o.proc.Stop() }

// Pid is the operator process's ID.
func (o *Operator) Pid() int { return o.proc.Pid() }

// Metrics scrapes the operator's metrics endpoint with the given bearer token (the endpoint authenticates and
// authorizes its callers through the API server).
func (o *Operator) Metrics(ctx context.Context, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", o.MetricsPort), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	// The metrics certificate is self-signed by controller-runtime.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// freePorts finds n distinct free TCP ports on the loopback interface.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
