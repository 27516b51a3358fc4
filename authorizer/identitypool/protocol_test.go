package identitypool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// TestProtocolErrors sends every kind of bad request and checks the answer is the error Cognito gives,
// in the form AWS SDKs parse, never a 5xx, and never echoes a login token.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.PrincipalTags = map[string]string{"addr": "address"} })
	noGuests := *e
	noGuests.pool = mustPool(t, e, func(c *Config) { c.UnauthenticatedRole = "" })
	noIssuer := *e
	noIssuer.pool = mustPool(t, e, func(c *Config) { c.Issuer = "" })

	good := e.userPool.token(t, "user-1", nil)
	otherUser := e.userPool.token(t, "user-2", nil)
	expired := e.userPool.tokenWith(t, e.userPool.key, "user-1", e.clock.Now().Add(-10*time.Minute), nil)
	forged := e.userPool.tokenWith(t, rsaKeys()[1], "user-1", e.clock.Now().Add(time.Hour), nil) // signed by a key the pool does not trust
	wrongAud := func() string {
		i := *e.userPool
		i.clientID = "another-app"
		return i.token(t, "user-1", nil)
	}()
	objectClaim := e.userPool.token(t, "user-1", map[string]any{"address": map[string]any{"street": "x"}})
	accessToken := e.userPool.token(t, "user-1", map[string]any{"token_use": "access", "client_id": testClientID})
	tokens := []string{good, otherUser, expired, forged, wrongAud, objectClaim, accessToken}

	authID := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": map[string]string{testUserPoolName: good}})["IdentityId"]
	guestID := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"].(string)
	otherPoolGuest := newTestRing(t, nil, otherPoolID, e.clock).newGuestIdentityID()
	westGuest := newTestRing(t, nil, "us-west-2:1cf667a2-49a6-454b-9e45-23199d2c39c4", e.clock).newGuestIdentityID()
	eleven := map[string]string{}
	for i := range 11 {
		eleven[fmt.Sprintf("p%d.example.com", i)] = good
	}
	getID := func(logins map[string]string) []byte {
		b, _ := json.Marshal(map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})
		return b
	}
	getCreds := func(id any, logins map[string]string, custom string) []byte {
		b, _ := json.Marshal(map[string]any{"IdentityId": id, "Logins": logins, "CustomRoleArn": custom})
		return b
	}
	target := func(op string) string { return targetPrefix + op }

	tests := []struct {
		name        string
		env         *testEnv
		method      string
		contentType string
		target      string
		body        []byte
		status      int
		errType     string
		message     string // a part of the message
	}{
		{"method not allowed", e, http.MethodPut, jsonContentType, target("GetId"), getID(nil), 405, errTypeUnknownOperation, "takes POST"},
		{"no target", e, http.MethodPost, jsonContentType, "", getID(nil), 400, errTypeUnknownOperation, "unknown operation"},
		{"another service", e, http.MethodPost, jsonContentType, "AWSCognitoIdentityProviderService.InitiateAuth", getID(nil), 400, errTypeUnknownOperation, "InitiateAuth"},
		{"unserved operation", e, http.MethodPost, jsonContentType, target("ListIdentityPools"), getID(nil), 400, errTypeUnknownOperation, "ListIdentityPools"},
		{"operation case differs", e, http.MethodPost, jsonContentType, target("getid"), getID(nil), 400, errTypeUnknownOperation, "getid"},
		{"wrong content type", e, http.MethodPost, "application/json", target("GetId"), getID(nil), 400, errTypeSerialization, "content type"},
		{"no content type", e, http.MethodPost, "", target("GetId"), getID(nil), 400, errTypeSerialization, "content type"},
		{"body too large", e, http.MethodPost, jsonContentType, target("GetId"), bytes.Repeat([]byte(" "), defaultMaxBodyBytes+1), 413, errTypeInvalidParameter, "exceeds"},
		{"malformed JSON", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{"IdentityPoolId":`), 400, errTypeSerialization, "malformed JSON"},
		{"empty body", e, http.MethodPost, jsonContentType, target("GetId"), nil, 400, errTypeSerialization, "malformed JSON"},
		{"trailing data", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{} {}`), 400, errTypeSerialization, "malformed JSON"},
		{"array body", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`[]`), 400, errTypeSerialization, "JSON object"},
		{"field of the wrong type", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{"IdentityPoolId": 5}`), 400, errTypeSerialization, "IdentityPoolId"},
		{"login token of the wrong type", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{"IdentityPoolId":"` + testPoolID + `","Logins":{"x":5}}`), 400, errTypeSerialization, "Logins"},
		{"missing pool id", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{}`), 400, errTypeInvalidParameter, "IdentityPoolId is required"},
		{"malformed pool id", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{"IdentityPoolId":"us-east-1_AbC123"}`), 400, errTypeInvalidParameter, "<region>:<uuid>"},
		{"unknown pool", e, http.MethodPost, jsonContentType, target("GetId"), []byte(`{"IdentityPoolId":"` + otherPoolID + `"}`), 400, errTypeResourceNotFound, otherPoolID},
		{"unconfigured provider", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{"accounts.google.com": good}), 400, errTypeNotAuthorized, "not from a supported provider"},
		{"more than 10 logins", e, http.MethodPost, jsonContentType, target("GetId"), getID(eleven), 400, errTypeInvalidParameter, "at most 10"},
		{"empty login token", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: ""}), 400, errTypeInvalidParameter, "1 to 50000"},
		{"oversized login token", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: strings.Repeat("a", maxLoginTokenLen+1)}), 400, errTypeInvalidParameter, "1 to 50000"},
		{"expired login token", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: expired}), 400, errTypeNotAuthorized, "Invalid login token"},
		{"forged login token", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: forged}), 400, errTypeNotAuthorized, "Invalid login token"},
		{"login token of another app client", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: wrongAud}), 400, errTypeNotAuthorized, "Invalid login token"},
		{"access token instead of an ID token", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: accessToken}), 400, errTypeNotAuthorized, "Invalid login token"},
		{"user-pool token under the OIDC provider", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testOIDCName: good}), 400, errTypeNotAuthorized, "Invalid login token"},
		{"garbage login token", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: "not.a.jwt"}), 400, errTypeNotAuthorized, "Invalid login token"},
		{"one bad login among good ones", e, http.MethodPost, jsonContentType, target("GetId"), getID(map[string]string{testUserPoolName: good, testOIDCName: forged}), 400, errTypeNotAuthorized, testOIDCName},
		{"guests disabled: GetId", &noGuests, http.MethodPost, jsonContentType, target("GetId"), getID(nil), 400, errTypeNotAuthorized, "Unauthenticated access is not supported"},
		{"guests disabled: GetCredentialsForIdentity", &noGuests, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(guestID, nil, ""), 400, errTypeNotAuthorized, "Unauthenticated access is not supported"},
		{"guests disabled: GetOpenIdToken", &noGuests, http.MethodPost, jsonContentType, target("GetOpenIdToken"), getCreds(guestID, nil, ""), 400, errTypeNotAuthorized, "Unauthenticated access is not supported"},
		{"missing identity id", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), []byte(`{}`), 400, errTypeInvalidParameter, "IdentityId is required"},
		{"malformed identity id", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds("us-east-1:not-a-uuid", nil, ""), 400, errTypeInvalidParameter, "<region>:<uuid>"},
		{"identity id of another region", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(westGuest, nil, ""), 400, errTypeResourceNotFound, "not found"},
		{"forged guest id", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds("us-east-1:0f8fad5b-d9cb-469f-a165-70867728950e", nil, ""), 400, errTypeResourceNotFound, "not found"},
		{"guest id of another pool", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(otherPoolGuest, nil, ""), 400, errTypeResourceNotFound, "not found"},
		{"guest id with one digit changed", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(flipDigit(guestID), nil, ""), 400, errTypeResourceNotFound, "not found"},
		{"authenticated id without logins", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(authID, nil, ""), 400, errTypeNotAuthorized, "present at least one"},
		{"authenticated id with another user's login", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(authID, map[string]string{testUserPoolName: otherUser}, ""), 400, errTypeNotAuthorized, "do not belong"},
		{"guest id with a login", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(guestID, map[string]string{testUserPoolName: good}, ""), 400, errTypeNotAuthorized, "do not belong"},
		{"authenticated id with an expired login", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(authID, map[string]string{testUserPoolName: expired}, ""), 400, errTypeNotAuthorized, "Invalid login token"},
		{"guest asks a custom role", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(guestID, nil, adminRole), 400, errTypeInvalidParameter, "CustomRoleArn"},
		{"claim that cannot be a tag", e, http.MethodPost, jsonContentType, target("GetCredentialsForIdentity"), getCreds(authID, map[string]string{testUserPoolName: objectClaim}, ""), 400, errTypeInvalidParameter, "principal tags"},
		{"GetOpenIdToken without an issuer", &noIssuer, http.MethodPost, jsonContentType, target("GetOpenIdToken"), getCreds(guestID, nil, ""), 400, errTypeInvalidPoolConfig, "issuer"},
		{"GetOpenIdToken with a forged guest id", e, http.MethodPost, jsonContentType, target("GetOpenIdToken"), getCreds("us-east-1:0f8fad5b-d9cb-469f-a165-70867728950e", nil, ""), 400, errTypeResourceNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out, h := tt.env.raw(t, tt.method, tt.contentType, tt.target, tt.body)
			if status != tt.status || out["__type"] != tt.errType {
				t.Fatalf("got %d %v, want %d %s", status, out, tt.status, tt.errType)
			}
			if got := h.Get("X-Amzn-ErrorType"); got != tt.errType {
				t.Fatalf("X-Amzn-ErrorType %q, want %q", got, tt.errType)
			}
			if h.Get("Content-Type") != jsonContentType || h.Get("X-Amzn-RequestId") == "" {
				t.Fatalf("headers %v", h)
			}
			msg, _ := out["message"].(string)
			if !strings.Contains(msg, tt.message) {
				t.Fatalf("message %q does not say %q", msg, tt.message)
			}
			for _, tok := range tokens {
				if strings.Contains(msg, tok[strings.LastIndexByte(tok, '.')+1:]) || strings.Contains(msg, tok[:20]) {
					t.Fatalf("message %q echoes a login token", msg)
				}
			}
		})
	}
}

