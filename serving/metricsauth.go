package serving

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The metrics endpoint authenticates and authorizes its callers with the API server.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Decisions are remembered for these long, so that a scraper every few seconds costs the API server two
// reviews a minute, and a revoked binding or token stops working within a minute.
const (
	metricsAllowTTL = time.Minute
	metricsDenyTTL  = 10 * time.Second
	// metricsCacheSize bounds the remembered decisions; past it, expired ones are dropped, then all.
	metricsCacheSize = 1024
)

// MetricsAuth is the metrics server's filter provider: a request is served when its bearer token
// authenticates (a TokenReview) and its user may use the request's verb on its path (a SubjectAccessReview
// on a non-resource URL, as `kubectl get --raw /metrics` or Prometheus with a ServiceAccount token does).
// A request without a valid token gets 401, a user without the permission 403.
//
// It does what controller-runtime's filters.WithAuthenticationAndAuthorization does, through the
// operator's own client, without linking the generic API server library into the binary: that library
// alone was 20 MB of the binary's 54 MB of code, resident in every replica.
func MetricsAuth(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("metrics authorization client: %w", err)
	}
	return MetricsAuthWith(c, time.Now), nil
}

// MetricsAuthWith is MetricsAuth with the client and clock given.
func MetricsAuthWith(c client.Client, now func() time.Time) metricsserver.Filter {
	a := &metricsAuthorizer{client: c, now: now, decisions: map[[sha256.Size]byte]metricsDecision{}}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			code, msg := a.authorize(req.Context(), req)
			if code != http.StatusOK {
				if code == http.StatusInternalServerError {
					log.Error(nil, "Metrics request not authorized", "reason", msg)
				}
				http.Error(w, msg, code)
				return
			}
			next.ServeHTTP(w, req)
		}), nil
	}
}

type metricsDecision struct {
	code    int
	msg     string
	expires time.Time
}

type metricsAuthorizer struct {
	client client.Client
	now    func() time.Time

	mu        sync.Mutex
	decisions map[[sha256.Size]byte]metricsDecision
}

func (a *metricsAuthorizer) authorize(ctx context.Context, req *http.Request) (int, string) {
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return http.StatusUnauthorized, "Unauthorized: a bearer token is required"
	}
	verb := strings.ToLower(req.Method)
	// The key holds the token only as a hash: the cache never keeps a credential.
	key := sha256.Sum256([]byte(token + "\x00" + verb + "\x00" + req.URL.Path))
	now := a.now()
	a.mu.Lock()
	d, found := a.decisions[key]
	a.mu.Unlock()
	if found && now.Before(d.expires) {
		return d.code, d.msg
	}

	code, msg, err := a.review(ctx, token, verb, req.URL.Path)
	if err != nil {
		// Not remembered: the next request asks again.
		return http.StatusInternalServerError, "Authorization failed: " + err.Error()
	}
	ttl := metricsDenyTTL
	if code == http.StatusOK {
		ttl = metricsAllowTTL
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.decisions) >= metricsCacheSize {
		for k, d := range a.decisions {
			if !now.Before(d.expires) {
				delete(a.decisions, k)
			}
		}
		if len(a.decisions) >= metricsCacheSize {
			clear(a.decisions)
		}
	}
	a.decisions[key] = metricsDecision{code: code, msg: msg, expires: now.Add(ttl)}
	return code, msg
}

func (a *metricsAuthorizer) review(ctx context.Context, token, verb, path string) (int, string, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}
	if err := a.client.Create(ctx, tr); err != nil {
		return 0, "", fmt.Errorf("token review: %w", err)
	}
	if !tr.Status.Authenticated {
		return http.StatusUnauthorized, "Unauthorized: the token did not authenticate", nil
	}
	user := tr.Status.User
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}
	if err := a.client.Create(ctx, sar); err != nil {
		return 0, "", fmt.Errorf("subject access review: %w", err)
	}
	if !sar.Status.Allowed {
		return http.StatusForbidden, fmt.Sprintf("Forbidden: user %q may not %s %s", user.Username, verb, path), nil
	}
	return http.StatusOK, "", nil
}
