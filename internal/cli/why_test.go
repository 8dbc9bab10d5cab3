package cli

import (
	"bytes"
	"strings"
	"testing"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/revision"
	"github.com/sidecarset/sidecarset-operator/test/golden"
)

// whySets are the SidecarSets of the cluster: logs, and others whose selector matches app=web pods.
func whySets(t *testing.T) []appsv1alpha1.SidecarSet {
	t.Helper()
	return []appsv1alpha1.SidecarSet{
		*sidecarSet(t, logsSet),
		// Only in dev namespaces.
		*sidecarSet(t, `
metadata: {name: metrics, uid: metrics-uid, generation: 1, creationTimestamp: "2026-11-25T08:00:00Z"}
spec:
  selector: {matchLabels: {app: web}}
  namespaceSelector: {matchLabels: {env: dev}}
  containers: [{name: metrics, image: metrics:1}]`),
		// Injection paused since before the pods.
		*sidecarSet(t, `
metadata: {name: audit, uid: audit-uid, generation: 1, creationTimestamp: "2026-11-25T08:00:00Z"}
spec:
  selector: {matchLabels: {app: web}}
  containers: [{name: audit, image: audit:1}]
  injectionStrategy: {paused: true}`),
		// Selects api pods only: a pod it injected as an api pod is no longer selected.
		*sidecarSet(t, `
metadata: {name: proxy, uid: proxy-uid, generation: 1, creationTimestamp: "2026-11-25T08:00:00Z"}
spec:
  selector: {matchLabels: {app: api}}
  containers: [{name: proxy, image: proxy:1}]`),
		// Selects other pods, and none of these.
		*sidecarSet(t, `
metadata: {name: unrelated, uid: unrelated-uid, generation: 1, creationTimestamp: "2026-11-25T08:00:00Z"}
spec:
  selector: {matchLabels: {app: db}}
  containers: [{name: backup, image: backup:1}]`),
	}
}

func TestWhyGolden(t *testing.T) {
	sets := whySets(t)
	stored := map[string][]revision.Stored{"logs": storedRevisions(t)}
	proxied := fleetPod(t, "web-proxied", `
metadata:
  annotations:
    sidecarset.io/state: '{"logs":{"revision":"{r1}","images":{"shipper":"shipper:1"}},"proxy":{"revision":"proxy-abc","images":{"proxy":"proxy:1"}}}'
spec:
  containers: [{name: shipper, image: shipper:1}, {name: proxy, image: proxy:1}, {name: app, image: web:1}]`)
	pods := []struct{ name, namespace string }{
		{"web-current", "shop"}, {"web-optout", "shop"}, {"web-early", "shop"}, {"web-clash", "shop"},
		{"web-skipped", "shop"}, {"web-updating", "shop"}, {"web-proxied", "shop"}, {"web-bare", "batch"},
	}
	var out bytes.Buffer
	for _, p := range pods {
		pod := &proxied
		if p.name != "web-proxied" {
			pod = podNamed(t, p.name)
		}
		e, err := Why(pod, sets, stored, namespaces[p.namespace], DefaultOperatorNamespace, now)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("$ kubectl sidecarset why " + p.name + " -n " + p.namespace + "\n")
		if err := WriteExplanation(&out, e); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	golden.Compare(t, "testdata/why.golden", out.String(), "go test ./internal/cli -run TestWhyGolden")
}

func TestWhyNamesTheCause(t *testing.T) {
	sets := whySets(t)
	stored := map[string][]revision.Stored{"logs": storedRevisions(t)}
	verdict := func(t *testing.T, pod, set string) Verdict {
		t.Helper()
		p := podNamed(t, pod)
		e, err := Why(p, sets, stored, namespaces[p.Namespace], DefaultOperatorNamespace, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range e.Verdicts {
			if v.SidecarSet == set {
				return v
			}
		}
		t.Fatalf("no verdict of %s for %s", set, pod)
		return Verdict{}
	}
	for _, tc := range []struct {
		pod, set string
		injected bool
		why      string
		drift    Cause
	}{
		{"web-current", "logs", true, "injected at creation with revision", ""},
		{"web-old", "logs", true, "injected at creation with revision", CauseOutdated},
		{"web-optout", "logs", false, "the pod opted out with sidecarset.io/inject=false", ""},
		{"web-current", "metrics", false, "the namespaceSelector does not select namespace shop", ""},
		{"web-bare", "metrics", false, "not injected at creation: created while injection was paused", CauseMissingSidecar},
		{"web-current", "audit", false, "injection is paused", CauseMissingSidecar},
		{"web-early", "logs", false, "created before the SidecarSet", CauseMissingSidecar},
		{"web-clash", "logs", false, `none of the sidecars injected; sidecar "shipper" was not injected: the pod already has a container named "shipper"`, CauseConflict},
		{"web-skipped", "logs", false, "skipped at injection: the pod would be refused", CauseInjectionSkipped},
	} {
		v := verdict(t, tc.pod, tc.set)
		if v.Injected != tc.injected || !strings.Contains(v.Why, tc.why) || v.Drift != tc.drift {
			t.Errorf("%s, %s: injected %t, drift %q, why %q; want injected %t, drift %q, why containing %q",
				tc.pod, tc.set, v.Injected, v.Drift, v.Why, tc.injected, tc.drift, tc.why)
		}
	}
}
