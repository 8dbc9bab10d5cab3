//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

var _ = Describe("The operator's readiness", func() {
	It("passes only once the API server can call the operator through both webhook configurations", func() {
		ns := newNamespace()
		name := uniqueName("ready")
		labels := map[string]string{"app": name}
		createSidecarSet(name, "selector: {matchLabels: {app: "+name+"}}\ncontainers: [{name: shipper, image: example.com/shipper:1}]",
			ns, labels)

		// The operator stopped and both configurations gone, with a SidecarSet in place: a fresh install whose
		// SidecarSets are applied with it, as a GitOps sync does.
		Expect(operator.Stop()).To(Succeed())
		DeferCleanup(ensureOperatorRunning)
		for _, obj := range []client.Object{
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName}},
		} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
		}
		logStart := logSize()
		// Start returns at the first /readyz that passes.
		Expect(operator.Start(ctx)).To(Succeed())

		// Both configurations are there, each entry with a caBundle that verifies the certificate it serves.
		mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
		state := webhookconfig.ServingState{Name: webhookConfigName, ExpectMutating: true, Now: time.Now(),
			Validating: &admissionregistrationv1.ValidatingWebhookConfiguration{},
			Mutating:   []*admissionregistrationv1.MutatingWebhookConfiguration{mutating}}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, state.Validating)).To(Succeed())
		Expect(k8sClient.Get(ctx, types.NamespacedName{Name: webhookConfigName}, mutating)).To(Succeed())
		var err error
		state.ServingCert, err = os.ReadFile(filepath.Join(operatorFlag("--webhook-cert-dir"), "tls.crt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(webhookconfig.Serving(state)).To(Succeed())
		Expect(mutating.Webhooks).To(ContainElement(HaveField("Name", webhookEntryName(name))))

		// So the API server calls it through both: a matched pod is injected and a SidecarSet no pod could carry
		// refused, at once (within the moment the API server's own watch takes to deliver a configuration).
		Eventually(func(g Gomega) {
			probe := pod(ns, "probe", labels)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(container(probe, "shipper")).NotTo(BeNil(), "ready, yet a matched pod was not injected")
		}).WithTimeout(time.Second).Should(Succeed())
		invalid := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("invalid")}}
		Expect(yaml.UnmarshalStrict([]byte(`
selector: {matchLabels: {app: invalid}}
containers: [{name: agent, image: example.com/agent:1, ports: [{containerPort: 0}]}]
`), &invalid.Spec)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Create(ctx, invalid.DeepCopy(), client.DryRunAll)
		}).WithTimeout(time.Second).Should(MatchError(ContainSubstring(`admission webhook "` + webhookconfig.ValidatingName + `" denied the request`)))

		// Each check passes on its own endpoint, and the operator logged becoming ready.
		for _, check := range []string{"caches", "webhook", "webhook-configurations"} {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(operator.ProbePort) + "/readyz/" + check)
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusOK), check)
		}
		data, err := os.ReadFile(operator.LogPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Contains(string(data[logStart:]), `"logger":"readiness","msg":"Ready for admission requests`)).To(BeTrue(),
			"the operator's log (%s) does not say it became ready", operator.LogPath)
	})
})
