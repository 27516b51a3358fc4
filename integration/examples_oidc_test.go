package integration

// examples/oidc: the tokens of any OIDC issuer, its keys found by discovery.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// TestExampleOIDC runs examples/oidc with an issuer the test serves: its discovery document names a
// JWKS elsewhere (the test IdP's), so a token verifies only if the gateway discovered where the keys
// are, as the Caddyfile (which names no jwks_url) says it does.
func TestExampleOIDC(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	var discoveries atomic.Int32
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		discoveries.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": "http://" + r.Host, "jwks_uri": idp.JWKSURL, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	}))
	t.Cleanup(issuer.Close)
	const audience = "https://api.example.test"
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("oidc", "Caddyfile"),
		"OIDC_ISSUER="+issuer.URL, "OIDC_AUDIENCE="+audience, "UPSTREAM="+up.Addr)
	token := func(extra map[string]any) string {
		now := time.Now().Unix()
		claims := map[string]any{"iss": issuer.URL, "sub": "oidc-user-1", "aud": audience, "iat": now, "exp": now + 600}
		for k, v := range extra {
			claims[k] = v
		}
		return idp.Sign(t, claims)
	}

	t.Run("a token of the issuer, its keys found by discovery", func(t *testing.T) {
		resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + token(nil)}})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s, want 200", resp.StatusCode, body)
		}
		wantHeaders(t, decodeEcho(t, string(body)), map[string]string{"X-Cognito-Sub": "oidc-user-1"})
		if discoveries.Load() == 0 {
			t.Error("the gateway never fetched the issuer's openid-configuration")
		}
	})
	t.Run("README commands", func(t *testing.T) {
		// What the README says the upstream gets: the subject, the groups of a token that has
		// cognito:groups, and not the username (without a forward line naming it).
		tok := token(map[string]any{"cognito:groups": []string{"ops"}, "preferred_username": "oidc-alice"})
		out := runReadme(t, examplePath("oidc", "README.md"), srv.BaseURL, "ID_TOKEN="+tok).ok(t)
		wantHeaders(t, decodeEcho(t, out), map[string]string{"X-Cognito-Sub": "oidc-user-1", "X-Cognito-Groups": "ops", "X-Cognito-Username": ""})
	})
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		for name, tok := range map[string]string{
			"another audience": token(map[string]any{"aud": "https://other.example.test"}),
			"another issuer":   token(map[string]any{"iss": idp.Issuer}),
			"expired":          token(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}),
		} {
			if resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + tok}}); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", name, resp.StatusCode)
			}
		}
		if up.Count() != before {
			t.Error("a refused request reached the upstream")
		}
	})
}

// TestExampleOIDCNeedsItsIssuer checks that examples/oidc names no issuer of its own: without
// OIDC_ISSUER and OIDC_AUDIENCE it does not start.
func TestExampleOIDCNeedsItsIssuer(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(examplePath("oidc", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	_, required := caddyfileVars(string(text))
	for _, v := range []string{"OIDC_ISSUER", "OIDC_AUDIENCE"} {
		if !slices.Contains(required, v) {
			t.Errorf("examples/oidc/Caddyfile gives %s a default: it must come from the user", v)
		}
	}
	if regexp.MustCompile(`(?m)^\s*jwks_url`).Match(text) || strings.Contains(string(text), "OIDC_JWKS_URL") {
		t.Error("examples/oidc/Caddyfile names a JWKS URL: it must discover its issuer's")
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"OIDC_AUDIENCE=a"}, "oidc needs exactly one argument: the issuer URL"},
		{[]string{"OIDC_ISSUER=" + unreachable}, "audience needs at least one value"},
	} {
		out, err := runCaddyCommand(t, caddyBinary(t), "examples/oidc/Caddyfile", tt.env, "adapt", "--config", examplePath("oidc", "Caddyfile"))
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("adapt with %v: %v, want an error saying %q\n%s", tt.env, err, tt.want, out)
		}
	}
}
