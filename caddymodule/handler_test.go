package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
	"github.com/caddyserver/caddy/v2"
)

// site is a Caddyfile site body: cognito_authorizer trusting idp, in front of upstream.
func site(idp *testidp.IdP, upstream string, extra string) string {
	return `	cognito_authorizer {
		user_pool us-east-1_Test01 {
			client_id client-1
			issuer ` + idp.Issuer + `
			jwks_url ` + idp.JWKSURL + `
		}
` + extra + `
	}
	reverse_proxy ` + upstream
}

// spoofedIdentity is a client posing as the gateway: every X-Cognito-* header it sets, in every
// spelling a backend could read as one, forwarded by the route or not.
var spoofedIdentity = map[string]string{
	"X-Cognito-Sub": "attacker", "x-cognito-username": "attacker", "X_Cognito_Groups": "admins",
	"X-Cognito-Scopes": "admin/all", "X-Cognito-Client-Id": "other", "X-Cognito-Context": "eyJzcG9vZmVkIjp0cnVlfQ",
	"X-Cognito-Identity-Id": "us-east-1:attacker", "X-Cognito-Role-Arn": "arn:aws:iam::123456789012:role/Admin",
	"X-Cognito-Assertion": "forged", "X-Cognito-Anything-Else": "attacker",
	// Forwarded with `forward all` but empty for a guest: the gateway sets none, and the client's must go.
	"X-Cognito-Authentication-Provider": "cognito-idp.us-east-1.amazonaws.com/us-east-1_Evil:CognitoSignIn:admin",
}

// onlyIdentityHeaders fails unless the X-Cognito-* headers the upstream got are exactly want: none of
// the client's reached it, and the gateway sent no more than the route forwards.
func onlyIdentityHeaders(t *testing.T, got map[string][]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if vs := got[k]; len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream %s = %q, want [%q]", k, vs, v)
		}
	}
	for k, vs := range got {
		if _, ok := want[k]; !ok && strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-cognito-") {
			t.Errorf("upstream got %s %q, which the route does not forward", k, vs)
		}
	}
}

// TestForwardsIdentityUpstream: by default an allowed request carries its subject and groups and
// nothing else of the caller (every client-sent X-Cognito-* header removed); every placeholder is
// still there for header_up.
func TestForwardsIdentityUpstream(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, accessLog := runCaddy(t, site(idp, echo.URL, "")+` {
		header_up X-Seen-Email {cognito.claims.email}
		header_up X-Seen-Group {cognito.groups}
		header_up X-Seen-User {http.auth.user.id}
		header_up X-Seen-Client {cognito.client_id}
	}`)

	token := idp.AccessToken(t, map[string]any{"email": "alice@example.com", "cognito:groups": []string{"admins", "ops,eu"}})
	req, _ := http.NewRequest("GET", base+"/orders/42", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range spoofedIdentity {
		req.Header[k] = []string{v}
	}
	res := doRequest(t, req)
	if res.status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	got := res.echoed(t).Header
	onlyIdentityHeaders(t, got, map[string]string{"X-Cognito-Sub": testidp.Subject, "X-Cognito-Groups": "admins,ops%2Ceu"})
	for name, want := range map[string]string{
		"X-Seen-Email": "alice@example.com", "X-Seen-Group": "admins,ops%2Ceu",
		"X-Seen-User": testidp.Subject, "X-Seen-Client": "client-1",
	} {
		if h := got[name]; len(h) != 1 || h[0] != want {
			t.Errorf("placeholder header %s = %q, want %q", name, h, want)
		}
	}
	lines := readLog(t, accessLog, 1)
	if len(lines) == 0 || lines[len(lines)-1]["user_id"] != testidp.Subject {
		t.Errorf("access log user_id missing: %v", lines)
	}
	for _, line := range lines {
		if b, _ := json.Marshal(line); strings.Contains(string(b), token) || strings.Contains(string(b), strings.Split(token, ".")[2]) {
			t.Errorf("access log holds the token: %s", b)
		}
	}
}

// TestForwardAllWithContext: `forward all` and `context_header on` give the upstream every header and
// the API-Gateway-shaped context (what every route sent before the lean default), the claims in it
// once; still none of the client's.
func TestForwardAllWithContext(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, "		forward all\n		context_header on"))
	token := idp.AccessToken(t, map[string]any{"email": "alice@example.com", "cognito:groups": []string{"admins", "ops,eu"}})
	hdr := map[string]string{"Authorization": "Bearer " + token}
	for k, v := range spoofedIdentity {
		hdr[k] = v
	}
	got := do(t, "GET", base+"/orders/42", hdr).echoed(t).Header
	ctxHeader := got["X-Cognito-Context"]
	want := map[string]string{
		"X-Cognito-Sub":       testidp.Subject,
		"X-Cognito-Username":  "alice@example.com",
		"X-Cognito-Groups":    "admins,ops%2Ceu",
		"X-Cognito-Scopes":    "orders/read orders/write",
		"X-Cognito-Client-Id": "client-1",
	}
	if len(ctxHeader) == 1 {
		want["X-Cognito-Context"] = ctxHeader[0]
	}
	onlyIdentityHeaders(t, got, want)
	ctx := decodeContext(t, ctxHeader)
	authz := ctx["authorizer"].(map[string]any)
	if _, twice := authz["claims"]; twice {
		t.Errorf("the context has the claims twice: %v", authz)
	}
	jwtCtx := authz["jwt"].(map[string]any)
	claims := jwtCtx["claims"].(map[string]any)
	if claims["email"] != "alice@example.com" || claims["cognito:groups"] != "[admins ops,eu]" || claims["client_id"] != "client-1" {
		t.Errorf("context claims = %v", claims)
	}
	if scopes, _ := json.Marshal(jwtCtx["scopes"]); string(scopes) != `["orders/read","orders/write"]` {
		t.Errorf("context jwt.scopes = %s", scopes)
	}
	if authz["principalId"] != testidp.Subject {
		t.Errorf("context principalId = %v", authz["principalId"])
	}
}

