package controllers

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/podvalidation"
	"github.com/sidecarset/sidecarset-operator/internal/webhookconfig"
	"github.com/sidecarset/sidecarset-operator/test/testenv"
)

// The suite runs the operator's webhook and reconcilers in-process against a real kube-apiserver: the API
// server calls the webhook through the configuration the operator keeps, exactly as in a cluster.

const (
	operatorNamespace = "sidecarset-system"
	webhookConfigName = "sidecarset-operator-test"
)

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	scheme    = runtime.NewScheme()
	ctx       context.Context
	cancel    context.CancelFunc

	injector *PodInjector
	sim      *kubelet

	webhookMu   sync.Mutex
	stopWebhook func()
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(appsv1alpha1.AddToScheme(scheme)).To(Succeed())

	// As the operator runs by default, and as envtest runs the API server.
	podvalidation.AllowPrivileged(true)

	// envtest installs no webhooks (the operator writes its own configuration); it only prepares a serving
	// certificate, its CA and a local port.
	var err error
	testEnv, err = testenv.New("..")
	Expect(err).NotTo(HaveOccurred())
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	sim = &kubelet{client: k8sClient, restartDelay: 300 * time.Millisecond}
	go sim.run(ctx)
	injector = &PodInjector{Reader: &managerReader, SidecarSets: &managerSidecarSets, OperatorNamespace: operatorNamespace}
	stopManager = startManager()
	startWebhook()
	waitUntilValidating()
})

// waitUntilValidating waits until the API server sends SidecarSet writes to the operator's validation: it
// reads webhook configurations through its own informer, a moment after the operator writes them.
func waitUntilValidating() {
	Eventually(func(g Gomega) {
		set := &appsv1alpha1.SidecarSet{ObjectMeta: metav1.ObjectMeta{Name: "validation-probe"}}
		set.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "probe"}}
		set.Spec.Containers = []appsv1alpha1.SidecarContainer{{Container: corev1.Container{
			Name: "probe", Image: "probe", Ports: []corev1.ContainerPort{{ContainerPort: 70000}}}}}
		g.Expect(k8sClient.Create(ctx, set, client.DryRunAll)).To(MatchError(ContainSubstring("denied the request")))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// managerReader is the cache of the running manager, for the injector: a spec may restart the manager.
var managerReader switchingReader

type switchingReader struct{ current atomic.Pointer[client.Reader] }

func (r *switchingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return (*r.current.Load()).Get(ctx, key, obj, opts...)
}

func (r *switchingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return (*r.current.Load()).List(ctx, list, opts...)
}

// managerSidecarSets is the SidecarSet index of the running manager, for the injector.
var managerSidecarSets switchingLookup

type switchingLookup struct {
	current atomic.Pointer[SidecarSetIndex]
}

func (l *switchingLookup) Selecting(podLabels map[string]string) ([]*appsv1alpha1.SidecarSet, error) {
	return l.current.Load().Selecting(podLabels)
}

func (l *switchingLookup) Get(name string) (*appsv1alpha1.SidecarSet, error) {
	return l.current.Load().Get(name)
}

func (l *switchingLookup) List() ([]*appsv1alpha1.SidecarSet, error) {
	return l.current.Load().List()
}

// stopManager stops the manager startManager started last.
var stopManager func()

// reconciler is the SidecarSet reconciler of the manager startManager started last.
var reconciler *SidecarSetReconciler

// startManager runs the operator's reconcilers in a new manager, as the operator's main does, and returns a
// function that stops it and waits until it has stopped.
func startManager() func() {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:         scheme,
		MapperProvider: NewRESTMapper,
		Metrics:        metricsserver.Options{BindAddress: "0"},
		// As in main: the RESTMapper, revisions cached in the operator's namespace only, pods in the compact pod cache.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&appsv1.ControllerRevision{}: {Namespaces: map[string]cache.Config{operatorNamespace: {}}},
		}},
		// A spec starts a second manager in this process: controller names repeat.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	watchClient, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	pods := NewPodCache(watchClient)
	Expect(mgr.Add(pods)).To(Succeed())
	sidecarSets, err := NewSidecarSetIndex(ctx, mgr.GetCache())
	Expect(err).NotTo(HaveOccurred())
	reconciler = &SidecarSetReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Pods: pods, SidecarSets: sidecarSets, Namespace: operatorNamespace,
		Recorder: mgr.GetEventRecorderFor("sidecarset-operator"), WebhookConfigName: webhookConfigName,
	}
	Expect(reconciler.SetupWithManager(mgr)).To(Succeed())
	wio := &testEnv.WebhookInstallOptions
	url := "https://" + net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)) + webhookconfig.InjectPath
	Expect((&WebhookConfigReconciler{
		Client:      mgr.GetClient(),
		SidecarSets: sidecarSets,
		Name:        webhookConfigName,
		Params: webhookconfig.Params{
			ClientConfig:      admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: wio.LocalServingCAData},
			FailurePolicy:     admissionregistrationv1.Fail,
			TimeoutSeconds:    5,
			OperatorNamespace: operatorNamespace,
		},
	}).SetupWithManager(mgr)).To(Succeed())

	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	reader := client.Reader(mgr.GetClient())
	managerReader.current.Store(&reader)
	managerSidecarSets.current.Store(sidecarSets)
	return func() {
		stop()
		<-done
	}
}

// startWebhook serves the injector on envtest's local port, apart from the manager so a spec can stop it with
// stopWebhook.
func startWebhook() {
	wio := &testEnv.WebhookInstallOptions
	srv := webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir})
	srv.Register(webhookconfig.InjectPath, &webhook.Admission{Handler: injector})
	srv.Register(webhookconfig.ValidatePath, &webhook.Admission{Handler: &SidecarSetValidator{}})
	webhookCtx, stop := context.WithCancel(ctx)
	go func() {
		defer GinkgoRecover()
		Expect(srv.Start(webhookCtx)).To(Succeed())
	}()
	Eventually(func() error {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}).Should(Succeed())
	webhookMu.Lock()
	defer webhookMu.Unlock()
	stopWebhook = func() {
		stop()
		// The port is free again once the listener is closed.
		Eventually(func() error {
			l, err := net.Listen("tcp", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)))
			if err != nil {
				return err
			}
			return l.Close()
		}).Should(Succeed())
	}
}

var _ = AfterSuite(func() {
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// uniqueName returns a name no other spec uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}
