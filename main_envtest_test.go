package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/test/testenv"
)

// TestRunWithRotatedCertificates starts the operator as main does, against a real kube-apiserver, with the
// default certificate mode: it must create its CA and certificate in a Secret of its namespace, write the
// serving files, inject the CA into the webhook configuration it creates, and then inject pods.
func TestRunWithRotatedCertificates(t *testing.T) {
	g := NewWithT(t)
	env, c := startAPIServer(t)
	port := strconv.Itoa(freePort(t))
	pprof := "127.0.0.1:" + strconv.Itoa(freePort(t))
	certDir := filepath.Join(t.TempDir(), "certs")
	startOperator(t, env, "--webhook-port="+port, "--webhook-url=https://localhost:"+port, "--webhook-cert-dir="+certDir,
		"--pprof-bind-address="+pprof)

	expectInjection(g, c)

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
	data, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(data).To(Equal(secret.Data["tls.crt"]))
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

	expectInjection(g, c)

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

// expectInjection creates a SidecarSet and waits until a pod created through the API gets its sidecar.
func expectInjection(g *WithT, c client.Client) {
	ctx := context.Background()
	g.Expect(c.Create(ctx, &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Spec: appsv1alpha1.SidecarSetSpec{
		Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: "log-shipper", Image: "example.com/shipper:1"}}},
	}})).To(Succeed())
	// The webhook may still be starting: a matched pod is refused until it serves, then injected.
	g.Eventually(func(g Gomega) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", GenerateName: "web-", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1"}}}}
		g.Expect(c.Create(ctx, pod)).To(Succeed())
		g.Expect(pod.Spec.Containers).To(HaveLen(2))
		g.Expect(pod.Spec.Containers[0].Name).To(Equal("log-shipper"))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// webhookEntry waits for the operator's webhook configuration to have one entry, and returns it.
func webhookEntry(g *WithT, c client.Client) admissionregistrationv1.MutatingWebhook {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(context.Background(), types.NamespacedName{Name: "sidecarset-operator"}, mwc)).To(Succeed())
		g.Expect(mwc.Webhooks).To(HaveLen(1))
		g.Expect(mwc.Webhooks[0].ClientConfig.CABundle).NotTo(BeEmpty())
	}).WithTimeout(30 * time.Second).Should(Succeed())
	return mwc.Webhooks[0]
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
