//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// helmEnv names the helm binary make test-e2e builds (make helm), at the version the Makefile pins.
const helmEnv = "SIDECARSET_TEST_HELM"

// The chart is installed on a local cluster of its own: the suite's cluster already holds the CRD and RBAC,
// applied by the suite without Helm's ownership, and runs an operator whose cluster-wide webhook configurations
// a second one would fight over. A one-node cluster starts in seconds.
var _ = Describe("The Helm chart", func() {
	It("installs the operator with the documented commands, injects, upgrades its settings, and uninstalls keeping the SidecarSets", func() {
		helm := os.Getenv(helmEnv)
		Expect(helm).NotTo(BeEmpty(), "%s is not set: run the suite with make test-e2e, which builds helm", helmEnv)
		cmds := documentedHelmCommands()

		dir := filepath.Join(local.Dir, "helm-cluster")
		cluster, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Nodes: 1, Progress: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Stop)
		s := runtime.NewScheme()
		Expect(clientgoscheme.AddToScheme(s)).To(Succeed())
		Expect(appsv1alpha1.AddToScheme(s)).To(Succeed())
		Expect(apiextensionsv1.AddToScheme(s)).To(Succeed())
		c, err := client.New(cluster.Config, client.Options{Scheme: s})
		Expect(err).NotTo(HaveOccurred())
		run := helmShell(cluster, helm)

		By("installing the chart as docs/install.md says")
		for _, cmd := range cmds.install {
			run(cmd)
		}
		var ns corev1.Namespace
		Expect(c.Get(ctx, types.NamespacedName{Name: localcluster.OperatorNamespace}, &ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		d := helmDeployment(c)
		Expect(d.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"))
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(2))
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/platform/sidecarset-operator:v0.1.0"))
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--webhook-failure-policy=Fail"))

		By("running the operator with the args of the Deployment the chart installed, as its ServiceAccount")
		op := startChartOperator(cluster, d)
		sidecarSet := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "helm-logs"}}
		Expect(yaml.UnmarshalStrict([]byte(`
selector: {matchLabels: {app: helm-web}}
containers:
- name: logs
  image: example.com/logs:1
`), &sidecarSet.Spec)).To(Succeed())
		Expect(c.Create(ctx, sidecarSet)).To(Succeed())
		expectInjected(c, "web-1")
		expectEntryFailurePolicy(c, sidecarSet.Name, admissionregistrationv1.Fail)

		By("upgrading the release with changed values as docs/install.md says, and restarting the operator with the upgraded Deployment's args")
		run(cmds.upgrade)
		d = helmDeployment(c)
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--webhook-failure-policy=Ignore"))
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/platform/sidecarset-operator:v0.1.0"),
			"the upgrade with --reuse-values lost the image set at install")
		Expect(op.Stop()).To(Succeed())
		op = startChartOperator(cluster, d)
		expectEntryFailurePolicy(c, sidecarSet.Name, admissionregistrationv1.Ignore)
		Expect(c.Get(ctx, client.ObjectKeyFromObject(sidecarSet), sidecarSet)).To(Succeed(), "the SidecarSet did not survive the upgrade")
		expectInjected(c, "web-2")

		By("uninstalling: the CRD and the SidecarSets stay, and the webhook configurations are deleted by hand as documented")
		Expect(op.Stop()).To(Succeed())
		for _, cmd := range cmds.uninstall {
			run(cmd)
		}
		Eventually(func() bool {
			return apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Namespace: d.Namespace, Name: d.Name}, &appsv1.Deployment{}))
		}).Should(BeTrue(), "helm uninstall left the Deployment")
		var crd apiextensionsv1.CustomResourceDefinition
		Expect(c.Get(ctx, types.NamespacedName{Name: "sidecarsets.apps.sidecarset.io"}, &crd)).To(Succeed(),
			"helm uninstall deleted the CRD, and with it every SidecarSet")
		Expect(c.Get(ctx, client.ObjectKeyFromObject(sidecarSet), sidecarSet)).To(Succeed())
		Expect(apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Name: webhookConfigName},
			&admissionregistrationv1.MutatingWebhookConfiguration{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(c.Get(ctx, types.NamespacedName{Name: webhookConfigName},
			&admissionregistrationv1.ValidatingWebhookConfiguration{}))).To(BeTrue())
		// With no webhook left, a pod the SidecarSet selects is created, without its sidecar.
		p := pod("default", "web-3", map[string]string{"app": "helm-web"})
		Expect(c.Create(ctx, p)).To(Succeed())
		Expect(container(p, "logs")).To(BeNil())
	})
})

