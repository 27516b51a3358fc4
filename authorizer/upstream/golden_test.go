package upstream_test

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of what goes upstream")

// goldenIdentities are the callers whose upstream projection is pinned by testdata: the files were
// written by the code in caddymodule before it moved here, and must not change unless the contract does.
func goldenIdentities() map[string]*identity.Identity {
	exp := time.Date(2100, 1, 2, 3, 4, 5, 0, time.UTC)
	const provider = "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
	return map[string]*identity.Identity{
		"jwt_user": {
			Kind: identity.KindUserPool, Authenticated: true,
			Issuer:   "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
			Subject:  "8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c",
			Username: "alice\r\nX-Injected: 1", ClientID: "client-1", TokenUse: "access",
			Groups: []string{"admins", "ops,eu", "100%"}, Scopes: []string{"orders/read", "orders/write"},
			Claims: map[string]any{
				"sub": "8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c", "token_use": "access", "auth_time": json.Number("1700000000"),
				"cognito:groups": []any{"admins", "ops,eu", "100%"}, "email_verified": true, "custom:tenant": "t1",
				"nested": map[string]any{"a": json.Number("1"), "b": []any{"x"}}, "nothing": nil, "line": "a\nb",
			},
			ExpiresAt: exp,
		},
		"oidc_user": {
			Kind: identity.KindOIDC, Authenticated: true, Issuer: "https://issuer.example.com/", Subject: "google-oauth2|42",
			Username: "bob", ClientID: "aud-1", Claims: map[string]any{"sub": "google-oauth2|42", "aud": []any{"aud-1", "aud-2"}},
			ExpiresAt: exp,
		},
		"guest": {
			Kind: identity.KindIdentityPool, Subject: "us-east-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
			Pool: &identity.PoolCredentials{
				IdentityID:     "us-east-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
				IdentityPoolID: "us-east-1:11111111-2222-3333-4444-555555555555",
				RoleARN:        "arn:aws:iam::123456789012:role/Guest",
				AccessKeyID:    "ASIAAAAAAAAAAAAAAAA1",
			},
			ExpiresAt: exp,
		},
		"identity_pool_user": {
			Kind: identity.KindIdentityPool, Authenticated: true, Subject: "us-east-1:0a1b2c3d-bbbb-4ccc-8ddd-eeeeeeeeeeee",
			Pool: &identity.PoolCredentials{
				IdentityID:             "us-east-1:0a1b2c3d-bbbb-4ccc-8ddd-eeeeeeeeeeee",
				IdentityPoolID:         "us-east-1:11111111-2222-3333-4444-555555555555",
				RoleARN:                "arn:aws:iam::123456789012:role/service-role/Orders%Admin",
				PrincipalTags:          map[string]string{"tenant": "t1", "team": "a\tb"},
				LoginProviders:         []string{provider},
				AuthenticationProvider: provider + "," + provider + ":CognitoSignIn:8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c",
				AccessKeyID:            "ASIAAAAAAAAAAAAAAAA2",
			},
			ExpiresAt: exp,
		},
		"anonymous": identity.Anonymous(),
	}
}

// goldenPlaceholders are the {cognito.*} names (without the prefix) the golden files record.
var goldenPlaceholders = []string{
	"kind", "authenticated", "user_id", "issuer", "sub", "subject", "username", "client_id", "token_use",
	"groups", "scopes", "identity_id", "identity_pool_id", "role_arn", "authentication_type",
	"authentication_provider", "login_providers", "expires_at",
	"claims.sub", "claims.cognito:groups", "claims.auth_time", "claims.email_verified", "claims.nested",
	"claims.nothing", "claims.line", "claims.aud", "claims.missing",
	"principal_tags.tenant", "principal_tags.team", "principal_tags.missing", "nope",
}

// golden is what one identity sends upstream.
type golden struct {
	UserID       string            `json:"user_id"`
	Headers      [][2]string       `json:"headers"` // forward all, context_header on
	Default      []string          `json:"default_headers"`
	Context      string            `json:"context"`
	Placeholders map[string]string `json:"placeholders"`
	Metadata     map[string]string `json:"metadata"`
	Claims       map[string]any    `json:"claims"`
}

// typed shows a placeholder value with its Go type, which Caddy's expressions see.
func typed(v any, ok bool) string {
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%T %v", v, v)
}

// TestUpstreamGolden pins what goes upstream for a few callers, byte for byte: the X-Cognito-* headers
// in order, the context JSON, the placeholders with their types, the authentication metadata and the
// assertion claims. Regenerate with -update only for a deliberate change of the contract.
func TestUpstreamGolden(t *testing.T) {
	t.Parallel()
	for name, id := range goldenIdentities() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := golden{UserID: upstream.UserID(id), Headers: [][2]string{}, Placeholders: map[string]string{},
				Metadata: upstream.Metadata(id), Default: []string{}}
			var lean upstream.Forward
			for _, h := range lean.Headers(id) {
				got.Default = append(got.Default, h.Name)
			}
			for _, h := range upstream.ForwardAll.Headers(id) {
				got.Headers = append(got.Headers, [2]string{h.Name, h.Value})
				if h.Name == upstream.HeaderContext {
					b, err := base64.RawURLEncoding.DecodeString(h.Value)
					if err != nil {
						t.Fatal(err)
					}
					if string(b) != string(upstream.Context(id)) {
						t.Errorf("%s is not Context", upstream.HeaderContext)
					}
					got.Context = string(b)
				}
			}
			for _, key := range goldenPlaceholders {
				got.Placeholders[key] = typed(upstream.Placeholder(id, key))
			}
			if id.Kind != identity.KindNone {
				// As the assertion's JSON payload carries them.
				b, err := json.Marshal(upstream.Claims(id))
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &got.Claims); err != nil {
					t.Fatal(err)
				}
			}
			checkGolden(t, filepath.Join("testdata", name+".json"), got)
		})
	}
}

func checkGolden(t *testing.T, path string, got golden) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *updateGolden {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Errorf("%s differs from what goes upstream now:\n%s", path, b)
	}
}
