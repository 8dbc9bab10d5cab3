package main

import (
	"context"
	"fmt"
	"net"
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
)

// TestRunWithRotatedCertificates starts the operator as main does, against a real kube-apiserver, with the
// default certificate mode: it must create its CA and certificate in a Secret of its namespace, write the
// serving files, inject the CA into the webhook configuration it creates, and then inject pods.
func TestRunWithRotatedCertificates(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds the test control plane once and points KUBEBUILDER_ASSETS at it")
	}
	g := NewWithT(t)
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	for _, ns := range []string{"sidecarset-system", "shop"} {
		g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	port := freePort(t)
	certDir := filepath.Join(t.TempDir(), "certs")
	o, err := parseFlags([]string{
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--namespace=sidecarset-system",
		"--webhook-port=" + strconv.Itoa(port), "--webhook-url=https://localhost:" + strconv.Itoa(port),
		"--webhook-cert-dir=" + certDir, "--webhook-config-name=sidecarset-operator",
	})
	g.Expect(err).NotTo(HaveOccurred())
	o.skipControllerNameValidation = true // the tests start the operator more than once in this process
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, o) }()

	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Spec: appsv1alpha1.SidecarSetSpec{
		Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: "log-shipper", Image: "example.com/shipper:1"}}},
	}}
	g.Expect(c.Create(ctx, set)).To(Succeed())

	secret := &corev1.Secret{}
	g.Eventually(func() error {
		return c.Get(ctx, types.NamespacedName{Namespace: "sidecarset-system", Name: "sidecarset-operator-webhook-cert"}, secret)
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Expect(secret.Data).To(HaveKey("ca.crt"))

	g.Eventually(func(g Gomega) {
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		g.Expect(c.Get(ctx, types.NamespacedName{Name: "sidecarset-operator"}, mwc)).To(Succeed())
		g.Expect(mwc.Webhooks).To(HaveLen(1))
		g.Expect(mwc.Webhooks[0].ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), "the rotated CA is not injected")
		g.Expect(*mwc.Webhooks[0].ClientConfig.URL).To(Equal(fmt.Sprintf("https://localhost:%d/inject-v1-pod", port)))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	g.Eventually(func(g Gomega) {
		data, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(data).To(Equal(secret.Data["tls.crt"]))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// The webhook may still be starting: a matched pod is refused until it serves, then injected.
	g.Eventually(func(g Gomega) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", GenerateName: "web-", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1"}}}}
		g.Expect(c.Create(ctx, pod)).To(Succeed())
		g.Expect(pod.Spec.Containers).To(HaveLen(2))
		g.Expect(pod.Spec.Containers[0].Name).To(Equal("log-shipper"))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	cancel()
	select {
	case err := <-done:
		g.Expect(err).NotTo(HaveOccurred())
	case <-time.After(30 * time.Second):
		t.Fatal("the operator did not stop within 30s of its context ending")
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRunWithExternalCertificates starts the operator with --webhook-certs=external: it must serve the
// certificate it finds in the directory, inject the ca.crt found beside it, and create no Secret.
func TestRunWithExternalCertificates(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`")
	}
	g := NewWithT(t)
	// envtest prepares a serving certificate for localhost and its CA, as cert-manager would in a cluster.
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	wio := &env.WebhookInstallOptions
	g.Expect(os.WriteFile(filepath.Join(wio.LocalServingCertDir, "ca.crt"), wio.LocalServingCAData, 0o600)).To(Succeed())

	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range []string{"sidecarset-system", "shop"} {
		g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	o, err := parseFlags([]string{
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--namespace=sidecarset-system",
		"--webhook-certs=external", "--webhook-cert-dir=" + wio.LocalServingCertDir,
		"--webhook-port=" + strconv.Itoa(wio.LocalServingPort), "--webhook-url=https://localhost:" + strconv.Itoa(wio.LocalServingPort),
	})
	g.Expect(err).NotTo(HaveOccurred())
	o.skipControllerNameValidation = true // TestRunWithRotatedCertificates registered the same controllers
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, o) }()

	g.Expect(c.Create(ctx, &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Spec: appsv1alpha1.SidecarSetSpec{
		Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Containers: []appsv1alpha1.SidecarContainer{{Container: corev1.Container{Name: "log-shipper", Image: "example.com/shipper:1"}}},
	}})).To(Succeed())

	g.Eventually(func(g Gomega) {
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		g.Expect(c.Get(ctx, types.NamespacedName{Name: "sidecarset-operator"}, mwc)).To(Succeed())
		g.Expect(mwc.Webhooks).To(HaveLen(1))
		g.Expect(mwc.Webhooks[0].ClientConfig.CABundle).To(Equal(wio.LocalServingCAData))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", GenerateName: "web-", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1"}}}}
		g.Expect(c.Create(ctx, pod)).To(Succeed())
		g.Expect(pod.Spec.Containers).To(HaveLen(2))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	var secrets corev1.SecretList
	g.Expect(c.List(ctx, &secrets, client.InNamespace("sidecarset-system"))).To(Succeed())
	g.Expect(secrets.Items).To(BeEmpty(), "external certificates must not create a Secret")

	cancel()
	g.Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
}
