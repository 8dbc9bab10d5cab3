package main

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.metricsAddr != ":8443" || !o.metricsSecure {
		t.Errorf("metrics should default to HTTPS on :8443, got %q secure=%v", o.metricsAddr, o.metricsSecure)
	}
	if o.probeAddr != ":8081" || o.leaderElect || o.enableHTTP2 || o.pprofAddr != "0" {
		t.Errorf("unexpected defaults: %+v", o)
	}
}

func TestParseFlagsRefusesUnknownAndMalformedFlags(t *testing.T) {
	for _, args := range [][]string{{"--metrics-adress=:9090"}, {"--kube-api-burst=lots"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%s: accepted", strings.Join(args, " "))
		}
	}
	o, err := parseFlags([]string{"--leader-elect", "--kube-api-qps=200", "--zap-devel"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.leaderElect || o.kubeAPIQPS != 200 || !o.zap.Development {
		t.Errorf("flags not applied: %+v", o)
	}
}

func TestParseFlagsRefusesBadWebhookSettings(t *testing.T) {
	tests := []struct {
		flag    string
		wantErr string
	}{
		{"--webhook-certs=manual", `--webhook-certs must be "rotate" or "external", not "manual"`},
		{"--webhook-failure-policy=Retry", `--webhook-failure-policy must be Fail or Ignore, not "Retry"`},
		{"--webhook-timeout-seconds=30", "--webhook-timeout-seconds must be from 1 to 10, not 30"},
		{"--webhook-url=http://localhost:9443", `--webhook-url must be an https URL such as https://localhost:9443, not "http://localhost:9443"`},
		{"--webhook-url=https://127.0.0.1:9443", "--webhook-url host 127.0.0.1 is an IP address, which the rotated certificate cannot name: use a DNS name such as localhost, or --webhook-certs=external with a certificate for that address"},
		{"--namespace=", "--namespace must not be empty"},
		{"--concurrent-sidecarset-syncs=0", "--concurrent-sidecarset-syncs must be at least 1, not 0"},
	}
	for _, tt := range tests {
		_, err := parseFlags([]string{tt.flag})
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: error %v, want %q", tt.flag, err, tt.wantErr)
		}
	}
}

func TestWebhookClientConfig(t *testing.T) {
	o, err := parseFlags([]string{"--namespace=ops"})
	if err != nil {
		t.Fatal(err)
	}
	cc := o.clientConfig()
	if cc.URL != nil || cc.Service == nil || cc.Service.Namespace != "ops" || cc.Service.Name != "sidecarset-operator-webhook" ||
		*cc.Service.Path != "/inject-v1-pod" || *cc.Service.Port != 443 {
		t.Errorf("service client config = %+v", cc)
	}
	if name, extra := o.certDNSNames(); name != "sidecarset-operator-webhook.ops.svc" || len(extra) != 1 || extra[0] != name+".cluster.local" {
		t.Errorf("certificate names = %s %v", name, extra)
	}
	o, _ = parseFlags([]string{"--webhook-url=https://localhost:9443"})
	if cc := o.clientConfig(); cc.Service != nil || *cc.URL != "https://localhost:9443/inject-v1-pod" {
		t.Errorf("URL client config = %+v", cc)
	}
	if name, _ := o.certDNSNames(); name != "localhost" {
		t.Errorf("certificate name = %s", name)
	}
}

func TestSetGCPercentDefaultsTo50AndLeavesAChosenGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	setGCPercent("")
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GC percent %d without GOGC, want %d", got, defaultGCPercent)
	}
	debug.SetGCPercent(123) // as the runtime applies GOGC=123 at start
	setGCPercent("123")
	if got := debug.SetGCPercent(100); got != 123 {
		t.Errorf("GC percent %d with GOGC=123, want it left at 123", got)
	}
}

// The certificate Secret the operator creates is one the rotator takes as valid, so it does not make another at
// start: a CA valid for itself, and a serving certificate it signs for the webhook's host, both still valid at
// the rotator's renewal horizon (90 days ahead).
func TestNewCertSecretIsValidForTheRotator(t *testing.T) {
	o, err := parseFlags([]string{"--webhook-url=https://localhost:9443", "--namespace=ops"})
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ops", Name: "cert"}
	cr := o.certRotator(key)
	now := time.Now()
	s, err := newCertSecret(key, cr, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace != "ops" || s.Name != "cert" {
		t.Errorf("Secret %s/%s", s.Namespace, s.Name)
	}
	horizon := now.Add(90 * 24 * time.Hour)
	if ok, err := rotator.ValidCert(s.Data["ca.crt"], s.Data["ca.crt"], s.Data["ca.key"], cr.CAName, nil, horizon); !ok {
		t.Errorf("the CA is not valid for the rotator: %v", err)
	}
	if ok, err := rotator.ValidCert(s.Data["ca.crt"], s.Data["tls.crt"], s.Data["tls.key"], "localhost", cr.ExtKeyUsages, horizon); !ok {
		t.Errorf("the serving certificate is not valid for the rotator: %v", err)
	}
	if ok, _ := rotator.ValidCert(s.Data["ca.crt"], s.Data["tls.crt"], s.Data["tls.key"], "localhost", cr.ExtKeyUsages, now.Add(366*24*time.Hour)); ok {
		t.Error("the serving certificate outlives the rotator's ServerCertDuration")
	}
	if len(cr.Webhooks) != 0 {
		t.Errorf("the rotator writes webhook configurations %+v: the webhook configuration reconciler injects the CA", cr.Webhooks)
	}
}
