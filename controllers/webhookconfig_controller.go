package controllers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// +kubebuilder:rbac:groups=apps.sidecarset.io,resources=sidecarsets,verbs=get;list;watch
// The mutating configuration is deleted when no SidecarSet is left to have an entry in it; the validating one
// is never deleted (it must be in place before the first SidecarSet is created).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// The CA is read from the rotated certificate's Secret, in the operator's namespace only.
// +kubebuilder:rbac:groups="",namespace=sidecarset-system,resources=secrets,verbs=get;list;watch

// CASecretKey is the key of the CA certificate in the certificate rotator's Secret.
const CASecretKey = "ca.crt"

// conflictRetry is how soon a reconcile whose write met a change it had not seen yet runs again.
const conflictRetry = 500 * time.Millisecond

// WebhookConfigReconciler keeps the operator's MutatingWebhookConfigurations in step with the SidecarSets: one
// entry per SidecarSet, scoped to the pods it can select, spread over as many configurations as they need,
// each entry in a stable place (webhookconfig.PlanShards). A configuration exists only while it has an
// entry: created with the first it holds, deleted with the last (webhookconfig.PlanMutating). It also keeps
// the ValidatingWebhookConfiguration of the same name, whose one entry sends SidecarSet writes to the
// operator's validation; that one is created at start and never deleted, since it must be in place before the
// first SidecarSet is created. It owns only those entries; the configurations' metadata and any entry someone
// else added are left as they are (a mutating configuration holding someone else's entry is not deleted).
//
// It is the only writer of both configurations, caBundle included: with CASecret it injects the rotated CA
// itself, so the certificate rotator writes no webhook configuration.
type WebhookConfigReconciler struct {
	Client client.Client
	// SidecarSets, when set, reads the SidecarSets from the cache's store without copying them (a List of
	// the cache copies each, 7 MB with 10,000); without it they are listed through Client.
	SidecarSets SidecarSetLookup
	// Name of the ValidatingWebhookConfiguration and of the first MutatingWebhookConfiguration; the others
	// are Name-1, Name-2... (webhookconfig.ShardName), as many as the entries need.
	Name string
	// Limits bound the entries of one MutatingWebhookConfiguration; zero means webhookconfig.DefaultLimits.
	Limits webhookconfig.Limits
	// Params of every entry. When Params.ClientConfig carries no caBundle and neither CASecret nor CAFile
	// provides one, the one in the configuration is kept.
	Params webhookconfig.Params
	// CASecret, when set, is the Secret whose ca.crt is the caBundle: the certificate rotator's, in the
	// operator's namespace. It is watched, so a CA the rotator creates or rotates is injected at once. Until
	// the Secret has a ca.crt, the caBundle in the configuration is kept.
	CASecret types.NamespacedName
	// CAFile, when set, is read at every reconcile and its content used as the caBundle: the CA that came
	// with externally provided certificates, which its provider (cert-manager) may rotate. A missing file
	// keeps the caBundle in the configuration.
	CAFile string
	// CARecheck is how often CAFile is read again when nothing else happens. Defaults to one minute.
	CARecheck time.Duration

	// entries keeps each SidecarSet's entry until it changes.
	entries webhookconfig.Entries
}

// Reconcile creates, updates or deletes the configurations. Every event maps to the one request.
func (r *WebhookConfigReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	result, err := r.reconcile(ctx)
	switch {
	case err == nil:
		return result, nil
	case ctx.Err() != nil:
		// The operator is stopping; whoever leads next reconciles at start.
		return reconcile.Result{}, nil
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err):
		// The configuration changed since the cache showed it (created, edited or deleted): not a failure. Its
		// event is on the way; reconcile again from what is stored then.
		ctrl.LoggerFrom(ctx).V(1).Info("The webhook configuration changed while being written; reconciling again", "reason", err.Error())
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	return reconcile.Result{}, err
}

