//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

var _ = Describe("Injection into the pods of real workloads", func() {
	It("gives the pods of a Deployment, a StatefulSet, a DaemonSet and a Job their sidecars", func() {
		ns := newNamespace()
		name := uniqueName("workloads")
		labels := map[string]string{"sidecars": name}
		createSidecarSet(name, `
selector: {matchLabels: {sidecars: `+name+`}}
containers:
- name: log-shipper
  image: example.com/log-shipper:1
  volumeMounts: [{name: logs, mountPath: /var/log/app}]
initContainers:
- name: proxy
  image: example.com/proxy:1
  restartPolicy: Always
volumes:
- name: logs
  emptyDir: {}
`, ns, labels)

		with := func(kind string) map[string]string { return map[string]string{"sidecars": name, "workload": kind} }
		deployment(ns, "web", 3, with("deployment"))
		statefulSet(ns, "db", 2, with("statefulset"))
		daemonSet(ns, "agent", with("daemonset"))
		j := job(ns, "batch", 2, with("job"))

		for kind, n := range map[string]int{"deployment": 3, "statefulset": 2, "daemonset": 6} {
			for _, p := range waitPodsReady(ns, with(kind), n) {
				Expect(container(&p, "log-shipper")).NotTo(BeNil(), "%s pod %s has no log-shipper", kind, p.Name)
				Expect(container(&p, "log-shipper").Image).To(Equal("example.com/log-shipper:1"))
				Expect(container(&p, "proxy")).NotTo(BeNil(), "%s pod %s has no proxy", kind, p.Name)
				Expect(p.Spec.InitContainers[0].Name).To(Equal("proxy"))
				Expect(p.Spec.Volumes).To(ContainElement(HaveField("Name", "logs")))
				Expect(p.Annotations).To(HaveKeyWithValue(appsv1alpha1.StateAnnotation, ContainSubstring(name)))
			}
		}

		// The Job's pods got their sidecars too, and the Job still completes.
		Eventually(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: j.Name}, got)).To(Succeed())
			g.Expect(got.Status.Succeeded).To(Equal(int32(2)))
		}).WithTimeout(time.Minute).Should(Succeed())
		for _, p := range listPods(ns, with("job")) {
			Expect(container(&p, "log-shipper")).NotTo(BeNil(), "job pod %s has no log-shipper", p.Name)
			Expect(p.Status.Phase).To(Equal(corev1.PodSucceeded))
		}

		// The status counts every matched pod that is not finished, all on the latest revision.
		waitRolledOut(name, 11, time.Minute)
		Expect(getSidecarSet(name).Status.MatchedPods).To(Equal(int32(11)))
	})

	It("gives a sidecar the pod's service account token when the app containers have it", func() {
		ns := newNamespace()
		name := uniqueName("token")
		labels := map[string]string{"app": name}
		createSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: agent, image: example.com/agent:1}]
`, ns, labels)
		deployment(ns, "web", 1, labels)
		p := waitPodsReady(ns, labels, 1)[0]
		app := container(&p, "app")
		var token string
		for _, m := range app.VolumeMounts {
			if m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" {
				token = m.Name
			}
		}
		Expect(token).NotTo(BeEmpty(), "the ServiceAccount admission plugin gave the app container no token mount")
		Expect(container(&p, "agent").VolumeMounts).To(ContainElement(And(
			HaveField("Name", token), HaveField("MountPath", "/var/run/secrets/kubernetes.io/serviceaccount"))))
	})
})
