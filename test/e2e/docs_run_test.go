//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podstate"
	"github.com/sidecarset/sidecarset-operator/localcluster"
)

// Every command of the documentation's fenced sh blocks is accounted for here: run on the local cluster with
// its documented effect asserted, run by another spec, or not run, for a stated reason. A command added to the
// documentation fails the spec until it is classified, so no command goes untested unnoticed.

// commandRule classifies the documented commands it matches: exactly one of run, runBy and notRun is set.
type commandRule struct {
	// pattern matches the whole of a command, its trailing comment left out (docCommand.code), or match
	// does, for a class of commands found otherwise.
	pattern string
	match   func(docCommand) bool

	// run runs the command on the local cluster and asserts what the documentation says it does.
	run func(*docsRun, docCommand)
	// rewrite says how run changes the command to reach the operator under test, which runs as a process of
	// the suite's rather than as the Deployment of dist/install.yaml.
	rewrite string
	// runBy names the spec that runs the command instead.
	runBy string
	// notRun says why the command cannot run here.
	notRun string
}

func (r commandRule) String() string {
	if r.pattern != "" {
		return "`" + r.pattern + "`"
	}
	return "run by " + r.runBy
}

func (r commandRule) matches(c docCommand) bool {
	if r.match != nil {
		return r.match(c)
	}
	return regexp.MustCompile(`^(?s:` + r.pattern + `)$`).MatchString(c.code)
}

// documentedCommands classifies every documented command. The runners run in the order of this table, on one
// state of the cluster (docsRun): the commands of install.md's "After installing" first, as a user would, create
// the log-shipper SidecarSet and, in a namespace, the ConfigMaps its sidecar mounts; the commands reading its
// status come next, once pods run it; the jq pipeline then breaks injection on purpose.
var documentedCommands = []commandRule{
	{pattern: `kubectl apply --server-side -f config/samples/apps_v1alpha1_sidecarset_\w+\.yaml`, run: (*docsRun).appliesSample},
	{pattern: `kubectl apply -n <namespace> -k config/samples/sidecar-config`, run: (*docsRun).appliesSidecarConfig},
	{pattern: `kubectl get scs`, run: (*docsRun).listsSidecarSets},
	{pattern: `kubectl get scs log-shipper -w`, run: (*docsRun).watchesSidecarSet},
	{pattern: `kubectl get scs log-shipper -o yaml`, run: (*docsRun).showsStatus},
	{pattern: `kubectl describe scs log-shipper`, run: (*docsRun).describesSidecarSet},
	{pattern: `kubectl get pods -A -o json \| jq -r .*`, run: (*docsRun).listsSkippedPods},
	{pattern: `kubectl -n sidecarset-system logs deploy/sidecarset-operator \| grep '"logger":"readiness"'`,
		run: (*docsRun).logsReadiness, rewrite: "kubectl logs of the Deployment becomes cat of the operator's log file"},
	{pattern: `kubectl -n sidecarset-system port-forward deploy/sidecarset-operator 8081 &`,
		run: (*docsRun).forwardsProbePort, rewrite: "nothing to forward: the operator's probe port is on the loopback interface already"},
	{pattern: `curl -s 'localhost:8081/readyz\?verbose'`, run: (*docsRun).listsReadinessChecks,
		rewrite: "localhost:8081, the port forwarded, becomes the operator's probe address"},
	{pattern: `curl -s localhost:8081/readyz/webhook-configurations`, run: (*docsRun).answersWebhookConfigurations,
		rewrite: "localhost:8081, the port forwarded, becomes the operator's probe address"},
	{pattern: `make help`, run: (*docsRun).listsTargets},
	{pattern: `make build`, run: (*docsRun).buildsOperator},

	{match: isHelmSectionCommand, runBy: `"The Helm chart" (helm_test.go), in order, on a local cluster of its own, ` +
		`with the operator run from the Deployment the chart installed`},
	{match: changesSidecarSet, runBy: `"The documented ways to change a SidecarSet" (docs_commands_test.go), twice on the samples`},

	{pattern: `make demo`, notRun: "starts a second local cluster and stays up until Ctrl-C; .ci/run runs it to its end (DEMO_ARGS=--exit) after the suites"},
	{pattern: `make test test-e2e`, notRun: "is CI itself (.ci/run): it runs this suite"},
	{pattern: `make manifests`, notRun: "rewrites the CRD and RBAC committed under config/; make verify runs it and fails when they change"},
	{pattern: `make generate`, notRun: "rewrites the committed DeepCopy code and docs/api.md; make verify runs it and fails when they change"},
	{pattern: `make bundle`, notRun: "rewrites the committed bundle/, bundle.Dockerfile and dist/install.yaml; make verify runs it and fails when they change"},
	{pattern: `make image( IMG=\S+)?`, notRun: "builds the release image into dist/ for a registry to serve; the local cluster's simulated nodes run no image"},
	{pattern: `make bench`, notRun: "takes many minutes on local clusters of its own (1,000 and 10,000 pods) and measures on an otherwise idle machine; its results are docs/benchmarks.md"},
	{pattern: `make run`, notRun: "runs the operator in the foreground until Ctrl-C; the suite runs the same binary as a process of its own (localcluster.StartOperator)"},
	{pattern: `make build-installer IMG=\S+`, notRun: "rewrites the committed dist/install.yaml with an example registry's image; make verify checks that file is current"},
	{pattern: `kubectl apply --server-side -f dist/install.yaml`,
		notRun: "would run the operator in pods, which the local cluster's simulated nodes only pretend to run; the suite installs the same CRD and RBAC from config/ and runs the operator as a process, and test/install applies dist/install.yaml to an API server"},
	{pattern: `kubectl -n sidecarset-system rollout status deployment/sidecarset-operator`, notRun: "waits for the Deployment of dist/install.yaml, not installed here (above)"},
	{pattern: `docker build -f bundle.Dockerfile .*`, notRun: "needs Docker and a registry to push the bundle image to"},
	{pattern: `operator-sdk run bundle .*`, notRun: "needs operator-sdk, OLM on the cluster and the bundle image in a registry; test/olm validates the bundle instead"},
}

