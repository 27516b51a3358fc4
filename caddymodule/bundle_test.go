package caddymodule

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// policyBundle is a bundle tarball holding one module of package cognito.authz.
func policyBundle(t *testing.T, revision, rego string) []byte {
	t.Helper()
	roots := []string{"cognito/authz"}
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: revision, Roots: &roots},
		Data:     map[string]any{},
		Modules:  []bundle.ModuleFile{{URL: "/authz.rego", Path: "/authz.rego", Raw: []byte("package cognito.authz\n\n" + rego)}},
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBundleWithoutDecisionKeepsLastGood serves a good bundle, then one without the decision: Caddy
// keeps deciding with the good one (no 500), and counts the refused activation.
func TestBundleWithoutDecisionKeepsLastGood(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	var served atomic.Pointer[[]byte]
	good := policyBundle(t, "good", `decision := {"allow": true, "headers": {"X-Revision": "good"}}`+"\n")
	served.Store(&good)
	var requests atomic.Int64
	bundles := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer requests.Add(1)
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(*served.Load())
	}))
	t.Cleanup(bundles.Close)
	opaConfig := filepath.Join(t.TempDir(), "opa.yaml")
	if err := os.WriteFile(opaConfig, []byte(`services:
  bundles:
    url: `+bundles.URL+`
bundles:
  authz:
    service: bundles
    resource: /authz.tar.gz
    polling:
      min_delay_seconds: 1
      max_delay_seconds: 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := runCaddy(t, `	metrics /metrics
	cognito_authorizer /api/* {
`+userPool(idp)+`		opa_config `+opaConfig+`
	}
	reverse_proxy `+echo.URL)

	token := idp.AccessToken(t, nil)
	check := func(when string) {
		t.Helper()
		res := do(t, "GET", base+"/api/x", map[string]string{"Authorization": "Bearer " + token})
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", when, res.status, res.body)
		}
		if got := res.echoed(t).Header["X-Revision"]; len(got) != 1 || got[0] != "good" {
			t.Fatalf("%s: decided by %q, want the good bundle", when, got)
		}
	}
	check("with the good bundle")
	before := do(t, "GET", base+"/metrics", nil).body
	bad := policyBundle(t, "bad", "other := true\n")
	served.Store(&bad)
	deadline := time.Now().Add(10 * time.Second)
	for n := requests.Load() + 2; requests.Load() < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("OPA did not poll the bundle server again")
		}
	}
	check("after a bundle without the decision")
	after := do(t, "GET", base+"/metrics", nil).body
	series := `caddy_cognito_policy_activations_total{outcome="missing_decision"}`
	if got := metricValue(after, series) - metricValue(before, series); got < 1 {
		t.Errorf("%s grew by %v, want at least 1", series, got)
	}
}
