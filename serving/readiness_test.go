package serving

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
)

// fakeCache is the manager's cache: a client holding the SidecarSets, synced when told.
type fakeCache struct {
	client.Reader
	synced atomic.Bool
	waits  atomic.Int32
}

func (c *fakeCache) WaitForCacheSync(context.Context) bool {
	c.waits.Add(1)
	return c.synced.Load()
}

// TestReadinessChecks follows a replica's readiness checks through a start: the caches, the certificate, the
// configurations as the API server holds them, read at most once per TTL.
func TestReadinessChecks(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := admissionregistrationv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := appsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int32
	var failReads atomic.Bool
	api := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			reads.Add(1)
			if failReads.Load() {
				return errors.New("connection refused")
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			reads.Add(1)
			if failReads.Load() {
				return errors.New("connection refused")
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	sets := fake.NewClientBuilder().WithScheme(scheme).Build()
	cache := &fakeCache{Reader: sets}
	var podsSynced atomic.Bool
	clock := time.Now()
	certDir := t.TempDir()
	params := webhookconfig.Params{
		ClientConfig:  admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://localhost:9443" + webhookconfig.InjectPath)},
		FailurePolicy: admissionregistrationv1.Fail, TimeoutSeconds: 5, OperatorNamespace: "sidecarset-system",
	}
	r := &Readiness{Cache: cache, PodsSynced: podsSynced.Load, APIReader: api, Name: "sidecarset-operator", CertDir: certDir,
		Params: params, Now: func() time.Time { return clock }, Log: logr.Discard()}
	ctx := context.Background()

	expect := func(check func() error, want string) {
		t.Helper()
		err := check()
		switch {
		case want == "" && err != nil:
			t.Fatalf("not ready: %v", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
	}
	caches := func() error { return r.CachesSynced(nil) }
	configs := func() error { return r.WebhookConfigurations(nil) }
	later := func() { clock = clock.Add(ReadinessTTL) }

	// Nothing synced yet: the configurations are not read.
	expect(caches, "waiting for the informer cache (SidecarSets, revisions, namespaces) and the pod cache (every pod in the cluster) to sync")
	expect(configs, "to sync, to tell whether a SidecarSet injects")
	cache.synced.Store(true)
	expect(configs, "to sync") // the outcome is kept for the TTL
	later()
	expect(caches, "waiting for the pod cache (every pod in the cluster) to sync")
	podsSynced.Store(true)
	expect(caches, "")
	waits := cache.waits.Load()
	expect(caches, "")
	if cache.waits.Load() != waits {
		t.Error("the informer cache was asked again after it had synced")
	}

	// No certificate yet.
	expect(configs, "waiting for the webhook's serving certificate "+filepath.Join(certDir, "tls.crt"))
	if reads.Load() != 0 {
		t.Errorf("%d reads of the API server before they could help", reads.Load())
	}
	cr := &rotator.CertRotator{CAName: "ca", CAOrganization: "test", DNSName: "localhost",
		ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	ca, err := cr.CreateCACert(clock.Add(-time.Hour), clock.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := cr.CreateCertPEM(ca, clock.Add(-time.Hour), clock.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "tls.crt"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	later()

	// No configuration yet; the outcome is kept for the TTL, so the API server is read once per TTL.
	expect(configs, "waiting for the ValidatingWebhookConfiguration sidecarset-operator to be created")
	if reads.Load() != 2 {
		t.Errorf("%d reads for one check, want 2 (the validating configuration, the list of the mutating ones)", reads.Load())
	}
	for range 10 {
		expect(configs, "to be created")
	}
	if reads.Load() != 2 {
		t.Errorf("%d reads within the TTL, want 2", reads.Load())
	}
	entry := webhookconfig.Validating(params)
	entry.ClientConfig.CABundle = ca.CertPEM
	if err := api.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{entry}}); err != nil {
		t.Fatal(err)
	}
	expect(configs, "to be created")

	// A SidecarSet that injects needs the mutating configuration.
	set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "logs"}, Spec: appsv1alpha1.SidecarSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if err := sets.Create(ctx, set); err != nil {
		t.Fatal(err)
	}
	later()
	expect(configs, "waiting for the MutatingWebhookConfiguration sidecarset-operator to be created: a SidecarSet injects")

	// A read that fails says so.
	failReads.Store(true)
	later()
	expect(configs, "waiting to read the ValidatingWebhookConfiguration sidecarset-operator: connection refused")
	failReads.Store(false)

	// Ready once: later failures of the shared configurations or of the reads no longer take it out.
	mutatingEntry := webhookconfig.Params(params)
	config := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator"}}
	entries, _ := webhookconfig.Desired([]appsv1alpha1.SidecarSet{*set}, mutatingEntry)
	for i := range entries {
		entries[i].ClientConfig.CABundle = ca.CertPEM
	}
	config.Webhooks = entries
	if err := api.Create(ctx, config); err != nil {
		t.Fatal(err)
	}
	later()
	expect(configs, "")
	before := reads.Load()
	failReads.Store(true)
	if err := api.Delete(ctx, config); err != nil && !strings.Contains(err.Error(), "connection refused") {
		t.Fatal(err)
	}
	for range 3 {
		later()
		expect(configs, "")
	}
	if reads.Load() != before {
		t.Errorf("%d more reads of the API server after the replica was ready", reads.Load()-before)
	}
}