// changesSidecarSet says whether the command is one of the documented changes to a SidecarSet.
func changesSidecarSet(c docCommand) bool {
	return slices.ContainsFunc(sidecarSetChanges(), func(ch sidecarSetChange) bool { return ch.source == c.source })
}

// documentedCommandsByRule classifies every command of the documentation, failing on one classified by no
// rule or by several, and on a rule that classifies none; it returns the commands of each rule.
func documentedCommandsByRule() [][]docCommand {
	byRule := make([][]docCommand, len(documentedCommands))
	var problems []string
	for _, f := range docFiles() {
		for _, c := range shellCommands(f) {
			var rules []string
			for i, rule := range documentedCommands {
				if rule.matches(c) {
					byRule[i] = append(byRule[i], c)
					rules = append(rules, rule.String())
				}
			}
			switch {
			case len(rules) == 0:
				problems = append(problems, fmt.Sprintf("%s: no rule of documentedCommands (docs_run_test.go) classifies\n%s\n"+
					"  add one: a runner that runs it on the local cluster and asserts what the documentation says it does, "+
					"or a notRun entry saying why it cannot run here", c.source, c.text))
			case len(rules) > 1:
				problems = append(problems, fmt.Sprintf("%s: several rules classify\n%s\n  %s: make their patterns exclusive",
					c.source, c.text, strings.Join(rules, ", ")))
			}
		}
	}
	for i, rule := range documentedCommands {
		if len(byRule[i]) == 0 {
			problems = append(problems, fmt.Sprintf("rule %s of documentedCommands classifies no documented command any more: "+
				"remove it, or, if its command was changed, match the new one and check its runner still asserts what "+
				"the documentation says", rule))
		}
	}
	if len(problems) > 0 {
		Fail(strings.Join(problems, "\n"))
	}
	return byRule
}

