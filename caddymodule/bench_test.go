package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/caddy-cognito/caddy-cognito/authorizer"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// BenchmarkHandlerCachedJWT is the gateway's overhead on a request with a cached access token: the
// whole handler (path check, credentials, verification from the cache, the built-in policy with a
// groups and a scopes rule, the default headers and placeholders for the upstream), next handler
// excluded, on varied paths.
func BenchmarkHandlerCachedJWT(b *testing.B) {
	serve, h, _ := cachedJWTServer(b, newRouteMetrics("bench", false), func(*gate) {})
	serve() // the first verification fills the cache
	// As provisioned, with the stream guard that watches every allowed request, and without it.
	for _, bc := range []struct {
		name    string
		streams *streamGuard
	}{{"provisioned", newStreamGuard(defaultStreamGrace, zap.NewNop())}, {"no stream guard", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			h.gate.streams = bc.streams
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
		})
	}
}

// BenchmarkHandlerForwarded is BenchmarkHandlerCachedJWT for each thing a route may add to what the
// upstream receives: what it costs in process (the README's table of costs). End to end, every header
// also costs its writing, reverse_proxy's logging and the upstream's parsing.
func BenchmarkHandlerForwarded(b *testing.B) {
	all, err := upstream.NewForward([]string{upstream.All}, false)
	if err != nil {
		b.Fatal(err)
	}
	context, err := upstream.NewForward(nil, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		setup func(*gate)
	}{
		{"default", func(*gate) {}},
		{"forward_all", func(g *gate) { g.forwarded = all }},
		{"context_header_on", func(g *gate) { g.forwarded = context }},
		{"forward_all_context_header_on", func(g *gate) { g.forwarded = upstream.ForwardAll }},
		{"assertion", func(g *gate) {
			g.assertion = testAssertionSigner(b, "bench: an assertion key secret of 32+ bytes, 7f3a")
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			serve, h, token := cachedJWTServer(b, nil, bc.setup)
			serve() // the first verification fills the cache
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
			b.ReportMetric(float64(forwardedBytes(b, h, token)), "upstream-B/op")
		})
	}
}

// forwardedBytes is what one request through h, with token, adds to the upstream request, in bytes of
// header lines.
func forwardedBytes(tb testing.TB, h *Handler, token string) int {
	tb.Helper()
	r := httptest.NewRequest("GET", "http://api.example.com/orders/0?x=1", nil)
	r.Header.Set("Authorization", token)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for name, vs := range r.Header {
		if strings.HasPrefix(name, "X-Cognito-") {
			n += len(name) + len(vs[0]) + 4 // "Name: value\r\n"
		}
	}
	return n
}

