package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// metricsSite serves an identity pool for guests, a payments route that verifies its credentials with
// replay protection, an admin route for a user pool's admins, and a route whose issuer's JWKS is down.
func metricsSite(idp *testidp.IdP, upstream, downJWKS string) string {
	return `	metrics /metrics
	handle /identity* {
		cognito_identity_pool ` + testIdentityPoolID + ` {
			unauthenticated_role ` + guestRoleARN + `
		}
	}
	handle /pay* {
		cognito_authorizer {
			identity_pool ` + testIdentityPoolID + ` {
				replay_protection
			}
			allow_any_role
			metrics_route payments
		}
		reverse_proxy ` + upstream + `
	}
	handle /admin* {
		cognito_authorizer {
			user_pool us-east-1_Test01 {
				client_id ` + idp.ClientID + `
				issuer ` + idp.Issuer + `
				jwks_url ` + idp.JWKSURL + `
			}
			groups admins
			metrics_route admin
		}
		reverse_proxy ` + upstream + `
	}
	handle /down* {
		cognito_authorizer {
			user_pool us-east-1_Down01 {
				client_id c
				issuer https://down.example.com/us-east-1_Down01
				jwks_url ` + downJWKS + `
			}
		}
		reverse_proxy ` + upstream + `
	}`
}

// scrape is the server's /metrics.
type scrape []byte

func scrapeMetrics(t *testing.T, base string) scrape {
	t.Helper()
	res := do(t, "GET", base+"/metrics", nil)
	if res.status != http.StatusOK {
		t.Fatalf("/metrics: %d", res.status)
	}
	return res.body
}

func (s scrape) value(series string) float64 { return metricValue(s, series) }

