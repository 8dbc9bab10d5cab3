package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/test/testenv"
)

// TestRunWithRotatedCertificates starts the operator as main does, against a real kube-apiserver, with the
// default certificate mode: it must create its CA and certificate in a Secret of its namespace, write the
// serving files, inject the CA into the webhook configurations it creates, and then inject pods; all of it
// without logging an error. A CA the rotator makes again is injected too.
func TestRunWithRotatedCertificates(t *testing.T) {
	g := NewWithT(t)
	env, c := startAPIServer(t)
	operatorLog.Reset()
	port := strconv.Itoa(freePort(t))
	pprof := "127.0.0.1:" + strconv.Itoa(freePort(t))
	certDir := filepath.Join(t.TempDir(), "certs")
	startOperator(t, env, "--webhook-port="+port, "--webhook-url=https://localhost:"+port, "--webhook-cert-dir="+certDir,
		"--pprof-bind-address="+pprof)

	expectInjection(g, c, "logs")

	// --pprof-bind-address serves Go's profiles, for diagnosing a running operator.
	resp, err := http.Get("http://" + pprof + "/debug/pprof/heap?debug=1")
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(string(body)).To(ContainSubstring("heap profile"))

	secret := &corev1.Secret{}
	g.Expect(c.Get(context.Background(), types.NamespacedName{Namespace: "sidecarset-system", Name: "sidecarset-operator-webhook-cert"}, secret)).To(Succeed())
	entry := webhookEntry(g, c)
	g.Expect(entry.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), "the rotated CA is not injected")
	g.Expect(*entry.ClientConfig.URL).To(Equal("https://localhost:" + port + "/inject-v1-pod"))
	g.Expect(validatingCABundle(g, c)).To(Equal(secret.Data["ca.crt"]), "the rotated CA is not injected into the validating configuration")
	data, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(data).To(Equal(secret.Data["tls.crt"]))
	// A normal start, up to injecting pods, logs no error.
	g.Expect(strings.Join(operatorLog.ErrorLines(), "\n")).To(BeEmpty(), "error-level lines in the operator's log")

	// The rotator still rotates: emptied, the Secret is filled again with a new CA, which the operator injects
	// into both configurations, and a new serving certificate, which it serves.
	oldCA := secret.Data["ca.crt"]
	secret.Data = nil
	g.Expect(c.Update(context.Background(), secret)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(context.Background(), client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		g.Expect(secret.Data["ca.crt"]).NotTo(BeEmpty())
		g.Expect(secret.Data["ca.crt"]).NotTo(Equal(oldCA))
		g.Expect(webhookEntry(g, c).ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]))
		g.Expect(validatingCABundle(g, c)).To(Equal(secret.Data["ca.crt"]))
		data, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(data).To(Equal(secret.Data["tls.crt"]))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	expectInjection(g, c, "logs-rotated")
}