var _ = Describe("The documented commands", func() {
	It("are each classified by one rule: run here, run by another spec, or not run for a stated reason", func() {
		for _, rule := range documentedCommands {
			set := 0
			for _, given := range []bool{rule.run != nil, rule.runBy != "", rule.notRun != ""} {
				if given {
					set++
				}
			}
			Expect(set).To(Equal(1), "rule %s: give exactly one of run, runBy and notRun", rule)
			Expect(rule.rewrite == "" || rule.run != nil).To(BeTrue(), "rule %s: only a runner rewrites its command", rule)
			Expect(rule.pattern == "").To(Equal(rule.match != nil), "rule %s: give either a pattern or a match", rule)
		}
		byRule := documentedCommandsByRule()
		for i, rule := range documentedCommands {
			for _, c := range byRule[i] {
				GinkgoWriter.Printf("%s: %s\n  %s\n", c.source, c.code, ruleSummary(rule))
			}
		}
	})

	It("do on the local cluster what the documentation says, rewritten only to reach the operator under test", func() {
		byRule := documentedCommandsByRule()
		r := &docsRun{}
		for i, rule := range documentedCommands {
			if rule.run == nil {
				continue
			}
			for _, c := range byRule[i] {
				By(fmt.Sprintf("%s: %s", c.source, c.code))
				rule.run(r, c)
			}
		}
	})
})

func ruleSummary(rule commandRule) string {
	switch {
	case rule.run != nil && rule.rewrite != "":
		return "run here, rewritten: " + rule.rewrite
	case rule.run != nil:
		return "run here"
	case rule.runBy != "":
		return "run by " + rule.runBy
	default:
		return "not run: " + rule.notRun
	}
}

// docsRun is what the runners share, in the order of documentedCommands.
type docsRun struct {
	// namespace is where the documented apply of config/samples/sidecar-config put the ConfigMaps; the pods of
	// the log-shipper SidecarSet run there.
	namespace string
	fleetUp   bool
}

// The fleet: pods of a Deployment that the log-shipper sample selects, after an in-place rollout of a new image.
const (
	fleetSize  = 3
	fleetImage = "cr.fluentbit.io/fluent/fluent-bit:3.2.5"
)

var fleetLabels = map[string]string{"log-shipping": "enabled"}

// placeholder is a word of a documented command the user replaces, such as <namespace>.
var placeholder = regexp.MustCompile(`<[a-z-]+>`)

// runOK runs a documented command (or its rewrite) and expects it to succeed; it returns what it printed.
func runOK(c docCommand, command string) string {
	Expect(placeholder.FindAllString(command, -1)).To(BeEmpty(), "%s: a placeholder is left in\n%s", c.source, command)
	stdout, stderr, err := shell(command, "")
	Expect(err).NotTo(HaveOccurred(), "%s:\n%s\n%s%s", c.source, command, stdout, stderr)
	logCommand(command, stdout+stderr)
	return stdout
}

// logCommand shows a command and what it printed in the spec's output.
func logCommand(command, output string) {
	if output != "" && !strings.HasSuffix(output, "\n") {
		output += "\n"
	}
	GinkgoWriter.Printf("$ %s\n%s", command, output)
}

// appliesSample runs the documented server-side apply of a sample, which creates its SidecarSet as the sample
// says. The sample is the SidecarSet the later runners read.
func (r *docsRun) appliesSample(c docCommand) {
	words := strings.Fields(c.code)
	file := words[len(words)-1]
	data, err := os.ReadFile(filepath.Join(root, file))
	Expect(err).NotTo(HaveOccurred())
	sample := &unstructuredSet{}
	Expect(yaml.Unmarshal(data, sample)).To(Succeed(), file)
	deleteSidecarSet(sample.Metadata.Name)
	DeferCleanup(deleteSidecarSet, sample.Metadata.Name)
	waitSidecarSetValidation()

	Expect(runOK(c, c.text)).To(Equal("sidecarset.apps.sidecarset.io/" + sample.Metadata.Name + " serverside-applied\n"))
	stored := leaves("spec", storedSpec(sample.Metadata.Name), map[string]string{})
	for path, value := range leaves("spec", sample.Spec, map[string]string{}) {
		Expect(stored).To(HaveKeyWithValue(path, value), "%s: the stored SidecarSet differs from %s", c.source, file)
	}
}

