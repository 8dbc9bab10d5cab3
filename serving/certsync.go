package serving

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The serving certificate's Secret, in the operator's namespace only: the operator creates it, the rotator
// writes it, and every replica reads it.
// +kubebuilder:rbac:groups="",namespace=sidecarset-system,resources=secrets,verbs=get;list;watch;create;update;patch

// CertSecretSync writes the webhook serving certificate from the rotator's Secret into the certificate
// directory, and again whenever the Secret changes; the webhook server reloads the files. It runs on every
// replica, leader or not, so every replica serves with the current certificate without waiting for a
// kubelet to refresh a mounted Secret, and an operator run outside the cluster serves too.
type CertSecretSync struct {
	Client client.Reader
	Secret types.NamespacedName
	Dir    string
}

// Files the webhook server reads, as the Secret's keys.
var certFiles = []string{"tls.crt", "tls.key", "ca.crt"}

// Reconcile writes the files that differ from the Secret.
func (r *CertSecretSync) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, r.Secret, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil // the rotator creates it; its creation is an event
		}
		return reconcile.Result{}, fmt.Errorf("reading Secret %s: %w", r.Secret, err)
	}
	if len(secret.Data["tls.crt"]) == 0 || len(secret.Data["tls.key"]) == 0 {
		return reconcile.Result{}, nil
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return reconcile.Result{}, fmt.Errorf("creating the certificate directory: %w", err)
	}
	for _, name := range certFiles {
		data, ok := secret.Data[name]
		if !ok {
			continue
		}
		path := filepath.Join(r.Dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		// Write then rename, so the server never reads half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return reconcile.Result{}, fmt.Errorf("writing %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return reconcile.Result{}, fmt.Errorf("replacing %s: %w", path, err)
		}
		ctrl.LoggerFrom(ctx).Info("Wrote the webhook certificate file", "file", path)
	}
	return reconcile.Result{}, nil
}

// SetupWithManager watches the one Secret, on every replica.
func (r *CertSecretSync) SetupWithManager(mgr ctrl.Manager) error {
	notLeaderOnly := false
	return ctrl.NewControllerManagedBy(mgr).
		Named("certsecretsync").
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == r.Secret.Namespace && o.GetName() == r.Secret.Name
		}))).
		WithOptions(controller.Options{NeedLeaderElection: &notLeaderOnly}).
		Complete(r)
}

// ServeWhenCertsExist starts a runnable (the webhook server) once the serving certificate files are in dir,
// so a replica starting before its certificate exists waits instead of failing.
type ServeWhenCertsExist struct {
	Dir    string
	Server manager.Runnable
}

// Start waits for the files, then runs the server until ctx ends.
func (s *ServeWhenCertsExist) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("webhook")
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	waited := false
	for !s.certsExist() {
		if !waited {
			log.Info("Waiting for the serving certificate", "dir", s.Dir)
			waited = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
	return s.Server.Start(ctx)
}

func (s *ServeWhenCertsExist) certsExist() bool {
	for _, name := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(s.Dir, name)); err != nil {
			return false
		}
	}
	return true
}

// NeedLeaderElection is false: every replica serves the webhook.
func (s *ServeWhenCertsExist) NeedLeaderElection() bool { return false }
