package webhookconfig

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/fixture"
)

func sidecarSet(t *testing.T, name, spec string) appsv1alpha1.SidecarSet {
	t.Helper()
	return appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: *fixture.Spec(t, spec)}
}

var params = Params{
	ClientConfig:      admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:9443" + InjectPath)},
	FailurePolicy:     admissionregistrationv1.Fail,
	TimeoutSeconds:    5,
	OperatorNamespace: "sidecarset-system",
}

func TestDesired(t *testing.T) {
	sets := []appsv1alpha1.SidecarSet{
		sidecarSet(t, "metrics", `{selector: {matchLabels: {app: web}}, namespaceSelector: {matchLabels: {env: prod}}}`),
		sidecarSet(t, "logs", `{selector: {matchExpressions: [{key: tier, operator: In, values: [front]}]}}`),
		sidecarSet(t, "paused", `{selector: {matchLabels: {app: web}}, injectionStrategy: {paused: true}}`),
		sidecarSet(t, "broken", `{selector: {matchExpressions: [{key: app, operator: In}]}}`),
		sidecarSet(t, "empty", `{selector: {}}`),
	}
	entries, skipped := Desired(sets, params)

	got := fixture.Names(entries, func(e admissionregistrationv1.MutatingWebhook) string { return e.Name })
	if got != "logs.inject.sidecarset.io,metrics.inject.sidecarset.io" {
		t.Fatalf("entries = %s", got)
	}
	wantSkipped := map[string]string{
		"broken": "the selector is not a valid label selector",
		"empty":  "the selector is empty",
		"paused": "injection is paused",
	}
	if len(skipped) != len(wantSkipped) {
		t.Errorf("skipped = %+v", skipped)
	}
	for i, s := range skipped {
		if !strings.HasPrefix(s.Reason, wantSkipped[s.SidecarSet]) {
			t.Errorf("%s skipped for %q", s.SidecarSet, s.Reason)
		}
		if i > 0 && skipped[i-1].SidecarSet > s.SidecarSet {
			t.Errorf("skipped not sorted: %+v", skipped)
		}
	}

	metrics := entries[1]
	gotObject, _ := yaml.Marshal(metrics.ObjectSelector)
	wantObject := "matchExpressions:\n- key: sidecarset.io/inject\n  operator: NotIn\n  values:\n  - \"false\"\nmatchLabels:\n  app: web\n"
	if string(gotObject) != wantObject {
		t.Errorf("objectSelector:\n%s\nwant:\n%s", gotObject, wantObject)
	}
	gotNamespace, _ := yaml.Marshal(metrics.NamespaceSelector)
	wantNamespace := "matchExpressions:\n- key: kubernetes.io/metadata.name\n  operator: NotIn\n  values:\n  - kube-system\n  - sidecarset-system\nmatchLabels:\n  env: prod\n"
	if string(gotNamespace) != wantNamespace {
		t.Errorf("namespaceSelector:\n%s\nwant:\n%s", gotNamespace, wantNamespace)
	}
	if *metrics.SideEffects != admissionregistrationv1.SideEffectClassNone || *metrics.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy ||
		*metrics.FailurePolicy != admissionregistrationv1.Fail || *metrics.TimeoutSeconds != 5 || *metrics.ClientConfig.URL != "https://127.0.0.1:9443/inject-v1-pod" {
		t.Errorf("entry settings = %+v", metrics)
	}
	if r := metrics.Rules; len(r) != 1 || len(r[0].Operations) != 1 || r[0].Operations[0] != admissionregistrationv1.Create || r[0].Resources[0] != "pods" {
		t.Errorf("rules = %+v", r)
	}
	// The SidecarSet's own selector must not be modified through the copy.
	if len(sets[0].Spec.Selector.MatchExpressions) != 0 || len(sets[0].Spec.NamespaceSelector.MatchExpressions) != 0 {
		t.Error("Desired modified a SidecarSet")
	}
}

func TestEntryName(t *testing.T) {
	if got := EntryName("logs"); got != "logs.inject.sidecarset.io" {
		t.Errorf("EntryName = %s", got)
	}
	long := strings.Repeat("a", 250)
	a, b := EntryName(long), EntryName(long[:249]+"b")
	if len(a) > 253 || !strings.HasSuffix(a, NameSuffix) || a == b {
		t.Errorf("long names %q and %q", a, b)
	}
}

