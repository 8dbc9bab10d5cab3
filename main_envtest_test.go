package main

import (
	"bytes"
	"context"
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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
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
