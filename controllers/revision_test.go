package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
)

var _ = Describe("Revisions of a SidecarSet created again under the same name", func() {
	It("replace the revision the deleted one left, which the garbage collector has not removed", func() {
		// envtest runs no garbage collector: the deleted SidecarSet's revision stays, as it may for a while
		// on a real cluster.
		name := uniqueName("again")
		spec := `
selector: {matchLabels: {app: ` + name + `}}
containers: [{name: shipper, image: example.com/shipper:1}]`
		first := newSidecarSet(name, spec)
		latest := revision.For(first)
		stored := &appsv1.ControllerRevision{}
		key := types.NamespacedName{Namespace: operatorNamespace, Name: latest}
		Eventually(func() error { return k8sClient.Get(ctx, key, stored) }).Should(Succeed())
		Expect(metav1.IsControlledBy(stored, first)).To(BeTrue())
		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, types.NamespacedName{Name: name}, &appsv1alpha1.SidecarSet{}) }).ShouldNot(Succeed())

		second := newSidecarSet(name, spec)
		Expect(revision.For(second)).To(Equal(latest))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, stored)).To(Succeed())
			g.Expect(metav1.IsControlledBy(stored, second)).To(BeTrue(), "the revision is still the deleted SidecarSet's")
		}).Should(Succeed())
		var revisions appsv1.ControllerRevisionList
		Expect(k8sClient.List(ctx, &revisions, client.InNamespace(operatorNamespace),
			client.MatchingLabels{appsv1alpha1.SidecarSetNameLabel: name})).To(Succeed())
		Expect(revisions.Items).To(HaveLen(1))
	})
})
