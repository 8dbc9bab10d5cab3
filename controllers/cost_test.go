package controllers

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// sizedPods creates n pods of app, each with one app container requesting 350m CPU and 160Mi of memory, in
// a namespace the test kubelet runs, and waits until they are ready. Labels are added to each pod's.
func sizedPods(ns, app string, n int, labels map[string]string) {
	var pods []*corev1.Pod
	for i := range n {
		p := podSpec(ns, fmt.Sprintf("%s-%02d", app, i), map[string]string{"app": app}, "app")
		for k, v := range labels {
			p.Labels[k] = v
		}
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("350m"), corev1.ResourceMemory: resource.MustParse("160Mi")}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		pods = append(pods, p)
	}
	waitPodsReady(pods)
}

// kubectlGet runs kubectl get against the test API server and returns what it prints.
func kubectlGet(args ...string) string {
	stdout, stderr, err := testEnv.ControlPlane.KubeCtl().Run(append([]string{"--cache-dir=" + GinkgoT().TempDir(), "get"}, args...)...)
	out, _ := io.ReadAll(stdout)
	errOut, _ := io.ReadAll(stderr)
	Expect(err).NotTo(HaveOccurred(), "kubectl get %s: %s", strings.Join(args, " "), errOut)
	return string(out)
}

// gauge is the value of the series of the metric name with these labels that the operator's registry serves,
// nil when there is none.
func gauge(name string, labels prometheus.Labels) func() *float64 {
	return func() *float64 {
		for _, m := range gathered(name) {
			if maps.Equal(labelsOf(m), labels) {
				v := m.GetGauge().GetValue()
				return &v
			}
		}
		return nil
	}
}

// seriesOf counts the series of the metric name the operator's registry serves for the SidecarSet.
func seriesOf(name, sidecarSet string) func() int {
	return func() int {
		n := 0
		for _, m := range gathered(name) {
			if labelsOf(m)["sidecarset"] == sidecarSet {
				n++
			}
		}
		return n
	}
}

// gathered is the series of the metric name the operator's registry serves.
func gathered(name string) []*dto.Metric {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

func labelsOf(m *dto.Metric) prometheus.Labels {
	out := prometheus.Labels{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

var _ = Describe("The sidecars' cost", func() {
	It("reports what the sidecars request and limit of the pods that carry them, their share, and follows an in-place resize", func() {
		name := uniqueName("cost")
		ns := newNamespace(map[string]string{simulatedLabel: "true"})
		// A matched pod created before the SidecarSet has none of the sidecars: it costs nothing and is not
		// part of the share.
		sizedPods(ns, name+"-before", 1, map[string]string{"app": name})
		// Per pod: the shipper requests 100m and 64Mi (limit 128Mi), the native-sidecar proxy 50m and 32Mi, of
		// a pod requesting 500m and 256Mi in all: 30% of its CPU, 37.5% of its memory.
		set := newSidecarSet(name, `
selector: {matchLabels: {app: `+name+`}}
containers: [{name: shipper, image: example.com/shipper:1, resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}}]
initContainers: [{name: proxy, image: example.com/proxy:1, restartPolicy: Always, resources: {requests: {cpu: 50m, memory: 32Mi}}}]
updateStrategy: {maxUnavailable: 3}`)
		sizedPods(ns, name, 3, nil)

		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.MatchedPods).To(Equal(int32(4)))
			g.Expect(st.MissingPods).To(Equal(int32(1)))
			g.Expect(st.SidecarResources).To(HaveValue(And(
				HaveField("Pods", int32(3)),
				HaveField("Requests", haveResources("450m", "288Mi")),
				HaveField("Limits", haveResources("", "384Mi")),
				HaveField("PodRequests", haveResources("1500m", "768Mi")),
				HaveField("RequestShare", appsv1alpha1.ResourceShare{CPU: "30.0%", Memory: "37.5%"}))))
		}).WithTimeout(20 * time.Second).Should(Succeed())

		cpu := prometheus.Labels{"sidecarset": name, "resource": "cpu", "unit": "core"}
		memory := prometheus.Labels{"sidecarset": name, "resource": "memory", "unit": "byte"}
		Eventually(gauge("sidecarset_sidecar_resource_requests", cpu)).Should(HaveValue(BeNumerically("~", 0.45, 1e-9)))
		Expect(gauge("sidecarset_sidecar_resource_requests", memory)()).To(HaveValue(Equal(float64(288 << 20))))
		Expect(gauge("sidecarset_sidecar_resource_limits", memory)()).To(HaveValue(Equal(float64(384 << 20))))
		Expect(gauge("sidecarset_sidecar_resource_limits", cpu)()).To(BeNil(), "no sidecar limits CPU: the CPU limit has no series")
		Expect(gauge("sidecarset_sidecar_resource_request_ratio", prometheus.Labels{"sidecarset": name, "resource": "cpu"})()).To(HaveValue(BeNumerically("~", 0.3, 1e-9)))
		Expect(gauge("sidecarset_sidecar_resource_request_ratio", prometheus.Labels{"sidecarset": name, "resource": "memory"})()).To(HaveValue(BeNumerically("~", 0.375, 1e-9)))

		out := kubectlGet("scs", name, "-o", "wide")
		GinkgoWriter.Print(out)
		Expect(out).To(MatchRegexp(`LATEST REVISION\s+SIDECAR CPU\s+CPU SHARE\s+SIDECAR MEMORY\s+MEMORY SHARE\n`))
		Expect(out).To(MatchRegexp(`%s-\w+\s+450m\s+30\.0%%\s+288Mi\s+37\.5%%\n`, name))

		// The shipper resized in place to 250m: the pods' specs say so once the rollout resized them, and the
		// cost follows what they run, 300m of 650m per pod.
		setResources(name, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}})
		Eventually(func(g Gomega) {
			st := sidecarSetStatus(name)()
			g.Expect(st.UpdatedPods).To(Equal(int32(3)))
			g.Expect(st.SidecarResources).To(HaveValue(And(
				HaveField("Requests", haveResources("900m", "288Mi")),
				HaveField("PodRequests", haveResources("1950m", "768Mi")),
				HaveField("RequestShare", appsv1alpha1.ResourceShare{CPU: "46.2%", Memory: "37.5%"}))))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Eventually(gauge("sidecarset_sidecar_resource_requests", cpu)).Should(HaveValue(BeNumerically("~", 0.9, 1e-9)))

		Expect(k8sClient.Delete(ctx, set)).To(Succeed())
		for _, metric := range []string{"sidecarset_sidecar_resource_requests", "sidecarset_sidecar_resource_limits", "sidecarset_sidecar_resource_request_ratio"} {
			Eventually(seriesOf(metric, name)).Should(BeZero(), "the cost gauges of a deleted SidecarSet must go")
		}
	})
})

// haveResources matches a ResourceList of the CPU and memory given ("" for none), as they print.
func haveResources(cpu, memory string) OmegaMatcher {
	want := map[corev1.ResourceName]string{}
	if cpu != "" {
		want[corev1.ResourceCPU] = cpu
	}
	if memory != "" {
		want[corev1.ResourceMemory] = memory
	}
	return WithTransform(func(l corev1.ResourceList) map[corev1.ResourceName]string {
		out := map[corev1.ResourceName]string{}
		for r, q := range l {
			out[r] = q.String()
		}
		return out
	}, Equal(want))
}
