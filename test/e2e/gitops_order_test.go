//go:build e2e

package e2e

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// A GitOps tool orders a wave of SidecarSets before the workloads they inject by waiting for the SidecarSets to
// be ready (Argo CD's sync waves with config/argocd/health.lua, Flux's dependsOn with wait, or kubectl wait).
// That is right only if Ready means the API server calls the webhook for their pods: a workload applied the
// moment they are Ready must get its sidecars, every time.
var _ = Describe("Ordering SidecarSets before workloads by their Ready condition", func() {
	It("injects every pod of workloads applied as soon as kubectl wait says their SidecarSets are Ready", func() {
		ns, wave := newNamespace(), uniqueName("wave")
		const sets, replicas = 6, 3
		var manifests []byte
		for i := range sets {
			name := fmt.Sprintf("%s-%d", wave, i)
			set := &appsv1alpha1.SidecarSet{}
			set.APIVersion, set.Kind = appsv1alpha1.GroupVersion.String(), "SidecarSet"
			set.Name, set.Labels = name, map[string]string{"wave": wave}
			Expect(yaml.Unmarshal([]byte(`{selector: {matchLabels: {app: `+name+`}}, containers: [{name: shipper, image: example.com/shipper:1}]}`), &set.Spec)).To(Succeed())
			data, err := yaml.Marshal(set)
			Expect(err).NotTo(HaveOccurred())
			manifests = append(append(manifests, "---\n"...), data...)
			DeferCleanup(func() {
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
			})
		}
		// The wave, applied at once, then waited for as a sync wave or dependsOn does.
		out, errOut, err := shell("kubectl apply --server-side -f -", string(manifests))
		Expect(err).NotTo(HaveOccurred(), "%s%s", out, errOut)
		out, errOut, err = shell("kubectl wait --for=condition=Ready scs -l wave="+wave+" --timeout=60s", "")
		Expect(err).NotTo(HaveOccurred(), "%s%s", out, errOut)

		// The next wave at once: a Deployment for each SidecarSet.
		for i := range sets {
			deployment(ns, fmt.Sprintf("web-%d", i), replicas, map[string]string{"app": fmt.Sprintf("%s-%d", wave, i)})
		}
		for i := range sets {
			for _, p := range waitPodsReady(ns, map[string]string{"app": fmt.Sprintf("%s-%d", wave, i)}, replicas) {
				Expect(container(&p, "shipper")).NotTo(BeNil(), "pod %s was created without the sidecar of a Ready SidecarSet", p.Name)
			}
		}
	})
})
