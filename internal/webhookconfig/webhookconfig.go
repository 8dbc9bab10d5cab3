// Package webhookconfig builds the entries of the operator's MutatingWebhookConfiguration from the SidecarSets:
// one entry per SidecarSet, scoped by the API server to the pods that SidecarSet can select, so a pod no
// SidecarSet selects never waits on the operator. It also decides what to write to that configuration
// (PlanMutating: create it with the first entry, delete it with the last) and builds the one entry of the
// operator's ValidatingWebhookConfiguration. Serving says whether the configurations, as stored, let the API
// server call a replica: the readiness of every replica.
package webhookconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/derived"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
)

// NameSuffix ends the name of every webhook entry the operator owns; entries without it are someone else's
// and are left alone.
const NameSuffix = ".inject.sidecarset.io"

// InjectPath is the path the operator serves pod injection on.
const InjectPath = "/inject-v1-pod"

// Params are the settings shared by every entry.
type Params struct {
	// ClientConfig says how the API server reaches the webhook (a Service or a URL) and with which CA.
	ClientConfig admissionregistrationv1.WebhookClientConfig
	// FailurePolicy is Fail (a matched pod is refused while the webhook is unreachable) or Ignore.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds is how long the API server waits for the webhook, 1 to 10.
	TimeoutSeconds int32
	// OperatorNamespace is never injected.
	OperatorNamespace string
}

// Skipped is a SidecarSet that gets no entry, and why.
type Skipped struct {
	SidecarSet string
	Reason     string
}

// EntryName is the name of a SidecarSet's webhook entry: "<sidecarset>.inject.sidecarset.io". A name longer
// than a DNS subdomain allows is shortened, with a hash of the full name to keep it unique.
func EntryName(sidecarSet string) string {
	name := sidecarSet + NameSuffix
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(sidecarSet))
	hash := hex.EncodeToString(sum[:])[:10]
	keep := 253 - len(NameSuffix) - 1 - len(hash)
	return strings.TrimRight(sidecarSet[:keep], ".-") + "-" + hash + NameSuffix
}

// Desired returns the entries for the SidecarSets, sorted by SidecarSet name, and the SidecarSets that get
// none: those not injecting (paused, being deleted), and those whose selectors the API server would refuse (one bad
// selector must not keep every other SidecarSet's entry from being written). The entries share memory with
// p: read them, never modify them; copy one to write it.
func Desired(sets []appsv1alpha1.SidecarSet, p Params) ([]admissionregistrationv1.MutatingWebhook, []Skipped) {
	results := make([]entryResult, len(sets))
	for i := range sets {
		results[i] = entryOf(&sets[i], p)
	}
	return collect(results)
}

// Entries works out Desired's result with each SidecarSet's entry kept from one call to the next until the
// SidecarSet changes (derived.Cache), so that with thousands of SidecarSets a reconcile parses only the
// selectors that changed. It is safe for concurrent use.
type Entries struct {
	mu     sync.Mutex
	params *Params
	cache  derived.Cache[entryResult]
}

// Desired is Desired(sets, p), with the entries of SidecarSets unchanged since the last call kept. A change
// of p works every entry out again.
func (e *Entries) Desired(sets []*appsv1alpha1.SidecarSet, p Params) ([]admissionregistrationv1.MutatingWebhook, []Skipped) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.params == nil || !paramsEqual(e.params, &p) {
		e.params = &p
		e.cache = derived.Cache[entryResult]{}
	}
	results := make([]entryResult, 0, len(sets))
	e.cache.Visit(sets, func(set *appsv1alpha1.SidecarSet) entryResult { return entryOf(set, *e.params) },
		func(_ *appsv1alpha1.SidecarSet, r entryResult) { results = append(results, r) })
	return collect(results)
}

func paramsEqual(a, b *Params) bool {
	return a.FailurePolicy == b.FailurePolicy && a.TimeoutSeconds == b.TimeoutSeconds &&
		a.OperatorNamespace == b.OperatorNamespace && clientConfigEqual(&a.ClientConfig, &b.ClientConfig)
}

// entryResult is one SidecarSet's entry, or why it gets none.
type entryResult struct {
	sidecarSet string
	entry      admissionregistrationv1.MutatingWebhook
	skipped    string
}

func entryOf(set *appsv1alpha1.SidecarSet, p Params) entryResult {
	if ok, reason := inject.Injecting(set); !ok {
		return entryResult{sidecarSet: set.Name, skipped: reason}
	}
	entry, err := Entry(set, p)
	if err != nil {
		return entryResult{sidecarSet: set.Name, skipped: err.Error()}
	}
	return entryResult{sidecarSet: set.Name, entry: entry}
}

