//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// The documentation's commands are run here as a user pastes them, with the kubectl built with the control
// plane, so that the documentation and what it promises cannot drift apart: every command that changes a
// SidecarSet changes what it says and nothing else, and the examples of kubectl's output are what kubectl
// prints. docs_run_test.go runs the other commands, or says why one cannot run here.

// docFiles are the Markdown files whose commands are run.
func docFiles() []string {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	Expect(err).NotTo(HaveOccurred())
	return append([]string{filepath.Join(root, "README.md")}, files...)
}

// docCommand is a shell command of a fenced sh block of the documentation, with its continuation lines and
// here-document.
type docCommand struct {
	source  string // file:line
	text    string // as a user pastes it
	code    string // text without the comment that ends its last line
	comment string // that comment: what the command does or prints, in the documentation's words
}

// shellCommands splits the fenced sh blocks of a Markdown file into commands. A command goes on past the end
// of a line inside quotes, after a trailing backslash, and through a here-document. A line that is only a
// comment is no command: sh runs nothing for it.
func shellCommands(file string) []docCommand {
	data, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	rel, _ := filepath.Rel(root, file)
	var out []docCommand
	lines := strings.Split(string(data), "\n")
	heredoc := regexp.MustCompile(`<<-?\s*'?"?([A-Za-z_]+)'?"?`)
	for i := 0; i < len(lines); i++ {
		fence := strings.TrimLeft(lines[i], " ")
		if fence != "```sh" && fence != "```bash" {
			continue
		}
		indent := len(lines[i]) - len(fence)
		var cur []string
		start, delimiter := 0, ""
		var single, double bool
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			line := lines[i]
			if len(line)-len(strings.TrimLeft(line, " ")) >= indent {
				line = line[indent:]
			}
			if len(cur) == 0 {
				if trimmed := strings.TrimSpace(line); trimmed == "" || strings.HasPrefix(trimmed, "#") {
					continue
				}
				start = i + 1
			}
			cur = append(cur, line)
			if delimiter != "" {
				if line == delimiter {
					text := strings.Join(cur, "\n")
					out = append(out, docCommand{source: fmt.Sprintf("%s:%d", rel, start), text: text, code: text})
					cur, delimiter = nil, ""
				}
				continue
			}
			code := line
			for j, r := range line {
				switch {
				case r == '\'' && !double:
					single = !single
				case r == '"' && !single:
					double = !double
				case r == '#' && !single && !double && (j == 0 || line[j-1] == ' '):
					code = line[:j]
				}
				if len(code) < len(line) {
					break
				}
			}
			if single || double || strings.HasSuffix(strings.TrimRight(code, " "), `\`) {
				continue
			}
			if m := heredoc.FindStringSubmatch(code); m != nil {
				delimiter = m[1]
				continue
			}
			last := len(cur) - 1
			out = append(out, docCommand{
				source:  fmt.Sprintf("%s:%d", rel, start),
				text:    strings.Join(cur, "\n"),
				code:    strings.Join(append(slices.Clone(cur[:last]), strings.TrimRight(code, " ")), "\n"),
				comment: strings.TrimSpace(strings.TrimPrefix(line[len(code):], "#")),
			})
			cur = nil
		}
		Expect(cur).To(BeEmpty(), "%s: a command of the block at line %d does not end", rel, start)
	}
	return out
}

// sidecarSetChange is a documented command that changes a SidecarSet: a kubectl patch, or a server-side apply
// of a partial object from a here-document.
type sidecarSetChange struct {
	docCommand
	set     string
	kind    string // json, merge or apply
	payload string
}

var (
	patchCommand = regexp.MustCompile(`^kubectl patch (?:scs|sidecarsets?(?:\.apps\.sidecarset\.io)?) ([a-z0-9.-]+)\s`)
	patchType    = regexp.MustCompile(`--type[= ](\w+)`)
	patchBody    = regexp.MustCompile(`(?s)\s(?:-p|--patch)[= ]\s*'([^']*)'`)
)