func (r *WebhookConfigReconciler) reconcile(ctx context.Context) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	sets, err := r.sidecarSets(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	params := r.Params
	var result reconcile.Result
	if r.CAFile != "" {
		result.RequeueAfter = r.CARecheck
		if result.RequeueAfter == 0 {
			result.RequeueAfter = time.Minute
		}
	}
	ca, err := r.caBundle(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	if ca != nil {
		params.ClientConfig = *params.ClientConfig.DeepCopy()
		params.ClientConfig.CABundle = ca
	}
	if err := r.reconcileValidating(ctx, params); err != nil {
		return reconcile.Result{}, err
	}
	desired, skipped := r.entries.Desired(sets, params)
	for _, s := range skipped {
		log.V(1).Info("SidecarSet gets no webhook entry", "sidecarSet", s.SidecarSet, "reason", s.Reason)
	}

	var list admissionregistrationv1.MutatingWebhookConfigurationList
	// Read, never modified: writeShard copies the one it writes.
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing MutatingWebhookConfigurations: %w", err)
	}
	stored := map[int]*admissionregistrationv1.MutatingWebhookConfiguration{}
	existing := map[int][]admissionregistrationv1.MutatingWebhook{}
	for i := range list.Items {
		if idx, ok := webhookconfig.ShardIndex(r.Name, list.Items[i].Name); ok {
			stored[idx] = &list.Items[i]
			existing[idx] = list.Items[i].Webhooks
		}
	}
	limits := r.Limits
	if limits == (webhookconfig.Limits{}) {
		limits = webhookconfig.DefaultLimits
	}
	for _, w := range webhookconfig.PlanShards(existing, desired, limits) {
		if err := r.writeShard(ctx, w, stored[w.Index]); err != nil {
			return reconcile.Result{}, err
		}
	}
	return result, nil
}

// writeShard makes one write PlanShards decided; current is the configuration as read (the cache's own
// object, never modified), nil when absent.
func (r *WebhookConfigReconciler) writeShard(ctx context.Context, w webhookconfig.ShardWrite, current *admissionregistrationv1.MutatingWebhookConfiguration) error {
	log := ctrl.LoggerFrom(ctx)
	name := webhookconfig.ShardName(r.Name, w.Index)
	// The planned webhooks share memory with the cache's objects and each other; the client decodes its
	// response into what it sends.
	webhooks := make([]admissionregistrationv1.MutatingWebhook, len(w.Webhooks))
	for i := range w.Webhooks {
		w.Webhooks[i].DeepCopyInto(&webhooks[i])
	}
	switch w.Write {
	case webhookconfig.Create:
		created := &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "sidecarset-operator"}},
			Webhooks:   webhooks,
		}
		log.Info("Creating a webhook configuration", "name", name, "entries", w.Entries)
		if err := r.Client.Create(ctx, created); err != nil {
			return fmt.Errorf("creating MutatingWebhookConfiguration %s: %w", name, err)
		}
	case webhookconfig.Update:
		log.Info("Updating a webhook configuration", "name", name, "entries", w.Entries)
		updated := current.DeepCopy()
		updated.Webhooks = webhooks
		// An update with the read resourceVersion: a concurrent change makes it fail with a conflict, and the
		// retry starts from the new state instead of overwriting it.
		if err := r.Client.Update(ctx, updated); err != nil {
			return fmt.Errorf("updating MutatingWebhookConfiguration %s: %w", name, err)
		}
	case webhookconfig.Delete:
		log.Info("Deleting a webhook configuration: none of its entries is wanted", "name", name)
		// Only the configuration as read: one someone added an entry to since is updated on the retry instead.
		if err := r.Client.Delete(ctx, current.DeepCopy(), client.Preconditions{UID: &current.UID, ResourceVersion: &current.ResourceVersion}); err != nil {
			return fmt.Errorf("deleting MutatingWebhookConfiguration %s: %w", name, err)
		}
	case webhookconfig.NoWrite:
	}
	return nil
}