// unstructuredSet is a SidecarSet read as the file has it, before the API server's defaults.
type unstructuredSet struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec map[string]any `json:"spec"`
}

// appliesSidecarConfig runs the documented apply of config/samples/sidecar-config in a new namespace, which
// creates there every ConfigMap the samples mount.
func (r *docsRun) appliesSidecarConfig(c docCommand) {
	r.namespace = newNamespace()
	runOK(c, strings.ReplaceAll(c.text, "<namespace>", r.namespace))

	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "apps_v1alpha1_sidecarset_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	mounted := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		var set appsv1alpha1.SidecarSet
		Expect(yaml.Unmarshal(data, &set)).To(Succeed(), f)
		for _, v := range set.Spec.Volumes {
			if v.ConfigMap == nil {
				continue
			}
			mounted++
			Eventually(func() error {
				return k8sClient.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: v.ConfigMap.Name}, &corev1.ConfigMap{})
			}).WithTimeout(10*time.Second).Should(Succeed(), "%s mounts ConfigMap %s", f, v.ConfigMap.Name)
		}
	}
	Expect(mounted).To(Equal(4))
}

// fleet runs, once, a Deployment of pods the log-shipper sample selects, in the namespace of the samples'
// ConfigMaps, and rolls a new image out to them in place, so that the status shows counts, a revision and
// rollout events.
func (r *docsRun) fleet() {
	if r.fleetUp {
		return
	}
	Expect(r.namespace).NotTo(BeEmpty(), "the pods run where the samples' ConfigMaps are: keep the apply of "+
		"config/samples/sidecar-config before the commands that read a SidecarSet in documentedCommands")
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: "log-shipper"}, &appsv1alpha1.SidecarSet{})).To(Succeed(),
		"keep the apply of the log-shipper sample first in documentedCommands")
	waitOwnsLatestRevision("log-shipper")
	waitInjectsLatest("log-shipper", r.namespace, fleetLabels)
	deployment(r.namespace, "web", fleetSize, fleetLabels)
	for _, p := range waitPodsReady(r.namespace, fleetLabels, fleetSize) {
		Expect(container(&p, "fluent-bit")).NotTo(BeNil(), "pod %s was not injected", p.Name)
	}
	setContainerImage("log-shipper", fleetImage)
	waitRolledOut("log-shipper", fleetSize, time.Minute)
	r.fleetUp = true
}

// waitOwnsLatestRevision waits until the SidecarSet's latest revision is stored as its own. The docs specs
// delete and create the samples again under the same names, and the garbage collector may not have removed
// the deleted SidecarSet's revisions yet: the operator replaces such a revision with the new SidecarSet's.
func waitOwnsLatestRevision(name string) {
	Eventually(func(g Gomega) {
		set := &appsv1alpha1.SidecarSet{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, set)).To(Succeed())
		g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
		stored := &appsv1.ControllerRevision{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: localcluster.OperatorNamespace, Name: set.Status.LatestRevision}, stored)).To(Succeed())
		g.Expect(metav1.IsControlledBy(stored, set)).To(BeTrue(), "revision %s is of a deleted SidecarSet %s", stored.Name, name)
	}).Should(Succeed())
}

