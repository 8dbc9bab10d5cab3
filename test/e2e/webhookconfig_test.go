//go:build e2e

package e2e

import (
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// What the operator creates at runtime, under its default names.
const (
	webhookConfigName = "sidecarset-operator"
	certSecretName    = "sidecarset-operator-webhook-cert"
)

var _ = Describe("The webhook configurations and certificate, from a fresh install", func() {
	It("start without an error logged, and the mutating configuration goes with the last SidecarSet and comes back with the next", func() {
		// Each spec deletes its SidecarSets when it ends.
		Eventually(func(g Gomega) {
			var sets appsv1alpha1.SidecarSetList
			g.Expect(k8sClient.List(ctx, &sets)).To(Succeed())
			g.Expect(sets.Items).To(BeEmpty())
		}).Should(Succeed())

		// A fresh install: the operator stopped and what it made at runtime gone, the Secret with its CA and
		// certificate, the certificate files, and both webhook configurations.
		Expect(operator.Stop()).To(Succeed())
		DeferCleanup(ensureOperatorRunning)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.OperatorNamespace, Name: certSecretName}}
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, secret))).To(Succeed())
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName}}
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, mwc))).To(Succeed())
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName}}
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, vwc))).To(Succeed())
		certDir := operatorFlag("--webhook-cert-dir")
		Expect(certDir).NotTo(BeEmpty())
		Expect(os.RemoveAll(certDir)).To(Succeed())
		logStart := logSize()
		Expect(operator.Start(ctx)).To(Succeed())

		// With no SidecarSet there is no mutating configuration; the validating one is there, with the CA of
		// the new certificate, before the first SidecarSet can be created.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
			g.Expect(secret.Data["ca.crt"]).NotTo(BeEmpty())
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vwc), vwc)).To(Succeed())
			g.Expect(vwc.Webhooks).To(HaveLen(1))
			g.Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]))
		}).Should(Succeed())
		Consistently(mutatingConfig).WithTimeout(2 * time.Second).Should(Satisfy(apierrors.IsNotFound))

		// The first SidecarSet is injected and rolled out.
		s := newStory("fresh", `
containers: [{name: shipper, image: example.com/shipper:1}]
updateStrategy: {maxUnavailable: 2}`, 4)
		setContainerImage(s.name, "example.com/shipper:2")
		waitRolledOut(s.name, 4, time.Minute)
		expectMutatingEntries(secret.Data["ca.crt"], s.name)

		// Nothing so far logged an error: not the certificate rotator looking for configurations that did not
		// exist yet, nor two writers of one configuration conflicting.
		Expect(errorLines(logStart, "")).To(BeEmpty(), "error-level lines in the operator's log (%s)", operator.LogPath)

		// The last SidecarSet deleted, the mutating configuration is deleted (as the operator's own
		// ServiceAccount), rather than left with no entry; the validating one stays.
		Expect(k8sClient.Delete(ctx, s.set)).To(Succeed())
		Eventually(mutatingConfig).Should(Satisfy(apierrors.IsNotFound), "the configuration stayed with no SidecarSet left")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vwc), vwc)).To(Succeed())

		// The next SidecarSet brings it back, with its entry and the CA.
		ns := newNamespace()
		name := uniqueName("again")
		createSidecarSet(name, "selector: {matchLabels: {app: "+name+"}}\ncontainers: [{name: shipper, image: example.com/shipper:1}]",
			ns, map[string]string{"app": name})
		expectMutatingEntries(secret.Data["ca.crt"], name)

		for _, source := range []string{`"controller":"webhookconfig"`, `"logger":"cert-rotation"`} {
			Expect(errorLines(logStart, source)).To(BeEmpty(), "error-level lines in the operator's log (%s)", operator.LogPath)
		}
	})
})

// mutatingConfig reads the operator's MutatingWebhookConfiguration.
func mutatingConfig() error {
	return k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &admissionregistrationv1.MutatingWebhookConfiguration{})
}

// expectMutatingEntries checks the MutatingWebhookConfiguration holds exactly the entries of the SidecarSets,
// each with the CA.
func expectMutatingEntries(ca []byte, sets ...string) {
	Eventually(func(g Gomega) {
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, mwc)).To(Succeed())
		var names []string
		for _, w := range mwc.Webhooks {
			names = append(names, w.Name)
			g.Expect(w.ClientConfig.CABundle).To(Equal(ca), "the caBundle of %s", w.Name)
		}
		var want []string
		for _, s := range sets {
			want = append(want, webhookEntryName(s))
		}
		g.Expect(names).To(Equal(want))
	}).Should(Succeed())
}

// operatorFlag is the value of one of the flags the operator under test runs with.
func operatorFlag(name string) string {
	for _, arg := range operator.Args {
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			return v
		}
	}
	return ""
}

// logSize is the size of the operator's log now, where the lines of what follows start.
func logSize() int64 {
	info, err := os.Stat(operator.LogPath)
	if os.IsNotExist(err) {
		return 0
	}
	Expect(err).NotTo(HaveOccurred())
	return info.Size()
}

// errorLines returns the lines the operator logged at error level since offset, only those containing source
// when it is not empty.
func errorLines(offset int64, source string) []string {
	data, err := os.ReadFile(operator.LogPath)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, line := range strings.Split(string(data[offset:]), "\n") {
		if strings.Contains(line, `"level":"error"`) && strings.Contains(line, source) {
			out = append(out, line)
		}
	}
	return out
}