func TestMerge(t *testing.T) {
	foreign := admissionregistrationv1.MutatingWebhook{Name: "audit.example.com"}
	oldOwn := admissionregistrationv1.MutatingWebhook{Name: "gone.inject.sidecarset.io",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte("CA")}}
	desired := []admissionregistrationv1.MutatingWebhook{{Name: "logs.inject.sidecarset.io"}}

	got := Merge([]admissionregistrationv1.MutatingWebhook{foreign, oldOwn}, desired)
	if len(got) != 2 || got[0].Name != "audit.example.com" || got[1].Name != "logs.inject.sidecarset.io" {
		t.Fatalf("merged = %+v", got)
	}
	if string(got[1].ClientConfig.CABundle) != "CA" {
		t.Errorf("the existing caBundle must carry over to new entries, got %q", got[1].ClientConfig.CABundle)
	}
	if len(desired[0].ClientConfig.CABundle) != 0 {
		t.Error("Merge modified desired")
	}

	withCA := []admissionregistrationv1.MutatingWebhook{{Name: "logs.inject.sidecarset.io",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: []byte("NEW")}}}
	if got := Merge([]admissionregistrationv1.MutatingWebhook{oldOwn}, withCA); string(got[0].ClientConfig.CABundle) != "NEW" {
		t.Errorf("a desired caBundle must win, got %q", got[0].ClientConfig.CABundle)
	}
	if got := Merge([]admissionregistrationv1.MutatingWebhook{foreign, oldOwn}, nil); len(got) != 1 || got[0].Name != "audit.example.com" {
		t.Errorf("with no SidecarSets only the foreign entry stays: %+v", got)
	}
}

func TestValidatingFailsClosedForSidecarSetsOnly(t *testing.T) {
	p := params
	p.FailurePolicy = admissionregistrationv1.Ignore
	w := Validating(p)
	if *w.FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("failurePolicy %s: SidecarSet writes must fail closed whatever the pods' policy", *w.FailurePolicy)
	}
	if got := *w.ClientConfig.URL; got != "https://127.0.0.1:9443"+ValidatePath {
		t.Errorf("URL %s", got)
	}
	if *params.ClientConfig.URL != "https://127.0.0.1:9443"+InjectPath {
		t.Error("Validating changed the injection's client config")
	}
	rule := w.Rules[0]
	if strings.Join(rule.Resources, ",") != "sidecarsets" || rule.APIGroups[0] != appsv1alpha1.GroupVersion.Group ||
		len(rule.Operations) != 2 || len(w.MatchConditions) != 1 {
		t.Errorf("rules %+v, match conditions %+v", w.Rules, w.MatchConditions)
	}

	svcPath := InjectPath
	p.ClientConfig = admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
		Namespace: "sidecarset-system", Name: "webhook", Path: &svcPath}}
	if got := *Validating(p).ClientConfig.Service.Path; got != ValidatePath || svcPath != InjectPath {
		t.Errorf("service path %s; the injection's is now %s", got, svcPath)
	}
}

func TestMergeValidatingKeepsOthersAndTheInjectedCA(t *testing.T) {
	desired := Validating(params)
	theirs := admissionregistrationv1.ValidatingWebhook{Name: "theirs.example.com"}
	ours := *desired.DeepCopy()
	ours.ClientConfig.CABundle = []byte("CA")
	got := MergeValidating([]admissionregistrationv1.ValidatingWebhook{theirs, ours}, desired)
	if len(got) != 2 || got[0].Name != theirs.Name || string(got[1].ClientConfig.CABundle) != "CA" {
		t.Errorf("merged %+v", got)
	}
}

// The mutating configuration lives exactly as long as it has a webhook: created with the first SidecarSet's
// entry, deleted with the last, kept while someone else's entry is in it.
func TestPlanMutating(t *testing.T) {
	ca := admissionregistrationv1.WebhookClientConfig{CABundle: []byte("CA")}
	logs := admissionregistrationv1.MutatingWebhook{Name: "logs.inject.sidecarset.io", ClientConfig: ca}
	metrics := admissionregistrationv1.MutatingWebhook{Name: "metrics.inject.sidecarset.io", ClientConfig: ca}
	foreign := admissionregistrationv1.MutatingWebhook{Name: "audit.example.com"}
	type hooks = []admissionregistrationv1.MutatingWebhook
	names := func(ws hooks) string {
		return fixture.Names(ws, func(w admissionregistrationv1.MutatingWebhook) string { return w.Name })
	}
	for _, c := range []struct {
		name              string
		exists            bool
		existing, desired hooks
		want              Write
		wantHooks         string
	}{
		{name: "no SidecarSet, no configuration: nothing is created", want: NoWrite},
		{name: "the first SidecarSet creates it", desired: hooks{logs}, want: Create, wantHooks: "logs.inject.sidecarset.io"},
		{name: "in step: not written", exists: true, existing: hooks{logs}, desired: hooks{logs}, want: NoWrite,
			wantHooks: "logs.inject.sidecarset.io"},
		{name: "a new SidecarSet adds its entry", exists: true, existing: hooks{logs}, desired: hooks{logs, metrics},
			want: Update, wantHooks: "logs.inject.sidecarset.io,metrics.inject.sidecarset.io"},
		{name: "the last SidecarSet gone deletes it", exists: true, existing: hooks{logs}, want: Delete},
		{name: "an empty configuration (left by an earlier version) is deleted", exists: true, want: Delete},
		{name: "someone else's entry keeps it", exists: true, existing: hooks{foreign, logs}, want: Update,
			wantHooks: "audit.example.com"},
		{name: "someone else's entry alone is left as it is", exists: true, existing: hooks{foreign}, want: NoWrite,
			wantHooks: "audit.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, webhooks := PlanMutating(c.exists, c.existing, c.desired)
			if got != c.want || names(webhooks) != c.wantHooks {
				t.Errorf("PlanMutating = %s %q, want %s %q", got, names(webhooks), c.want, c.wantHooks)
			}
		})
	}

	// Created (again, after a delete), the entries carry desired's caBundle: nothing is left to carry over.
	if _, webhooks := PlanMutating(false, nil, hooks{logs}); string(webhooks[0].ClientConfig.CABundle) != "CA" {
		t.Errorf("caBundle %q", webhooks[0].ClientConfig.CABundle)
	}
}

