package controllers

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

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
		// Until they are deleted, the configurations send every SidecarSet write to a webhook that is not there.
		DeferCleanup(func() {
			mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
			mwc.Name = r.Name
			Expect(k8sClient.Delete(ctx, mwc)).To(Succeed())
			vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			vwc.Name = r.Name
			Expect(k8sClient.Delete(ctx, vwc)).To(Succeed())
		})
		caBundles := func() []string {
			mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Name: r.Name}, mwc)).To(Succeed())
			var out []string
			for _, w := range mwc.Webhooks {
				out = append(out, string(w.ClientConfig.CABundle))
			}
			vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Name: r.Name}, vwc)).To(Succeed())
			Expect(vwc.Webhooks).To(HaveLen(1))
			out = append(out, string(vwc.Webhooks[0].ClientConfig.CABundle))
			return out
		}

		result, err := r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(result.RequeueAfter).To(Equal(time.Minute), "a CA file must be read again periodically")
		Expect(caBundles()).NotTo(BeEmpty())
		Expect(caBundles()).To(HaveEach("first CA"))

		Expect(os.WriteFile(caFile, []byte("rotated CA"), 0o600)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles()).To(HaveEach("rotated CA"))

		Expect(os.Remove(caFile)).To(Succeed())
		_, err = r.Reconcile(ctx, reconcile.Request{})
		Expect(err).NotTo(HaveOccurred())
		Expect(caBundles()).To(HaveEach("rotated CA"))
	})
})
