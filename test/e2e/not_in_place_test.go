//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

var _ = Describe("A change that cannot be made in place", func() {
	It("warns when applied how many running pods it leaves behind, and is Stalled, not Ready, until they are recreated", func() {
		s := newStory("args", `containers: [{name: shipper, image: example.com/shipper:1}]`, 3)

		// A changed argument is more than an image: the kubelet cannot apply it to running pods.
		rec := &warningRecorder{}
		cfg := rest.CopyConfig(local.Config)
		cfg.WarningHandler, cfg.WarningHandlerWithContext = nil, rec
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() error {
			set := getSidecarSet(s.name)
			set.Spec.Containers[0].Args = []string{"--verbose"}
			return c.Update(ctx, set)
		}).Should(Succeed())
		rec.mu.Lock()
		warnings := slices.Clone(rec.text)
		rec.mu.Unlock()
		Expect(slices.ContainsFunc(warnings, func(w string) bool {
			return strings.Contains(w, "3 running pods keep their current sidecars until they are recreated")
		})).To(BeTrue(), "warnings: %q", warnings)

		Eventually(func(g Gomega) {
			set := getSidecarSet(s.name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.NotUpgradablePods).To(Equal(int32(3)))
			stalled := condition(set.Status, appsv1alpha1.ConditionStalled)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(appsv1alpha1.ReasonNotUpgradable))
			g.Expect(stalled.Message).To(ContainSubstring("recreate them"))
			g.Expect(condition(set.Status, appsv1alpha1.ConditionReady).Status).To(BeEquivalentTo("False"))
			g.Expect(argoCDHealth(s.name)).To(Equal("Degraded"))
		}).WithTimeout(time.Minute).Should(Succeed())

		// Recreating the pods (the workload's own rollout) brings the change: Ready again.
		restart := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
			time.Now().Format(time.RFC3339))
		Expect(k8sClient.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "web"}},
			client.RawPatch(types.StrategicMergePatchType, []byte(restart)))).To(Succeed())
		Eventually(func(g Gomega) {
			set := getSidecarSet(s.name)
			g.Expect(set.Status.UpdatedPods).To(Equal(int32(3)))
			g.Expect(set.Status.MatchedPods).To(Equal(int32(3)))
			g.Expect(condition(set.Status, appsv1alpha1.ConditionStalled)).To(BeNil())
			g.Expect(condition(set.Status, appsv1alpha1.ConditionReady).Status).To(BeEquivalentTo("True"))
		}).WithTimeout(2 * time.Minute).Should(Succeed())
	})
})