// helmCommands are the commands of docs/install.md's Helm section, in the order a user runs them.
type helmCommands struct {
	install   []docCommand // the namespace, its label, helm install
	upgrade   docCommand
	uninstall []docCommand // helm uninstall, then the webhook configurations
}

// isHelmSectionCommand says whether the command is one of docs/install.md's Helm section, which the Helm
// chart's spec runs.
func isHelmSectionCommand(c docCommand) bool {
	return strings.HasPrefix(c.source, "docs/install.md:") && slices.ContainsFunc(helmSectionCommands(),
		func(h docCommand) bool { return h.source == c.source })
}

// helmSectionCommands are the commands of the fenced sh blocks of docs/install.md's section "4. Helm".
func helmSectionCommands() []docCommand {
	file := filepath.Join(root, "docs", "install.md")
	data, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	start := bytes.Index(data, []byte("\n## 4. Helm\n"))
	Expect(start).To(BeNumerically(">", 0), "docs/install.md has no section 4. Helm")
	startLine := bytes.Count(data[:start+1], []byte("\n")) + 1
	endLine := startLine + bytes.Count(data[start+1:], []byte("\n"))
	if end := bytes.Index(data[start+1:], []byte("\n## ")); end >= 0 {
		endLine = startLine + bytes.Count(data[start+1:start+1+end], []byte("\n"))
	}
	var out []docCommand
	for _, c := range shellCommands(file) {
		line, err := strconv.Atoi(strings.TrimPrefix(c.source, "docs/install.md:"))
		Expect(err).NotTo(HaveOccurred())
		if line > startLine && line <= endLine {
			out = append(out, c)
		}
	}
	return out
}

// documentedHelmCommands sorts the Helm section's commands into install, upgrade and uninstall.
func documentedHelmCommands() helmCommands {
	var h helmCommands
	var upgrades []docCommand
	for _, c := range helmSectionCommands() {
		switch words := strings.Fields(c.code); {
		case words[0] == "helm" && words[1] == "upgrade":
			upgrades = append(upgrades, c)
		case words[0] == "helm" && words[1] == "uninstall", words[0] == "kubectl" && words[1] == "delete":
			h.uninstall = append(h.uninstall, c)
		default:
			h.install = append(h.install, c)
		}
	}
	Expect(h.install).NotTo(BeEmpty(), "docs/install.md's Helm section installs nothing")
	Expect(h.install[len(h.install)-1].code).To(HavePrefix("helm install "), "the Helm section's install ends in helm install")
	Expect(upgrades).To(HaveLen(1), "docs/install.md's Helm section: want one helm upgrade")
	Expect(h.uninstall).NotTo(BeEmpty(), "docs/install.md's Helm section uninstalls nothing")
	h.upgrade = upgrades[0]
	return h
}

// helmShell returns a function running a documented command on the cluster, with helm and kubectl on the PATH.
func helmShell(cluster *localcluster.Cluster, helm string) func(docCommand) {
	tools := filepath.Join(cluster.Dir, "helm-tools")
	Expect(os.MkdirAll(tools, 0o755)).To(Succeed())
	target, err := filepath.Abs(helm)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Symlink(target, filepath.Join(tools, "helm"))).To(Succeed())
	home := filepath.Join(cluster.Dir, "helm-home")
	return func(c docCommand) {
		cmd := exec.CommandContext(ctx, "sh", "-c", c.text)
		cmd.Dir = root
		cmd.Env = append(userEnv(),
			"KUBECONFIG="+cluster.Kubeconfig,
			"PATH="+strings.Join([]string{os.Getenv("KUBEBUILDER_ASSETS"), tools, os.Getenv("PATH")}, string(os.PathListSeparator)),
			"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
			"HELM_DATA_HOME="+filepath.Join(home, "data"), "KUBECACHEDIR="+filepath.Join(home, "kube"))
		out, err := cmd.CombinedOutput()
		logCommand(c.text, string(out))
		Expect(err).NotTo(HaveOccurred(), "%s:\n%s\n%s", c.source, c.text, out)
	}
}

