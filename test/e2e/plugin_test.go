//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/cli"
)

// The kubectl plugin, built from this checkout as the operator is, and run as a user runs it: kubectl, from
// the control plane's binaries, finds kubectl-sidecarset on the PATH and runs it for `kubectl sidecarset`,
// with the suite's kubeconfig.

// pluginDir is the directory of the plugin's binary, built once per run of the suite.
var pluginDir = sync.OnceValue(func() string {
	dir := filepath.Join(local.Dir, "plugin")
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-sidecarset"), "./cmd/kubectl-sidecarset")
	build.Dir = root
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed(), "building the kubectl plugin")
	return dir
})

// pluginRun is what one `kubectl sidecarset` printed, and its exit status.
type pluginRun struct {
	stdout, stderr string
	code           int
}

// kubectlSidecarset runs `kubectl sidecarset args...` with the suite's kubeconfig in $KUBECONFIG.
func kubectlSidecarset(args ...string) pluginRun {
	return runKubectlSidecarset([]string{"KUBECONFIG=" + local.Kubeconfig}, args...)
}

func runKubectlSidecarset(env []string, args ...string) pluginRun {
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	cmd := exec.CommandContext(ctx, kubectl, append([]string{"sidecarset"}, args...)...)
	cmd.Env = append(slices.DeleteFunc(userEnv(), func(kv string) bool { return strings.HasPrefix(kv, "KUBECONFIG=") }),
		append(env, "PATH="+pluginDir()+string(os.PathListSeparator)+docsPath(), "KUBECACHEDIR="+GinkgoT().TempDir())...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	p := pluginRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		p.code = exit.ExitCode()
	case err != nil:
		Fail("running kubectl sidecarset: " + err.Error())
	}
	GinkgoWriter.Printf("$ kubectl sidecarset %s   # exit %d\n%s%s", strings.Join(args, " "), p.code, p.stdout, p.stderr)
	return p
}

// pluginOK runs `kubectl sidecarset args...`, expects it to succeed, and returns what it printed.
func pluginOK(args ...string) string {
	p := kubectlSidecarset(args...)
	ExpectWithOffset(1, p.code).To(BeZero(), "kubectl sidecarset %s:\n%s%s", strings.Join(args, " "), p.stdout, p.stderr)
	return p.stdout
}

// pluginRows splits a table the plugin printed into its rows, each a map from column to cell.
func pluginRows(out string) []map[string]string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	var rs []map[string]string
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		r := map[string]string{}
		for i, h := range header {
			if i < len(fields) {
				r[h] = fields[i]
			}
		}
		rs = append(rs, r)
	}
	return rs
}

func pluginColumn(rs []map[string]string, name string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r[name])
	}
	return out
}

