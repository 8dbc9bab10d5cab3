package webhookconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/sidecarset/sidecarset-operator/api/v1alpha1"
)

// testCA is a CA, or an intermediate, that signs test certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// sign makes a certificate from tmpl for key, signed by parent (self-signed when parent is nil), and returns
// it with its PEM.
func sign(t *testing.T, tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *testCA) (*x509.Certificate, []byte) {
	t.Helper()
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newCA(t *testing.T, name string, parent *testCA) *testCA {
	t.Helper()
	key := newKey(t)
	cert, data := sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, NotBefore: start, NotAfter: start.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, key, parent)
	return &testCA{cert: cert, key: key, pem: data}
}

// servingCert is a serving certificate for the names, signed by ca, valid for a year from start.
func servingCert(t *testing.T, ca *testCA, names ...string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: names[0]}, NotBefore: start, NotAfter: start.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	_, data := sign(t, tmpl, newKey(t), ca)
	return data
}

var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const svcHost = "sidecarset-operator-webhook.sidecarset-system.svc"

func viaService(ca []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{CABundle: ca, Service: &admissionregistrationv1.ServiceReference{
		Namespace: "sidecarset-system", Name: "sidecarset-operator-webhook", Path: ptr.To(InjectPath), Port: ptr.To[int32](443)}}
}

func viaURL(u string, ca []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{CABundle: ca, URL: ptr.To(u)}
}

