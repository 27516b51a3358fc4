package caddymodule

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

func TestSignedAssertion(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, `		assertion {
			audience orders-service
			ttl 2m
		}`))

	token := idp.AccessToken(t, nil)
	req, _ := http.NewRequest("GET", base+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Cognito-Assertion", "forged")
	res := doRequest(t, req)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	got := res.echoed(t).Header["X-Cognito-Assertion"]
	if len(got) != 1 || got[0] == "forged" {
		t.Fatalf("upstream assertion = %q", got)
	}

	// The upstream verifies it with the keys the gateway publishes, without credentials.
	jwks := do(t, "GET", base+"/.well-known/cognito-assertion/jwks.json", nil)
	if jwks.status != 200 || jwks.header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("JWKS: %d %s", jwks.status, jwks.body)
	}
	set, err := jwk.Parse(jwks.body)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jwt.Parse([]byte(got[0]), jwt.WithKeySet(set), jwt.WithIssuer("caddy-cognito"),
		jwt.WithAudience("orders-service"), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	if sub, _ := claims.Subject(); sub != testidp.Subject {
		t.Errorf("sub = %q", sub)
	}
	var kind, username string
	var groups []any
	_ = claims.Get("kind", &kind)
	_ = claims.Get("username", &username)
	_ = claims.Get("groups", &groups)
	if kind != "user_pool" || username != "alice@example.com" || len(groups) != 2 {
		t.Errorf("kind=%q username=%q groups=%v", kind, username, groups)
	}
	iat, _ := claims.IssuedAt()
	exp, _ := claims.Expiration()
	if d := exp.Sub(iat); d != 2*60e9 {
		t.Errorf("assertion lifetime %s, want 2m", d)
	}
	if strings.Contains(got[0], token) {
		t.Error("the assertion embeds the caller's token")
	}

	// Signing is reused for the same identity within half the lifetime.
	if again := doRequest(t, mustRequest(t, base+"/orders", token)).echoed(t).Header["X-Cognito-Assertion"]; len(again) != 1 || again[0] != got[0] {
		t.Error("a second request of the same caller got a new assertion")
	}
	// Another caller gets their own.
	other := idp.AccessToken(t, map[string]any{"sub": "another-sub", "username": "bob"})
	if theirs := doRequest(t, mustRequest(t, base+"/orders", other)).echoed(t).Header["X-Cognito-Assertion"]; len(theirs) != 1 || theirs[0] == got[0] {
		t.Error("two callers share an assertion")
	}
}

func mustRequest(t *testing.T, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// TestAssertionUnavailableCounted makes signing fail (a token that expired within the clock skew is
// still valid, but no assertion can be signed for it) and checks that the 503 is counted as what was
// answered, never as an allow.
func TestAssertionUnavailableCounted(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, `	metrics /metrics
	cognito_authorizer /orders* {
`+userPool(idp)+`		assertion
	}
	reverse_proxy `+echo.URL)

	before := do(t, "GET", base+"/metrics", nil).body
	expired := idp.AccessToken(t, map[string]any{"exp": time.Now().Add(-10 * time.Second).Unix()})
	res := do(t, "GET", base+"/orders", map[string]string{"Authorization": "Bearer " + expired})
	if res.status != http.StatusServiceUnavailable || refusal(t, res) != "Service Unavailable" {
		t.Fatalf("status %d, body %s; want 503", res.status, res.body)
	}
	after := do(t, "GET", base+"/metrics", nil).body
	for series, want := range map[string]float64{
		`caddy_cognito_decisions_total{outcome="deny",reason="assertion_unavailable"}`: 1,
		`caddy_cognito_decisions_total{outcome="allow",reason="allowed"}`:              0,
		`caddy_cognito_decisions_total{outcome="allow",reason=""}`:                     0,
	} {
		if got := metricValue(after, series) - metricValue(before, series); got != want {
			t.Errorf("%s grew by %v, want %v", series, got, want)
		}
	}
}

// testAssertionSigner signs with keys derived from secret, as the cognito app's key_secret has it.
func testAssertionSigner(t testing.TB, secret string) *assertionSigner {
	t.Helper()
	keys, err := keyring.NewFromSecret("assertion", keyring.Secret{Current: []byte(secret)}, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &assertionSigner{header: defaultAssertionHeader, issuer: defaultAssertionIssuer, ttl: defaultAssertionTTL,
		jwksPath: defaultAssertionJWKSPath, keys: keys, now: time.Now, generation: signerGenerations.Add(1)}
	s.slot = assertionKey{s.issuer, s.audience, s.ttl}
	return s
}

// TestAssertionReusedPerIdentity: a cached identity's assertion is signed once and reused; a signer
// built by a reload (here with another key secret) signs afresh, with its own keys, and takes the
// identity's one slot over rather than adding one per reload to every cached identity.
func TestAssertionReusedPerIdentity(t *testing.T) {
	id := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "s", ExpiresAt: time.Now().Add(time.Hour)}
	before := testAssertionSigner(t, "the key secret before the reload, 0123456789")
	after := testAssertionSigner(t, "the key secret after the reload, 9876543210ab")
	ctx := t.Context()
	first, err := before.assertion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := before.assertion(ctx, id); again != first {
		t.Error("the assertion was signed again for the same identity")
	}
	renewed, err := after.assertion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(after.keys.JWKS(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if renewed == first {
		t.Fatal("the new signer reused the old signer's assertion")
	}
	if _, err := jwt.Parse([]byte(renewed), jwt.WithKeySet(set), jwt.WithValidate(true)); err != nil {
		t.Errorf("the new signer's assertion does not verify with its keys: %v", err)
	}
	if back, _ := before.assertion(ctx, id); back == first {
		t.Error("the old signer found its assertion still there: each signer keeps a slot of its own")
	}
}