func mustPool(t *testing.T, e *testEnv, edit func(*Config)) *Pool {
	t.Helper()
	cfg := e.pool.cfg
	edit(&cfg)
	p, err := New(cfg)
	must(t, err)
	return p
}

// flipDigit changes the last hex digit of an id.
func flipDigit(id string) string {
	last := id[len(id)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return id[:len(id)-1] + string(repl)
}

var (
	accessKeyPattern = regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	secretPattern    = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestGuestFlow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	id := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"].(string)
	if id2 := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"]; id2 == id {
		t.Fatal("two guests got the same identity")
	}
	status, out, h := e.call(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": id})
	if status != 200 {
		t.Fatalf("status %d: %v", status, out)
	}
	if h.Get("Content-Type") != jsonContentType || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", h)
	}
	if out["IdentityId"] != id {
		t.Fatalf("IdentityId %v, want %s", out["IdentityId"], id)
	}
	creds := out["Credentials"].(map[string]any)
	if !accessKeyPattern.MatchString(creds["AccessKeyId"].(string)) || !secretPattern.MatchString(creds["SecretKey"].(string)) {
		t.Fatalf("credentials %v are not AWS-shaped", creds)
	}
	s, err := e.keys.OpenSessionToken(t.Context(), creds["SessionToken"].(string))
	must(t, err)
	if s.IdentityID != id || s.RoleARN != unauthRole || s.AccessKeyID != creds["AccessKeyId"] ||
		s.SecretAccessKey != creds["SecretKey"] || len(s.LoginProviders) != 0 || len(s.PrincipalTags) != 0 ||
		s.Identity().Authenticated {
		t.Fatalf("guest session %+v", *s)
	}
	if exp := creds["Expiration"].(float64); int64(exp) != s.Expires.Unix() || s.Expires.Unix() != e.clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("Expiration %v, session expires %v", exp, s.Expires)
	}
}

