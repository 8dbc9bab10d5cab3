// Command sidecarset-operator runs the SidecarSet reconcilers and the pod injection webhook.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/controllers"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/serving"
)

// Leader election among the replicas, in the operator's namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=sidecarset-system,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=sidecarset-system,resources=events,verbs=create;patch

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))
}

// options are the operator's command-line flags.
type options struct {
	metricsAddr      string
	metricsSecure    bool
	probeAddr        string
	pprofAddr        string
	leaderElect      bool
	leaderElectionNS string
	enableHTTP2      bool
	webhookHTTP2     bool
	kubeAPIQPS       float64
	kubeAPIBurst     int
	sidecarSetSyncs  int
	zap              zap.Options
	leaderElectionID string

	namespace             string
	webhookPort           int
	webhookCertDir        string
	webhookCerts          string
	webhookCertSecret     string
	webhookConfigName     string
	webhookServiceName    string
	webhookURL            string
	webhookFailurePolicy  string
	webhookTimeoutSeconds int
	// webhookEntriesPerConfiguration bounds the entries of one MutatingWebhookConfiguration.
	webhookEntriesPerConfiguration int
	allowPrivileged                bool

	// skipControllerNameValidation lets tests start the operator more than once in one process; controller
	// names must otherwise be unique per process.
	skipControllerNameValidation bool
}

// Where the webhook's serving certificate comes from.
const (
	certsRotate   = "rotate"
	certsExternal = "external"
)

func parseFlags(args []string) (*options, error) {
	o := &options{zap: zap.Options{Development: false}}
	fs := flag.NewFlagSet("sidecarset-operator", flag.ContinueOnError)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint binds to, for example :8443. \"0\" disables it.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, to callers the API server authenticates and authorizes. "+
			"When false, metrics are served over plain HTTP without authentication.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0",
		"Address to serve Go's pprof profiles on, for example 127.0.0.1:6060, to diagnose memory or CPU. \"0\" (the default) disables it.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader among the replicas: only the leader runs the reconcilers; every replica serves the webhook.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader election lease. Defaults to --namespace.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "sidecarset-operator.sidecarset.io",
		"Name of the leader election lease.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Serve HTTP/2 on the metrics server, whose callers gain nothing from it; HTTP/1.1 by default.")
	fs.BoolVar(&o.webhookHTTP2, "webhook-http2", true,
		"Serve HTTP/2 on the webhook server: the API server multiplexes its admission calls over few connections "+
			"instead of queueing them behind each other. Go's HTTP/2 server bounds the handlers one connection runs "+
			"to its stream limit and closes connections that reset streams faster (the 2023 rapid-reset attack).")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 500,
		"Sustained queries per second to the API server. The API server's priority and fairness bounds the operator's "+
			"share; this limit only smooths its bursts.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 1000,
		"Burst of queries to the API server: a rollout step writes up to maxUnavailable pods at once.")
	fs.IntVar(&o.sidecarSetSyncs, "concurrent-sidecarset-syncs", 4,
		"SidecarSets reconciled at once, never one twice at once. A reconcile mostly waits on the API server (its "+
			"status write), so a few at once keep a creation of thousands of SidecarSets, or an operator start, "+
			"from queueing behind each other; one rollout is one SidecarSet whatever this says.")
	fs.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "sidecarset-system"),
		"Namespace the operator runs in: never injected, holds the certificate Secret and the revisions. "+
			"Defaults to $POD_NAMESPACE, else sidecarset-system.")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "Port the injection webhook serves on.")
	fs.StringVar(&o.webhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "sidecarset-operator", "serving-certs"),
		"Directory of the webhook's serving certificate (tls.crt, tls.key and, with external certificates, ca.crt).")
	fs.StringVar(&o.webhookCerts, "webhook-certs", certsRotate,
		"Where the webhook's certificate comes from: \"rotate\" (the operator creates and rotates a CA and certificate in a "+
			"Secret of its namespace and injects the CA into its webhook configuration) or \"external\" (files in "+
			"--webhook-cert-dir, provided by cert-manager, OLM or you; a ca.crt there is injected too).")
	fs.StringVar(&o.webhookCertSecret, "webhook-cert-secret", "sidecarset-operator-webhook-cert",
		"Name of the Secret holding the rotated certificate.")
	fs.StringVar(&o.webhookConfigName, "webhook-config-name", "sidecarset-operator",
		"Name of the MutatingWebhookConfiguration the operator keeps in step with the SidecarSets, and of the "+
			"ValidatingWebhookConfiguration through which it validates SidecarSets.")
	fs.StringVar(&o.webhookServiceName, "webhook-service-name", "sidecarset-operator-webhook",
		"Service in the operator's namespace through which the API server reaches the webhook.")
	fs.StringVar(&o.webhookURL, "webhook-url", "",
		"Base URL through which the API server reaches the webhook, instead of the Service; for an operator "+
			"running outside the cluster, such as https://localhost:9443.")
	fs.StringVar(&o.webhookFailurePolicy, "webhook-failure-policy", string(admissionregistrationv1.Fail),
		"What the API server does with a matched pod while the webhook is unreachable: Fail (refuse the pod, so "+
			"no pod starts without its sidecars) or Ignore (create it without them).")
	fs.IntVar(&o.webhookTimeoutSeconds, "webhook-timeout-seconds", 5, "How long the API server waits for the webhook, 1 to 10.")
	fs.IntVar(&o.webhookEntriesPerConfiguration, "webhook-entries-per-configuration", webhookconfig.DefaultLimits.Entries,
		"The most SidecarSet entries one MutatingWebhookConfiguration holds; past it, entries go to the next "+
			"configuration (<webhook-config-name>-1, -2...). Each also stays under 512 KiB, whatever this says.")
	fs.BoolVar(&o.allowPrivileged, "allow-privileged", true,
		"Whether the cluster's API server admits privileged containers (its own --allow-privileged flag, true in "+
			"kubeadm, kind and managed clusters). When false, a SidecarSet with a privileged sidecar is refused, as "+
			"the API server would refuse its pods.")
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(fs.Output(), err)
		return nil, err
	}
	return o, nil
}