func sidecarSetChanges() []sidecarSetChange {
	var out []sidecarSetChange
	for _, f := range docFiles() {
		for _, c := range shellCommands(f) {
			switch {
			case patchCommand.MatchString(c.text):
				ch := sidecarSetChange{docCommand: c, set: patchCommand.FindStringSubmatch(c.text)[1], kind: "strategic"}
				if m := patchType.FindStringSubmatch(c.text); m != nil {
					ch.kind = m[1]
				}
				Expect(ch.kind).To(BeElementOf("json", "merge"), "%s: kubectl patch of a SidecarSet needs --type json or merge", c.source)
				// A backslash at the end of a line continues the command, outside quotes as sh reads it.
				m := patchBody.FindStringSubmatch(strings.ReplaceAll(c.text, "\\\n", " "))
				Expect(m).NotTo(BeNil(), "%s: the patch must be given with -p '...'", c.source)
				ch.payload = m[1]
				out = append(out, ch)
			case strings.HasPrefix(c.text, "kubectl apply --server-side") && strings.Contains(c.text, "-f - <<"):
				body := c.text[strings.Index(c.text, "\n")+1 : strings.LastIndex(c.text, "\n")]
				obj := &unstructured.Unstructured{}
				Expect(yaml.Unmarshal([]byte(body), &obj.Object)).To(Succeed(), c.source)
				if obj.GetKind() != "SidecarSet" {
					continue
				}
				Expect(c.text).To(MatchRegexp(`--field-manager[= ]\S+`), "%s: a partial apply needs a field manager of its own", c.source)
				out = append(out, sidecarSetChange{docCommand: c, set: obj.GetName(), kind: "apply", payload: body})
			}
		}
	}
	return out
}

// shell runs a command as a user would, with the kubectl built with the control plane, the jq the Makefile
// builds, an administrator's kubeconfig and the repository as working directory.
func shell(command string, stdin string) (stdout, stderr string, err error) {
	cmd := shellCommand(ctx, command)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// shellCommand is the sh that shell runs, killed when done is: a command that runs until interrupted
// (kubectl get -w) must replace sh (exec) to be killed with it.
func shellCommand(done context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(done, "sh", "-c", command)
	cmd.Dir = root
	cmd.Env = append(userEnv(),
		"KUBECONFIG="+local.Kubeconfig,
		"PATH="+docsPath(),
		"KUBECACHEDIR="+GinkgoT().TempDir())
	// Whatever the command left running in the background must not hold its output open for ever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// userEnv is this process's environment without what make passes to the sub-makes of make test-e2e: a user
// pastes the commands into a shell of their own, where make is not a sub-make (which would print the
// directories it enters).
func userEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL"
	})
}

// jqEnv names the jq the documentation's commands run with: make test-e2e builds gojq at a pinned version, so
// that they depend on no jq of the machine's.
const jqEnv = "SIDECARSET_E2E_JQ"

// docsPath is the PATH of the documentation's commands: the control plane's binaries (kubectl), then jq, then
// the machine's.
var docsPath = sync.OnceValue(func() string {
	dirs := []string{os.Getenv("KUBEBUILDER_ASSETS")}
	if jq := os.Getenv(jqEnv); jq != "" {
		// gojq answers to the name jq, alone in a directory of the local cluster's, so that nothing else of bin/
		// shadows the machine's tools.
		dir := filepath.Join(local.Dir, "docs-tools")
		target, err := filepath.Abs(jq)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
		Expect(os.Symlink(target, filepath.Join(dir, "jq"))).To(Succeed())
		dirs = append(dirs, dir)
	}
	return strings.Join(append(dirs, os.Getenv("PATH")), string(os.PathListSeparator))
})

// sampleFile is the file of config/samples holding the SidecarSet name.
func sampleFile(name string) string {
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "apps_v1alpha1_sidecarset_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, f := range files {
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		var set appsv1alpha1.SidecarSet
		Expect(yaml.Unmarshal(data, &set)).To(Succeed(), f)
		if set.Name == name {
			rel, _ := filepath.Rel(root, f)
			return rel
		}
	}
	Fail("no sample of config/samples is the SidecarSet " + name + ": documented commands change the samples")
	return ""
}

// freshSample deletes the SidecarSet name and creates it again from its sample, with kubectl apply (client
// side, or server side), and returns its stored spec.
func freshSample(name string, serverSide bool) map[string]any {
	deleteSidecarSet(name)
	DeferCleanup(deleteSidecarSet, name)
	args := "kubectl apply -f " + sampleFile(name)
	if serverSide {
		args = "kubectl apply --server-side -f " + sampleFile(name)
	}
	waitSidecarSetValidation()
	_, stderr, err := shell(args, "")
	Expect(err).NotTo(HaveOccurred(), stderr)
	return storedSpec(name)
}

func deleteSidecarSet(name string) {
	set := &appsv1alpha1.SidecarSet{}
	set.Name = name
	if err := k8sClient.Delete(ctx, set); !apierrors.IsNotFound(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, types.NamespacedName{Name: name}, &appsv1alpha1.SidecarSet{}))
	}).Should(BeTrue())
}

func storedSpec(name string) map[string]any {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(appsv1alpha1.GroupVersion.WithKind("SidecarSet"))
	Expect(k8sClient.Get(ctx, types.NamespacedName{Name: name}, obj)).To(Succeed())
	return obj.Object["spec"].(map[string]any)
}