// collect sorts the results by SidecarSet name and splits them into entries and skipped SidecarSets.
func collect(results []entryResult) ([]admissionregistrationv1.MutatingWebhook, []Skipped) {
	slices.SortFunc(results, func(a, b entryResult) int { return strings.Compare(a.sidecarSet, b.sidecarSet) })
	entries := make([]admissionregistrationv1.MutatingWebhook, 0, len(results))
	var skipped []Skipped
	for i := range results {
		if results[i].skipped != "" {
			skipped = append(skipped, Skipped{results[i].sidecarSet, results[i].skipped})
			continue
		}
		entries = append(entries, results[i].entry)
	}
	return entries, skipped
}

// Entry returns the webhook entry of one SidecarSet. Its objectSelector is the SidecarSet's selector minus the
// pods that opted out; its namespaceSelector is the SidecarSet's namespaceSelector minus the operator's own
// namespace and kube-system. The entry shares p.ClientConfig (its caBundle included) and the constant fields
// of every entry: read it, never modify it.
func Entry(set *appsv1alpha1.SidecarSet, p Params) (admissionregistrationv1.MutatingWebhook, error) {
	if inject.SelectsNothing(set.Spec.Selector) {
		return admissionregistrationv1.MutatingWebhook{}, fmt.Errorf("the selector is empty: it selects no pod")
	}
	objectSelector := set.Spec.Selector.DeepCopy()
	objectSelector.MatchExpressions = append(objectSelector.MatchExpressions, metav1.LabelSelectorRequirement{
		Key: appsv1alpha1.InjectLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"},
	})
	namespaceSelector := &metav1.LabelSelector{}
	if set.Spec.NamespaceSelector != nil {
		namespaceSelector = set.Spec.NamespaceSelector.DeepCopy()
	}
	excluded := []string{inject.KubeSystemNamespace}
	if p.OperatorNamespace != "" && p.OperatorNamespace != inject.KubeSystemNamespace {
		excluded = append(excluded, p.OperatorNamespace)
	}
	slices.Sort(excluded)
	namespaceSelector.MatchExpressions = append(namespaceSelector.MatchExpressions, metav1.LabelSelectorRequirement{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded,
	})
	if _, err := metav1.LabelSelectorAsSelector(objectSelector); err != nil {
		return admissionregistrationv1.MutatingWebhook{}, fmt.Errorf("the selector is not a valid label selector: %w", err)
	}
	if _, err := metav1.LabelSelectorAsSelector(namespaceSelector); err != nil {
		return admissionregistrationv1.MutatingWebhook{}, fmt.Errorf("the namespaceSelector is not a valid label selector: %w", err)
	}

	failurePolicy := p.FailurePolicy
	timeout := p.TimeoutSeconds
	return admissionregistrationv1.MutatingWebhook{
		Name:                    EntryName(set.Name),
		ClientConfig:            p.ClientConfig,
		Rules:                   podCreations,
		FailurePolicy:           &failurePolicy,
		MatchPolicy:             &equivalent,
		NamespaceSelector:       namespaceSelector,
		ObjectSelector:          objectSelector,
		SideEffects:             &sideEffectsNone,
		TimeoutSeconds:          &timeout,
		AdmissionReviewVersions: admissionReviewVersions,
		ReinvocationPolicy:      &reinvokeIfNeeded,
	}, nil
}

// The fields every entry has alike, shared by them: never modify them.
var (
	scopeNamespaced = admissionregistrationv1.NamespacedScope
	podCreations    = []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: &scopeNamespaced,
		},
	}}
	equivalent      = admissionregistrationv1.Equivalent
	sideEffectsNone = admissionregistrationv1.SideEffectClassNone
	// IfNeeded: a webhook that changes the pod after this one gets it injected again (idempotently). The
	// injection copies the service account token mount into the sidecars itself, so the ServiceAccount
	// plugin, reinvoked after the injection, has nothing to add, and the webhook is not called a second time.
	reinvokeIfNeeded        = admissionregistrationv1.IfNeededReinvocationPolicy
	admissionReviewVersions = []string{"v1"}
)

// Merge returns the webhooks of an existing configuration with the operator's entries replaced by desired:
// entries someone else added stay, in place, and the operator's entries follow them in desired's order. When
// desired entries carry no caBundle, the one already in the configuration is kept (a CA injector such as the
// certificate rotator or cert-manager's cainjector fills it in). The webhooks returned share memory with
// existing and desired: read them, never modify them; copy them to write them.
func Merge(existing, desired []admissionregistrationv1.MutatingWebhook) []admissionregistrationv1.MutatingWebhook {
	var caBundle []byte
	var out []admissionregistrationv1.MutatingWebhook
	for _, w := range existing {
		if strings.HasSuffix(w.Name, NameSuffix) {
			if caBundle == nil && len(w.ClientConfig.CABundle) > 0 {
				caBundle = w.ClientConfig.CABundle
			}
			continue
		}
		out = append(out, w)
	}
	for _, w := range desired {
		if len(w.ClientConfig.CABundle) == 0 {
			w.ClientConfig.CABundle = caBundle
		}
		out = append(out, w)
	}
	return out
}

