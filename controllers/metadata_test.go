package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

var _ = Describe("Changing the metadata a SidecarSet adds", func() {
	It("patches the new labels and annotations into running pods in their one write, never overwriting a pod's own value under Retain", func() {
		name := uniqueName("meta")
		newSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1}]
patchPodMetadata: [{labels: {mesh: v1}, annotations: {trace: "on"}}]
updateStrategy: {maxUnavailable: 2}`)
		ns, pods := simulatedPods(name, 4)
		waitReady(name, 4)
		// One pod's trace annotation is its own from now on.
		own := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pods[0]), own)).To(Succeed())
		Expect(own.Annotations).To(HaveKeyWithValue("trace", "on"))
		own.Annotations["trace"] = "sampled"
		Expect(k8sClient.Update(ctx, own)).To(Succeed())

		Eventually(func() error {
			set := &appsv1alpha1.SidecarSet{}
			if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, set); err != nil {
				return err
			}
			set.Spec.PatchPodMetadata = []appsv1alpha1.PodMetadataPatch{{
				Labels:      map[string]appsv1alpha1.LabelValue{"mesh": "v2"},
				Annotations: map[string]string{"trace": "off", "owner": "platform"},
				Policy:      appsv1alpha1.PodMetadataPatchRetain,
			}}
			return k8sClient.Update(ctx, set)
		}).Should(Succeed())
		waitReady(name, 4)

		var list corev1.PodList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(4))
		for i, p := range list.Items {
			Expect(p.UID).To(Equal(pods[i].UID))
			Expect(p.Labels).To(HaveKeyWithValue("mesh", "v2"), "pod %s", p.Name)
			Expect(p.Annotations).To(HaveKeyWithValue("owner", "platform"), "pod %s", p.Name)
			if p.Name == own.Name {
				Expect(p.Annotations).To(HaveKeyWithValue("trace", "sampled"), "the pod's own value was overwritten")
			} else {
				Expect(p.Annotations).To(HaveKeyWithValue("trace", "off"), "pod %s", p.Name)
			}
			Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeZero(), "pod %s: a metadata change restarted a container", p.Name)
		}
		Expect(testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))).To(Equal(4.0), "one write per pod")
		Consistently(func() float64 {
			return testutil.ToFloat64(inplaceUpdates.WithLabelValues(name, "written"))
		}).WithTimeout(time.Second).Should(Equal(4.0))
	})
})