// TestForwardNamedHeaders: a route that names a header gets it besides the default ones, and the
// context only with context_header on.
func TestForwardNamedHeaders(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, "		forward X-Cognito-Client-Id x-cognito-scopes\n		context_header off"))
	hdr := map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, nil)}
	for k, v := range spoofedIdentity {
		hdr[k] = v
	}
	got := do(t, "GET", base+"/x", hdr).echoed(t).Header
	onlyIdentityHeaders(t, got, map[string]string{
		"X-Cognito-Sub": testidp.Subject, "X-Cognito-Groups": "admins,ops",
		"X-Cognito-Client-Id": "client-1", "X-Cognito-Scopes": "orders/read orders/write",
	})
}

// TestPlaceholdersEncoded puts claims holding CR/LF, a comma and a non-ASCII character into
// header_up through {cognito.*} placeholders: the upstream gets them encoded as the X-Cognito-*
// headers are (percent-encoded control characters and separators, UTF-8 kept), never a broken
// request (502) or an injected header.
func TestPlaceholdersEncoded(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, "		forward X-Cognito-Username")+` {
		header_up X-Seen-Name {cognito.claims.name}
		header_up X-Seen-Aliases {cognito.claims.aliases}
		header_up X-Seen-Group {cognito.groups}
		header_up X-Seen-Username {cognito.username}
	}`)

	token := idp.AccessToken(t, map[string]any{
		"name":           "Zoë\r\nX-Injected: yes",
		"aliases":        []string{"zo,e", "z\n"},
		"cognito:groups": []string{"admins\r\nX-Injected: yes", "ops,eu"},
		"username":       "zoë\n",
	})
	res := do(t, "GET", base+"/orders", map[string]string{"Authorization": "Bearer " + token})
	if res.status != http.StatusOK {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	got := res.echoed(t).Header
	for name, want := range map[string]string{
		"X-Seen-Name":        "Zoë%0D%0AX-Injected: yes",
		"X-Seen-Aliases":     "zo%2Ce,z%0A",
		"X-Seen-Group":       "admins%0D%0AX-Injected: yes,ops%2Ceu",
		"X-Cognito-Groups":   "admins%0D%0AX-Injected: yes,ops%2Ceu",
		"X-Seen-Username":    "zoë%0A",
		"X-Cognito-Username": "zoë%0A",
	} {
		if h := got[name]; len(h) != 1 || h[0] != want {
			t.Errorf("upstream %s = %q, want %q", name, h, want)
		}
	}
	if h, ok := got["X-Injected"]; ok {
		t.Errorf("a claim injected a header: %q", h)
	}
}

