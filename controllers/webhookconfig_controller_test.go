package controllers

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

var _ = Describe("The mutating webhook configuration's lifecycle", func() {
	It("is deleted when no SidecarSet is left, and created again with its entry and CA for the next one", func() {
		newSidecarSet(uniqueName("logs"), logShipper)

		// Every SidecarSet gone (the other specs' too: each deletes its own when it ends).
		var sets appsv1alpha1.SidecarSetList
		Expect(k8sClient.List(ctx, &sets)).To(Succeed())
		for i := range sets.Items {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &sets.Items[i]))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &sets)).To(Succeed())
			g.Expect(sets.Items).To(BeEmpty())
		}).WithTimeout(10 * time.Second).Should(Succeed())

		// The mutating configuration goes with the last entry, rather than staying with none.
		Eventually(func() error {
			return k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &admissionregistrationv1.MutatingWebhookConfiguration{})
		}).WithTimeout(10*time.Second).Should(Satisfy(apierrors.IsNotFound), "the configuration stayed with no SidecarSet left")
		// and stays gone: nothing recreates it empty.
		Consistently(func() error {
			return k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &admissionregistrationv1.MutatingWebhookConfiguration{})
		}).WithTimeout(2 * time.Second).Should(Satisfy(apierrors.IsNotFound))
		// The validating one stays: it must be there before the next SidecarSet is created.
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, vwc)).To(Succeed())
		Expect(vwc.Webhooks).To(HaveLen(1))
		Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(testEnv.WebhookInstallOptions.LocalServingCAData))

		// The next SidecarSet brings it back, with its entry and the CA, and pods get injected again.
		set := newSidecarSet(uniqueName("logs"), logShipper)
		mwc := webhookConfig()
		Expect(mwc.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "sidecarset-operator"))
		Expect(mwc.Webhooks).To(HaveLen(1))
		Expect(mwc.Webhooks[0].Name).To(Equal(webhookconfig.EntryName(set.Name)))
		Expect(mwc.Webhooks[0].ClientConfig.CABundle).To(Equal(testEnv.WebhookInstallOptions.LocalServingCAData))
	})
})

var _ = Describe("A webhook configuration with the rotator's CA", func() {
	It("injects the ca.crt of the certificate Secret, follows it when it is rotated, and keeps the caBundle until it has one", func() {
		// A SidecarSet no pod matches, so the configuration below has an entry but never gets traffic.
		newSidecarSet(uniqueName("ca"), `{selector: {matchLabels: {never: matches}}, containers: [{name: s, image: example.com/s:1}]}`)
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: uniqueName("cert")},
			Data: map[string][]byte{CASecretKey: []byte("first CA"), "tls.crt": []byte("cert")}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, secret))).To(Succeed()) })
		url := "https://localhost:1" + webhookconfig.InjectPath
		r := &WebhookConfigReconciler{
			Client:   k8sClient,
			Name:     uniqueName("rotated-ca"),
			CASecret: client.ObjectKeyFromObject(secret),
			Params: webhookconfig.Params{
				ClientConfig:   admissionregistrationv1.WebhookClientConfig{URL: &url},
				FailurePolicy:  admissionregistrationv1.Ignore,
				TimeoutSeconds: 1,
			},
		}
		DeferCleanup(func() { deleteConfigurations(r.Name) })

		result, err := r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(result.RequeueAfter).To(BeZero(), "the Secret is watched, not polled")
		Expect(caBundles(r.Name)).To(HaveEach("first CA"))

		secret.Data[CASecretKey] = []byte("rotated CA")
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles(r.Name)).To(HaveEach("rotated CA"))

		// A Secret without its CA (being filled again), or none at all, keeps the CA injected.
		delete(secret.Data, CASecretKey)
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles(r.Name)).To(HaveEach("rotated CA"))
		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles(r.Name)).To(HaveEach("rotated CA"))
	})
})

// deleteConfigurations deletes the mutating and validating configurations of a spec's own reconciler: until
// then they send every SidecarSet write to a webhook that is not there.
func deleteConfigurations(name string) {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	mwc.Name = name
	Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, mwc))).To(Succeed())
	deleteValidating(name)
}

// caBundles are the caBundles of every entry of the configurations named name, the validating one's last.
func caBundles(name string) []string {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, mwc)).To(Succeed())
	Expect(mwc.Webhooks).NotTo(BeEmpty())
	var out []string
	for _, w := range mwc.Webhooks {
		out = append(out, string(w.ClientConfig.CABundle))
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, vwc)).To(Succeed())
	Expect(vwc.Webhooks).To(HaveLen(1))
	return append(out, string(vwc.Webhooks[0].ClientConfig.CABundle))
}

var _ = Describe("A webhook configuration with an externally provided CA", func() {
	It("injects the CA file's content, follows it when it is rotated, and keeps the caBundle when the file is gone", func() {
		// A SidecarSet no pod matches, so the configuration below has an entry but never gets traffic.
		newSidecarSet(uniqueName("ca"), `{selector: {matchLabels: {never: matches}}, containers: [{name: s, image: example.com/s:1}]}`)
		caFile := filepath.Join(GinkgoT().TempDir(), "ca.crt")
		Expect(os.WriteFile(caFile, []byte("first CA"), 0o600)).To(Succeed())
		url := "https://localhost:1" + webhookconfig.InjectPath
		r := &WebhookConfigReconciler{
			Client: k8sClient,
			Name:   uniqueName("external-ca"),
			CAFile: caFile,
			Params: webhookconfig.Params{
				ClientConfig:   admissionregistrationv1.WebhookClientConfig{URL: &url},
				FailurePolicy:  admissionregistrationv1.Ignore,
				TimeoutSeconds: 1,
			},
		}
		DeferCleanup(func() { deleteConfigurations(r.Name) })

		result, err := r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(result.RequeueAfter).To(Equal(time.Minute), "a CA file must be read again periodically")
		Expect(caBundles(r.Name)).To(HaveEach("first CA"))

		Expect(os.WriteFile(caFile, []byte("rotated CA"), 0o600)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles(r.Name)).To(HaveEach("rotated CA"))

		Expect(os.Remove(caFile)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles(r.Name)).To(HaveEach("rotated CA"))
	})
})