func TestAuthenticatedFlow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) {
		c.PrincipalTags = map[string]string{"tenant": "custom:tenant", "client": "custom:app"}
	})
	tok := e.userPool.token(t, "user-1", map[string]any{"custom:tenant": "t-42", "custom:app": "web"})
	logins := map[string]string{testUserPoolName: tok}
	id := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})["IdentityId"].(string)

	// Stable: a later token of the same user, on any instance sharing the keys, maps to the same identity.
	e.clock.Advance(time.Minute)
	later := e.userPool.token(t, "user-1", nil)
	if again := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": map[string]string{testUserPoolName: later}})["IdentityId"]; again != id {
		t.Fatalf("same user got %v, then %v", id, again)
	}
	other := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": map[string]string{testUserPoolName: e.userPool.token(t, "user-2", nil)}})["IdentityId"]
	if other == id {
		t.Fatal("two users got the same identity")
	}

	out := e.mustOK(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": id, "Logins": logins})
	s, err := e.keys.OpenSessionToken(t.Context(), out["Credentials"].(map[string]any)["SessionToken"].(string))
	must(t, err)
	wantTags := map[string]string{"username": "user-1", "client": "web", "tenant": "t-42"}
	if s.IdentityID != id || s.RoleARN != authRole || fmt.Sprint(s.PrincipalTags) != fmt.Sprint(wantTags) ||
		fmt.Sprint(s.LoginProviders) != fmt.Sprint([]string{testUserPoolName}) ||
		s.AuthenticationProvider != testUserPoolName+","+testUserPoolName+":CognitoSignIn:user-1" || !s.Identity().Authenticated {
		t.Fatalf("session %+v", *s)
	}
}

