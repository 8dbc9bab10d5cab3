package controllers

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

var _ = Describe("A rollout and the PodDisruptionBudgets of its pods", func() {
	It("waits while a budget allows no disruption, says so, and then updates one pod at a time as it allows", func() {
		name := uniqueName("pdb")
		rolloutSidecarSet(name, name, `{maxUnavailable: 4, maxUnavailablePerWorkload: 100%}`)
		ns, _ := simulatedPods(name, 4)
		waitReady(name, 4)

		// No disruption controller runs here: the test writes the budget's status as it would.
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt(3)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
		}
		Expect(k8sClient.Create(ctx, pdb)).To(Succeed())
		setBudget := func(allowed int32) {
			Eventually(func() error {
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb); err != nil {
					return err
				}
				pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed,
					CurrentHealthy: 3 + allowed, DesiredHealthy: 3, ExpectedPods: 4}
				return k8sClient.Status().Update(ctx, pdb)
			}).Should(Succeed())
		}
		setBudget(0)

		setImage(name, "example.com/shipper:2")
		Eventually(func(g Gomega) {
			c := condition(sidecarSetStatus(name)(), appsv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Message).To(ContainSubstring(fmt.Sprintf(
				"4 waiting on PodDisruptionBudgets that allow no more disruption: %s/app (%s/", ns, ns)))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Consistently(func() int32 { return sidecarSetStatus(name)().UpdatedPods }).WithTimeout(time.Second).Should(BeZero())
		Expect(sim.mostUnready(ns)).To(BeZero())

		setBudget(1)
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.UpdatedPods).To(Equal(int32(4)))
			g.Expect(condition(st, appsv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Expect(sim.mostUnready(ns)).To(Equal(1), "the budget allows one pod down at a time; maxUnavailable alone would allow 4")
	})
})
