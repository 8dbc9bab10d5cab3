package serving

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// Every replica reads both configurations to decide whether it is ready, and never writes them: the
// ServiceAccount may get them under the rules of the webhook configuration reconciler
// (controllers/webhookconfig_controller.go), which every replica shares.

// Timing of the readiness checks.
const (
	// ReadinessTTL is how long the outcome of the webhook configurations' check is kept: the probes of every
	// replica cost the API server at most two reads per replica in that time.
	ReadinessTTL = 2 * time.Second
	// readinessReadTimeout bounds the reads of one check.
	readinessReadTimeout = 5 * time.Second
	// cacheSyncWait is how long the caches' check waits for the informer cache to report synced.
	cacheSyncWait = 100 * time.Millisecond
)

// InformerCache is what the readiness checks use of the manager's cache.
type InformerCache interface {
	client.Reader
	WaitForCacheSync(ctx context.Context) bool
}

// Readiness is what a replica must have before it takes admission requests, as checks of the manager's
// readiness probe, on every replica, leader or not:
//
//   - CachesSynced: the manager's informer cache (SidecarSets, their revisions, namespaces: what the webhooks
//     read) and the operator's own pod cache have listed everything once;
//   - WebhookConfigurations: the webhook configurations, as the API server holds them, let it call this replica:
//     the validating one exists, and the mutating one too when some SidecarSet injects, and each of the
//     operator's entries carries a caBundle that verifies the certificate this replica serves
//     (webhookconfig.Serving).
//
// The webhook server's own check (that it serves) is the third. Without them a replica was ready the moment
// it started, seconds before the leader had written the configurations: a SidecarSet and a Deployment applied
// as soon as `kubectl rollout status` returned gave pods without sidecars.
//
// A failing check returns what it waits for; the probe's endpoint shows it at /readyz/<check>, and each change
// is logged.
type Readiness struct {
	// Cache is the manager's cache; the SidecarSets are listed from it.
	Cache InformerCache
	// PodsSynced says whether the operator's pod cache has synced.
	PodsSynced func() bool
	// APIReader reads the configurations from the API server itself: what it will act on, not a cache's view.
	APIReader client.Reader
	// Name of both configurations.
	Name string
	// CertDir holds the serving certificate the webhook server serves, tls.crt.
	CertDir string
	// Params are those of the entries, to tell which SidecarSets get one.
	Params webhookconfig.Params
	// TTL is how long an outcome is kept; ReadinessTTL when zero.
	TTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives each change of the outcome.
	Log logr.Logger

	synced atomic.Bool
	// served is set once the configurations have let the API server call this replica.
	served atomic.Bool

	mu      sync.Mutex
	checked time.Time
	last    error
	logged  *string
}

// CachesSynced is the check of the caches. Once they have synced it passes without looking again: an
// informer never goes back to not synced.
func (r *Readiness) CachesSynced(_ *http.Request) error {
	if r.synced.Load() {
		return nil
	}
	var waiting []string
	ctx, cancel := context.WithTimeout(context.Background(), cacheSyncWait)
	defer cancel()
	if !r.Cache.WaitForCacheSync(ctx) {
		waiting = append(waiting, "the informer cache (SidecarSets, revisions, namespaces)")
	}
	if r.PodsSynced != nil && !r.PodsSynced() {
		waiting = append(waiting, "the pod cache (every pod in the cluster)")
	}
	if len(waiting) > 0 {
		return fmt.Errorf("waiting for %s to sync", strings.Join(waiting, " and "))
	}
	r.synced.Store(true)
	return nil
}

// WebhookConfigurations is the check of the webhook configurations. Its outcome, ready or not, is kept for
// TTL; a check the probe gives up on still completes, for the next probe. Once it has passed it passes
// without looking again: the configurations are shared by every replica, so a later failure (an API server
// too busy to answer the read, a configuration deleted while no leader writes it back) would take every
// replica out of the Service at once, and with the webhooks' failurePolicy Fail that refuses every matched
// pod and every SidecarSet change instead of the few calls the failure itself would fail. The leader's
// configuration reconciler puts a configuration back; readiness gates a replica's start.
func (r *Readiness) WebhookConfigurations(_ *http.Request) error {
	if r.served.Load() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.checked.IsZero() && now.Sub(r.checked) < r.ttl() {
		return r.last
	}
	err := r.check(now)
	r.checked, r.last = now, err
	r.report(err)
	if err == nil {
		r.served.Store(true)
	}
	return err
}

func (r *Readiness) check(now time.Time) error {
	if err := r.CachesSynced(nil); err != nil {
		return fmt.Errorf("%w, to tell whether a SidecarSet injects", err)
	}
	certFile := filepath.Join(r.CertDir, "tls.crt")
	cert, err := os.ReadFile(certFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("waiting for the webhook's serving certificate %s", certFile)
	case err != nil:
		return fmt.Errorf("reading the webhook's serving certificate: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), readinessReadTimeout)
	defer cancel()
	var sets appsv1alpha1.SidecarSetList
	if err := r.Cache.List(ctx, &sets, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing the SidecarSets: %w", err)
	}
	state := webhookconfig.ServingState{
		Name:           r.Name,
		ExpectMutating: webhookconfig.HasEntries(sets.Items, r.Params),
		ServingCert:    cert,
		Now:            now,
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if found, err := r.get(ctx, validating); err != nil {
		return err
	} else if found {
		state.Validating = validating
	}
	var mutating admissionregistrationv1.MutatingWebhookConfigurationList
	if err := r.APIReader.List(ctx, &mutating); err != nil {
		return fmt.Errorf("waiting to list the MutatingWebhookConfigurations: %w", err)
	}
	for i := range mutating.Items {
		if _, ours := webhookconfig.ShardIndex(r.Name, mutating.Items[i].Name); ours {
			state.Mutating = append(state.Mutating, &mutating.Items[i])
		}
	}
	return webhookconfig.Serving(state)
}

// get reads the ValidatingWebhookConfiguration named Name into obj; false when there is none.
func (r *Readiness) get(ctx context.Context, obj *admissionregistrationv1.ValidatingWebhookConfiguration) (bool, error) {
	err := r.APIReader.Get(ctx, types.NamespacedName{Name: r.Name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("waiting to read the ValidatingWebhookConfiguration %s: %w", r.Name, err)
	}
	return true, nil
}

// report logs the outcome when it changed.
func (r *Readiness) report(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if r.logged != nil && *r.logged == msg {
		return
	}
	r.logged = &msg
	if err != nil {
		r.Log.Info("Not ready for admission requests", "waitingFor", msg)
		return
	}
	r.Log.Info("Ready for admission requests: the webhook configurations carry the CA of this replica's serving certificate")
}

func (r *Readiness) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return ReadinessTTL
}

func (r *Readiness) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