// helmDeployment is the operator's Deployment as the chart installed it.
func helmDeployment(c client.Client) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	Expect(c.Get(ctx, types.NamespacedName{Namespace: localcluster.OperatorNamespace, Name: "sidecarset-operator"}, d)).To(Succeed())
	Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	return d
}

// startChartOperator runs the operator as the pods of the Deployment d would run it: as its ServiceAccount,
// with its args, but with ports free on this machine, the webhook reached at localhost and its certificate
// in a directory of the cluster's; --namespace stands for POD_NAMESPACE, which the Deployment sets from the
// pod's namespace.
func startChartOperator(cluster *localcluster.Cluster, d *appsv1.Deployment) *localcluster.Operator {
	spec := d.Spec.Template.Spec
	ctr := spec.Containers[0]
	Expect(ctr.Env).To(ContainElement(HaveField("ValueFrom.FieldRef.FieldPath", "metadata.namespace")),
		"the Deployment no longer sets POD_NAMESPACE from the pod's namespace")
	kubeconfig, err := cluster.ServiceAccountKubeconfig(ctx, d.Namespace, spec.ServiceAccountName)
	Expect(err).NotTo(HaveOccurred())
	var ports []int
	var listeners []net.Listener
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		Expect(l.Close()).To(Succeed())
	}
	overrides := map[string]string{
		"--webhook-port":              strconv.Itoa(ports[0]),
		"--metrics-bind-address":      "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--health-probe-bind-address": "127.0.0.1:" + strconv.Itoa(ports[2]),
		"--webhook-cert-dir":          filepath.Join(cluster.Dir, "operator-certs"),
	}
	var args []string
	for _, a := range ctr.Args {
		name, _, _ := strings.Cut(a, "=")
		if value, ok := overrides[name]; ok {
			a = name + "=" + value
			delete(overrides, name)
		}
		args = append(args, a)
	}
	Expect(overrides).To(BeEmpty(), "the Deployment's args %v lack flags the local run overrides", ctr.Args)
	args = append(args, "--webhook-url=https://localhost:"+strconv.Itoa(ports[0]), "--namespace="+d.Namespace)
	GinkgoWriter.Printf("Operator args: %s\n", strings.Join(args, " "))
	op := &localcluster.Operator{Binary: operator.Binary, Kubeconfig: kubeconfig, WebhookPort: ports[0],
		MetricsPort: ports[1], ProbePort: ports[2], Args: args,
		LogPath: filepath.Join(cluster.Dir, "logs", fmt.Sprintf("sidecarset-operator-%d.log", time.Now().UnixNano()))}
	Expect(op.Start(ctx)).To(Succeed())
	DeferCleanup(func() {
		if op.Running() {
			Expect(op.Stop()).To(Succeed())
		}
	})
	return op
}

// expectInjected creates a pod the spec's SidecarSet selects in the chart's cluster, once the webhook injects
// such pods (its entry takes effect a moment after the SidecarSet is stored), and expects its sidecar.
func expectInjected(c client.Client, name string) {
	labels := map[string]string{"app": "helm-web"}
	Eventually(func(g Gomega) {
		probe := pod("default", name, labels)
		g.Expect(c.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		g.Expect(container(probe, "logs")).NotTo(BeNil(), "not injected yet")
	}).Should(Succeed(), "the webhook of the operator installed by the chart never injected")
	p := pod("default", name, labels)
	Expect(c.Create(ctx, p)).To(Succeed())
	Expect(container(p, "logs")).NotTo(BeNil(), "pod %s was created without its sidecar", name)
	Expect(p.Annotations).To(HaveKeyWithValue(appsv1alpha1.StateAnnotation, ContainSubstring("helm-logs")))
}

// expectEntryFailurePolicy waits until the SidecarSet's entry in the operator's MutatingWebhookConfiguration
// has the failure policy.
func expectEntryFailurePolicy(c client.Client, set string, policy admissionregistrationv1.FailurePolicyType) {
	Eventually(func(g Gomega) {
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		g.Expect(c.Get(ctx, types.NamespacedName{Name: webhookConfigName}, &mwc)).To(Succeed())
		i := slices.IndexFunc(mwc.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == webhookEntryName(set) })
		g.Expect(i).To(BeNumerically(">=", 0), "no entry for SidecarSet %s", set)
		g.Expect(mwc.Webhooks[i].FailurePolicy).To(HaveValue(Equal(policy)))
	}).Should(Succeed())
}