// waitInjectsLatest waits until the webhook injects a pod of the namespace and labels with the SidecarSet's
// latest revision: the API server calls the webhook for a new SidecarSet's pods only once the operator has
// written its entry, and pods created before then would start without the sidecar.
func waitInjectsLatest(name, namespace string, labels map[string]string) {
	Eventually(func(g Gomega) {
		set := &appsv1alpha1.SidecarSet{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, set)).To(Succeed())
		g.Expect(set.Status.ObservedGeneration).To(Equal(set.Generation))
		probe := pod(namespace, "probe", labels)
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		state, err := podstate.Read(probe)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(state).To(HaveKeyWithValue(name, HaveField("Revision", set.Status.LatestRevision)))
	}).Should(Succeed(), "the webhook does not inject the latest revision of SidecarSet %s", name)
}

// sidecarSetColumns are the columns of kubectl get scs, as the README lists them.
var sidecarSetColumns = []string{"NAME", "MATCHED", "UPDATED", "READY", "DRIFTED", "AGE"}

// listsSidecarSets runs kubectl get scs, which shows the README's columns (and those its comment names, in
// that order) and log-shipper's counts.
func (r *docsRun) listsSidecarSets(c docCommand) {
	r.fleet()
	header, rows := table(runOK(c, c.text))
	Expect(header).To(Equal(sidecarSetColumns), c.source)
	expectColumnsInOrder(c, header)
	Expect(rows).To(HaveKeyWithValue("log-shipper", HaveExactElements(
		"log-shipper", strconv.Itoa(fleetSize), strconv.Itoa(fleetSize), strconv.Itoa(fleetSize), "0", Not(BeEmpty()))), c.source)
}

// expectColumnsInOrder checks the columns a command's comment names are among the header's, in that order.
func expectColumnsInOrder(c docCommand, header []string) {
	at := -1
	for _, column := range strings.Fields(c.comment) {
		i := slices.Index(header, column)
		Expect(i).To(BeNumerically(">", at), "%s: the comment names column %s, which kubectl prints %v", c.source, column, header)
		at = i
	}
}

// table splits kubectl's table output into its header and its rows by name.
func table(out string) (header []string, rows map[string][]string) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	Expect(lines).NotTo(BeEmpty())
	rows = map[string][]string{}
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		rows[fields[0]] = fields
	}
	return strings.Fields(lines[0]), rows
}

// watchesSidecarSet runs kubectl get -w, which prints the header and the SidecarSet's row, and keeps watching
// until interrupted.
func (r *docsRun) watchesSidecarSet(c docCommand) {
	r.fleet()
	watch, stop := context.WithCancel(ctx)
	defer stop()
	stdout, stderr := gbytes.NewBuffer(), gbytes.NewBuffer()
	cmd := shellCommand(watch, "exec "+c.text)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	Eventually(stdout).Should(gbytes.Say(`(?m)^log-shipper\s`), "%s: no row of log-shipper; stderr:\n%s", c.source, stderr.Contents())
	Consistently(exited, time.Second).ShouldNot(Receive(), "%s: kubectl stopped watching by itself:\n%s", c.source, stderr.Contents())
	stop()
	<-exited
	logCommand(c.text, string(stdout.Contents())+string(stderr.Contents()))
	header, rows := table(string(stdout.Contents()))
	Expect(header).To(Equal(sidecarSetColumns), c.source)
	Expect(rows).To(HaveKeyWithValue("log-shipper", HaveLen(len(sidecarSetColumns))), c.source)
}

// showsStatus runs kubectl get -o yaml, which shows the counts (zeros included), the pods per revision and the
// conditions.
func (r *docsRun) showsStatus(c docCommand) {
	r.fleet()
	var obj struct {
		Status map[string]any `json:"status"`
	}
	out := runOK(c, c.text)
	Expect(yaml.Unmarshal([]byte(out), &obj)).To(Succeed(), out)
	for _, count := range []string{"matchedPods", "updatedPods", "readyPods", "updatedReadyPods", "driftedPods",
		"outdatedPods", "notUpgradablePods", "missingPods", "failedPods"} {
		Expect(obj.Status).To(HaveKey(count), "%s: the status does not show %s", c.source, count)
	}
	Expect(obj.Status).To(HaveKeyWithValue("matchedPods", BeNumerically("==", fleetSize)))
	var status appsv1alpha1.SidecarSetStatus
	data, err := json.Marshal(obj.Status)
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(data, &status)).To(Succeed())
	Expect(status.Revisions).To(ConsistOf(appsv1alpha1.RevisionPodCount{Name: status.LatestRevision, Pods: fleetSize}), c.source)
	var conditions []string
	for _, cond := range status.Conditions {
		conditions = append(conditions, cond.Type)
	}
	// Reconciling and Stalled are there only while True, as kstatus reads them; the rollout is done.
	Expect(conditions).To(ConsistOf(appsv1alpha1.ConditionReady, appsv1alpha1.ConditionDrifted), c.source)
}