func decodeContext(t *testing.T, vs []string) map[string]any {
	t.Helper()
	if len(vs) != 1 {
		t.Fatalf("X-Cognito-Context = %q", vs)
	}
	b, err := base64.RawURLEncoding.DecodeString(vs[0])
	if err != nil {
		t.Fatalf("X-Cognito-Context is not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("X-Cognito-Context is not JSON: %v", err)
	}
	return m
}

func TestDenies(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, ""))
	valid := idp.AccessToken(t, nil)
	cases := []struct {
		name      string
		header    map[string]string
		path      string
		status    int
		challenge string
		message   string
	}{
		{"no credentials", nil, "/x", 401, "Bearer", "Unauthorized"},
		{"other scheme", map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, "/x", 401, "Bearer", "Unauthorized"},
		{"garbage token", map[string]string{"Authorization": "Bearer not.a.jwt"}, "/x", 401, `Bearer error="invalid_token"`, "Unauthorized"},
		{"other client", map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, map[string]any{"client_id": "client-2"})}, "/x", 401, `Bearer error="invalid_token"`, "Unauthorized"},
		{"expired", map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, map[string]any{"exp": 1700000000})}, "/x", 401, `Bearer error="invalid_token"`, "Unauthorized"},
		{"dot segments", map[string]string{"Authorization": "Bearer " + valid}, "/public/%2e%2e/admin", 400, `Bearer error="invalid_request"`, "Bad Request"},
		{"encoded slash", map[string]string{"Authorization": "Bearer " + valid}, "/a%2Fb", 400, `Bearer error="invalid_request"`, "Bad Request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, "GET", base+tc.path, tc.header)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", res.status, tc.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(res.body, &body); err != nil || len(body) != 2 || refusal(t, res) != tc.message {
				t.Errorf("body = %s, want {\"message\":%q,\"requestId\":...}", res.body, tc.message)
			}
			if strings.Contains(string(res.body), "jwt") || strings.Contains(string(res.body), "exp") {
				t.Errorf("body leaks the reason: %s", res.body)
			}
		})
	}

	t.Run("two authorization headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/x", nil)
		req.Header.Add("Authorization", "Bearer "+valid)
		req.Header.Add("Authorization", "Bearer "+valid)
		if res := doRequest(t, req); res.status != http.StatusBadRequest {
			t.Errorf("status %d, want 400", res.status)
		}
	})
	t.Run("preflight passes untouched", func(t *testing.T) {
		res := do(t, "OPTIONS", base+"/x", map[string]string{
			"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "X-Cognito-Sub": "attacker",
		})
		if res.status != http.StatusOK {
			t.Fatalf("status %d, want the upstream's 200", res.status)
		}
		if e := res.echoed(t); e.Method != "OPTIONS" || e.Header["X-Cognito-Sub"] != nil {
			t.Errorf("upstream saw %s with X-Cognito-Sub %q", e.Method, e.Header["X-Cognito-Sub"])
		}
	})
	t.Run("OPTIONS without preflight headers is not a preflight", func(t *testing.T) {
		if res := do(t, "OPTIONS", base+"/x", nil); res.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", res.status)
		}
	})
}

func TestKeysUnavailableIs503(t *testing.T) {
	echo := newEcho(t)
	idp := testidp.New(t)
	token := idp.AccessToken(t, nil)
	idp.Server.Close() // the IdP is down from the start: Caddy starts anyway, and answers 503, never 200.
	base, _ := runCaddy(t, site(idp, echo.URL, ""))
	res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer " + token})
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (body %s)", res.status, res.body)
	}
	if res.header.Get("WWW-Authenticate") != "" {
		t.Errorf("a 503 is not the caller's fault: no challenge expected, got %q", res.header.Get("WWW-Authenticate"))
	}
}

