package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

func adapt(t *testing.T, body string) ([]byte, error) {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n"+body+"\n}\n"), nil)
	return cfg, err
}

// block is a cognito_authorizer directive with the given block body.
func block(body string) string {
	return "cognito_authorizer {\n" + body + "\n}"
}

// findHandler returns the first handler object named name anywhere in an adapted config, and
// whether the route holding it has a matcher.
func findHandler(node any, name string, matched bool) (json.RawMessage, bool) {
	switch n := node.(type) {
	case map[string]any:
		if n["handler"] == name {
			b, _ := json.Marshal(n)
			return b, matched
		}
		_, hasMatch := n["match"]
		for _, v := range n {
			if b, m := findHandler(v, name, matched || hasMatch); b != nil {
				return b, m
			}
		}
	case []any:
		for _, v := range n {
			if b, m := findHandler(v, name, matched); b != nil {
				return b, m
			}
		}
	}
	return nil, false
}

func TestCaddyfileAdapts(t *testing.T) {
	cfg, err := adapt(t, `
	cognito_authorizer /api/* {
		user_pool eu-west-1_AbC123 {
			client_id one two
			client_id three
			token_use id
		}
		oidc https://example.eu.auth0.com/ {
			audience https://api.example.com
			algorithms RS256 ES256
		}
		allow_anonymous
		clock_skew 30s
		token_cookie session
		groups admins ops
		groups billing
		scopes orders/read
		claim custom:tenant_id segment 1
		policy ./policies/authz.rego ./bundle.tar.gz
		decision data.orders.decision
		opa_config ./opa.yaml
		shadow
		metrics_route orders-api
	}
	respond ok`)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	raw, matched := findHandler(doc, "cognito_authorizer", false)
	if raw == nil || !matched {
		t.Fatalf("no cognito_authorizer under a path matcher in %s", cfg)
	}
	var handler Handler
	if err := json.Unmarshal(raw, &handler); err != nil {
		t.Fatal(err)
	}
	want := Config{
		UserPools:      []UserPool{{ID: "eu-west-1_AbC123", ClientIDs: []string{"one", "two", "three"}, TokenUse: "id"}},
		OIDC:           []OIDCIssuer{{Issuer: "https://example.eu.auth0.com/", Audiences: []string{"https://api.example.com"}, Algorithms: []string{"RS256", "ES256"}}},
		AllowAnonymous: true,
		ClockSkew:      caddy.Duration(30e9),
		TokenCookie:    "session",
		Groups:         []string{"admins", "ops", "billing"},
		Scopes:         []string{"orders/read"},
		Claims:         []policy.ClaimRule{{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1}},
		Policy:         []string{"./policies/authz.rego", "./bundle.tar.gz"},
		Decision:       "data.orders.decision",
		OPAConfigFile:  "./opa.yaml",
		Shadow:         true,
		Route:          "Caddyfile:3",
		MetricsRoute:   "orders-api",
		Lines: map[string]string{"user_pool eu-west-1_AbC123": "Caddyfile:4", "oidc https://example.eu.auth0.com/": "Caddyfile:9",
			"policy": "Caddyfile:20", "opa_config": "Caddyfile:22"},
	}
	got, _ := json.Marshal(handler.Config)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("adapted config\n got %s\nwant %s", got, wantJSON)
	}
}