var _ = Describe("kubectl sidecarset, on a rollout", Ordered, func() {
	var s story
	BeforeAll(func() {
		s = newStory("plugin", `
containers: [{name: shipper, image: example.com/shipper:1, args: [--flush=1s], env: [{name: LEVEL, value: info}]}]
updateStrategy: {maxUnavailable: 3, maxUnavailablePerWorkload: 100%}`, 3)
	})

	It("is a plugin kubectl finds, with help and shell completion", func() {
		Expect(pluginOK("--help")).To(ContainSubstring("kubectl sidecarset [command]"))
		Expect(pluginOK("status", "--help")).To(And(ContainSubstring("2  stalled"), ContainSubstring("3  paused")))
		Expect(pluginOK("completion", "bash")).To(ContainSubstring("__start_kubectl-sidecarset"))
		Expect(pluginOK("completion", "zsh")).To(ContainSubstring("#compdef kubectl-sidecarset"))
		// Completion of a SidecarSet's name reads the cluster.
		Expect(pluginOK("__complete", "status", "")).To(ContainSubstring(s.name + "\n"))
		p := kubectlSidecarset("status", "no-such-sidecarset")
		Expect(p.code).To(Equal(1))
		Expect(p.stderr).To(ContainSubstring(`"no-such-sidecarset" not found`))
	})

	It("status shows a finished rollout: where it stands, its counts, conditions and revision", func() {
		set := getSidecarSet(s.name)
		// With --kubeconfig rather than $KUBECONFIG.
		p := runKubectlSidecarset(nil, "status", s.name, "--kubeconfig", local.Kubeconfig)
		Expect(p.code).To(BeZero(), p.stderr)
		Expect(p.stdout).To(ContainSubstring("Rollout:           Complete (RolloutComplete): 3 of 3 pods on revision " + set.Status.LatestRevision))
		Expect(p.stdout).To(ContainSubstring("Pods:              3 matched, 3 updated, 3 ready, 3 updated and ready, 0 failed"))
		Expect(p.stdout).To(MatchRegexp(`(?m)^  Ready\s+True\s+RolloutComplete\s`))
		Expect(p.stdout).To(MatchRegexp(`(?m)^  Drifted\s+False\s+UpToDate\s`))
		Expect(p.stdout).To(MatchRegexp(`(?m)^  ` + set.Status.LatestRevision + ` \(latest\)\s+3$`))

		var report cli.StatusReport
		Expect(json.Unmarshal([]byte(pluginOK("status", s.name, "-o", "json")), &report)).To(Succeed())
		Expect(report.Rollout.Phase).To(Equal(cli.PhaseComplete))
		Expect(report.Status.MatchedPods).To(Equal(int32(3)))

		Expect(pluginOK("status", s.name, "-w")).To(ContainSubstring("3/3 pods updated and ready"), "a finished rollout: -w exits 0 at once")
	})

	It("set image changes the sidecar's image and nothing else, and status -w draws the rollout to its end", func() {
		before := getSidecarSet(s.name)
		Expect(pluginOK("set", "image", s.name, "shipper=example.com/shipper:2")).To(Equal(
			"sidecarset.apps.sidecarset.io/" + s.name + " image updated (shipper)\n"))
		after := getSidecarSet(s.name)
		want := before.Spec.DeepCopy()
		want.Containers[0].Image = "example.com/shipper:2"
		Expect(equality.Semantic.DeepEqual(after.Spec, *want)).To(BeTrue(), "set image changed more than the image:\n%+v", after.Spec)

		out := pluginOK("status", s.name, "-w", "--timeout", "2m")
		Expect(out).To(MatchRegexp(`(?m)^\[#########################\] 3/3 pods updated and ready, 0 not ready, 0 drifted\s+\d+\.\ds$`))
		Expect(out).To(HaveSuffix("SidecarSet " + s.name + ": Complete (RolloutComplete): 3 of 3 pods on revision " + getSidecarSet(s.name).Status.LatestRevision + "\n"))
		expectUpdatedInPlace(waitPodsReady(s.ns, s.labels, 3), s.before, "shipper", "example.com/shipper:2")

		p := kubectlSidecarset("set", "image", s.name, "nosuch=example.com/x:1")
		Expect(p.code).To(Equal(1))
		Expect(p.stderr).To(ContainSubstring("has no sidecar nosuch: its sidecars are shipper"))
	})

	It("history lists the stored revisions with their images", func() {
		var rs []map[string]string
		Eventually(func(g Gomega) {
			rs = pluginRows(pluginOK("history", s.name))
			g.Expect(rs).To(HaveLen(2))
		}).Should(Succeed())
		Expect(pluginColumn(rs, "REVISION")).To(Equal([]string{"1", "2"}))
		Expect(pluginColumn(rs, "IMAGES")).To(Equal([]string{"shipper=example.com/shipper:1", "shipper=example.com/shipper:2"}))
		Expect(pluginColumn(rs, "PODS")).To(Equal([]string{"0", "3"}))
		Expect(pluginColumn(rs, "NOTES")).To(Equal([]string{"<none>", "latest"}))
		Expect(pluginColumn(rs, "NAME")[1]).To(Equal(getSidecarSet(s.name).Status.LatestRevision))

		Expect(pluginOK("history", s.name, "--revision", "1")).To(And(ContainSubstring("image: example.com/shipper:1"), ContainSubstring("--flush=1s")))
		var entries []cli.HistoryEntry
		Expect(json.Unmarshal([]byte(pluginOK("history", s.name, "-o", "json")), &entries)).To(Succeed())
		Expect(entries).To(HaveLen(2))
	})

	It("rollback writes the previous revision back, and the pods get its image in place", func() {
		before := getSidecarSet(s.name)
		Expect(pluginOK("rollback", s.name)).To(MatchRegexp(`^sidecarset.apps.sidecarset.io/` + s.name + ` rolled back to revision 1 \(` + s.name + `-\w+\)\n$`))
		after := getSidecarSet(s.name)
		want := before.Spec.DeepCopy()
		want.Containers[0].Image = "example.com/shipper:1"
		Expect(equality.Semantic.DeepEqual(after.Spec, *want)).To(BeTrue(), "rollback changed more than the revision's content:\n%+v", after.Spec)

		waitRolledOut(s.name, 3, time.Minute)
		for _, p := range waitPodsReady(s.ns, s.labels, 3) {
			Expect(container(&p, "shipper").Image).To(Equal("example.com/shipper:1"), "pod %s", p.Name)
		}
		// The revision rolled back to is the newest again.
		Eventually(func(g Gomega) {
			rs := pluginRows(pluginOK("history", s.name))
			g.Expect(pluginColumn(rs, "REVISION")).To(Equal([]string{"2", "3"}))
			g.Expect(rs[1]).To(HaveKeyWithValue("IMAGES", "shipper=example.com/shipper:1"))
			g.Expect(rs[1]).To(HaveKeyWithValue("NOTES", "latest"))
		}).Should(Succeed())
		Expect(pluginOK("rollback", s.name, "--to-revision", "3")).To(ContainSubstring("skipped rollback"))
		p := kubectlSidecarset("rollback", s.name, "--to-revision", "7")
		Expect(p.code).To(Equal(1))
		Expect(p.stderr).To(ContainSubstring("has no revision 7: stored are 2, 3"))
	})

	It("pause and resume set updateStrategy.paused; status -w exits 3 while a rollout is paused, 0 once it is done", func() {
		Expect(pluginOK("pause", s.name)).To(Equal("sidecarset.apps.sidecarset.io/" + s.name + " paused\n"))
		Expect(getSidecarSet(s.name).Spec.UpdateStrategy.Paused).To(BeTrue())
		Expect(pluginOK("pause", s.name)).To(Equal("sidecarset.apps.sidecarset.io/" + s.name + " already paused\n"))

		pluginOK("set", "image", s.name, "shipper=example.com/shipper:3")
		p := kubectlSidecarset("status", s.name, "-w", "--timeout", "1m")
		Expect(p.code).To(Equal(3), "status -w of a paused rollout:\n%s%s", p.stdout, p.stderr)
		Expect(p.stdout).To(ContainSubstring("SidecarSet " + s.name + ": Paused: 0 of 3 pods on revision"))
		Expect(p.stdout).To(ContainSubstring("3 held back by updateStrategy.paused"))
		drift := pluginRows(pluginOK("drift", s.name, "-o", "wide"))
		Expect(pluginColumn(drift, "CAUSE")).To(Equal([]string{"Outdated", "Outdated", "Outdated"}))
		Expect(pluginOK("drift", s.name, "-o", "wide")).To(ContainSubstring("held back: the rollout is paused (updateStrategy.paused)"))

		Expect(pluginOK("resume", s.name)).To(Equal("sidecarset.apps.sidecarset.io/" + s.name + " resumed\n"))
		Expect(getSidecarSet(s.name).Spec.UpdateStrategy.Paused).To(BeFalse())
		Expect(pluginOK("status", s.name, "-w", "--timeout", "2m")).To(ContainSubstring(": Complete (RolloutComplete): 3 of 3 pods"))
		for _, p := range waitPodsReady(s.ns, s.labels, 3) {
			Expect(container(&p, "shipper").Image).To(Equal("example.com/shipper:3"), "pod %s", p.Name)
		}
	})
})