func TestAllowAnonymous(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, "		allow_anonymous"))
	res := do(t, "GET", base+"/x", map[string]string{"X-Cognito-Sub": "attacker"})
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if h := res.echoed(t).Header; h["X-Cognito-Sub"] != nil || h["X-Cognito-Context"] != nil {
		t.Errorf("anonymous request reached the upstream with identity headers %v", h)
	}
	// Bad credentials are still refused: anonymous access is for requests without any.
	if res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer forged"}); res.status != 401 {
		t.Errorf("bad token with allow_anonymous: status %d, want 401", res.status)
	}
}

func TestHandleErrorsRendersTheDeny(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, site(idp, echo.URL, "")+`
	handle_errors {
		respond "denied: {cognito.error.status} {cognito.error.code}" {err.status_code}
	}`)
	res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer bad"})
	if res.status != 401 || string(res.body) != "denied: 401 invalid_token" {
		t.Errorf("got %d %q", res.status, res.body)
	}
	if res.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("challenge lost with handle_errors: %q", res.header.Get("WWW-Authenticate"))
	}
}

func TestAuthenticationProvider(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	provider, _ := json.Marshal(map[string]any{
		"user_pools": []map[string]any{{
			"id": "us-east-1_Test01", "client_ids": []string{"client-1"},
			"issuer": idp.Issuer, "jwks_url": idp.JWKSURL,
		}},
	})
	// The Caddyfile has no syntax for authentication providers; inject the JSON handler with `invoke`-free
	// route JSON instead: adapt a site, then load raw JSON.
	base, _ := runCaddyJSON(t, `{"handler":"authentication","providers":{"cognito":`+string(provider)+`}}`, echo.URL)
	res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, nil), "X-Cognito-Sub": "attacker"})
	if res.status != 200 {
		t.Fatalf("status %d body %s", res.status, res.body)
	}
	if got := res.echoed(t).Header["X-Cognito-Sub"]; len(got) != 1 || got[0] != testidp.Subject {
		t.Errorf("X-Cognito-Sub = %q", got)
	}
	if got := res.header.Get("X-User"); got != testidp.Subject+"|admins,ops" {
		t.Errorf("{http.auth.user.*} = %q", got)
	}
	res = do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer bad"})
	if res.status != 401 || res.header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("bad token: %d %q", res.status, res.header.Get("WWW-Authenticate"))
	}
}

// TestUserIDVarsOverride: {http.auth.user.id} is the caller's unless the route sets it with vars, as
// Caddy lets a route override it (the access log's user_id too).
func TestUserIDVarsOverride(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, accessLog := runCaddy(t, "	vars http.auth.user.id from-vars\n"+site(idp, echo.URL, "")+` {
		header_up X-Seen-User {http.auth.user.id}
	}`)
	h := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, nil)}).echoed(t).Header
	if got := h["X-Seen-User"]; len(got) != 1 || got[0] != "from-vars" {
		t.Errorf("{http.auth.user.id} = %q, want the vars value", got)
	}
	if lines := readLog(t, accessLog, 1); len(lines) == 0 || lines[len(lines)-1]["user_id"] != "from-vars" {
		t.Errorf("access log user_id: %v", lines)
	}
}

// TestForwardJSONRefusesUnknownHeaders: in JSON, where no parser has checked the names, a header the
// gateway does not set stops the configuration, and the removed no_context_header is an unknown field
// rather than a setting silently ignored.
func TestForwardJSONRefusesUnknownHeaders(t *testing.T) {
	for _, tc := range []struct{ name, field, want string }{
		{"misspelled", `"forward": ["X-Cognito-Sub", "X-Cognito-Usrname"]`, `forward "X-Cognito-Usrname": not a header the gateway forwards`},
		{"the context", `"forward": ["X-Cognito-Context"]`, "context_header on"},
		{"no_context_header", `"no_context_header": true`, `unknown field "no_context_header"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caddyMu.Lock()
			t.Cleanup(caddyMu.Unlock)
			cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "storage": {"module": "file_system", "root": %q},
				"apps": {"http": {"servers": {"test": {"listen": ["127.0.0.1:%d"], "routes": [{"handle": [
					{"handler": "cognito_authorizer", "allow_anonymous": true, %s}]}]}}}}}`, t.TempDir(), freePort(t), tc.field)
			err := caddy.Load([]byte(cfg), true)
			if err == nil {
				_ = caddy.Stop()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}