// TestSeveralLogins: the identity, role and tags come from the login whose provider sorts first, whatever
// the order; every provider is listed.
func TestSeveralLogins(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	up := e.userPool.token(t, "user-1", nil)
	oidc := e.oidc.token(t, "oidc-user", nil)
	both := map[string]string{testUserPoolName: up, testOIDCName: oidc}
	id := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": both})["IdentityId"]
	first := testUserPoolName // "cognito-idp..." < "login.example.com"
	if want := e.keys.authenticatedIdentityID(first, "user-1"); id != want {
		t.Fatalf("identity %v, want the one of %s: %s", id, first, want)
	}
	out := e.mustOK(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": id, "Logins": both})
	s, err := e.keys.OpenSessionToken(t.Context(), out["Credentials"].(map[string]any)["SessionToken"].(string))
	must(t, err)
	if fmt.Sprint(s.LoginProviders) != fmt.Sprint([]string{testUserPoolName, testOIDCName}) || s.PrincipalTags["username"] != "user-1" {
		t.Fatalf("session %+v", *s)
	}
	// The second login alone is another identity.
	status, resp, _ := e.call(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": id, "Logins": map[string]string{testOIDCName: oidc}})
	if status != 400 || resp["__type"] != errTypeNotAuthorized {
		t.Fatalf("second login alone: %d %v", status, resp)
	}
}

func TestPrincipalTags(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tests := []struct {
		name    string
		mapping map[string]string
		claims  map[string]any
		want    map[string]string
		wantErr bool
	}{
		{"defaults only", nil, nil, map[string]string{"username": "user-1", "client": testClientID}, false},
		{"custom claim", map[string]string{"tenant": "custom:tenant"}, map[string]any{"custom:tenant": "t1"},
			map[string]string{"username": "user-1", "client": testClientID, "tenant": "t1"}, false},
		{"absent claim gives no tag", map[string]string{"tenant": "custom:tenant"}, nil,
			map[string]string{"username": "user-1", "client": testClientID}, false},
		{"override a default", map[string]string{"username": "email"}, map[string]any{"email": "a@example.com"},
			map[string]string{"username": "a@example.com", "client": testClientID}, false},
		{"number and boolean", map[string]string{"level": "lvl", "paid": "paid"}, map[string]any{"lvl": 3, "paid": true},
			map[string]string{"username": "user-1", "client": testClientID, "level": "3", "paid": "true"}, false},
		{"list claim refused", map[string]string{"groups": "cognito:groups"}, map[string]any{"cognito:groups": []any{"a"}}, nil, true},
		{"value too long", map[string]string{"t": "c"}, map[string]any{"c": strings.Repeat("v", 257)}, nil, true},
		{"value with a newline", map[string]string{"t": "c"}, map[string]any{"c": "a\nX-Injected: 1"}, nil, true},
		{"value with a quote", map[string]string{"t": "c"}, map[string]any{"c": `a"b`}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := e.userPool.verifier().Verify(t.Context(), e.userPool.token(t, "user-1", tt.claims))
			must(t, err)
			got, err := principalTags(id, tt.mapping)
			if (err != nil) != tt.wantErr || !tt.wantErr && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("tags %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	other := newTestRing(t, nil, otherPoolID, e.clock)
	manyTags := map[string]string{}
	for i := range 49 {
		manyTags[fmt.Sprint("t", i)] = "c"
	}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"malformed pool id", func(c *Config) { c.PoolID = "us-east-1_AbC123" }},
		{"no key ring", func(c *Config) { c.Keys = nil }},
		{"key ring of another pool", func(c *Config) { c.Keys = other }},
		{"nobody can get credentials", func(c *Config) { c.Logins = nil; c.UnauthenticatedRole = "" }},
		{"provider with a space", func(c *Config) { c.Logins["bad provider"] = e.userPool.verifier() }},
		{"nil verifier", func(c *Config) { c.Logins["x.example.com"] = nil }},
		{"bad authenticated role", func(c *Config) { c.AuthenticatedRole = "admin" }},
		{"bad unauthenticated role", func(c *Config) { c.UnauthenticatedRole = "arn:aws:iam::123:role/x" }},
		{"no authenticated role without mappings", func(c *Config) { c.AuthenticatedRole = "" }},
		{"no authenticated role, mapping falls back to it", func(c *Config) {
			c.AuthenticatedRole = ""
			c.RoleMappings = map[string]RoleMapping{
				testUserPoolName: {Type: RoleMappingToken, AmbiguousRoleResolution: ResolveAuthenticatedRole},
				testOIDCName:     {Type: RoleMappingToken},
			}
		}},
		{"mapping for an unconfigured provider", func(c *Config) {
			c.RoleMappings = map[string]RoleMapping{"accounts.google.com": {Type: RoleMappingToken}}
		}},
		{"mapping with an empty client id", func(c *Config) {
			c.RoleMappings = map[string]RoleMapping{testUserPoolName + ":": {Type: RoleMappingToken}}
		}},
		{"invalid mapping", func(c *Config) { c.RoleMappings = map[string]RoleMapping{testUserPoolName: {Type: "Magic"}} }},
		{"too many tags", func(c *Config) { c.PrincipalTags = manyTags }},
		{"reserved tag prefix", func(c *Config) { c.PrincipalTags = map[string]string{"aws:x": "c"} }},
		{"tags differing in case", func(c *Config) { c.PrincipalTags = map[string]string{"Tenant": "a", "tenant": "b"} }},
		{"tag with a bad character", func(c *Config) { c.PrincipalTags = map[string]string{"a,b": "c"} }},
		{"tag without a claim", func(c *Config) { c.PrincipalTags = map[string]string{"t": ""} }},
		{"TTL too short", func(c *Config) { c.CredentialsTTL = time.Minute }},
		{"TTL too long", func(c *Config) { c.CredentialsTTL = 13 * time.Hour }},
		{"TTL beyond the key ring", func(c *Config) {
			k, err := NewKeyRing(t.Context(), keyring.NewMemoryStorage(), testPoolID, keyring.Options{Retention: 30 * time.Minute})
			must(t, err)
			c.Keys = k
		}},
		{"issuer with a query", func(c *Config) { c.Issuer = "https://a.example.com/id?x=1" }},
		{"issuer not a URL", func(c *Config) { c.Issuer = "auth.example.com" }},
		{"issuer with credentials", func(c *Config) { c.Issuer = "https://u:p@a.example.com" }},
		{"negative body limit", func(c *Config) { c.MaxBodyBytes = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.pool.cfg
			cfg.Logins = map[string]LoginVerifier{testUserPoolName: e.userPool.verifier(), testOIDCName: e.oidc.verifier()}
			tt.edit(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	// And the cases that look odd but are valid.
	for name, edit := range map[string]func(*Config){
		"no authenticated role, every mapping denies": func(c *Config) {
			c.AuthenticatedRole = ""
			c.RoleMappings = map[string]RoleMapping{testUserPoolName: {Type: RoleMappingToken}, testOIDCName: {Type: RoleMappingToken}}
		},
		"guests only": func(c *Config) { c.Logins = nil; c.AuthenticatedRole = "" },
		"client-specific mapping": func(c *Config) {
			c.RoleMappings = map[string]RoleMapping{testUserPoolName + ":" + testClientID: {Type: RoleMappingToken}}
		},
	} {
		cfg := e.pool.cfg
		cfg.Logins = map[string]LoginVerifier{testUserPoolName: e.userPool.verifier(), testOIDCName: e.oidc.verifier()}
		edit(&cfg)
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	noIssuer := mustPool(t, e, func(c *Config) { c.Issuer = "" })
	tests := []struct {
		name   string
		pool   *Pool
		method string
		path   string
		status int
		check  func(t *testing.T, body []byte)
	}{
		{"jwks", e.pool, http.MethodGet, "/identity/.well-known/jwks.json", 200, func(t *testing.T, body []byte) {
			var set struct{ Keys []map[string]any }
			must(t, json.Unmarshal(body, &set))
			var ring struct{ Keys []map[string]any }
			must(t, json.Unmarshal(e.keys.ring.JWKS(t.Context()), &ring))
			if len(set.Keys) != 1 || set.Keys[0]["kid"] != ring.Keys[0]["kid"] || set.Keys[0]["alg"] != "ES256" {
				t.Fatalf("jwks %s", body)
			}
			if _, private := set.Keys[0]["d"]; private {
				t.Fatal("the JWKS publishes the private key")
			}
		}},
		{"jwks without an issuer", noIssuer, http.MethodGet, "/.well-known/jwks.json", 200, nil},
		{"jwks head", e.pool, http.MethodHead, "/identity/.well-known/jwks.json", 200, func(t *testing.T, body []byte) {
			if len(body) != 0 {
				t.Fatal("HEAD with a body")
			}
		}},
		{"openid configuration", e.pool, http.MethodGet, "/identity/.well-known/openid-configuration", 200, func(t *testing.T, body []byte) {
			var c map[string]any
			must(t, json.Unmarshal(body, &c))
			if c["issuer"] != "https://auth.example.com/identity" || c["jwks_uri"] != "https://auth.example.com/identity/.well-known/jwks.json" {
				t.Fatalf("configuration %s", body)
			}
		}},
		{"openid configuration without an issuer", noIssuer, http.MethodGet, "/.well-known/openid-configuration", 404, nil},
		{"other path", e.pool, http.MethodGet, "/identity/", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			tt.pool.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.check != nil {
				tt.check(t, w.Body.Bytes())
			}
		})
	}
}
