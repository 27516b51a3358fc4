package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// BenchmarkHandlerCachedJWT is the gateway's overhead on a request with a cached access token: the
// whole handler (path check, credentials, verification from the cache, the built-in policy with a
// groups and a scopes rule, headers and placeholders for the upstream), next handler excluded, on
// varied paths.
func BenchmarkHandlerCachedJWT(b *testing.B) {
	idp := testidp.New(b)
	keys, err := userpool.NewKeySet(userpool.KeySetConfig{JWKSURL: idp.JWKSURL, Algorithms: []string{"RS256"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = keys.Close() })
	verifier, err := userpool.NewVerifier([]userpool.Issuer{{
		Kind: identity.KindUserPool, Issuer: idp.Issuer, ClientIDs: []string{idp.ClientID}, Keys: keys,
	}}, userpool.Options{Cache: userpool.NewTokenCache(0)})
	if err != nil {
		b.Fatal(err)
	}
	engine, err := policy.New(context.Background(), policy.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { engine.Close(context.Background()) })
	rules, err := policy.NewRules([]string{"admins"}, []string{"orders/read"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{gate: &gate{authz: authorizer.New(authorizer.Config{Tokens: verifier, Policy: engine, Rules: rules}),
		logger: zap.NewNop()}}
	token := "Bearer " + idp.AccessToken(b, map[string]any{"email": "alice@example.com", "custom:tenant_id": "t1"})
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()

	paths := make([]string, 64)
	for i := range paths {
		paths[i] = fmt.Sprintf("http://api.example.com/orders/%d?x=1", i)
	}
	i := 0
	serve := func() {
		i++
		r := httptest.NewRequest("GET", paths[i%len(paths)], nil)
		r.Header.Set("Authorization", token)
		r.Header.Set("User-Agent", "bench")
		r.Header.Set("Accept", "application/json")
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		if r.Header.Get("X-Cognito-Sub") == "" {
			b.Fatal("not allowed")
		}
	}
	serve() // the first verification fills the cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
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