func (o *options) validate() error {
	var errs []error
	if o.webhookCerts != certsRotate && o.webhookCerts != certsExternal {
		errs = append(errs, fmt.Errorf("--webhook-certs must be %q or %q, not %q", certsRotate, certsExternal, o.webhookCerts))
	}
	if p := admissionregistrationv1.FailurePolicyType(o.webhookFailurePolicy); p != admissionregistrationv1.Fail && p != admissionregistrationv1.Ignore {
		errs = append(errs, fmt.Errorf("--webhook-failure-policy must be Fail or Ignore, not %q", o.webhookFailurePolicy))
	}
	if o.webhookEntriesPerConfiguration < 1 {
		errs = append(errs, fmt.Errorf("--webhook-entries-per-configuration must be at least 1, not %d", o.webhookEntriesPerConfiguration))
	}
	if o.sidecarSetSyncs < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-sidecarset-syncs must be at least 1, not %d", o.sidecarSetSyncs))
	}
	if o.webhookTimeoutSeconds < 1 || o.webhookTimeoutSeconds > 10 {
		errs = append(errs, fmt.Errorf("--webhook-timeout-seconds must be from 1 to 10, not %d", o.webhookTimeoutSeconds))
	}
	if o.webhookURL != "" {
		if u, err := url.Parse(o.webhookURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("--webhook-url must be an https URL such as https://localhost:9443, not %q", o.webhookURL))
		} else if net.ParseIP(u.Hostname()) != nil && o.webhookCerts == certsRotate {
			// The rotated certificate names DNS hosts only, and TLS checks an IP address against IP SANs.
			errs = append(errs, fmt.Errorf("--webhook-url host %s is an IP address, which the rotated certificate cannot name: "+
				"use a DNS name such as localhost, or --webhook-certs=external with a certificate for that address", u.Hostname()))
		}
	}
	if o.namespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	return errors.Join(errs...)
}

// clientConfig is how the API server reaches the webhook.
func (o *options) clientConfig() admissionregistrationv1.WebhookClientConfig {
	if o.webhookURL != "" {
		u := o.webhookURL + webhookconfig.InjectPath
		return admissionregistrationv1.WebhookClientConfig{URL: &u}
	}
	path := webhookconfig.InjectPath
	port := int32(443)
	return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
		Namespace: o.namespace, Name: o.webhookServiceName, Path: &path, Port: &port,
	}}
}