func TestCaddyfileErrors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown subdirective", block("frobnicate"), `unrecognized subdirective "frobnicate"`},
		{"argument on the directive", "cognito_authorizer us-east-1_X {\n}", "wrong argument count"},
		{"user_pool without id", block("user_pool {\nclient_id a\n}"), "user_pool needs exactly one argument"},
		{"unknown user_pool subdirective", block("user_pool us-east-1_AbC123 {\nclient a\n}"), `unrecognized user_pool subdirective "client"`},
		{"oidc with an empty audience", block("oidc https://idp.example.com {\naudience\n}"), "oidc https://idp.example.com: audience needs at least one value"},
		{"oidc without issuer", block("oidc {\naudience a\n}"), "oidc needs exactly one argument: the issuer URL"},
		{"clock_skew garbage", block("clock_skew soon"), "clock_skew"},
		{"clock_skew twice", block("clock_skew 1s\nclock_skew 2s"), "clock_skew given twice"},
		{"allow_anonymous with argument", block("allow_anonymous yes"), "wrong argument count"},
		{"assertion twice", block("assertion\nassertion"), "assertion given twice"},
		{"context_header maybe", block("context_header maybe"), "context_header takes one argument: on or off"},
		{"forward nothing", block("forward"), "forward needs header names (X-Cognito-Sub, X-Cognito-Username"},
		{"forward a header not ours", block("forward Authorization"), `forward: unknown header "Authorization": the gateway forwards X-Cognito-Sub`},
		{"forward all and more", block("forward all X-Cognito-Username"), "forward all names every header: give it alone"},
		{"forward the context", block("forward X-Cognito-Context"), "X-Cognito-Context is sent with context_header on"},
		{"groups without a group", block("groups"), "groups needs at least one argument"},
		{"scopes without a scope", block("scopes"), "scopes needs at least one argument"},
		{"claim without a source", block("claim custom:tenant_id"), "claim: "},
		{"claim with an unknown source", block("claim custom:tenant_id cookie t"), "claim: "},
		{"policy without a path", block("policy"), "policy needs at least one Rego file"},
		{"decision twice", block("decision data.a.b\ndecision data.c.d"), "decision given twice"},
		{"decision without a ref", block("decision"), "wrong argument count"},
		{"shadow with an argument", block("shadow on"), "wrong argument count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapt(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A configuration that adapts but cannot work is refused when Caddy provisions it, with a message
// that says why: `caddy run` and `caddy reload` refuse it.
func TestProvisionErrors(t *testing.T) {
	badPolicy := filepath.Join(t.TempDir(), "bad.rego") // an error on line 5
	if err := os.WriteFile(badPolicy, []byte("package cognito.authz\n\ndecision := true if {\n\tinput.x ==\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, body, want string }{
		{"nothing accepted", "cognito_authorizer", "no credentials would ever be accepted"},
		{"bad pool id", block("user_pool not-a-pool {\nclient_id a\n}"), "not-a-pool"},
		{"issuer not a URL", block("user_pool us-east-1_AbC123 {\nclient_id a\nissuer ftp://x\n}"), `"ftp://x" is not an http(s) URL`},
		{"policy that does not compile", "cognito_authorizer {\nallow_anonymous\npolicy " + badPolicy + "\n}", "bad.rego:5: rego_parse_error"},
		{"missing policy file", "cognito_authorizer {\nallow_anonymous\npolicy /nonexistent/authz.rego\n}", "/nonexistent/authz.rego"},
		{"undefined decision", "cognito_authorizer {\nallow_anonymous\ndecision data.nothing.here\n}", "data.nothing.here"},
		{"claim on the token's query parameter", block("allow_anonymous\ntoken_query access_token\nclaim custom:tenant_id query access_token"), "carries the token"},
		{"space in a scope", block("allow_anonymous\nscopes \"a b\""), "contains a space"},
		{"clock_skew too large", block("allow_anonymous\nclock_skew 1h"), "between 0 and 10m"},
		{"user_pool without client", block("user_pool us-east-1_AbC123"), "at least one client_id is required"},
		{"bad token_use", block("user_pool us-east-1_AbC123 {\nclient_id a\ntoken_use refresh\n}"), `token_use must be access, id or any, not "refresh"`},
		{"oidc without audience", block("oidc https://idp.example.com"), "at least one audience is required"},
		{"assertion header outside X-Cognito-", block("allow_anonymous\nassertion X-Auth"), "must start with X-Cognito-"},
		{"assertion ttl too long", block("allow_anonymous\nassertion {\nttl 2h\n}"), "between 1s and 1h"},
		{"cors without an origin", block("allow_anonymous\ncors"), "at least one origin"},
		{"cors with a path", block("allow_anonymous\ncors https://app.example.com/login"), "is not an origin"},
		{"cors with a bad header", block("allow_anonymous\ncors * {\nheaders \"a b\"\n}"), "is not a header name"},
		{"metrics_route with a space", block("allow_anonymous\nmetrics_route \"orders api\""), "only letters, digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, tc.body+"\n\trespond ok")
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var c caddy.Config
			if err := json.Unmarshal(cfg, &c); err != nil {
				t.Fatal(err)
			}
			err = caddy.Validate(&c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestProvisionErrorsNameTheirLine checks that an error found when the configuration loads names the
// line of the setting it concerns, as the parser's own errors do (adapt puts the site on line 1 of
// "Caddyfile", the directive on line 2); TestCaddyfileRangeErrors checks that a setting without a line
// of its own gets the directive's.
func TestProvisionErrorsNameTheirLine(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/orders-user"
	cases := []struct{ name, body, want string }{
		{"bad user pool id", block("user_pool us-east-1_AbC123 {\nclient_id a\n}\nuser_pool not-a-pool {\nclient_id a\n}"),
			"Caddyfile:6: user_pool not-a-pool: "},
		{"issuer not a URL", block("groups admins\nuser_pool us-east-1_AbC123 {\nclient_id a\nissuer ftp://x\n}"),
			`Caddyfile:4: user_pool us-east-1_AbC123: "ftp://x" is not an http(s) URL`},
		{"oidc issuer not a URL", block("allow_anonymous\noidc ftp://idp.example.com {\naudience a\n}"),
			"Caddyfile:4: oidc ftp://idp.example.com: "},
		{"bad identity pool id", block("allow_anonymous\nidentity_pool us-east-1_NotAnIdentityPool"),
			"Caddyfile:4: identity_pool"},
		{"missing policy file", block("allow_anonymous\nscopes a\npolicy /nonexistent/authz.rego"),
			"Caddyfile:5: policy"},
		{"missing role_policy file", block("identity_pool us-east-1:7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\nrole_policy " + role + " /nonexistent/orders.json"),
			"Caddyfile:4: role_policy " + role + ": reading /nonexistent/orders.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, tc.body+"\n\trespond ok")
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var c caddy.Config
			if err := json.Unmarshal(cfg, &c); err != nil {
				t.Fatal(err)
			}
			err = caddy.Validate(&c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
