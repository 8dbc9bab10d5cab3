package serving

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("The metrics endpoint's authentication and authorization", func() {
	var (
		server  *httptest.Server
		tokens  = map[string]string{}
		binding *rbacv1.ClusterRoleBinding
		user    string
		mu      sync.Mutex
		clock   time.Time
	)
	// advance moves the filter's clock past every remembered decision.
	advance := func() {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(metricsAllowTTL + time.Second)
	}
	// apiAllows asks the API server directly whether the user may get /metrics.
	apiAllows := func() bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}}
		Expect(k8sClient.Create(ctx, sar)).To(Succeed())
		return sar.Status.Allowed
	}

	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-auth-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, ns)
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
			Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		DeferCleanup(k8sClient.Delete, ctx, role)
		for _, name := range []string{"prometheus", "someone-else"} {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name}}
			Expect(k8sClient.Create(ctx, sa)).To(Succeed())
			tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
			Expect(k8sClient.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
			tokens[name] = tr.Status.Token
		}
		user = "system:serviceaccount:" + ns.Name + ":prometheus"
		binding = &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + ns.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns.Name}},
		}
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, binding) })

		clock = time.Now()
		filter := MetricsAuthWith(k8sClient, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
		h, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "sidecarset_pods 3\n")
		}))
		Expect(err).NotTo(HaveOccurred())
		server = httptest.NewServer(h)
		DeferCleanup(server.Close)

		// RBAC bindings reach the API server's authorizer asynchronously.
		Eventually(apiAllows).Should(BeTrue())
	})

	It("serves a user allowed to get /metrics, and no one else", func() {
		code, body := get(server.URL+"/metrics", tokens["prometheus"])
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(Equal("sidecarset_pods 3\n"))

		code, body = get(server.URL+"/metrics", tokens["someone-else"])
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(body).To(ContainSubstring(`may not get /metrics`))
		Expect(body).NotTo(ContainSubstring("sidecarset_pods"))

		code, _ = get(server.URL+"/debug", tokens["prometheus"])
		Expect(code).To(Equal(http.StatusForbidden), "the permission is for /metrics only")

		code, body = get(server.URL+"/metrics", "not-a-token")
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(body).NotTo(ContainSubstring("sidecarset_pods"))

		code, body = get(server.URL+"/metrics", "")
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(body).To(ContainSubstring("bearer token is required"))
	})

	It("remembers a decision for a minute, then asks the API server again", func() {
		code, _ := get(server.URL+"/metrics", tokens["prometheus"])
		Expect(code).To(Equal(http.StatusOK))

		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		Eventually(apiAllows).Should(BeFalse())
		code, _ = get(server.URL+"/metrics", tokens["prometheus"])
		Expect(code).To(Equal(http.StatusOK), "the allowed decision is still remembered")

		advance()
		code, _ = get(server.URL+"/metrics", tokens["prometheus"])
		Expect(code).To(Equal(http.StatusForbidden), "a minute later the API server is asked again")
	})

	It("answers 500 without remembering it when the API server cannot be asked", func() {
		broken := MetricsAuthWith(failingClient{k8sClient}, time.Now)
		h, err := broken(logr.Discard(), http.NotFoundHandler())
		Expect(err).NotTo(HaveOccurred())
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+tokens["prometheus"])
		h.ServeHTTP(rec, req)
		Expect(rec.Code).To(Equal(http.StatusInternalServerError))
		Expect(rec.Body.String()).To(ContainSubstring("token review: the API server is unreachable"))
	})
})

// failingClient fails every create, as a client of an unreachable API server does.
type failingClient struct{ client.Client }

func (failingClient) Create(context.Context, client.Object, ...client.CreateOption) error {
	return errors.New("the API server is unreachable")
}

func get(url, token string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}
