package main

import (
	"strings"
	"testing"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.metricsAddr != ":8443" || !o.metricsSecure {
		t.Errorf("metrics should default to HTTPS on :8443, got %q secure=%v", o.metricsAddr, o.metricsSecure)
	}
	if o.probeAddr != ":8081" || o.leaderElect || o.enableHTTP2 {
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