// TestMetricsThroughCaddy runs the module in Caddy and checks that each metric moves when its event
// happens: identity-pool calls and credentials by role, replay refusals, decisions by route and rule,
// the token and signing key caches, and the key fetches and key age by issuer; then that a reload
// registers the metrics again without error and keeps counting.
func TestMetricsThroughCaddy(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)
	site := metricsSite(idp, echo.URL, down.URL+"/jwks.json")
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	dir := t.TempDir()
	s := startPoolCaddy(t, dir, site)
	waitForReady(t, s.base+"/admin", idp.AccessToken(t, map[string]any{"cognito:groups": []string{"admins"}}))
	before := scrapeMetrics(t, s.base)

	// The identity pool, through the AWS SDK.
	client := s.client()
	id, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetOpenIdToken(t.Context(), &cognitoidentity.GetOpenIdTokenInput{IdentityId: id.IdentityId}); err == nil {
		t.Fatal("GetOpenIdToken succeeded on a pool without an issuer")
	}
	if res := do(t, "POST", s.base+"/identity", map[string]string{"Content-Type": "application/x-amz-json-1.1",
		"X-Amz-Target": "AWSCognitoIdentityService.ListIdentityPools"}); res.status != http.StatusBadRequest {
		t.Fatalf("an unknown operation: %d", res.status)
	}

	// A signed POST, then the same again: a replay.
	c := out.Credentials
	creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
	body := `{"amount":1}`
	signed := func(body string) *http.Request {
		sum := sha256.Sum256([]byte(body))
		req, _ := http.NewRequest("POST", s.base+"/pay", strings.NewReader(body))
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	first := signed(body)
	replayed := first.Clone(t.Context())
	replayed.Body, replayed.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	if res := doRequest(t, first); res.status != http.StatusOK {
		t.Fatalf("first POST: %d %s", res.status, res.body)
	}
	if res := doRequest(t, replayed); res.status != http.StatusForbidden {
		t.Fatalf("replayed POST: %d %s", res.status, res.body)
	}
	if res := doRequest(t, signed(`{"amount":2}`)); res.status != http.StatusOK {
		t.Fatalf("another POST: %d %s", res.status, res.body)
	}

	// A user who is not an admin, twice (the second from the token cache), and an admin.
	plain := idp.AccessToken(t, map[string]any{"cognito:groups": []string{"ops"}})
	for range 2 {
		if res := do(t, "GET", s.base+"/admin", map[string]string{"Authorization": "Bearer " + plain}); res.status != http.StatusForbidden {
			t.Fatalf("a non-admin: %d", res.status)
		}
	}
	admin := idp.AccessToken(t, map[string]any{"cognito:groups": []string{"admins"}, "jti": "metrics-admin"})
	if res := do(t, "GET", s.base+"/admin", map[string]string{"Authorization": "Bearer " + admin}); res.status != http.StatusOK {
		t.Fatalf("an admin: %d", res.status)
	}

	after := scrapeMetrics(t, s.base)
	grew := map[string]float64{
		`caddy_cognito_identity_pool_calls_total{operation="GetId",outcome="ok"}`:                                                 1,
		`caddy_cognito_identity_pool_calls_total{operation="GetCredentialsForIdentity",outcome="ok"}`:                             1,
		`caddy_cognito_identity_pool_calls_total{operation="GetOpenIdToken",outcome="InvalidIdentityPoolConfigurationException"}`: 1,
		`caddy_cognito_identity_pool_calls_total{operation="unknown",outcome="UnknownOperationException"}`:                        1,
		`caddy_cognito_credentials_issued_total{role="` + guestRoleARN + `"}`:                                                     1,
		`caddy_cognito_replay_refusals_total`:                                                                                     1,
		`caddy_cognito_route_decisions_total{outcome="allow",route="payments",rule=""}`:                                           2,
		`caddy_cognito_route_decisions_total{outcome="deny",route="payments",rule=""}`:                                            1,
		`caddy_cognito_route_decisions_total{outcome="deny",route="admin",rule="groups"}`:                                         2,
		`caddy_cognito_route_decisions_total{outcome="allow",route="admin",rule=""}`:                                              1,
		`caddy_cognito_token_cache_hits_total`:                                                                                    1,
		`caddy_cognito_token_cache_misses_total`:                                                                                  2,
		`caddy_cognito_signing_key_cache_misses_total`:                                                                            1,
		`caddy_cognito_signing_key_cache_hits_total`:                                                                              2,
	}
	for series, want := range grew {
		if got := after.value(series) - before.value(series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{`caddy_cognito_token_cache_entries`, `caddy_cognito_signing_key_cache_entries`, `caddy_cognito_session_cache_entries`} {
		if after.value(series) < 1 {
			t.Errorf("%s is %v, want at least 1", series, after.value(series))
		}
	}
	if got := after.value(`caddy_cognito_jwks_fetches_total{issuer="` + idp.JWKSURL + `",outcome="ok"}`); got < 1 {
		t.Errorf("%v fetches of %s counted, want at least 1", got, idp.JWKSURL)
	}
	age := `caddy_cognito_jwks_key_age_seconds{issuer="` + idp.JWKSURL + `"}`
	if !strings.Contains(string(after), age+" ") || after.value(age) < 0 || after.value(age) > 60 {
		t.Errorf("%s is %v (present: %v), want between 0 and 60", age, after.value(age), strings.Contains(string(after), age+" "))
	}
	downFailed := `caddy_cognito_jwks_fetches_total{issuer="` + down.URL + `/jwks.json",outcome="error"}`
	waitFor(t, downFailed+" to count a failure", func() bool { return scrapeMetrics(t, s.base).value(downFailed) >= 1 })
	if strings.Contains(string(after), `caddy_cognito_jwks_key_age_seconds{issuer="`+down.URL) {
		t.Error("an issuer whose keys were never fetched has a key age")
	}

	// A reload registers every collector with the new configuration's registry.
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
	}
}
%s {
%s
}
`, dir, filepath.Join(dir, "server.log"), s.base, site)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("reloading: %v", err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	res := doAfterReload(t, func() *http.Request {
		req, _ := http.NewRequest("GET", s.base+"/admin", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		return req
	})
	if res.status != http.StatusOK {
		t.Fatalf("an admin after the reload: %d", res.status)
	}
	reloaded := scrapeMetrics(t, s.base)
	series := `caddy_cognito_route_decisions_total{outcome="allow",route="admin",rule=""}`
	if got := reloaded.value(series) - after.value(series); got != 1 {
		t.Errorf("after a reload, %s grew by %v, want 1", series, got)
	}
	if got := reloaded.value(`caddy_cognito_token_cache_hits_total`) - after.value(`caddy_cognito_token_cache_hits_total`); got != 1 {
		t.Errorf("after a reload, the token cache hits grew by %v, want 1 (the cache outlives the reload)", got)
	}
	for _, name := range []string{"caddy_cognito_jwks_key_age_seconds", "caddy_cognito_decisions_total", "caddy_cognito_replay_refusals_total"} {
		if n := strings.Count(string(reloaded), "# TYPE "+name+" "); n != 1 {
			t.Errorf("after a reload, %s is described %d times, want once", name, n)
		}
	}
}

// waitForReady polls url with token until it is allowed: the first JWKS fetch has happened.
func waitForReady(t *testing.T, url, token string) {
	t.Helper()
	waitFor(t, "the first JWKS fetch", func() bool {
		return do(t, "GET", url, map[string]string{"Authorization": "Bearer " + token}).status == http.StatusOK
	})
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
