//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

var _ = Describe("More SidecarSets than one webhook configuration holds", func() {
	It("spreads their entries over several configurations, and the last one created injects", func() {
		// The operator again, holding 3 entries a configuration instead of 200, to get there with a few.
		Expect(operator.Stop()).To(Succeed())
		args := slices.Clone(operator.Args)
		DeferCleanup(func() {
			Expect(operator.Stop()).To(Succeed())
			operator.Args = args
			ensureOperatorRunning()
		})
		operator.Args = append(operator.Args, "--webhook-entries-per-configuration=3")
		Expect(operator.Start(ctx)).To(Succeed())

		ns, prefix := newNamespace(), uniqueName("many")
		var last string
		for i := range 8 {
			last = fmt.Sprintf("%s-%d", prefix, i)
			createSidecarSet(last, "selector: {matchLabels: {app: "+last+"}}\ncontainers: [{name: shipper, image: example.com/shipper:1}]",
				ns, map[string]string{"app": last})
		}
		p := pod(ns, "last", map[string]string{"app": last})
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Expect(container(p, "shipper")).NotTo(BeNil(), "the pod of the last SidecarSet was not injected")

		var list admissionregistrationv1.MutatingWebhookConfigurationList
		Expect(k8sClient.List(ctx, &list)).To(Succeed())
		held := map[string]int{}
		for _, c := range list.Items {
			if _, ours := webhookconfig.ShardIndex(webhookConfigName, c.Name); !ours {
				continue
			}
			n := 0
			for _, w := range c.Webhooks {
				if strings.HasSuffix(w.Name, webhookconfig.NameSuffix) {
					n++
				}
				if strings.HasPrefix(w.Name, prefix+"-") {
					held[w.Name]++
				}
			}
			Expect(n).To(BeNumerically("<=", 3), "configuration %s holds %d entries", c.Name, n)
		}
		Expect(held).To(HaveLen(8), "every SidecarSet has its entry")
		for entry, n := range held {
			Expect(n).To(Equal(1), "entry %s is in %d configurations", entry, n)
		}
	})
})