// describesSidecarSet runs kubectl describe, which shows the conditions and the rollout's events.
func (r *docsRun) describesSidecarSet(c docCommand) {
	r.fleet()
	// The operator records events asynchronously, a moment after the status it writes.
	Eventually(func(g Gomega) {
		out := runOK(c, c.text)
		g.Expect(out).To(MatchRegexp(`(?m)^\s+Conditions:$`), c.source)
		for _, t := range []string{appsv1alpha1.ConditionReady, appsv1alpha1.ConditionDrifted} {
			g.Expect(out).To(MatchRegexp(`(?m)^\s+Type:\s+`+t+`$`), "%s: condition %s", c.source, t)
		}
		g.Expect(out).To(MatchRegexp(`(?m)^Events:$`), c.source)
		for _, reason := range []string{"RolloutStarted", "RolloutFinished"} {
			g.Expect(out).To(MatchRegexp(`(?m)^\s+Normal\s+`+reason+`\s`), "%s: event %s", c.source, reason)
		}
	}).Should(Succeed())
}

// listsSkippedPods makes a pod whose injection is skipped the way troubleshooting says it most often happens,
// a sidecar mounting a volume neither the SidecarSet nor the pod defines (here the log-shipper sample without
// its app-logs volume), with the warning troubleshooting shows; the jq pipeline then prints the pod, the
// SidecarSet and the reason, tab-separated, and no injected pod.
func (r *docsRun) listsSkippedPods(c docCommand) {
	r.fleet()
	jq := os.Getenv(jqEnv)
	Expect(jq).NotTo(BeEmpty(), "%s is not set: run the suite with make test-e2e, which builds the jq of the documentation's commands", jqEnv)
	Expect(strings.TrimSpace(runOK(c, "command -v jq"))).To(Equal(filepath.Join(local.Dir, "docs-tools", "jq")),
		"the documentation's commands do not run the jq make test-e2e builds")

	updateSidecarSet("log-shipper", func(s *appsv1alpha1.SidecarSet) {
		s.Spec.Volumes = slices.DeleteFunc(s.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "app-logs" })
	})
	skipped := pod(r.namespace, "skipped", fleetLabels)
	Eventually(func(g Gomega) {
		probe := skipped.DeepCopy()
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		state, err := podstate.Read(probe)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(state["log-shipper"].Skipped).NotTo(BeEmpty(), "the webhook does not inject the changed SidecarSet yet")
	}).Should(Succeed())
	skipped.APIVersion, skipped.Kind = "v1", "Pod"
	manifest, err := yaml.Marshal(skipped)
	Expect(err).NotTo(HaveOccurred())
	stdout, stderr, err := shell("kubectl create -f -", string(manifest))
	Expect(err).NotTo(HaveOccurred(), stdout+stderr)
	var warning string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "Warning: SidecarSet log-shipper: ") {
			warning = line
		}
	}
	Expect(warning).NotTo(BeEmpty(), "kubectl printed no warning of the skipped injection:\n%s", stderr)
	kubectlOutputIn(warning, "docs/troubleshooting.md")

	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(skipped), skipped)).To(Succeed())
	reason := injectionState(skipped, "log-shipper").Skipped
	lines := strings.Split(strings.TrimSpace(runOK(c, c.text)), "\n")
	Expect(lines).To(ContainElement(r.namespace+"/skipped\tlog-shipper\t"+reason), c.source)
	for _, line := range lines {
		Expect(strings.Split(line, "\t")).To(HaveLen(3), "%s: not namespace/name, SidecarSet and reason: %q", c.source, line)
		Expect(line).NotTo(HavePrefix(r.namespace+"/web-"), "%s: an injected pod is listed", c.source)
	}
}