var _ = Describe("kubectl sidecarset, on drifted pods", Ordered, func() {
	var ns, name, webPod string
	var labels map[string]string
	BeforeAll(func() {
		ns, name = newNamespace(), uniqueName("fleet")
		labels = map[string]string{"app": name}
		// Created before the SidecarSet: never injected. Creation times count whole seconds: a second later, the
		// SidecarSet's is after the pod's.
		Expect(k8sClient.Create(ctx, pod(ns, "early", labels))).To(Succeed())
		time.Sleep(1100 * time.Millisecond)
		createSidecarSet(name, "selector: {matchLabels: {app: "+name+"}}\n"+
			"containers: [{name: shipper, image: example.com/shipper:1}]\nupdateStrategy: {paused: true}", ns, labels)
		// Its own container has the sidecar's name: a conflict.
		clash := pod(ns, "clash", labels)
		clash.Spec.Containers[0].Name = "shipper"
		Expect(k8sClient.Create(ctx, clash)).To(Succeed())
		// Opted out.
		optOut := pod(ns, "opted-out", map[string]string{"app": name, appsv1alpha1.InjectLabel: "false"})
		Expect(k8sClient.Create(ctx, optOut)).To(Succeed())
		deployment(ns, "web", 6, labels)
		pods := waitPodsReady(ns, labels, 9)
		for _, p := range pods {
			if strings.HasPrefix(p.Name, "web-") {
				webPod = p.Name
			}
		}
		// A new image, with the rollout paused: the Deployment's pods are outdated.
		setContainerImage(name, "example.com/shipper:2")
		Eventually(func(g Gomega) {
			set := getSidecarSet(name)
			g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
			g.Expect(set.Status.OutdatedPods).To(Equal(int32(6)))
			g.Expect(set.Status.DriftedPods).To(Equal(int32(8)))
		}).Should(Succeed())
	})

	It("drift lists every drifted pod with its cause, revision and images, beyond the five the status names", func() {
		drifted := condition(getSidecarSet(name).Status, appsv1alpha1.ConditionDrifted)
		Expect(drifted.Message).To(ContainSubstring("and 3 more"), "the condition names five pods")

		p := kubectlSidecarset("drift", name)
		Expect(p.code).To(BeZero(), p.stderr)
		Expect(p.stderr).To(ContainSubstring("8 of 8 matched pods of SidecarSet " + name + " do not run revision"))
		Expect(p.stderr).To(ContainSubstring(": 1 Conflict, 1 MissingSidecar, 6 Outdated."))
		rs := pluginRows(p.stdout)
		Expect(rs).To(HaveLen(8))
		Expect(pluginColumn(rs, "NAME")[:2]).To(Equal([]string{"clash", "early"}), "sorted by namespace and name")
		Expect(rs[0]).To(HaveKeyWithValue("CAUSE", "Conflict"))
		Expect(rs[1]).To(HaveKeyWithValue("CAUSE", "MissingSidecar"))
		Expect(rs[1]).To(HaveKeyWithValue("REVISION", "<none>"))
		first := getSidecarSet(name)
		for _, r := range rs[2:] {
			Expect(r).To(HaveKeyWithValue("CAUSE", "Outdated"))
			Expect(r).To(HaveKeyWithValue("IMAGES", "shipper=example.com/shipper:1"))
			Expect(r).To(HaveKeyWithValue("NAMESPACE", ns))
			Expect(r["REVISION"]).NotTo(Equal(first.Status.LatestRevision))
		}

		Expect(pluginRows(pluginOK("drift", name, "--cause", "Outdated"))).To(HaveLen(6))
		Expect(pluginColumn(pluginRows(pluginOK("drift", name, "--cause", "missingsidecar,conflict", "--sort-by", "cause")), "NAME")).To(Equal([]string{"clash", "early"}))
		Expect(pluginOK("drift", name, "-n", "default")).To(BeEmpty(), "no pod of namespace default drifted")
		wide := pluginOK("drift", name, "-o", "wide")
		Expect(wide).To(ContainSubstring("created before the SidecarSet"))
		Expect(wide).To(ContainSubstring(`sidecar "shipper" was not injected: the pod already has a container named "shipper"`))
		Expect(wide).To(ContainSubstring("Deployment/web"))
		var report cli.DriftReport
		Expect(json.Unmarshal([]byte(pluginOK("drift", name, "-o", "json")), &report)).To(Succeed())
		Expect(report.Pods).To(HaveLen(8))
		Expect(report.Matched).To(Equal(8))
	})

	It("why explains an injected pod, an opted-out pod and a pod created before the SidecarSet", func() {
		out := pluginOK("why", webPod, "-n", ns)
		Expect(out).To(ContainSubstring("Pod " + ns + "/" + webPod + ", of Deployment/web"))
		Expect(out).To(ContainSubstring("SidecarSet " + name + ": injected\n"))
		Expect(out).To(ContainSubstring("Images:   shipper=example.com/shipper:1"))
		Expect(out).To(ContainSubstring("Drift:    Outdated: updatable in place: shipper image to example.com/shipper:2; held back: the rollout is paused"))

		out = pluginOK("why", "opted-out", "-n", ns)
		Expect(out).To(ContainSubstring("SidecarSet " + name + ": not injected, not selected\n"))
		Expect(out).To(ContainSubstring("Why:      the pod opted out with sidecarset.io/inject=false"))

		out = pluginOK("why", "early", "-n", ns)
		Expect(out).To(ContainSubstring("SidecarSet " + name + ": not injected\n"))
		Expect(out).To(MatchRegexp(`Why:      created before the SidecarSet \(pod \S+, SidecarSet \S+\): sidecars are injected at creation only`))
		Expect(out).To(ContainSubstring("Drift:    MissingSidecar"))

		var e cli.Explanation
		Expect(json.Unmarshal([]byte(pluginOK("why", "clash", "-n", ns, "-o", "json")), &e)).To(Succeed())
		Expect(e.Verdicts).To(ContainElement(And(HaveField("SidecarSet", name), HaveField("Drift", cli.CauseConflict))))
	})

	It("match -f lists the pods a manifest would select and what it would inject, and creates nothing", func() {
		preview := uniqueName("preview")
		file := filepath.Join(GinkgoT().TempDir(), "sidecarset.yaml")
		Expect(os.WriteFile(file, []byte(`apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata:
  name: `+preview+`
spec:
  selector: {matchLabels: {app: `+name+`}}
  containers: [{name: agent, image: example.com/agent:1}]
`), 0o644)).To(Succeed())
		out := pluginOK("match", "-f", file, "-n", ns)
		Expect(out).To(ContainSubstring("SidecarSet " + preview + " (revision " + preview + "-"))
		Expect(out).To(ContainSubstring("would select 8 existing pods."))
		rs := pluginRows(out[strings.Index(out, "NAMESPACE"):strings.Index(out, "\n\nLeft out")])
		Expect(rs).To(ConsistOf(
			map[string]string{"NAMESPACE": ns, "WORKLOAD": "Deployment/web", "PODS": "6"},
			map[string]string{"NAMESPACE": ns, "WORKLOAD": "Pod/clash", "PODS": "1"},
			map[string]string{"NAMESPACE": ns, "WORKLOAD": "Pod/early", "PODS": "1"}))
		Expect(out).To(MatchRegexp(`Left out: 1 pod its selector matches.\nNAMESPACE\s+WORKLOAD\s+PODS\s+WHY\n` + ns +
			`\s+Pod/opted-out\s+1\s+the pod opted out with sidecarset.io/inject=false`))
		Expect(out).To(ContainSubstring("Injected into a pod like " + ns + "/clash, were it created now (dry run, nothing written):"))
		Expect(out).To(ContainSubstring("Sidecars:        agent (container, example.com/agent:1)"))
		Expect(out).To(ContainSubstring("Containers:      agent, shipper"))

		err := k8sClient.Get(ctx, types.NamespacedName{Name: preview}, &appsv1alpha1.SidecarSet{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "match created the SidecarSet: %v", err)
		for _, p := range listPods(ns, labels) {
			Expect(container(&p, "agent")).To(BeNil(), "match injected pod %s", p.Name)
		}
	})
})
