package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeJWT(t *testing.T) {
	t.Parallel()
	b64 := base64.RawURLEncoding.EncodeToString
	header, claims := `{"alg":"RS256","kid":"k1"}`, `{"sub":"alice","exp":1700000000}`
	valid := b64([]byte(header)) + "." + b64([]byte(claims)) + ".c2lnbmF0dXJl"
	cases := []struct{ name, token, want string }{
		{"valid", valid, ""},
		{"with its Bearer prefix", "Bearer " + valid, ""},
		{"two parts", b64([]byte(header)) + "." + b64([]byte(claims)), "2 dot-separated parts, want 3"},
		{"a JWE's five parts", "a.b.c.d.e", "5 dot-separated parts"},
		{"padded base64", b64([]byte(header)) + "==." + b64([]byte(claims)) + ".c2ln", "the header is not unpadded base64url"},
		{"claims not an object", b64([]byte(header)) + "." + b64([]byte(`["secret-value"]`)) + ".c2ln", "the claims are not a JSON object"},
		{"claims null", b64([]byte(header)) + "." + b64([]byte(`null`)) + ".c2ln", "the claims are not a JSON object"},
		{"unsigned (alg none)", b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(claims)) + ".", "the signature is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, c, err := decodeJWT(tc.token)
			if tc.want == "" {
				if err != nil || string(h) != header || string(c) != claims {
					t.Fatalf("decodeJWT = %s, %s, %v; want the header and the claims", h, c, err)
				}
				return
			}
			if !errors.Is(err, errNotJWT) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want errNotJWT saying %q", err, tc.want)
			}
			// What the user pasted may be a secret: the error never repeats it.
			for _, part := range strings.Split(tc.token, ".") {
				if len(part) > 3 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q repeats part of the token", err)
				}
			}
		})
	}
}

// TestWithJWKSURL checks that --jwks-file replaces the keys of the issuers the authorizers trust, and
// of nothing else (an identity pool's login keeps its own).
func TestWithJWKSURL(t *testing.T) {
	t.Parallel()
	cfg := `{"apps":{"http":{"servers":{"srv0":{"routes":[{"handle":[
		{"handler":"cognito_authorizer","user_pools":[{"id":"us-east-1_A","jwks_url":"https://a.example/keys"}],"oidc":[{"issuer":"https://o.example/"}]},
		{"handler":"cognito_identity_pool","logins":[{"provider":"p","user_pools":[{"jwks_url":"https://login.example/keys"}]}]},
		{"handler":"authentication","providers":{"cognito":{"user_pools":[{"id":"us-east-1_B"}]}}}
	]}]}}}}}`
	out, err := withJWKSURL([]byte(cfg), "http://127.0.0.1:1/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []map[string]json.RawMessage
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	h := doc.Apps.HTTP.Servers["srv0"].Routes[0].Handle
	for i, want := range []string{
		`[{"id":"us-east-1_A","jwks_url":"http://127.0.0.1:1/jwks.json"}]`,
		`[{"issuer":"https://o.example/","jwks_url":"http://127.0.0.1:1/jwks.json"}]`,
		`[{"provider":"p","user_pools":[{"jwks_url":"https://login.example/keys"}]}]`,
		`{"cognito":{"user_pools":[{"id":"us-east-1_B","jwks_url":"http://127.0.0.1:1/jwks.json"}]}}`,
	} {
		var got json.RawMessage
		switch i {
		case 0:
			got = h[0]["user_pools"]
		case 1:
			got = h[0]["oidc"]
		case 2:
			got = h[1]["logins"]
		case 3:
			got = h[2]["providers"]
		}
		if string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestTokenTimes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	got := tokenTimes(json.RawMessage(`{"exp":1700003600,"iat":1699999940,"nbf":"soon"}`), now)
	want := "exp 2023-11-14T23:13:20Z (in 1h0m0s), iat 2023-11-14T22:12:20Z (1m0s ago)"
	if got != want {
		t.Errorf("tokenTimes = %q, want %q", got, want)
	}
}