// TestReadyOnlyOnceTheConfigurationsCarryTheCA runs the operator as a standby replica (another holds the
// leader's lease), so that nothing writes the webhook configurations but the test, and follows its readiness
// probe: ready only once its caches are synced, its webhook serves, the validating configuration exists with
// the CA of its serving certificate, and, once a SidecarSet injects, the mutating one too; each check says what
// it waits for.
func TestReadyOnlyOnceTheConfigurationsCarryTheCA(t *testing.T) {
	g := NewWithT(t)
	env, c := startAPIServer(t)
	ctx := context.Background()
	now := metav1.NewMicroTime(time.Now())
	g.Expect(c.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "sidecarset-system", Name: "sidecarset-operator.sidecarset.io"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("someone-else"), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &now, RenewTime: &now},
	})).To(Succeed())

	// External certificates, since a process can hold one certificate rotator only: envtest's, for localhost.
	wio := &env.WebhookInstallOptions
	port := strconv.Itoa(wio.LocalServingPort)
	probe := "127.0.0.1:" + strconv.Itoa(freePort(t))
	flags := []string{"--namespace=sidecarset-system", "--leader-elect", "--health-probe-bind-address=" + probe,
		"--webhook-certs=external", "--webhook-cert-dir=" + wio.LocalServingCertDir,
		"--webhook-port=" + port, "--webhook-url=https://localhost:" + port}
	startOperator(t, env, flags...)
	o, err := parseFlags(flags)
	g.Expect(err).NotTo(HaveOccurred())
	params := o.webhookParams()

	// get returns the status code and body of a probe endpoint.
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + probe + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// waitingFor waits until the configurations' check fails with reason, and the probe with it.
	waitingFor := func(reason string) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			code, body := get("/readyz/webhook-configurations")
			g.Expect(code).To(Equal(http.StatusInternalServerError))
			g.Expect(body).To(ContainSubstring(reason))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		code, _ := get("/readyz")
		g.Expect(code).To(Equal(http.StatusInternalServerError), "ready while %s", reason)
	}
	ready := func() {
		t.Helper()
		g.Eventually(func() int { code, _ := get("/readyz"); return code }).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
	}

	// The caches sync and the webhook serves, but no one has written the validating configuration.
	g.Eventually(func(g Gomega) {
		for _, check := range []string{"caches", "webhook"} {
			code, body := get("/readyz/" + check)
			g.Expect(code).To(Equal(http.StatusOK), "%s: %s", check, body)
		}
	}).WithTimeout(30 * time.Second).Should(Succeed())
	waitingFor("waiting for the ValidatingWebhookConfiguration sidecarset-operator to be created")
	g.Consistently(func() int { code, _ := get("/readyz"); return code }).WithTimeout(3 * time.Second).
		Should(Equal(http.StatusInternalServerError))
	_, verbose := get("/readyz?verbose")
	g.Expect(verbose).To(ContainSubstring("[+]caches ok"))
	g.Expect(verbose).To(ContainSubstring("[+]webhook ok"))
	g.Expect(verbose).To(ContainSubstring("[-]webhook-configurations failed"))

	labels := map[string]string{"app": "logs"}
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Spec: appsv1alpha1.SidecarSetSpec{
		Selector:   &metav1.LabelSelector{MatchLabels: labels},
		Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: "log-shipper", Image: "example.com/shipper:1"}}},
	}}
	g.Expect(c.Create(ctx, set)).To(Succeed())

	// Written with a CA other than the one that signed the serving certificate, it is not enough.
	other, err := newCertSecret(types.NamespacedName{}, o.certRotator(types.NamespacedName{}), time.Now())
	g.Expect(err).NotTo(HaveOccurred())
	entry := webhookconfig.Validating(params)
	entry.ClientConfig.CABundle = other.Data["ca.crt"]
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{entry}}
	g.Expect(c.Create(ctx, vwc)).To(Succeed())
	waitingFor("waiting for the ValidatingWebhookConfiguration sidecarset-operator to carry the CA of this replica's serving " +
		"certificate: entry sidecarsets.validate.sidecarset.io: its caBundle does not verify the serving certificate for localhost: " +
		"x509: certificate signed by unknown authority")

	// With the CA of the serving certificate, the validating configuration is enough for a replica to be
	// ready when no SidecarSet injects; one injects here (created before any configuration existed), so the
	// mutating configuration is needed too.
	vwc.Webhooks[0].ClientConfig.CABundle = wio.LocalServingCAData
	g.Expect(c.Update(ctx, vwc)).To(Succeed())
	waitingFor("waiting for the MutatingWebhookConfiguration sidecarset-operator to be created: a SidecarSet injects")
	mutatingParams := params
	mutatingParams.ClientConfig.CABundle = wio.LocalServingCAData
	entries, _ := webhookconfig.Desired([]appsv1alpha1.SidecarSet{*set}, mutatingParams)
	g.Expect(c.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator"}, Webhooks: entries})).To(Succeed())
	ready()
	// Ready once, it stays ready: the configurations are shared, and a later failure must not take every
	// replica out of the Service at once.
	g.Expect(c.Delete(ctx, vwc)).To(Succeed())
	g.Consistently(func() int { code, _ := get("/readyz"); return code }).WithTimeout(3 * time.Second).Should(Equal(http.StatusOK))
	vwc.ResourceVersion = ""
	g.Expect(c.Create(ctx, vwc)).To(Succeed())
	// The standby replica injects. (The API server applies a stored configuration once its own watch delivers
	// it, a moment after the write the probe read.)
	g.Eventually(func(g Gomega) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", GenerateName: "logs-", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1"}}}}
		g.Expect(c.Create(ctx, pod)).To(Succeed())
		g.Expect(pod.Spec.Containers).To(HaveLen(2), "ready, yet the pod was not injected")
	}).WithTimeout(5 * time.Second).Should(Succeed())

	// Once the lease is free the replica leads and writes the configurations itself; it stays ready.
	g.Expect(c.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
		Namespace: "sidecarset-system", Name: "sidecarset-operator.sidecarset.io"}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		lease := &coordinationv1.Lease{}
		g.Expect(c.Get(ctx, types.NamespacedName{Namespace: "sidecarset-system", Name: "sidecarset-operator.sidecarset.io"}, lease)).To(Succeed())
		g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		g.Expect(*lease.Spec.HolderIdentity).NotTo(Equal("someone-else"))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Consistently(func() int { code, _ := get("/readyz"); return code }).WithTimeout(3 * time.Second).Should(Equal(http.StatusOK))

	// The webhook speaks HTTP/2 to the API server by default (--webhook-http2).
	conn, err := tls.Dial("tcp", "localhost:"+port, &tls.Config{NextProtos: []string{"h2", "http/1.1"}, InsecureSkipVerify: true}) //nolint:gosec // only the protocol is read
	g.Expect(err).NotTo(HaveOccurred())
	defer conn.Close()
	g.Expect(conn.ConnectionState().NegotiatedProtocol).To(Equal("h2"))
}

