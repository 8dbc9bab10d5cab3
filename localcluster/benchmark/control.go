package benchmark

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// controlWebhookName is the benchmark's do-nothing webhook: the API server calls it as it calls the
// operator's, over TLS on the loopback interface, and it allows every pod without a patch. What the API
// server's histogram measures for it is what calling any webhook costs on the machine at that moment; the
// operator's own share is the difference.
const controlWebhookName = "control.bench.sidecarset.io"

// controlLabel marks the pods the control webhook is called for.
const controlLabel = "sidecarset.io/bench-control"

// patchingControlWebhookName is the benchmark's second control: served by the same server, it allows every pod
// with a patch of one label. A webhook whose answer changes the pod makes the API server do more within the
// call it times (encode the pod, apply the patch, decode, compare and default the result), which a webhook
// that changes nothing spares it; this control's time is that of any mutating webhook, so the operator's
// own share of a burst is its difference from this one.
const patchingControlWebhookName = "patching-control.bench.sidecarset.io"

// patchingControlLabel marks the pods the patching control is called for; patchedLabel is the label it adds.
const (
	patchingControlLabel = "sidecarset.io/bench-patching-control"
	patchedLabel         = "sidecarset.io/bench-patched"
)

type controlWebhook struct {
	srv    *http.Server
	config string
}

// startControlWebhook serves the control webhook and registers it for pods labelled controlLabel in
// namespace ns. Its key is RSA 2048, as the operator's rotated certificate's.
func startControlWebhook(ctx context.Context, c client.Client, ns string) (*controlWebhook, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", allowAll)
	mux.HandleFunc("/patch", allowPatched)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()

	// The API server calls mutating configurations in the order of their names: this one's sorts before the
	// operator's ("sidecarset-operator", its shards "sidecarset-operator-<i>"), so a burst's pods go through the
	// controls first and the operator's webhook, reinvoked when a later webhook changes the pod, is called
	// once a pod (burst checks it).
	w := &controlWebhook{srv: srv, config: "sidecarset-bench-control-" + ns}
	hook := func(name, label, path string) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name:                    name,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			TimeoutSeconds:          ptr.To[int32](10),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To(fmt.Sprintf("https://localhost:%d%s", ln.Addr().(*net.TCPAddr).Port, path)),
				CABundle: certPEM,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: w.config},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			hook(controlWebhookName, controlLabel, "/mutate"),
			hook(patchingControlWebhookName, patchingControlLabel, "/patch"),
		},
	}
	if err := c.Create(ctx, cfg); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("registering the control webhook: %w", err)
	}
	return w, nil
}

// stop unregisters the control webhook and stops serving it.
func (w *controlWebhook) stop(ctx context.Context, c client.Client) {
	_ = c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: w.config}})
	_ = w.srv.Close()
}

// allowAll answers an AdmissionReview: allowed, nothing changed.
func allowAll(w http.ResponseWriter, r *http.Request) { answer(w, r, nil) }

// allowPatched answers an AdmissionReview: allowed, with a JSON patch adding patchedLabel to the pod (whose
// selector label the patching control is called for says it has labels).
func allowPatched(w http.ResponseWriter, r *http.Request) {
	answer(w, r, []byte(`[{"op":"add","path":"/metadata/labels/`+strings.ReplaceAll(patchedLabel, "/", "~1")+`","value":"true"}]`))
}

// answer answers an AdmissionReview: allowed, with patch when it is not nil.
func answer(w http.ResponseWriter, r *http.Request, patch []byte) {
	body, err := io.ReadAll(r.Body)
	var review admissionv1.AdmissionReview
	if err == nil {
		err = json.Unmarshal(body, &review)
	}
	if err == nil && review.Request == nil {
		err = errors.New("no request")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	if patch != nil {
		resp.Patch, resp.PatchType = patch, ptr.To(admissionv1.PatchTypeJSONPatch)
	}
	_ = json.NewEncoder(w).Encode(&admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
}