// caBundle returns the CA to inject from CASecret or CAFile, or nil to keep the configurations' caBundle.
func (r *WebhookConfigReconciler) caBundle(ctx context.Context) ([]byte, error) {
	log := ctrl.LoggerFrom(ctx)
	switch {
	case r.CASecret.Name != "":
		secret := &corev1.Secret{}
		err := r.Client.Get(ctx, r.CASecret, secret)
		switch {
		case apierrors.IsNotFound(err):
			log.V(1).Info("No certificate Secret yet; keeping the caBundle of the configurations", "secret", r.CASecret)
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading Secret %s: %w", r.CASecret, err)
		case len(secret.Data[CASecretKey]) == 0:
			log.V(1).Info("No CA in the certificate Secret yet; keeping the caBundle of the configurations", "secret", r.CASecret)
			return nil, nil
		}
		return secret.Data[CASecretKey], nil
	case r.CAFile != "":
		ca, err := os.ReadFile(r.CAFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.V(1).Info("No CA file; keeping the caBundle of the configurations", "file", r.CAFile)
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		return ca, nil
	}
	return nil, nil
}

// reconcileValidating creates or updates the ValidatingWebhookConfiguration.
func (r *WebhookConfigReconciler) reconcileValidating(ctx context.Context, params webhookconfig.Params) error {
	desired := webhookconfig.Validating(params)
	current := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	err := r.Client.Get(ctx, types.NamespacedName{Name: r.Name}, current)
	if apierrors.IsNotFound(err) {
		created := &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "sidecarset-operator"}},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{desired},
		}
		ctrl.LoggerFrom(ctx).Info("Creating the SidecarSet validation webhook configuration", "name", r.Name)
		if err := r.Client.Create(ctx, created); err != nil {
			return fmt.Errorf("creating ValidatingWebhookConfiguration %s: %w", r.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", r.Name, err)
	}
	merged := webhookconfig.MergeValidating(current.Webhooks, desired)
	if equality.Semantic.DeepEqual(merged, current.Webhooks) {
		return nil
	}
	updated := current.DeepCopy()
	updated.Webhooks = merged
	if err := r.Client.Update(ctx, updated); err != nil {
		return fmt.Errorf("updating ValidatingWebhookConfiguration %s: %w", r.Name, err)
	}
	return nil
}

// SetupWithManager watches SidecarSets, the configurations themselves (so a deleted or edited configuration
// is put back) and CASecret, and reconciles once at start: with no SidecarSet yet, the validation's
// configuration must be in place before the first one is applied.
// sidecarSets reads every SidecarSet: from the index, which hands out the cache's own objects, or, without
// one, from the Client. Read, never modified.
func (r *WebhookConfigReconciler) sidecarSets(ctx context.Context) ([]*appsv1alpha1.SidecarSet, error) {
	if r.SidecarSets != nil {
		return r.SidecarSets.List()
	}
	var list appsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing SidecarSets: %w", err)
	}
	sets := make([]*appsv1alpha1.SidecarSet, len(list.Items))
	for i := range list.Items {
		sets[i] = &list.Items[i]
	}
	return sets, nil
}

func (r *WebhookConfigReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toConfig := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Name}}}
	})
	atStart := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: r.Name}})
		return nil
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("webhookconfig").
		WatchesRawSource(atStart).
		Watches(&appsv1alpha1.SidecarSet{}, toConfig, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, toConfig,
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				_, ours := webhookconfig.ShardIndex(r.Name, o.GetName())
				return ours
			}))).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, toConfig,
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == r.Name })))
	if r.CASecret.Name != "" {
		b = b.Watches(&corev1.Secret{}, toConfig, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == r.CASecret.Namespace && o.GetName() == r.CASecret.Name
		})))
	}
	return b.Complete(r)
}