// TestRunWithExternalCertificates starts the operator with --webhook-certs=external: it must serve the
// certificate it finds in the directory, inject the ca.crt found beside it, and create no Secret.
func TestRunWithExternalCertificates(t *testing.T) {
	g := NewWithT(t)
	env, c := startAPIServer(t)
	// envtest prepares a serving certificate for localhost and its CA, as cert-manager would in a cluster.
	wio := &env.WebhookInstallOptions
	g.Expect(os.WriteFile(filepath.Join(wio.LocalServingCertDir, "ca.crt"), wio.LocalServingCAData, 0o600)).To(Succeed())
	port := strconv.Itoa(wio.LocalServingPort)
	startOperator(t, env, "--webhook-certs=external", "--webhook-cert-dir="+wio.LocalServingCertDir,
		"--webhook-port="+port, "--webhook-url=https://localhost:"+port)

	expectInjection(g, c, "logs")

	g.Expect(webhookEntry(g, c).ClientConfig.CABundle).To(Equal(wio.LocalServingCAData))
	var secrets corev1.SecretList
	g.Expect(c.List(context.Background(), &secrets, client.InNamespace("sidecarset-system"))).To(Succeed())
	g.Expect(secrets.Items).To(BeEmpty(), "external certificates must not create a Secret")
}

// startAPIServer starts etcd and kube-apiserver with the CRD installed, and the namespaces the tests use.
func startAPIServer(t *testing.T) (*envtest.Environment, client.Client) {
	t.Helper()
	env, err := testenv.New(".")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"sidecarset-system", "shop"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return env, c
}

// startOperator runs the operator with the flags until the test ends, and checks that it then stops cleanly.
func startOperator(t *testing.T, env *envtest.Environment, flags ...string) {
	t.Helper()
	o, err := parseFlags(append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--namespace=sidecarset-system"}, flags...))
	if err != nil {
		t.Fatal(err)
	}
	o.skipControllerNameValidation = true // the tests start the operator more than once in this process
	setLogger.Do(func() { ctrl.SetLogger(zap.New(zap.WriteTo(operatorLog))) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, env.Config, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the operator stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the operator did not stop within 30s of its context ending")
		}
	})
}

// expectInjection creates a SidecarSet selecting app=<name> pods, and waits until a pod created through the
// API gets its sidecar.
func expectInjection(g *WithT, c client.Client, name string) {
	ctx := context.Background()
	labels := map[string]string{"app": name}
	// The validation's configuration may still wait for its CA: a SidecarSet is refused until it has it.
	g.Eventually(func() error {
		return c.Create(ctx, &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1alpha1.SidecarSetSpec{
			Selector:   &metav1.LabelSelector{MatchLabels: labels},
			Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: "log-shipper", Image: "example.com/shipper:1"}}},
		}})
	}).WithTimeout(30 * time.Second).Should(Succeed())
	// The webhook may still be starting: a matched pod is refused until it serves, then injected.
	g.Eventually(func(g Gomega) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", GenerateName: name + "-", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1"}}}}
		g.Expect(c.Create(ctx, pod)).To(Succeed())
		g.Expect(pod.Spec.Containers).To(HaveLen(2))
		g.Expect(pod.Spec.Containers[0].Name).To(Equal("log-shipper"))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// webhookEntry waits for the operator's webhook configuration to have an entry with a caBundle, and returns
// its first.
func webhookEntry(g Gomega, c client.Client) admissionregistrationv1.MutatingWebhook {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(context.Background(), types.NamespacedName{Name: "sidecarset-operator"}, mwc)).To(Succeed())
		g.Expect(mwc.Webhooks).NotTo(BeEmpty())
		g.Expect(mwc.Webhooks[0].ClientConfig.CABundle).NotTo(BeEmpty())
	}).WithTimeout(30 * time.Second).Should(Succeed())
	return mwc.Webhooks[0]
}

// validatingCABundle is the caBundle of the operator's validating configuration.
func validatingCABundle(g Gomega, c client.Client) []byte {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	g.Expect(c.Get(context.Background(), types.NamespacedName{Name: "sidecarset-operator"}, vwc)).To(Succeed())
	g.Expect(vwc.Webhooks).To(HaveLen(1))
	return vwc.Webhooks[0].ClientConfig.CABundle
}

// operatorLog is what the operators these tests run log, at every level from info, as the operator's JSON
// lines. The process has one logger, set by the first startOperator.
var operatorLog = &logBuffer{}

var setLogger sync.Once

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// ErrorLines returns the lines logged at error level.
func (b *logBuffer) ErrorLines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) {
			out = append(out, line)
		}
	}
	return out
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