// leaves flattens an object into its leaf values by path. Lists whose items all have a name are keyed by it,
// as the API server merges them (spec.containers[fluent-bit].image); any other list is one value.
func leaves(prefix string, v any, out map[string]string) map[string]string {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			break
		}
		for k, e := range x {
			leaves(joinPath(prefix, k), e, out)
		}
		return out
	case []any:
		if names := itemNames(x); names != nil {
			for i, e := range x {
				leaves(prefix+"["+names[i]+"]", e, out)
			}
			return out
		}
	}
	data, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	out[prefix] = string(data)
	return out
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// itemNames is the name of each item of a list of named objects, or nil.
func itemNames(list []any) []string {
	if len(list) == 0 {
		return nil
	}
	var names []string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil
		}
		name, ok := m["name"].(string)
		if !ok {
			return nil
		}
		names = append(names, name)
	}
	return names
}

// intended is what a documented change sets: a path and its value ("" when the path is only allowed to change,
// inside a list that is one value, or removed).
func intended(ch sidecarSetChange, before map[string]any) map[string]string {
	out := map[string]string{}
	switch ch.kind {
	case "json":
		var ops []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		}
		Expect(json.Unmarshal([]byte(ch.payload), &ops)).To(Succeed(), ch.source)
		for _, op := range ops {
			Expect(op.Op).To(BeElementOf("test", "replace", "add", "remove"), ch.source)
			if op.Op == "test" {
				continue
			}
			path, whole := namedPath(ch.source, op.Path, before)
			if whole || op.Op == "remove" {
				out[path] = ""
				continue
			}
			for p, v := range leaves(path, op.Value, map[string]string{}) {
				out[p] = v
			}
		}
	case "merge", "apply":
		var obj map[string]any
		Expect(yaml.Unmarshal([]byte(ch.payload), &obj)).To(Succeed(), ch.source)
		spec, ok := obj["spec"].(map[string]any)
		Expect(ok).To(BeTrue(), "%s: the change sets no spec", ch.source)
		for p, v := range leaves("spec", spec, map[string]string{}) {
			if v == "null" {
				v = ""
			}
			out[p] = v
		}
	}
	return out
}

// namedPath turns a JSON pointer into a path of leaves, naming the items of named lists. whole says the
// pointer goes into a list that is one value, which the path then names.
func namedPath(source, pointer string, spec map[string]any) (path string, whole bool) {
	Expect(pointer).To(HavePrefix("/spec/"), "%s: %s is not under /spec", source, pointer)
	var node any = spec
	path = "spec"
	for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/spec/"), "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		switch n := node.(type) {
		case map[string]any:
			path, node = joinPath(path, seg), n[seg]
		case []any:
			names := itemNames(n)
			if names == nil {
				return path, true
			}
			i, err := strconv.Atoi(seg)
			Expect(err).NotTo(HaveOccurred(), "%s: %s", source, pointer)
			Expect(i).To(BeNumerically("<", len(n)), "%s: %s", source, pointer)
			path, node = path+"["+names[i]+"]", n[i]
		default:
			return path, false
		}
	}
	return path, false
}

// changedOnly fails unless after differs from before only where the change says, and has the values it sets.
func changedOnly(ch sidecarSetChange, want map[string]string, before, after map[string]any) {
	b, a := leaves("spec", before, map[string]string{}), leaves("spec", after, map[string]string{})
	covered := func(p string) bool {
		for w := range want {
			if p == w || strings.HasPrefix(p, w+".") || strings.HasPrefix(p, w+"[") {
				return true
			}
		}
		return false
	}
	var unexpected []string
	for p := range b {
		if a[p] != b[p] && !covered(p) {
			unexpected = append(unexpected, fmt.Sprintf("%s: %s -> %s", p, b[p], orNothing(a[p])))
		}
	}
	for p := range a {
		if _, ok := b[p]; !ok && !covered(p) {
			unexpected = append(unexpected, fmt.Sprintf("%s: (nothing) -> %s", p, a[p]))
		}
	}
	slices.Sort(unexpected)
	Expect(unexpected).To(BeEmpty(), "%s changed more than it says:\n%s\n%s", ch.source, ch.text, strings.Join(unexpected, "\n"))
	for p, v := range want {
		if v != "" {
			Expect(a[p]).To(Equal(v), "%s: %s", ch.source, p)
		}
	}
}

func orNothing(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}

// kubectlOutputIn expects a line kubectl printed, exactly, in the documentation files given.
func kubectlOutputIn(line string, files ...string) {
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		Expect(err).NotTo(HaveOccurred())
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			lines = append(lines, strings.TrimSpace(l))
		}
		Expect(lines).To(ContainElement(strings.TrimSpace(line)), "%s does not show what kubectl prints", f)
	}
}

