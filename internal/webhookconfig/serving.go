package webhookconfig

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
	"github.com/sidecarset/sidecarset-operator/internal/inject"
)

// HasEntries says whether some SidecarSet gets an entry in the MutatingWebhookConfiguration (Desired would
// return one), so that the configuration must exist for pods to be injected. It stops at the first one.
func HasEntries(sets []appsv1alpha1.SidecarSet, p Params) bool {
	for i := range sets {
		if ok, _ := inject.Injecting(&sets[i]); !ok {
			continue
		}
		if _, err := Entry(&sets[i], p); err == nil {
			return true
		}
	}
	return false
}

// ServingState is what a replica knows of whether the API server can call it through the operator's webhook
// configurations.
type ServingState struct {
	// Name of both configurations, for the messages.
	Name string
	// Validating is the ValidatingWebhookConfiguration as stored; nil when there is none.
	Validating *admissionregistrationv1.ValidatingWebhookConfiguration
	// Mutating are the operator's MutatingWebhookConfigurations as stored (ShardIndex); none when there is none.
	Mutating []*admissionregistrationv1.MutatingWebhookConfiguration
	// ExpectMutating says whether some SidecarSet injects (HasEntries), so the mutating configuration must exist.
	ExpectMutating bool
	// ServingCert is the PEM of the certificate the replica's webhook server serves (its tls.crt): the
	// certificate first, then any intermediate CA certificates.
	ServingCert []byte
	// Now is when the API server would check the certificate.
	Now time.Time
}

// Serving returns nil when the API server can reach this replica through every entry the operator owns in
// its webhook configurations, and otherwise what is still missing, as "waiting for ...":
//
//   - the ValidatingWebhookConfiguration exists, with the operator's entry (it is written at start);
//   - a MutatingWebhookConfiguration of the operator's exists with at least one of its entries, when some
//     SidecarSet injects (ExpectMutating);
//   - the caBundle of each of the operator's entries, in either configuration, verifies the serving
//     certificate as the API server verifies it when it calls the entry: the certificate chains to a CA of the
//     caBundle, is valid at Now, is for server authentication, and names the host the API server dials (the
//     Service's <name>.<namespace>.svc, or the URL's host).
//
// It compares the caBundle with the CA that signed the serving certificate by verifying the certificate
// against it, rather than comparing bytes: a caBundle holding the old and the new CA during a rotation is
// right, and so is one a CA injector such as cert-manager's cainjector wrote.
func Serving(s ServingState) error {
	cert, intermediates, err := parseServingCert(s.ServingCert)
	if err != nil {
		return err
	}
	v := verifier{cert: cert, intermediates: intermediates, now: s.Now, seen: map[string]error{}}

	if s.Validating == nil {
		return fmt.Errorf("waiting for the ValidatingWebhookConfiguration %s to be created", s.Name)
	}
	var validating []entry
	for _, w := range s.Validating.Webhooks {
		if w.Name == ValidatingName {
			validating = append(validating, entry{w.Name, w.ClientConfig})
		}
	}
	if len(validating) == 0 {
		return fmt.Errorf("waiting for the ValidatingWebhookConfiguration %s to have its entry %s", s.Name, ValidatingName)
	}
	if err := v.entries("ValidatingWebhookConfiguration", s.Name, validating); err != nil {
		return err
	}

	var mutating int
	for _, c := range s.Mutating {
		var ours []entry
		for _, w := range c.Webhooks {
			if strings.HasSuffix(w.Name, NameSuffix) {
				ours = append(ours, entry{w.Name, w.ClientConfig})
			}
		}
		mutating += len(ours)
		// Entries present while no SidecarSet injects are about to be deleted; while there, they are checked
		// too, since the API server calls them.
		if err := v.entries("MutatingWebhookConfiguration", c.Name, ours); err != nil {
			return err
		}
	}
	switch {
	case s.ExpectMutating && len(s.Mutating) == 0:
		return fmt.Errorf("waiting for the MutatingWebhookConfiguration %s to be created: a SidecarSet injects", s.Name)
	case s.ExpectMutating && mutating == 0:
		return fmt.Errorf("waiting for the MutatingWebhookConfiguration %s to have the entries of the SidecarSets that inject", s.Name)
	}
	return nil
}

// parseServingCert returns the certificate and the intermediate CAs of a tls.crt.
func parseServingCert(data []byte) (*x509.Certificate, *x509.CertPool, error) {
	if len(data) == 0 {
		return nil, nil, errors.New("waiting for the webhook's serving certificate")
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("waiting for a serving certificate that parses: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("waiting for a serving certificate that parses: no PEM certificate in it")
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	return certs[0], intermediates, nil
}

type entry struct {
	name   string
	client admissionregistrationv1.WebhookClientConfig
}

// verifier verifies the serving certificate against caBundles, once per caBundle and host.
type verifier struct {
	cert          *x509.Certificate
	intermediates *x509.CertPool
	now           time.Time
	seen          map[string]error
}

// entries returns what the first of the entries whose caBundle does not verify the certificate waits for.
func (v *verifier) entries(kind, name string, entries []entry) error {
	var failed int
	var first error
	for _, e := range entries {
		if err := v.verify(e.client); err != nil {
			if first == nil {
				first = fmt.Errorf("entry %s: %w", e.name, err)
			}
			failed++
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(entries) == 1:
		return fmt.Errorf("waiting for the %s %s to carry the CA of this replica's serving certificate: %w", kind, name, first)
	}
	return fmt.Errorf("waiting for the %s %s to carry the CA of this replica's serving certificate: %d of its %d entries do not, such as %w",
		kind, name, failed, len(entries), first)
}

func (v *verifier) verify(cc admissionregistrationv1.WebhookClientConfig) error {
	host := serverName(cc)
	key := host + "\x00" + string(cc.CABundle)
	if err, ok := v.seen[key]; ok {
		return err
	}
	err := v.verifyUncached(cc.CABundle, host)
	v.seen[key] = err
	return err
}

func (v *verifier) verifyUncached(caBundle []byte, host string) error {
	if len(caBundle) == 0 {
		return errors.New("its caBundle is empty")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caBundle) {
		return errors.New("its caBundle holds no PEM certificate")
	}
	// No KeyUsages: server authentication, as the API server's TLS client requires.
	if _, err := v.cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: v.intermediates, CurrentTime: v.now, DNSName: host}); err != nil {
		return fmt.Errorf("its caBundle does not verify the serving certificate for %s: %w", hostOrAny(host), err)
	}
	return nil
}

// serverName is the host the API server checks the webhook's certificate against: <service>.<namespace>.svc
// for a Service, the host of a URL; empty (not checked) when neither is set.
func serverName(cc admissionregistrationv1.WebhookClientConfig) string {
	switch {
	case cc.Service != nil:
		return cc.Service.Name + "." + cc.Service.Namespace + ".svc"
	case cc.URL != nil:
		if u, err := url.Parse(*cc.URL); err == nil {
			return u.Hostname()
		}
	}
	return ""
}

func hostOrAny(host string) string {
	if host == "" {
		return "any host"
	}
	return host
}