// cachedJWTServer returns a function that serves one request of BenchmarkHandlerCachedJWT, counting
// its decisions in metrics (nil: in none), the handler it calls, whose gate setup adjusts, and the
// Authorization header it sends.
func cachedJWTServer(tb testing.TB, metrics *routeMetrics, setup func(*gate)) (func(), *Handler, string) {
	idp := testidp.New(tb)
	keys, err := userpool.NewKeySet(userpool.KeySetConfig{JWKSURL: idp.JWKSURL, Algorithms: []string{"RS256"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = keys.Close() })
	verifier, err := userpool.NewVerifier([]userpool.Issuer{{
		Kind: identity.KindUserPool, Issuer: idp.Issuer, ClientIDs: []string{idp.ClientID}, Keys: keys,
	}}, userpool.Options{Cache: userpool.NewTokenCache(0)})
	if err != nil {
		tb.Fatal(err)
	}
	engine, err := policy.New(context.Background(), policy.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { engine.Close(context.Background()) })
	rules, err := policy.NewRules([]string{"admins"}, []string{"orders/read"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h := &Handler{gate: &gate{authz: authorizer.New(authorizer.Config{Tokens: verifier, Policy: engine, Rules: rules}),
		logger: zap.NewNop(), metrics: metrics}}
	setup(h.gate)
	token := "Bearer " + idp.AccessToken(tb, map[string]any{"email": "alice@example.com", "custom:tenant_id": "t1"})
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()

	paths := make([]string, 64)
	for i := range paths {
		paths[i] = fmt.Sprintf("http://api.example.com/orders/%d?x=1", i)
	}
	i := 0
	return func() {
		i++
		r := httptest.NewRequest("GET", paths[i%len(paths)], nil)
		r.Header.Set("Authorization", token)
		r.Header.Set("User-Agent", "bench")
		r.Header.Set("Accept", "application/json")
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, next); err != nil {
			tb.Fatal(err)
		}
		if r.Header.Get("X-Cognito-Sub") == "" {
			tb.Fatal("not allowed")
		}
	}, h, token
}

// TestMetricsAddNoAllocation checks that counting a decision by route costs the handler no allocation:
// BenchmarkHandlerCachedJWT's request, with and without route metrics.
func TestMetricsAddNoAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	measure := func(m *routeMetrics) float64 {
		serve, _, _ := cachedJWTServer(t, m, func(*gate) {})
		for range 128 { // every path in the memo and the token in the cache
			serve()
		}
		return testing.AllocsPerRun(500, serve)
	}
	without := measure(nil)
	with := measure(newRouteMetrics("allocs", false))
	t.Logf("allocs/op: %v without route metrics, %v with", without, with)
	if with > without {
		t.Errorf("route metrics add %v allocations per request (%v, %v without)", with-without, with, without)
	}
}

// BenchmarkRequestSetup is what BenchmarkHandlerCachedJWT spends building its request, to subtract.
func BenchmarkRequestSetup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "http://api.example.com/orders/42?x=1", nil)
		r.Header.Set("Authorization", "Bearer x")
		r.Header.Set("User-Agent", "bench")
		r.Header.Set("Accept", "application/json")
		repl := caddy.NewReplacer()
		_ = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	}
}

// BenchmarkHandlerSigV4 is the gateway's overhead on a SigV4 POST with a 1 KiB body signed with
// identity-pool credentials: the whole handler (path check, signature over the buffered body, session
// token opened or remembered, the built-in policy, headers for the upstream), on varied paths.
func BenchmarkHandlerSigV4(b *testing.B) {
	ctx := context.Background()
	const poolID = "us-east-1:11111111-2222-3333-4444-555555555555"
	keys, err := identitypool.NewKeyRing(ctx, keyring.NewMemoryStorage(), poolID, keyring.Options{})
	if err != nil {
		b.Fatal(err)
	}
	secret := strings.Repeat("s", 40)
	token, err := keys.SealSession(ctx, &identitypool.Session{
		AccessKeyID: "ASIAAAAAAAAAAAAAAAA1", SecretAccessKey: secret, IdentityID: "us-east-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
		PoolID: poolID, RoleARN: "arn:aws:iam::123456789012:role/Guest", Expires: time.Now().Add(time.Hour),
	})
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := sigv4.NewVerifier(authorizer.SessionCredentials(keys), sigv4.Options{Region: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policy.New(ctx, policy.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { engine.Close(ctx) })
	// The built-in policy denies identity-pool callers on a route without role policies; this route
	// opts out (allow_any_role), so what is measured is verification, not an IAM evaluation.
	anyRole, err := (*policy.Rules)(nil).WithAnyRole()
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{gate: &gate{authz: authorizer.New(authorizer.Config{Signatures: verifier, Policy: engine, Rules: anyRole}), logger: zap.NewNop()}}

	body := strings.Repeat("x", 1024)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "ASIAAAAAAAAAAAAAAAA1", SecretAccessKey: secret, SessionToken: token}
	signed := make([]http.Header, 64)
	for i := range signed {
		r := httptest.NewRequest("POST", fmt.Sprintf("http://api.example.com/items/%d", i), strings.NewReader(body))
		if err := v4.NewSigner().SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
			b.Fatal(err)
		}
		signed[i] = r.Header
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	i := 0
	serve := func() {
		i++
		r := httptest.NewRequest("POST", fmt.Sprintf("http://api.example.com/items/%d", i%len(signed)), strings.NewReader(body))
		r.Header = signed[i%len(signed)].Clone()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		if r.Header.Get("X-Cognito-Identity-Id") == "" {
			b.Fatalf("not allowed: %d %s", w.Code, w.Body)
		}
	}
	serve()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
}