// certDNSNames are the names the rotated certificate is valid for: the Service, or the host of the URL.
func (o *options) certDNSNames() (string, []string) {
	if o.webhookURL != "" {
		u, _ := url.Parse(o.webhookURL)
		return u.Hostname(), nil
	}
	svc := fmt.Sprintf("%s.%s.svc", o.webhookServiceName, o.namespace)
	return svc, []string{svc + ".cluster.local"}
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		// The problem and the usage are already printed.
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	setGCPercent(os.Getenv("GOGC"))
	if err := run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), o); err != nil {
		ctrl.Log.WithName("setup").Error(err, "The operator stopped with an error")
		os.Exit(1)
	}
}

// defaultGCPercent is the garbage collector's target when GOGC is not set. The operator's heap is mostly its
// pod cache, which lives as long as the process, and a reconcile's garbage, which dies at once: collecting at
// 50% growth rather than Go's 100% keeps the resident set near the cache's size, for about 2% more CPU.
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent unless the GOGC environment variable chose a value.
func setGCPercent(gogc string) {
	if gogc == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// run starts the operator and blocks until ctx ends or the manager fails.
func run(ctx context.Context, restConfig *rest.Config, o *options) error {
	log := ctrl.Log.WithName("setup")
	podvalidation.AllowPrivileged(o.allowPrivileged)
	http1 := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	var tlsOpts, webhookTLSOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, http1)
	}
	if !o.webhookHTTP2 {
		webhookTLSOpts = append(webhookTLSOpts, http1)
	}

	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.metricsSecure,
		TLSOpts:       tlsOpts,
	}
	if o.metricsSecure {
		metricsOpts.FilterProvider = serving.MetricsAuth
	}

	restConfig = rest.CopyConfig(restConfig)
	restConfig.QPS = float32(o.kubeAPIQPS)
	restConfig.Burst = o.kubeAPIBurst

	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		MapperProvider:          controllers.NewRESTMapper,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        o.leaderElectionID,
		LeaderElectionNamespace: o.leaderElectionNamespace(),
		// The process exits right after the manager stops, so the lease can be released at once and a
		// standby replica takes over without waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &o.skipControllerNameValidation},
		Cache: cache.Options{DefaultTransform: controllers.StripManagedFields, ByObject: map[client.Object]cache.ByObject{
			// Every entry's caBundle held once, not once per SidecarSet.
			&admissionregistrationv1.MutatingWebhookConfiguration{}: {Transform: controllers.WebhookConfigurationTransform()},
			// The operator reads Secrets only in its own namespace (its certificate).
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{o.namespace: {}}},
			// Revisions live in its namespace, where its Role lets it read them.
			&appsv1.ControllerRevision{}: {Namespaces: map[string]cache.Config{o.namespace: {}}},
			// Pods are in the reconciler's own compact cache (controllers.PodCache), not here.
		}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	watchClient, err := client.NewWithWatch(mgr.GetConfig(), client.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient()})
	if err != nil {
		return fmt.Errorf("creating the pod watch client: %w", err)
	}
	pods := controllers.NewPodCache(watchClient)
	if err := mgr.Add(pods); err != nil {
		return fmt.Errorf("adding the pod cache: %w", err)
	}
	// The webhook and the pod event handler find the SidecarSets that may select a pod through one index.
	sidecarSets, err := controllers.NewSidecarSetIndex(context.Background(), mgr.GetCache())
	if err != nil {
		return err
	}
	if err := setupWebhook(mgr, o, webhookTLSOpts, pods, sidecarSets); err != nil {
		return fmt.Errorf("setting up the injection webhook: %w", err)
	}
	recorder, stopEvents, err := newEventRecorder(mgr.GetConfig(), mgr.GetHTTPClient(), mgr.GetScheme())
	if err != nil {
		return err
	}
	defer stopEvents()
	if err := (&controllers.SidecarSetReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Pods:              pods,
		SidecarSets:       sidecarSets,
		Namespace:         o.namespace,
		Recorder:          recorder,
		WebhookConfigName: o.webhookConfigName,
		Workers:           o.sidecarSetSyncs,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the SidecarSet reconciler: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	// Ready, on every replica, once the API server can call it and it can answer: its caches synced, its webhook
	// serving (the check added with the server), and the webhook configurations written with the CA of the
	// certificate it serves. A Deployment's rollout, `kubectl wait` and GitOps health checks wait for it.
	ready := &serving.Readiness{
		Cache:      mgr.GetCache(),
		PodsSynced: pods.HasSynced,
		APIReader:  mgr.GetAPIReader(),
		Name:       o.webhookConfigName,
		CertDir:    o.webhookCertDir,
		Params:     o.webhookParams(),
		Log:        ctrl.Log.WithName("readiness"),
	}
	if err := mgr.AddReadyzCheck("caches", ready.CachesSynced); err != nil {
		return fmt.Errorf("adding the readiness check of the caches: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook-configurations", ready.WebhookConfigurations); err != nil {
		return fmt.Errorf("adding the readiness check of the webhook configurations: %w", err)
	}

	log.Info("Starting the manager", "namespace", o.namespace, "webhookCerts", o.webhookCerts)
	return mgr.Start(ctx)
}

// leaderElectionNamespace is where the lease lives: the flag, else the operator's namespace.
func (o *options) leaderElectionNamespace() string {
	if o.leaderElectionNS != "" {
		return o.leaderElectionNS
	}
	return o.namespace
}

// setupWebhook wires the injection webhook: its certificate (rotated, or from files), its server (started once
// the certificate exists) and the reconciler that keeps its configuration in step with the SidecarSets.
func setupWebhook(mgr ctrl.Manager, o *options, tlsOpts []func(*tls.Config), pods *controllers.PodCache, sidecarSets controllers.SidecarSetLookup) error {
	secret := types.NamespacedName{Namespace: o.namespace, Name: o.webhookCertSecret}
	// The Secret whose CA the webhook configuration reconciler injects: the rotated one, or none.
	var caSecret types.NamespacedName
	if o.webhookCerts == certsRotate {
		caSecret = secret
		cr := o.certRotator(secret)
		if err := rotator.AddRotator(mgr, cr); err != nil {
			return fmt.Errorf("adding the certificate rotator: %w", err)
		}
		// The rotator keeps a Secret that must exist before it starts. The operator creates it, rather than
		// the install manifests, so GitOps tools never see the rotated data as drift; and creates it
		// with a CA and certificate, so the rotator finds them valid at start instead of generating them in
		// two goroutines at once (the slower one's write then conflicts, and is logged as an error).
		if err := ensureSecret(mgr, secret, cr); err != nil {
			return err
		}
		if err := (&serving.CertSecretSync{Client: mgr.GetClient(), Secret: secret, Dir: o.webhookCertDir}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("adding the certificate sync: %w", err)
		}
	}

	// With external certificates the ca.crt beside them is injected, read again as its provider rotates it;
	// without one, whatever caBundle the configuration has is kept.
	var caFile string
	if o.webhookCerts == certsExternal {
		caFile = filepath.Join(o.webhookCertDir, "ca.crt")
	}

	server := webhook.NewServer(webhook.Options{Port: o.webhookPort, CertDir: o.webhookCertDir, TLSOpts: tlsOpts})
	server.Register(webhookconfig.InjectPath, &webhook.Admission{Handler: &controllers.PodInjector{
		Reader: mgr.GetClient(), SidecarSets: sidecarSets, OperatorNamespace: o.namespace,
	}})
	// The webhook reads every admitted pod's namespace labels (its Pod Security level), the SidecarSets and
	// their stored revisions: their informers start with the cache, on every replica, rather than on the first
	// admission, which would wait for them to sync (on a standby replica, whose reconcilers watch nothing).
	// The readiness check of the caches waits for them.
	namespaces := &metav1.PartialObjectMetadata{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	for _, obj := range []client.Object{namespaces, &appsv1alpha1.SidecarSet{}, &appsv1.ControllerRevision{}} {
		if _, err := mgr.GetCache().GetInformer(context.Background(), obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	server.Register(webhookconfig.ValidatePath, &webhook.Admission{Handler: &controllers.SidecarSetValidator{Pods: pods}})
	if err := mgr.Add(&serving.ServeWhenCertsExist{Dir: o.webhookCertDir, Server: server}); err != nil {
		return err
	}
	// Ready only once the webhook serves: a replica without its certificate must not get webhook traffic.
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return err
	}

	return (&controllers.WebhookConfigReconciler{
		Client:      mgr.GetClient(),
		SidecarSets: sidecarSets,
		Name:        o.webhookConfigName,
		CASecret:    caSecret,
		CAFile:      caFile,
		Params:      o.webhookParams(),
		Limits:      webhookconfig.Limits{Entries: o.webhookEntriesPerConfiguration, Bytes: webhookconfig.DefaultLimits.Bytes},
	}).SetupWithManager(mgr)
}

// webhookParams are the settings of every entry of the webhook configurations.
func (o *options) webhookParams() webhookconfig.Params {
	return webhookconfig.Params{
		ClientConfig:      o.clientConfig(),
		FailurePolicy:     admissionregistrationv1.FailurePolicyType(o.webhookFailurePolicy),
		TimeoutSeconds:    int32(o.webhookTimeoutSeconds),
		OperatorNamespace: o.namespace,
	}
}

// certRotator is the rotator of the webhook's certificate, kept in the Secret key.
func (o *options) certRotator(key types.NamespacedName) *rotator.CertRotator {
	dnsName, extra := o.certDNSNames()
	return &rotator.CertRotator{
		SecretKey:      key,
		CertDir:        o.webhookCertDir,
		CAName:         "sidecarset-operator-ca",
		CAOrganization: "sidecarset-operator",
		DNSName:        dnsName,
		ExtraDNSNames:  extra,
		// The rotator's defaults, stated because newCertSecret makes the first certificate with them: a CA
		// for ten years, a serving certificate for one, renewed 90 days before it expires.
		CaCertDuration:     10 * 365 * 24 * time.Hour,
		ServerCertDuration: 365 * 24 * time.Hour,
		ExtKeyUsages:       &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		CertName:           "tls.crt",
		KeyName:            "tls.key",
		// Closed by the rotator once certificates and CA are in place; it must not be nil. Readiness is the
		// operator's own checks (serving.Readiness and the webhook server's), on every replica, leader or not.
		IsReady: make(chan struct{}),
		// No webhook configuration: the rotator only keeps the Secret. The webhook configuration reconciler
		// injects the CA from it, so each configuration has one writer, and nothing looks for a configuration
		// before that reconciler has created it.
		Webhooks: nil,
		// One replica rotates; every replica gets the files from the Secret through CertSecretSync.
		RequireLeaderElection: o.leaderElect,
	}
}

// ensureSecret creates the certificate Secret, with a new CA and serving certificate from the rotator, when
// it does not exist; an existing one is the rotator's to check and renew. It runs before the manager starts, so
// it reads and writes directly rather than through the cache.
func ensureSecret(mgr ctrl.Manager, key types.NamespacedName, cr *rotator.CertRotator) error {
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	err = c.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s: %w", key, err)
	}
	s, err := newCertSecret(key, cr, time.Now())
	if err != nil {
		return err
	}
	// Another replica starting at the same time may have created it first: its certificate is as good.
	if err := c.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Secret %s: %w", key, err)
	}
	return nil
}

// newCertSecret is the certificate Secret as the rotator would first fill it: a CA and a serving certificate
// it signs, made by the rotator's own functions with its settings, under the keys it reads.
func newCertSecret(key types.NamespacedName, cr *rotator.CertRotator, now time.Time) (*corev1.Secret, error) {
	// Valid from an hour ago, against clock skew, as the rotator does.
	begin := now.Add(-time.Hour)
	ca, err := cr.CreateCACert(begin, now.Add(cr.CaCertDuration))
	if err != nil {
		return nil, fmt.Errorf("creating the webhook CA: %w", err)
	}
	cert, certKey, err := cr.CreateCertPEM(ca, begin, now.Add(cr.ServerCertDuration))
	if err != nil {
		return nil, fmt.Errorf("creating the webhook certificate: %w", err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "sidecarset-operator"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			controllers.CASecretKey: ca.CertPEM,
			"ca.key":                ca.KeyPEM,
			cr.CertName:             cert,
			cr.KeyName:              certKey,
		},
	}, nil
}

// eventCacheSize is how many events the operator's event recorder remembers in each of the caches by which
// it aggregates similar events and holds back a flood of them on one object (record.CorrelatorOptions).
// client-go's default, 4,096, held about 6 MB after a rollout and a resize of 10,000 pods, whose events are
// each about another pod and never repeated; an object's repeated events stay among the most recent.
const eventCacheSize = 256

// newEventRecorder returns the reconciler's event recorder, sending its events to the API server, and the
// function that stops it.
func newEventRecorder(cfg *rest.Config, httpClient *http.Client, scheme *runtime.Scheme) (record.EventRecorder, func(), error) {
	events, err := corev1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the events client: %w", err)
	}
	b := record.NewBroadcasterWithCorrelatorOptions(record.CorrelatorOptions{LRUCacheSize: eventCacheSize})
	b.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: events.Events("")})
	return b.NewRecorder(scheme, corev1.EventSource{Component: "sidecarset-operator"}), b.Shutdown, nil
}