// operatorDeployment is the operator's Deployment as dist/install.yaml installs it: the documented commands
// that reach the operator name it, and are rewritten to the operator under test only while they name it.
func operatorDeployment() *appsv1.Deployment {
	objs, err := localcluster.ReadObjects(filepath.Join(root, "dist", "install.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var found []*appsv1.Deployment
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d)).To(Succeed())
		found = append(found, d)
	}
	Expect(found).To(HaveLen(1), "dist/install.yaml installs one Deployment, the operator's")
	Expect(found[0].Namespace).To(Equal(localcluster.OperatorNamespace))
	return found[0]
}

// operatorProbePort is the port of the readiness probe of the operator's Deployment, where the operator
// serves /readyz.
func operatorProbePort() int {
	d := operatorDeployment()
	Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	ctr := d.Spec.Template.Spec.Containers[0]
	probe := ctr.ReadinessProbe
	Expect(probe).NotTo(BeNil())
	Expect(probe.HTTPGet).NotTo(BeNil())
	Expect(probe.HTTPGet.Path).To(Equal("/readyz"))
	for _, p := range ctr.Ports {
		if p.Name == probe.HTTPGet.Port.String() {
			Expect(ctr.Args).To(ContainElement(fmt.Sprintf("--health-probe-bind-address=:%d", p.ContainerPort)))
			return int(p.ContainerPort)
		}
	}
	Fail("the readiness probe of the operator's Deployment names no port of its container")
	return 0
}

// readyOperator is the operator under test, started again if a spec stopped it, and ready.
func readyOperator() *localcluster.Operator {
	ensureOperatorRunning()
	Expect(operator.WaitReady(ctx, time.Minute)).To(Succeed())
	return operator
}

// logsReadiness greps the operator's log for its readiness lines: kubectl logs of the Deployment is, for the
// operator under test, the file its output goes to. The operator logged what it waited for, then that it was
// ready.
func (r *docsRun) logsReadiness(c docCommand) {
	d := operatorDeployment()
	logs := fmt.Sprintf("kubectl -n %s logs deploy/%s", d.Namespace, d.Name)
	Expect(c.text).To(HavePrefix(logs), "%s does not read the logs of the operator's Deployment", c.source)
	out := runOK(c, strings.Replace(c.text, logs, "cat '"+readyOperator().LogPath+"'", 1))

	var messages []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var entry struct {
			Logger     string `json:"logger"`
			Msg        string `json:"msg"`
			WaitingFor string `json:"waitingFor"`
		}
		Expect(json.Unmarshal([]byte(line), &entry)).To(Succeed(), "%s: not a JSON log line: %s", c.source, line)
		Expect(entry.Logger).To(Equal("readiness"), line)
		if entry.Msg == "Not ready for admission requests" {
			Expect(entry.WaitingFor).NotTo(BeEmpty(), "%s: a Not ready line does not say what it waits for: %s", c.source, line)
		}
		messages = append(messages, entry.Msg)
	}
	Expect(messages).To(HaveEach(Or(Equal("Not ready for admission requests"), HavePrefix("Ready for admission requests"))))
	Expect(messages[len(messages)-1]).To(HavePrefix("Ready for admission requests"), "%s: the operator is ready, its last readiness line says otherwise", c.source)
}

// forwardsProbePort checks the forwarded port is where the Deployment's readiness probe asks. Nothing is run:
// the probe address of the operator under test is on the loopback interface already, and the curl commands
// after it are pointed there.
func (r *docsRun) forwardsProbePort(c docCommand) {
	d := operatorDeployment()
	Expect(c.code).To(Equal(fmt.Sprintf("kubectl -n %s port-forward deploy/%s %d &", d.Namespace, d.Name, operatorProbePort())),
		"%s does not forward the probe port of the operator's Deployment", c.source)
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(readyOperator().ProbePort) + "/readyz")
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
}

