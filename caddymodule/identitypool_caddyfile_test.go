package caddymodule

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

const (
	testIdentityPoolID = "us-east-1:3a1b2c3d-0000-4000-8000-000000000001"
	testUserPoolLogin  = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test01"
	guestRoleARN       = "arn:aws:iam::123456789012:role/guest"
	userRoleARN        = "arn:aws:iam::123456789012:role/user"
	adminRoleARN       = "arn:aws:iam::123456789012:role/admin"
)

// poolBlock is a cognito_identity_pool directive for the test pool with the given block body.
func poolBlock(body string) string {
	return "cognito_identity_pool " + testIdentityPoolID + " {\n" + body + "\n}"
}

func TestIdentityPoolCaddyfileAdapts(t *testing.T) {
	cfg, err := adapt(t, `
	handle /identity* {
		cognito_identity_pool `+testIdentityPoolID+` {
			login `+testUserPoolLogin+` {
				client_id app-1 app-2
				client_id app-3
				issuer http://localhost:9229/local_abc
				jwks_url http://localhost:9229/local_abc/.well-known/jwks.json
			}
			login accounts.google.com {
				audience 123.apps.googleusercontent.com
				algorithms RS256 ES256
			}
			authenticated_role `+userRoleARN+`
			unauthenticated_role `+guestRoleARN+`
			role_mapping `+testUserPoolLogin+` rules {
				rule cognito:groups contains admins `+adminRoleARN+`
				rule custom:tier starts_with "gold " `+userRoleARN+`
				ambiguous authenticated_role
			}
			role_mapping accounts.google.com:123.apps.googleusercontent.com token
			principal_tag tenant custom:tenant
			principal_tag email email
			credentials_ttl 30m
			issuer https://api.example.com/identity
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	raw, matched := findHandler(doc, "cognito_identity_pool", false)
	if raw == nil || !matched {
		t.Fatalf("no cognito_identity_pool under a path matcher in %s", cfg)
	}
	var got IdentityPoolEndpoint
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := IdentityPoolEndpoint{
		Route:          "Caddyfile:4",
		IdentityPoolID: testIdentityPoolID,
		Logins: []Login{
			{Provider: testUserPoolLogin, ClientIDs: []string{"app-1", "app-2", "app-3"},
				Issuer: "http://localhost:9229/local_abc", JWKSURL: "http://localhost:9229/local_abc/.well-known/jwks.json"},
			{Provider: "accounts.google.com", ClientIDs: []string{"123.apps.googleusercontent.com"}, Algorithms: []string{"RS256", "ES256"}},
		},
		AuthenticatedRole:   userRoleARN,
		UnauthenticatedRole: guestRoleARN,
		RoleMappings: map[string]RoleMapping{
			testUserPoolLogin: {Type: "rules", Ambiguous: "authenticated_role", Rules: []MappingRule{
				{Claim: "cognito:groups", Match: "contains", Value: "admins", RoleARN: adminRoleARN},
				{Claim: "custom:tier", Match: "starts_with", Value: "gold ", RoleARN: userRoleARN},
			}},
			"accounts.google.com:123.apps.googleusercontent.com": {Type: "token"},
		},
		PrincipalTags:  map[string]string{"tenant": "custom:tenant", "email": "email"},
		CredentialsTTL: caddy.Duration(30 * time.Minute),
		Issuer:         "https://api.example.com/identity",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("adapted handler\n got %+v\nwant %+v", got, want)
	}

	// JSON round trip: what the adapter wrote reads back the same, field names included.
	again, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back IdentityPoolEndpoint
	if err := json.Unmarshal(again, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("JSON round trip\n got %+v\nwant %+v", back, want)
	}
	for _, field := range []string{`"identity_pool_id"`, `"logins"`, `"client_ids"`, `"jwks_url"`, `"authenticated_role"`,
		`"unauthenticated_role"`, `"role_mappings"`, `"ambiguous"`, `"match"`, `"role_arn"`, `"principal_tags"`,
		`"credentials_ttl"`, `"issuer"`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("adapted JSON %s lacks %s", raw, field)
		}
	}
}

// The pool runs before cognito_authorizer in a route holding both: clients call it without credentials.
func TestIdentityPoolDirectiveOrder(t *testing.T) {
	cfg, err := adapt(t, `
	cognito_authorizer {
		user_pool us-east-1_AbC123 {
			client_id a
		}
	}
	basic_auth /admin/* {
		admin $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
	cognito_identity_pool /identity* `+testIdentityPoolID+` {
		unauthenticated_role `+guestRoleARN+`
	}
	respond ok`)
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfg)
	pool := strings.Index(s, `"handler":"cognito_identity_pool"`)
	basic := strings.Index(s, `"handler":"authentication"`)
	authz := strings.Index(s, `"handler":"cognito_authorizer"`)
	if pool < 0 || basic < 0 || authz < 0 || !(pool < basic && basic < authz) {
		t.Fatalf("want cognito_identity_pool, then basic_auth, then cognito_authorizer; got positions %d, %d, %d in %s", pool, basic, authz, s)
	}
}

func TestIdentityPoolCaddyfileErrors(t *testing.T) {
	login := "login " + testUserPoolLogin + " {\nclient_id a\n}\n"
	cases := []struct{ name, body, want string }{
		{"no pool id", "cognito_identity_pool {\n}", "cognito_identity_pool needs exactly one argument: the identity pool id"},
		{"two pool ids", "cognito_identity_pool " + testIdentityPoolID + " " + testIdentityPoolID, "needs exactly one argument"},
		{"unknown subdirective", poolBlock("roles x"), `unrecognized cognito_identity_pool subdirective "roles"`},
		{"login without provider", poolBlock("login {\nclient_id a\n}"), "login needs exactly one argument: the provider name"},
		{"login without client", poolBlock("login " + testUserPoolLogin), "login " + testUserPoolLogin + ": at least one client_id (or audience) is required"},
		{"client_id without value", poolBlock("login x {\nclient_id\n}"), "wrong argument count"},
		{"unknown login subdirective", poolBlock("login x {\nclient a\n}"), `unrecognized login subdirective "client"`},
		{"authenticated_role twice", poolBlock("authenticated_role " + userRoleARN + "\nauthenticated_role " + adminRoleARN), "authenticated_role given twice"},
		{"unauthenticated_role without value", poolBlock("unauthenticated_role"), "wrong argument count"},
		{"issuer twice", poolBlock("issuer https://a.example\nissuer https://b.example"), "issuer given twice"},
		{"role_mapping without type", poolBlock(login + "role_mapping " + testUserPoolLogin), "role_mapping needs two arguments"},
		{"role_mapping bad type", poolBlock(login + "role_mapping " + testUserPoolLogin + " Rules {\nrule a equals b " + adminRoleARN + "\n}"), `role_mapping type must be token or rules, not "Rules"`},
		{"rule in a token mapping", poolBlock(login + "role_mapping " + testUserPoolLogin + " token {\nrule a equals b " + adminRoleARN + "\n}"), "a token role_mapping takes no rules"},
		{"rule missing role", poolBlock(login + "role_mapping " + testUserPoolLogin + " rules {\nrule a equals b\n}"), "rule needs four arguments"},
		{"rule bad match", poolBlock(login + "role_mapping " + testUserPoolLogin + " rules {\nrule a like b " + adminRoleARN + "\n}"), `rule match must be equals, contains, starts_with or not_equal, not "like"`},
		{"rules mapping without rules", poolBlock(login + "role_mapping " + testUserPoolLogin + " rules"), "role_mapping " + testUserPoolLogin + " rules: at least one rule is required"},
		{"ambiguous bad value", poolBlock(login + "role_mapping " + testUserPoolLogin + " token {\nambiguous AuthenticatedRole\n}"), `ambiguous must be authenticated_role or deny, not "AuthenticatedRole"`},
		{"ambiguous twice", poolBlock(login + "role_mapping " + testUserPoolLogin + " token {\nambiguous deny\nambiguous deny\n}"), "ambiguous given twice"},
		{"role_mapping twice", poolBlock(login + "role_mapping " + testUserPoolLogin + " token\nrole_mapping " + testUserPoolLogin + " token"), "role_mapping " + testUserPoolLogin + " given twice"},
		{"principal_tag without claim", poolBlock("principal_tag tenant"), "principal_tag needs two arguments"},
		{"principal_tag twice", poolBlock("principal_tag tenant a\nprincipal_tag tenant b"), "principal_tag tenant given twice"},
		{"credentials_ttl garbage", poolBlock("credentials_ttl soon"), "credentials_ttl: "},
		{"credentials_ttl negative", poolBlock("credentials_ttl -1h"), "credentials_ttl must be positive, not -1h"},
		{"credentials_ttl twice", poolBlock("credentials_ttl 1h\ncredentials_ttl 2h"), "credentials_ttl given twice"},
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

// validateIn adapts a site body with Caddy's storage in a temporary directory and has Caddy provision
// it, as `caddy validate` and `caddy run` do.
func validateIn(t *testing.T, body string) error {
	t.Helper()
	caddyfile := fmt.Sprintf("{\n\tstorage file_system %s\n}\n:8080 {\n%s\n\trespond ok\n}\n", t.TempDir(), body)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	return validateJSON(t, cfg)
}

func validateJSON(t *testing.T, cfg []byte) error {
	t.Helper()
	var c caddy.Config
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&c)
}

// A configuration that adapts but cannot work is refused when Caddy provisions it, with a message that
// says why, and whatever the failed provisioning acquired is released.
func TestIdentityPoolProvisionErrors(t *testing.T) {
	login := func(provider, extra string) string {
		return "login " + provider + " {\nclient_id a\n" + extra + "}\n"
	}
	userPool := login(testUserPoolLogin, "issuer https://idp.example/pool\njwks_url https://idp.example/jwks.json\n")
	cases := []struct{ name, body, want string }{
		{"bad pool id", "cognito_identity_pool us-east-1_AbC123 {\nunauthenticated_role " + guestRoleARN + "\n}",
			`cognito_identity_pool us-east-1_AbC123: identity pool keys: creating key ring: identity pool id "us-east-1_AbC123" is not <region>:<uuid>`},
		{"upper-case uuid", "cognito_identity_pool us-east-1:3A1B2C3D-0000-4000-8000-000000000001 {\nunauthenticated_role " + guestRoleARN + "\n}",
			"is not <region>:<uuid>"},
		{"bad role ARN", poolBlock("unauthenticated_role arn:aws:iam::123:role/guest"), `"arn:aws:iam::123:role/guest" is not an IAM role ARN`},
		{"role ARN of a user", poolBlock(userPool + "authenticated_role arn:aws:iam::123456789012:user/alice"), "is not an IAM role ARN"},
		{"unknown provider in role_mapping", poolBlock(userPool + "authenticated_role " + userRoleARN +
			"\nrole_mapping accounts.google.com token"), `role mapping "accounts.google.com": not a login provider`},
		{"bad role ARN in a rule", poolBlock(userPool + "authenticated_role " + userRoleARN +
			"\nrole_mapping " + testUserPoolLogin + " rules {\nrule cognito:groups contains admins arn:aws:iam::123456789012:user/admin\n}"), `rule 1: "arn:aws:iam::123456789012:user/admin" is not an IAM role ARN`},
		{"duplicate login", poolBlock(userPool + userPool + "authenticated_role " + userRoleARN), "login " + testUserPoolLogin + " configured twice"},
		{"two providers, one issuer", poolBlock(userPool + login("idp.example/pool", "issuer https://idp.example/pool\n") +
			"authenticated_role " + userRoleARN), "logins " + testUserPoolLogin + " and idp.example/pool trust the same issuer https://idp.example/pool"},
		{"user pool name without a pool id", poolBlock(login("cognito-idp.us-east-1.amazonaws.com/", "") + "authenticated_role " + userRoleARN),
			"a user pool provider name is cognito-idp.<region>.amazonaws.com/<user_pool_id> (or give its issuer)"},
		{"user pool name in another region", poolBlock(login("cognito-idp.eu-west-1.amazonaws.com/us-east-1_AbC", "") + "authenticated_role " + userRoleARN),
			"a user pool provider name is"},
		{"algorithms on a user pool", poolBlock(login(testUserPoolLogin, "algorithms HS256\n") + "authenticated_role " + userRoleARN),
			"algorithms applies to OIDC providers only"},
		{"HMAC for an OIDC provider", poolBlock(login("idp.example", "algorithms HS256\n") + "authenticated_role " + userRoleARN), `algorithm "HS256" is never allowed`},
		{"jwks_url not http", poolBlock(login(testUserPoolLogin, "jwks_url file:///etc/passwd\n") + "authenticated_role " + userRoleARN),
			`"file:///etc/passwd" is not an http(s) URL`},
		{"nobody gets credentials", poolBlock(""), "neither logins nor an unauthenticated role"},
		{"logins without an authenticated role", poolBlock(userPool), "no authenticated role, yet logins of " + testUserPoolLogin + " can get it"},
		{"credentials_ttl too long", poolBlock("unauthenticated_role " + guestRoleARN + "\ncredentials_ttl 13h"), "credentials TTL 13h0m0s is not between 15m and 12h"},
		{"credentials_ttl too short", poolBlock("unauthenticated_role " + guestRoleARN + "\ncredentials_ttl 1m"), "credentials TTL 1m0s is not between 15m and 12h"},
		{"issuer with a query", poolBlock("unauthenticated_role " + guestRoleARN + "\nissuer https://api.example.com/identity?x=1"), "is not an http(s) URL without query or fragment"},
		{"principal tag on the aws: prefix", poolBlock(userPool + "authenticated_role " + userRoleARN + "\nprincipal_tag aws:userid sub"), "the aws: prefix is reserved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateIn(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if n, ok := shared.References("jwks|https://idp.example/jwks.json||RS256"); ok {
		t.Errorf("a key set of a refused configuration is still held (%d references)", n)
	}
	if n, ok := shared.References("tokens"); ok {
		t.Errorf("the token cache of a refused configuration is still held (%d references)", n)
	}
}

// JSON has spellings the Caddyfile parser never produces; provisioning checks them.
func TestIdentityPoolProvisionJSONErrors(t *testing.T) {
	handler := func(mapping string) []byte {
		return fmt.Appendf(nil, `{"storage": {"module": "file_system", "root": %q}, "apps": {"http": {"servers": {"s": {
			"listen": [":8080"], "routes": [{"handle": [{"handler": "cognito_identity_pool",
			"identity_pool_id": %q, "authenticated_role": %q,
			"logins": [{"provider": %q, "client_ids": ["a"], "issuer": "https://idp.example/pool"}],
			"role_mappings": {%q: %s}}]}]}}}}}`, t.TempDir(), testIdentityPoolID, userRoleARN, testUserPoolLogin, testUserPoolLogin, mapping)
	}
	cases := []struct{ name, mapping, want string }{
		{"Cognito's type spelling", `{"type": "Rules", "rules": [{"claim": "a", "match": "equals", "value": "b", "role_arn": "` + adminRoleARN + `"}]}`,
			`role mapping ` + testUserPoolLogin + `: type must be token or rules, not "Rules"`},
		{"Cognito's match spelling", `{"type": "rules", "rules": [{"claim": "a", "match": "Equals", "value": "b", "role_arn": "` + adminRoleARN + `"}]}`,
			`rule 1: match must be equals, contains, starts_with or not_equal, not "Equals"`},
		{"Cognito's ambiguous spelling", `{"type": "token", "ambiguous": "AuthenticatedRole"}`, `ambiguous must be authenticated_role or deny, not "AuthenticatedRole"`},
		{"rules in a token mapping", `{"type": "token", "rules": [{"claim": "a", "match": "equals", "value": "b", "role_arn": "` + adminRoleARN + `"}]}`,
			"a Token role mapping has no rules"},
		{"empty rule value", `{"type": "rules", "rules": [{"claim": "a", "match": "equals", "value": "", "role_arn": "` + adminRoleARN + `"}]}`,
			"value must have 1 to 128 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateJSON(t, handler(tc.mapping))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := validateJSON(t, handler(`{"type": "token"}`)); err != nil {
		t.Errorf("a valid JSON configuration is refused: %v", err)
	}
}
