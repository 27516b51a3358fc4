package caddymodule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

// FuzzCaddyfile unmarshals arbitrary Caddyfile text as each directive: no input may panic or hang,
// every refusal is an error, and what is accepted holds the parser's promises (a user pool or login
// has a client id, token_use is one of three words, a role mapping is token or rules) and survives the
// JSON round trip Caddy puts it through. Search further with
// `go test -fuzz=FuzzCaddyfile -fuzztime=5m ./caddymodule/`.
func FuzzCaddyfile(f *testing.F) {
	for _, seed := range []string{
		`cognito_authorizer {
	user_pool us-east-1_AbC123 {
		client_id a b
		token_use any
		issuer http://127.0.0.1:9229/local_x
		jwks_url http://127.0.0.1:9229/local_x/.well-known/jwks.json
	}
	oidc https://example.eu.auth0.com/ {
		audience api
		algorithms RS256 ES256
	}
	identity_pool us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4 {
		service execute-api
		max_body 1MiB
		unsigned_payload
		clock_skew 2m
		replay_protection 5000
	}
	groups admins "ops team"
	scopes orders/read
	claim custom:tenant segment 1
	claim email value a@example.com b@example.com
	policy /etc/caddy/policy.rego
	decision data.cognito.authz.decision
	opa_config /etc/caddy/opa.yaml
	shadow
	allow_anonymous
	clock_skew 30s
	token_cookie session
	assertion X-Identity {
		issuer https://gw.example.com
		audience backend
		ttl 1m
		jwks_path /.well-known/gw-jwks.json
	}
	cors https://app.example.com {
		headers X-Trace
		max_age 5m
	}
}`,
		`cognito_identity_pool us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4 {
	login cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123 {
		client_id a
		issuer https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123
	}
	login accounts.google.com {
		audience x.apps.googleusercontent.com
		algorithms RS256
	}
	authenticated_role arn:aws:iam::123456789012:role/user
	unauthenticated_role arn:aws:iam::123456789012:role/guest
	role_mapping cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123 rules {
		rule cognito:groups contains admins arn:aws:iam::123456789012:role/admin
		ambiguous authenticated_role
	}
	principal_tag tenant custom:tenant
	credentials_ttl 2h
	issuer https://api.example.com/identity
}`,
		"cognito_authorizer {\n\tuser_pool\n}",
		"cognito_authorizer {\n\tuser_pool a {\n\t\tclient_id\n\t}\n}",
		"cognito_authorizer {\n\tidentity_pool x {\n\t\treplay_protection 0 {\n}\n}",
		"cognito_authorizer {\n\tclaim\n\tclaim a segment -1\n\tclaim a header\n}",
		"cognito_identity_pool {\n}",
		"cognito_identity_pool p {\n\trole_mapping a token {\n\t\trule a b c d\n\t}\n}",
		"cognito_identity_pool p {\n\tprincipal_tag a\n\tcredentials_ttl -1h\n}",
		"cognito_authorizer x",
		"cognito_authorizer {\n\t{\n\t}\n}}}",
		"cognito_authorizer {\n\tassertion a b {\n\t\tttl forever\n\t}\n}",
		"cognito_authorizer {\n\tidentity_pool us-east-1:x {\n\t\tmax_body 99999999999999999999\n\t}\n}",
		"cognito_authorizer {\n\tcors\n}",
		"\"cognito_authorizer\" `{` \\\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil || len(tokens) == 0 {
			return
		}
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err == nil {
			checkAuthorizerConfig(t, &h.Config)
		}
		var p IdentityPoolEndpoint
		if err := p.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err == nil {
			checkIdentityPoolConfig(t, &p)
		}
	})
}

func checkAuthorizerConfig(t *testing.T, c *Config) {
	t.Helper()
	for _, p := range c.UserPools {
		if len(p.ClientIDs) == 0 {
			t.Fatalf("user_pool %q accepted without a client id", p.ID)
		}
		switch p.TokenUse {
		case "", "access", "id", "any":
		default:
			t.Fatalf("user_pool %q accepted with token_use %q", p.ID, p.TokenUse)
		}
	}
	for _, o := range c.OIDC {
		if len(o.Audiences) == 0 {
			t.Fatalf("oidc %q accepted without an audience", o.Issuer)
		}
	}
	if p := c.IdentityPool; p != nil && p.ReplayProtection != nil && p.ReplayProtection.MaxEntries < 0 {
		t.Fatalf("replay_protection accepted with %d entries", p.ReplayProtection.MaxEntries)
	}
	_ = c.validate() // may refuse, must not panic
	roundTrip(t, c, new(Config))
}

func checkIdentityPoolConfig(t *testing.T, p *IdentityPoolEndpoint) {
	t.Helper()
	for _, l := range p.Logins {
		if len(l.ClientIDs) == 0 {
			t.Fatalf("login %q accepted without a client id", l.Provider)
		}
	}
	for provider, m := range p.RoleMappings {
		if m.Type != "token" && m.Type != "rules" || m.Type == "rules" && len(m.Rules) == 0 {
			t.Fatalf("role_mapping %q accepted as %+v", provider, m)
		}
	}
	if p.CredentialsTTL < 0 {
		t.Fatalf("credentials_ttl %v accepted", p.CredentialsTTL)
	}
	// What Provision checks first: it may refuse, must not panic.
	_, _ = authorizer.PoolRoleMappings(p.roleMappings())
	if declared, err := logins(p.Logins); err == nil {
		_, _, _ = authorizer.NewLoginVerifiers(declared, refusingShared{}, nil)
	}
	roundTrip(t, p, new(IdentityPoolEndpoint))
}

// roundTrip checks that v survives Caddy's JSON encoding unchanged.
func roundTrip[T any](t *testing.T, v *T, into *T) {
	t.Helper()
	first, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	if err := json.Unmarshal(first, into); err != nil {
		t.Fatalf("decoding %s: %v", first, err)
	}
	again, _ := json.Marshal(into)
	if string(again) != string(first) && !strings.Contains(string(first), `\ufffd`) {
		t.Fatalf("JSON round trip changed the config:\n%s\n%s", first, again)
	}
}

// refusingShared is a Shared that gives nothing, so that building stops after the checks.
type refusingShared struct{}

func (refusingShared) Share(string, func() (authorizer.Resource, error)) (authorizer.Resource, func(), error) {
	return nil, nil, errors.New("nothing shared in this test")
}