// atProbeAddress rewrites the forwarded localhost:<probe port> of a curl command to the operator's probe
// address.
func atProbeAddress(c docCommand) string {
	forwarded := fmt.Sprintf("localhost:%d", operatorProbePort())
	Expect(c.text).To(ContainSubstring(forwarded), "%s does not call the forwarded probe port", c.source)
	return strings.ReplaceAll(c.text, forwarded, "127.0.0.1:"+strconv.Itoa(readyOperator().ProbePort))
}

// listsReadinessChecks asks /readyz?verbose, which lists each check install.md's table documents, [+] and ok
// once ready, and no other.
func (r *docsRun) listsReadinessChecks(c docCommand) {
	out := runOK(c, atProbeAddress(c))
	listed := regexp.MustCompile(`(?m)^\[([+-])\](\S+) (.*)$`).FindAllStringSubmatch(out, -1)
	var checks []string
	for _, m := range listed {
		Expect(m[1]+" "+m[3]).To(Equal("+ ok"), "%s: check %s:\n%s", c.source, m[2], out)
		checks = append(checks, m[2])
	}
	Expect(checks).To(ConsistOf(documentedReadinessChecks()), "%s: the checks differ from install.md's table:\n%s", c.source, out)
}

// documentedReadinessChecks are the checks of the table of install.md's "When the operator is ready".
func documentedReadinessChecks() []string {
	data, err := os.ReadFile(filepath.Join(root, "docs", "install.md"))
	Expect(err).NotTo(HaveOccurred())
	_, section, found := strings.Cut(string(data), "\n## When the operator is ready\n")
	Expect(found).To(BeTrue(), "docs/install.md has no section When the operator is ready")
	section, _, _ = strings.Cut(section, "\n## ")
	var checks []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\|").FindAllStringSubmatch(section, -1) {
		checks = append(checks, m[1])
	}
	Expect(checks).NotTo(BeEmpty(), "docs/install.md: no table of the readiness checks")
	return checks
}

// answersWebhookConfigurations asks the check of the webhook configurations on its own path: ok, once ready.
func (r *docsRun) answersWebhookConfigurations(c docCommand) {
	Expect(runOK(c, atProbeAddress(c))).To(Equal("ok"), c.source)
}

// listsTargets runs make help, which lists every target the documentation's commands run.
func (r *docsRun) listsTargets(c docCommand) {
	ansi := regexp.MustCompile(`\x1b\[[0-9;]*m`)
	listed := map[string]bool{}
	for _, line := range strings.Split(ansi.ReplaceAllString(runOK(c, c.text), ""), "\n") {
		if fields := strings.Fields(line); len(fields) > 1 {
			listed[fields[0]] = true
		}
	}
	for _, f := range docFiles() {
		for _, d := range shellCommands(f) {
			words := strings.Fields(d.code)
			if words[0] != "make" {
				continue
			}
			for _, target := range words[1:] {
				if strings.Contains(target, "=") {
					continue
				}
				Expect(listed).To(HaveKey(target), "%s: make help does not list %s, which %s runs", c.source, target, d.source)
			}
		}
	}
}

// buildsOperator runs make build, which writes the operator's binary where the comment says; the README says
// its --help lists the flags.
func (r *docsRun) buildsOperator(c docCommand) {
	runOK(c, c.text)
	binary := filepath.Join(root, c.comment)
	Expect(binary).To(BeAnExistingFile(), "%s: make build wrote no %s", c.source, c.comment)
	// --help exits with status 0 or 2, depending on the flag library; what it prints is the point.
	stdout, stderr, _ := shell(c.comment+" --help", "")
	Expect(stdout+stderr).To(ContainSubstring("health-probe-bind-address"), "%s --help lists no flags", c.comment)
}