var _ = Describe("The documented ways to change a SidecarSet", func() {
	It("change what they say and nothing else, pasted once or twice, on a SidecarSet created either way the docs do", func() {
		changes := sidecarSetChanges()
		var kinds []string
		for _, ch := range changes {
			kinds = append(kinds, ch.kind)
		}
		// The user guide shows both safe ways; a documentation that lost them fails here rather than pass empty.
		Expect(kinds).To(ContainElements("json", "apply"))

		for _, ch := range changes {
			// A partial server-side apply is documented for SidecarSets created server-side only.
			for _, serverSide := range []bool{false, true} {
				if ch.kind == "apply" && !serverSide {
					continue
				}
				By(fmt.Sprintf("%s, on %s created with kubectl apply (server side: %t)", ch.source, ch.set, serverSide))
				before := freshSample(ch.set, serverSide)
				want := intended(ch, before)
				for run := 1; run <= 2; run++ {
					_, stderr, err := shell(ch.text, "")
					Expect(err).NotTo(HaveOccurred(), "%s (run %d):\n%s\n%s", ch.source, run, ch.text, stderr)
					changedOnly(ch, want, before, storedSpec(ch.set))
					Expect(stderr).NotTo(ContainSubstring("this change removes"), "%s (run %d)", ch.source, run)
				}
			}
		}
	})

	It("a partial server-side apply to a SidecarSet created client-side is unsafe the second time, as the user guide says", func() {
		var apply *sidecarSetChange
		for _, ch := range sidecarSetChanges() {
			if ch.kind == "apply" {
				apply = &ch
				break
			}
		}
		Expect(apply).NotTo(BeNil())
		before := freshSample(apply.set, false)
		want := intended(*apply, before)
		_, stderr, err := shell(apply.text, "")
		Expect(err).NotTo(HaveOccurred(), stderr)
		changedOnly(*apply, want, before, storedSpec(apply.set))
		_, stderr, err = shell(apply.text, "")
		Expect(err).To(HaveOccurred(), "the second partial apply was accepted")
		Expect(stderr).To(ContainSubstring("spec.selector: Required value"))
	})

	It("a JSON merge patch of the containers strips the sidecar, with the webhook's warning as the user guide shows it", func() {
		before := freshSample("log-shipper", true)
		const patch = `kubectl patch scs log-shipper --type merge -p '{"spec":{"containers":[{"name":"fluent-bit","image":"cr.fluentbit.io/fluent/fluent-bit:3.2.5"}]}}'`
		_, stderr, err := shell(patch, "")
		Expect(err).NotTo(HaveOccurred(), stderr)
		var warning string
		for _, line := range strings.Split(stderr, "\n") {
			if strings.Contains(line, "this change removes") {
				warning = line
			}
		}
		Expect(warning).To(HavePrefix("Warning: spec.containers[fluent-bit]: this change removes args, env, resources, volumeMounts, securityContext, transferEnv from the sidecar"))
		kubectlOutputIn(warning, "docs/user-guide.md")
		after := storedSpec("log-shipper")
		Expect(after["containers"]).To(HaveLen(1))
		Expect(after["containers"].([]any)[0]).NotTo(HaveKey("args"))
		Expect(before["containers"].([]any)[0]).To(HaveKey("args"))

		// kubectl patch's default, a strategic merge patch, is refused for a custom resource.
		_, stderr, err = shell(`kubectl patch scs log-shipper -p '{"spec":{"updateStrategy":{"paused":true}}}'`, "")
		Expect(err).To(HaveOccurred(), "a strategic merge patch was accepted")
		GinkgoWriter.Printf("kubectl patch (strategic): %s\n", stderr)
	})

	It("prints the refusals the README, the user guide and troubleshooting show", func() {
		waitSidecarSetValidation()
		_, stderr, err := shell("kubectl apply -f -", `
apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata: {name: canary}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: agent, image: example.com/agent:1}]
  updateStrategy:
    partition: 2
    selector: {matchLabels: {canary: "true"}}
`)
		Expect(err).To(HaveOccurred())
		kubectlOutputIn(stderr, "README.md", "docs/troubleshooting.md")

		_, stderr, err = shell("kubectl apply -f -", `
apiVersion: apps.sidecarset.io/v1alpha1
kind: SidecarSet
metadata: {name: log-shipper}
spec:
  selector: {matchLabels: {log-shipping: enabled}}
  containers: [{name: fluent-bit, image: cr.fluentbit.io/fluent/fluent-bit:3.2.4, ports: [{containerPort: 70000}]}]
`)
		Expect(err).To(HaveOccurred())
		kubectlOutputIn(stderr, "docs/user-guide.md", "docs/troubleshooting.md")
	})
})