func validatingOf(entries map[string]admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.ValidatingWebhookConfiguration {
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator"}}
	for name, cc := range entries {
		c.Webhooks = append(c.Webhooks, admissionregistrationv1.ValidatingWebhook{Name: name, ClientConfig: cc})
	}
	return c
}

// mutatingOf is the operator's one MutatingWebhookConfiguration, with the entries.
func mutatingOf(entries ...admissionregistrationv1.MutatingWebhook) []*admissionregistrationv1.MutatingWebhookConfiguration {
	return []*admissionregistrationv1.MutatingWebhookConfiguration{{ObjectMeta: metav1.ObjectMeta{Name: "sidecarset-operator"}, Webhooks: entries}}
}

func mutatingEntry(name string, cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{Name: name, ClientConfig: cc}
}

func TestServing(t *testing.T) {
	ca := newCA(t, "sidecarset-operator-ca", nil)
	otherCA := newCA(t, "someone-else", nil)
	intermediate := newCA(t, "intermediate", ca)
	cert := servingCert(t, ca, svcHost, svcHost+".cluster.local")
	chained := append(servingCert(t, intermediate, svcHost), intermediate.pem...)
	localhost := servingCert(t, ca, "localhost")
	ipCert := servingCert(t, ca, "127.0.0.1")
	both := append(append([]byte{}, otherCA.pem...), ca.pem...)

	validating := validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{ValidatingName: viaService(ca.pem)})
	logs, metrics, proxy := EntryName("logs"), EntryName("metrics"), EntryName("proxy")
	theirs := "policy.example.com"

	tests := []struct {
		name string
		s    ServingState
		want string // empty: ready; else the start of the reason, then what it contains after a "|"
	}{{
		name: "validating written, no SidecarSet injects",
		s:    ServingState{Validating: validating, ServingCert: cert},
	}, {
		name: "both written, a SidecarSet injects",
		s: ServingState{Validating: validating, ExpectMutating: true, ServingCert: cert,
			Mutating: mutatingOf(mutatingEntry(logs, viaService(ca.pem)), mutatingEntry(metrics, viaService(ca.pem)))},
	}, {
		name: "a caBundle with the old and the new CA, during a rotation",
		s: ServingState{ServingCert: cert,
			Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{ValidatingName: viaService(both)})},
	}, {
		name: "a serving certificate signed by an intermediate CA, sent with it",
		s:    ServingState{Validating: validating, ServingCert: chained},
	}, {
		name: "a URL on localhost",
		s: ServingState{ServingCert: localhost, Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{
			ValidatingName: viaURL("https://localhost:9443"+ValidatePath, ca.pem)})},
	}, {
		name: "a URL on an IP address, the certificate naming it",
		s: ServingState{ServingCert: ipCert, Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{
			ValidatingName: viaURL("https://127.0.0.1:9443"+ValidatePath, ca.pem)})},
	}, {
		name: "someone else's entries are not the operator's to check",
		s: ServingState{ServingCert: cert, ExpectMutating: true,
			Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{
				ValidatingName: viaService(ca.pem), theirs: viaService(otherCA.pem)}),
			Mutating: mutatingOf(mutatingEntry(theirs, viaService(nil)), mutatingEntry(logs, viaService(ca.pem)))},
	}, {
		name: "a mutating configuration holding only someone else's entry, no SidecarSet injecting",
		s:    ServingState{Validating: validating, ServingCert: cert, Mutating: mutatingOf(mutatingEntry(theirs, viaService(nil)))},
	}, {
		name: "no serving certificate yet",
		s:    ServingState{Validating: validating},
		want: "waiting for the webhook's serving certificate",
	}, {
		name: "a serving certificate that is not PEM",
		s:    ServingState{Validating: validating, ServingCert: []byte("not a certificate")},
		want: "waiting for a serving certificate that parses: no PEM certificate in it",
	}, {
		name: "no validating configuration yet",
		s:    ServingState{Name: "sidecarset-operator", ServingCert: cert},
		want: "waiting for the ValidatingWebhookConfiguration sidecarset-operator to be created",
	}, {
		name: "a validating configuration without the operator's entry",
		s: ServingState{Name: "sidecarset-operator", ServingCert: cert,
			Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{theirs: viaService(ca.pem)})},
		want: "waiting for the ValidatingWebhookConfiguration sidecarset-operator to have its entry sidecarsets.validate.sidecarset.io",
	}, {
		name: "the validating entry without a caBundle yet",
		s: ServingState{Name: "sidecarset-operator", ServingCert: cert,
			Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{ValidatingName: viaService(nil)})},
		want: "waiting for the ValidatingWebhookConfiguration sidecarset-operator to carry the CA of this replica's serving certificate: " +
			"entry sidecarsets.validate.sidecarset.io: its caBundle is empty",
	}, {
		name: "the validating entry with another CA",
		s: ServingState{Name: "sidecarset-operator", ServingCert: cert,
			Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{ValidatingName: viaService(otherCA.pem)})},
		want: "waiting for the ValidatingWebhookConfiguration sidecarset-operator to carry the CA of this replica's serving certificate: " +
			"entry sidecarsets.validate.sidecarset.io: its caBundle does not verify the serving certificate for " + svcHost + ": " +
			"|unknown authority",
	}, {
		name: "a caBundle that is not PEM",
		s: ServingState{ServingCert: cert,
			Validating: validatingOf(map[string]admissionregistrationv1.WebhookClientConfig{ValidatingName: viaService([]byte("Cg=="))})},
		want: "waiting for the ValidatingWebhookConfiguration sidecarset-operator to carry the CA|its caBundle holds no PEM certificate",
	}, {
		name: "an expired serving certificate",
		s:    ServingState{Validating: validating, ServingCert: cert, Now: start.Add(2 * 365 * 24 * time.Hour)},
		want: "waiting for the ValidatingWebhookConfiguration|expired or is not yet valid",
	}, {
		name: "a serving certificate for another host than the Service's",
		s:    ServingState{Validating: validating, ServingCert: localhost},
		want: "waiting for the ValidatingWebhookConfiguration|for " + svcHost + ": x509: certificate is valid for localhost, not " + svcHost,
	}, {
		name: "a SidecarSet injects, no mutating configuration yet",
		s:    ServingState{Name: "sidecarset-operator", Validating: validating, ServingCert: cert, ExpectMutating: true},
		want: "waiting for the MutatingWebhookConfiguration sidecarset-operator to be created: a SidecarSet injects",
	}, {
		name: "a SidecarSet injects, the mutating configuration has only someone else's entry",
		s: ServingState{Name: "sidecarset-operator", Validating: validating, ServingCert: cert, ExpectMutating: true,
			Mutating: mutatingOf(mutatingEntry(theirs, viaService(ca.pem)))},
		want: "waiting for the MutatingWebhookConfiguration sidecarset-operator to have the entries of the SidecarSets that inject",
	}, {
		name: "two of three mutating entries with another CA",
		s: ServingState{Name: "sidecarset-operator", Validating: validating, ServingCert: cert, ExpectMutating: true,
			Mutating: mutatingOf(mutatingEntry(logs, viaService(ca.pem)), mutatingEntry(metrics, viaService(otherCA.pem)),
				mutatingEntry(proxy, viaService(otherCA.pem)))},
		want: "waiting for the MutatingWebhookConfiguration sidecarset-operator to carry the CA of this replica's serving certificate: " +
			"2 of its 3 entries do not, such as entry metrics.inject.sidecarset.io: its caBundle does not verify",
	}, {
		name: "an entry left with another CA while no SidecarSet injects: the API server still calls it",
		s: ServingState{Name: "sidecarset-operator", Validating: validating, ServingCert: cert,
			Mutating: mutatingOf(mutatingEntry(logs, viaService(otherCA.pem)))},
		want: "waiting for the MutatingWebhookConfiguration sidecarset-operator to carry the CA of this replica's serving certificate: " +
			"entry logs.inject.sidecarset.io",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.Name == "" {
				tt.s.Name = "sidecarset-operator"
			}
			if tt.s.Now.IsZero() {
				tt.s.Now = start.Add(time.Hour)
			}
			err := Serving(tt.s)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("not ready: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ready, want %q", tt.want)
			}
			prefix, contains, _ := strings.Cut(tt.want, "|")
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), contains) {
				t.Errorf("reason:\n  %s\nwant it to start with\n  %s\nand contain %q", err, prefix, contains)
			}
		})
	}
}

func TestHasEntries(t *testing.T) {
	deleting := sidecarSet(t, "deleting", `{selector: {matchLabels: {app: web}}}`)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	none := []appsv1alpha1.SidecarSet{
		sidecarSet(t, "paused", `{selector: {matchLabels: {app: web}}, injectionStrategy: {paused: true}}`),
		sidecarSet(t, "broken", `{selector: {matchExpressions: [{key: app, operator: In}]}}`),
		sidecarSet(t, "empty", `{selector: {}}`),
		deleting,
	}
	if HasEntries(none, params) {
		t.Error("an entry expected from SidecarSets that get none")
	}
	if HasEntries(nil, params) {
		t.Error("an entry expected with no SidecarSet")
	}
	some := append(none, sidecarSet(t, "logs", `{selector: {matchLabels: {app: web}}}`))
	if !HasEntries(some, params) {
		t.Error("no entry expected with an injecting SidecarSet")
	}
	// HasEntries agrees with Desired.
	for _, sets := range [][]appsv1alpha1.SidecarSet{none, some} {
		entries, _ := Desired(sets, params)
		if HasEntries(sets, params) != (len(entries) > 0) {
			t.Errorf("HasEntries disagrees with Desired for %d SidecarSets", len(sets))
		}
	}
}