func TestRegistered(t *testing.T) {
	config := &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{
		{Name: EntryName("logs")}, {Name: "someone-elses.example.com"}}}
	for _, tt := range []struct {
		name   string
		config *admissionregistrationv1.MutatingWebhookConfiguration
		set    string
		want   bool
	}{
		{"its entry", config, "logs", true},
		{"another SidecarSet's", config, "metrics", false},
		{"no configuration", nil, "logs", false},
		{"an empty configuration", &admissionregistrationv1.MutatingWebhookConfiguration{}, "logs", false},
	} {
		if got := Registered(tt.config, tt.set); got != tt.want {
			t.Errorf("%s: Registered = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestEntriesKeepsEntriesUntilTheirSidecarSetChanges: Entries.Desired gives what Desired gives, call after
// call, working an entry out again when its SidecarSet's generation or the parameters change.
func TestEntriesKeepsEntriesUntilTheirSidecarSetChanges(t *testing.T) {
	sets := []appsv1alpha1.SidecarSet{
		sidecarSet(t, "metrics", `{selector: {matchLabels: {app: web}}}`),
		sidecarSet(t, "logs", `{selector: {matchLabels: {app: api}}}`),
		sidecarSet(t, "paused", `{selector: {matchLabels: {app: web}}, injectionStrategy: {paused: true}}`),
	}
	for i := range sets {
		sets[i].UID, sets[i].Generation = types.UID(sets[i].Name), 1
	}
	var kept Entries
	pointers := []*appsv1alpha1.SidecarSet{&sets[0], &sets[1], &sets[2]}
	same := func(step string, p Params) {
		t.Helper()
		wantEntries, wantSkipped := Desired(sets, p)
		gotEntries, gotSkipped := kept.Desired(pointers, p)
		if !Equal(gotEntries, wantEntries) || !slices.Equal(gotSkipped, wantSkipped) {
			t.Fatalf("%s: Entries.Desired = %+v, %v; Desired = %+v, %v", step, gotEntries, gotSkipped, wantEntries, wantSkipped)
		}
	}
	same("first call", params)
	same("second call", params)

	// A spec change comes with a new generation: the new selector is used.
	sets[0].Spec.Selector.MatchLabels["app"], sets[0].Generation = "frontend", 2
	same("after a change of metrics", params)
	if e, _ := kept.Desired(pointers, params); e[1].ObjectSelector.MatchLabels["app"] != "frontend" {
		t.Fatalf("the changed selector is not in the entry: %v", e[1].ObjectSelector)
	}
	// Resumed injection, and a SidecarSet being deleted.
	sets[2].Spec.InjectionStrategy.Paused, sets[2].Generation = false, 2
	sets[1].DeletionTimestamp = &metav1.Time{}
	same("after resuming paused and deleting logs", params)

	// A new CA, and another failure policy, reach every entry.
	rotated := params
	rotated.ClientConfig.CABundle = []byte("new CA")
	same("after a new CA", rotated)
	ignore := rotated
	ignore.FailurePolicy = admissionregistrationv1.Ignore
	same("after a new failure policy", ignore)
	// A SidecarSet gone is forgotten; one of the same name created again is a new one.
	sets, pointers = sets[:1], pointers[:1]
	same("after logs and paused are gone", ignore)
	sets[0].UID, sets[0].Generation = "metrics-2", 1
	sets[0].Spec.Selector.MatchLabels["app"] = "web"
	same("after metrics is created again", ignore)
}
