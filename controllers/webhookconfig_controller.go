package controllers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
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
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// WebhookConfigReconciler keeps the operator's MutatingWebhookConfiguration in step with the SidecarSets: one
// entry per SidecarSet, scoped to the pods it can select. It also keeps the ValidatingWebhookConfiguration of
// the same name, whose one entry sends SidecarSet writes to the operator's validation. It owns only those
// entries; the configurations' metadata and any entry someone else added are left as they are.
type WebhookConfigReconciler struct {
	Client client.Client
	// Name of the MutatingWebhookConfiguration and of the ValidatingWebhookConfiguration.
	Name string
	// Params of every entry. When Params.ClientConfig carries no caBundle, the one in the configuration is
	// kept: the certificate rotator maintains it.
	Params webhookconfig.Params
	// CAFile, when set, is read at every reconcile and its content used as the caBundle: the CA that came
	// with externally provided certificates, which its provider (cert-manager) may rotate. A missing file
	// keeps the caBundle in the configuration.
	CAFile string
	// CARecheck is how often CAFile is read again when nothing else happens. Defaults to one minute.
	CARecheck time.Duration
}

// Reconcile creates or updates the configuration. Every event maps to the one configuration.
func (r *WebhookConfigReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	var sets appsv1alpha1.SidecarSetList
	if err := r.Client.List(ctx, &sets); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing SidecarSets: %w", err)
	}
	params := r.Params
	var result reconcile.Result
	if r.CAFile != "" {
		result.RequeueAfter = r.CARecheck
		if result.RequeueAfter == 0 {
			result.RequeueAfter = time.Minute
		}
		ca, err := os.ReadFile(r.CAFile)
		switch {
		case err == nil:
			params.ClientConfig = *params.ClientConfig.DeepCopy()
			params.ClientConfig.CABundle = ca
		case errors.Is(err, fs.ErrNotExist):
			log.V(1).Info("No CA file; keeping the caBundle of the configuration", "file", r.CAFile)
		default:
			return reconcile.Result{}, fmt.Errorf("reading the CA file: %w", err)
		}
	}
	if err := r.reconcileValidating(ctx, params); err != nil {
		return reconcile.Result{}, err
	}
	desired, skipped := webhookconfig.Desired(sets.Items, params)
	for _, s := range skipped {
		log.V(1).Info("SidecarSet gets no webhook entry", "sidecarSet", s.SidecarSet, "reason", s.Reason)
	}

	current := &admissionregistrationv1.MutatingWebhookConfiguration{}
	err := r.Client.Get(ctx, types.NamespacedName{Name: r.Name}, current)
	if apierrors.IsNotFound(err) {
		created := &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: r.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "sidecarset-operator"}},
			Webhooks:   desired,
		}
		log.Info("Creating the webhook configuration", "name", r.Name, "entries", len(desired))
		if err := r.Client.Create(ctx, created); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("creating MutatingWebhookConfiguration %s: %w", r.Name, err)
		}
		return result, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", r.Name, err)
	}

	merged := webhookconfig.Merge(current.Webhooks, desired)
	if equality.Semantic.DeepEqual(merged, current.Webhooks) {
		return result, nil
	}
	log.Info("Updating the webhook configuration", "name", r.Name, "entries", len(desired))
	updated := current.DeepCopy()
	updated.Webhooks = merged
	// An update with the read resourceVersion: a concurrent change (a CA injection) makes it fail with a
	// conflict, and the retry starts from the new state instead of overwriting it.
	if err := r.Client.Update(ctx, updated); err != nil {
		return reconcile.Result{}, fmt.Errorf("updating MutatingWebhookConfiguration %s: %w", r.Name, err)
	}
	return result, nil
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
		if err := r.Client.Create(ctx, created); err != nil && !apierrors.IsAlreadyExists(err) {
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

// SetupWithManager watches SidecarSets and the configurations themselves (so a deleted or edited configuration
// is put back), and reconciles once at start: with no SidecarSet yet, the validation's configuration must be
// in place before the first one is applied.
func (r *WebhookConfigReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toConfig := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.Name}}}
	})
	atStart := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: r.Name}})
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookconfig").
		WatchesRawSource(atStart).
		Watches(&appsv1alpha1.SidecarSet{}, toConfig, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, toConfig,
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == r.Name }))).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, toConfig,
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == r.Name }))).
		Complete(r)
}