// Write is what PlanMutating decides to do to the operator's MutatingWebhookConfiguration.
type Write int

const (
	// NoWrite: the configuration is in step, or absent with no entry to write.
	NoWrite Write = iota
	// Create the configuration, with the webhooks returned.
	Create
	// Update the configuration's webhooks to the ones returned.
	Update
	// Delete the configuration: it would be left with no webhook at all.
	Delete
)

func (w Write) String() string {
	switch w {
	case NoWrite:
		return "none"
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("Write(%d)", int(w))
}

// PlanMutating decides the write that brings the MutatingWebhookConfiguration in step with desired, the
// operator's entries. exists says whether the configuration exists; existing are its webhooks.
//
// The configuration exists only while it has a webhook: it is created with the first SidecarSet's entry and
// deleted when the last one goes, so a cluster without SidecarSets holds no mutating configuration of the
// operator's. A configuration that still holds an entry someone else added is updated instead, never deleted:
// that entry is theirs. The webhooks compared are the stored ones, which the API server has defaulted, so a
// configuration in step is never rewritten.
func PlanMutating(exists bool, existing, desired []admissionregistrationv1.MutatingWebhook) (Write, []admissionregistrationv1.MutatingWebhook) {
	if !exists {
		if len(desired) == 0 {
			return NoWrite, nil
		}
		return Create, Merge(nil, desired)
	}
	merged := Merge(existing, desired)
	switch {
	case len(merged) == 0:
		return Delete, nil
	case Equal(merged, existing):
		return NoWrite, existing
	}
	return Update, merged
}

// ValidatePath is the path the operator serves SidecarSet validation on, beside InjectPath.
const ValidatePath = "/validate-v1alpha1-sidecarset"

// ValidatingName is the name of the one entry of the operator's ValidatingWebhookConfiguration.
const ValidatingName = "sidecarsets.validate.sidecarset.io"

// Validating returns the entry that has the API server send SidecarSet creations, and updates that change
// the spec, to the operator's validation. It fails closed whatever p.FailurePolicy says (that flag is for
// pods): while the operator is unreachable a SidecarSet cannot be created or have its spec changed, so none
// is stored unvalidated, and no pod's creation ever waits on this entry. Metadata-only updates (labels,
// finalizers) and deletions are not sent at all, so a SidecarSet can be relabelled or deleted, and its
// finalizer removed, with the operator down.
func Validating(p Params) admissionregistrationv1.ValidatingWebhook {
	cc := *p.ClientConfig.DeepCopy()
	switch {
	case cc.Service != nil:
		path := ValidatePath
		cc.Service.Path = &path
	case cc.URL != nil:
		u := strings.TrimSuffix(*cc.URL, InjectPath) + ValidatePath
		cc.URL = &u
	}
	return admissionregistrationv1.ValidatingWebhook{
		Name:         ValidatingName,
		ClientConfig: cc,
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{appsv1alpha1.GroupVersion.Group}, APIVersions: []string{appsv1alpha1.GroupVersion.Version},
				Resources: []string{"sidecarsets"}, Scope: ptr.To(admissionregistrationv1.ClusterScope),
			},
		}},
		MatchConditions: []admissionregistrationv1.MatchCondition{{
			Name:       "spec-set-or-changed",
			Expression: "request.operation == 'CREATE' || object.spec != oldObject.spec",
		}},
		FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		TimeoutSeconds:          ptr.To(p.TimeoutSeconds),
		AdmissionReviewVersions: []string{"v1"},
	}
}

// MergeValidating returns the webhooks of an existing ValidatingWebhookConfiguration with the operator's
// entry replaced by desired, keeping the caBundle already there when desired has none, as Merge does.
func MergeValidating(existing []admissionregistrationv1.ValidatingWebhook, desired admissionregistrationv1.ValidatingWebhook) []admissionregistrationv1.ValidatingWebhook {
	desired = *desired.DeepCopy()
	var out []admissionregistrationv1.ValidatingWebhook
	for _, w := range existing {
		if w.Name == desired.Name {
			if len(desired.ClientConfig.CABundle) == 0 {
				desired.ClientConfig.CABundle = slices.Clone(w.ClientConfig.CABundle)
			}
			continue
		}
		out = append(out, w)
	}
	return append(out, desired)
}

// Registered says whether the configuration, as stored, holds the SidecarSet's entry, so that the API server
// calls the webhook for its pods; a nil configuration holds none.
func Registered(config *admissionregistrationv1.MutatingWebhookConfiguration, sidecarSet string) bool {
	if config == nil {
		return false
	}
	name := EntryName(sidecarSet)
	return slices.ContainsFunc(config.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == name })
}
