package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// eventsOf lists the events about the object named name in namespace ("" for a cluster-scoped one) with reason.
func eventsOf(namespace, name, reason string) []corev1.Event {
	var events corev1.EventList
	opts := []client.ListOption{client.MatchingFields{"involvedObject.name": name}}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	Expect(k8sClient.List(ctx, &events, opts...)).To(Succeed())
	var out []corev1.Event
	for _, e := range events.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

var _ = Describe("A sidecar left out for a name conflict", func() {
	It("is reported once as a Warning event on the pod, naming who has the name, and on the SidecarSet", func() {
		name := uniqueName("conflict")
		newSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1}]`)
		ns := newNamespace(map[string]string{simulatedLabel: "true"})
		p := podSpec(ns, "taken", map[string]string{"app": name}, "app", "shipper")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())

		Eventually(func(g Gomega) {
			events := eventsOf(ns, p.Name, "SidecarConflict")
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(events[0].Message).To(ContainSubstring("did not inject its sidecar shipper: the name is taken by the pod's own container shipper"))
			g.Expect(eventsOf("", name, "SidecarConflict")).NotTo(BeEmpty())
		}).WithTimeout(20 * time.Second).Should(Succeed())
		// Reconciles go on (the pod turns ready, the status is written); the conflict is not reported again.
		Consistently(func(g Gomega) {
			events := eventsOf(ns, p.Name, "SidecarConflict")
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Count).To(BeNumerically("<=", 1))
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})
})
