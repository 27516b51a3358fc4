package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// explainCaddyfile has two routes that trust idp: /orders/* for the group admins, /reports/* for the
// scope reports/read. Line numbers matter: the tests expect the authorizers at Caddyfile:3 and :15.
func explainCaddyfile(issuer, jwksURL, clientID string) string {
	return fmt.Sprintf(`http://api.example.test {
	route /orders/* {
		cognito_authorizer {
			user_pool us-east-1_Explain {
				client_id %[3]s
				token_use any
				issuer %[1]s
				jwks_url %[2]s
			}
			groups admins
		}
		respond "orders"
	}
	route /reports/* {
		cognito_authorizer {
			user_pool us-east-1_Explain {
				client_id %[3]s
				token_use any
				issuer %[1]s
				jwks_url %[2]s
			}
			scopes reports/read
		}
		respond "reports"
	}
}
`, issuer, jwksURL, clientID)
}

// cognitoRun is the outcome of a `caddy cognito` command.
type cognitoRun struct {
	stdout, stderr string
	code           int
}

// runCognito runs `caddy cognito args...` in dir, with stdin, its storage and config directories
// temporary.
func runCognito(t *testing.T, dir, stdin string, args ...string) cognitoRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBinary(t), append([]string{"cognito"}, args...)...)
	cmd.Dir = dir
	cmd.Env = childEnv([]string{"CADDY", "XDG_"}, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	run := cognitoRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("caddy cognito %s: %v\n%s", args[0], err, stderr.String())
	}
	return run
}

func (r cognitoRun) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, tail(r.stderr, 2000))
	}
}

// explained is the JSON of `caddy cognito explain --json`.
type explained struct {
	Server, Route, Code, Message, Rule, Reason string
	Allow                                      bool
	Status                                     int
	Input                                      struct {
		Request  map[string]any
		Identity map[string]any
		Config   map[string]any
	}
}

func (r cognitoRun) explained(t *testing.T) explained {
	t.Helper()
	var e explained
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("explain --json printed no JSON: %v\n%s", err, r.stdout)
	}
	return e
}

// TestCognitoExplain decides requests with `caddy cognito explain` through the binary: the route the
// request matches decides, with the same verification and policy as the server.
func TestCognitoExplain(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(explainCaddyfile(idp.Issuer, idp.JWKSURL, idp.ClientID)), 0o600); err != nil {
		t.Fatal(err)
	}
	token := idp.AccessToken(t, nil) // groups admins, ops; scopes orders/read orders/write
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	explain := func(t *testing.T, path, stdin string, extra ...string) cognitoRun {
		t.Helper()
		return runCognito(t, dir, stdin, append([]string{"explain", "--config", "Caddyfile", "--host", "api.example.test",
			"--path", path}, extra...)...)
	}

	t.Run("allow", func(t *testing.T) {
		run := explain(t, "/orders/42?view=full", "", "--token-file", tokenFile, "--json")
		run.want(t, 0)
		e := run.explained(t)
		if !e.Allow || e.Status != http.StatusOK || e.Rule != "allowed" || e.Route != "Caddyfile:3" {
			t.Errorf("explained %+v, want an allow by the route at Caddyfile:3", e)
		}
		if e.Input.Identity["subject"] != testidp.Subject || e.Input.Request["path"] != "/orders/42" {
			t.Errorf("input identity %v, request %v: want the token's subject and the path", e.Input.Identity, e.Input.Request)
		}
		if q, _ := e.Input.Request["query"].(map[string]any); q == nil || q["view"] == nil {
			t.Errorf("input query %v, want view", e.Input.Request["query"])
		}
		if strings.Contains(run.stdout, token) || strings.Contains(run.stdout, strings.Split(token, ".")[2]) {
			t.Error("the explanation repeats the token")
		}
	})
	t.Run("deny with the rule and the reason, token from stdin", func(t *testing.T) {
		run := explain(t, "/reports/1", token, "--token-file", "-")
		run.want(t, 1)
		for _, want := range []string{"route     Caddyfile:15", "decision  deny 403", "rule      scopes", "reports/read", "insufficient_scope", testidp.Subject} {
			if !strings.Contains(run.stdout, want) {
				t.Errorf("the explanation does not say %q:\n%s", want, run.stdout)
			}
		}
	})
	t.Run("deny by groups", func(t *testing.T) {
		run := explain(t, "/orders/1", "", "--token", idp.AccessToken(t, map[string]any{"cognito:groups": []string{"users"}}), "--json")
		run.want(t, 1)
		if e := run.explained(t); e.Allow || e.Rule != "groups" || e.Status != http.StatusForbidden || !strings.Contains(e.Reason, "admins") {
			t.Errorf("explained %+v, want a 403 by groups naming admins", e)
		}
	})
	t.Run("no token", func(t *testing.T) {
		run := explain(t, "/orders/1", "", "--json")
		run.want(t, 1)
		if e := run.explained(t); e.Status != http.StatusUnauthorized || e.Rule != "no_credentials" || e.Input.Request != nil {
			t.Errorf("explained %+v, want a 401 no_credentials without a policy input", e)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		expired := idp.AccessToken(t, map[string]any{"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})
		run := explain(t, "/orders/1", "", "--token", expired, "--json")
		run.want(t, 1)
		if e := run.explained(t); e.Status != http.StatusUnauthorized || e.Code != "invalid_token" || !strings.Contains(e.Reason, "token expired") {
			t.Errorf("explained %+v, want a 401 invalid_token saying the token expired", e)
		}
	})
	t.Run("malformed token", func(t *testing.T) {
		run := explain(t, "/orders/1", "", "--token", "not.a-jwt")
		run.want(t, 2)
		if !strings.Contains(run.stderr, "not a JWT: 2 dot-separated parts, want 3") {
			t.Errorf("stderr does not say why the token is malformed:\n%s", tail(run.stderr, 2000))
		}
	})
	t.Run("a route without an authorizer", func(t *testing.T) {
		run := explain(t, "/elsewhere", "", "--token-file", tokenFile)
		run.want(t, 2)
		if !strings.Contains(run.stderr, "has a cognito_authorizer") {
			t.Errorf("stderr does not say no authorizer decides:\n%s", tail(run.stderr, 2000))
		}
	})
	t.Run("a raw request", func(t *testing.T) {
		raw := "GET /reports/7 HTTP/1.1\r\nHost: api.example.test\r\nAuthorization: Bearer " +
			idp.AccessToken(t, map[string]any{"scope": "reports/read"}) + "\r\n\r\n"
		run := runCognito(t, dir, raw, "explain", "--config", "Caddyfile", "--request-file", "-", "--json")
		run.want(t, 0)
		if e := run.explained(t); e.Route != "Caddyfile:15" || e.Input.Request["path"] != "/reports/7" {
			t.Errorf("explained %+v, want the request's own path decided by the route at Caddyfile:15", e)
		}
	})
}

// TestCognitoToken decodes and checks tokens with `caddy cognito token` through the binary.
func TestCognitoToken(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	dir := t.TempDir()
	// The issuer's keys at an address where nothing listens: only --jwks-file can give them.
	unreachable := fmt.Sprintf("http://127.0.0.1:%d/jwks.json", freePort(t))
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(explainCaddyfile(idp.Issuer, unreachable, idp.ClientID)), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(idp.JWKSURL)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, token string, code int) cognitoRun {
		t.Helper()
		run := runCognito(t, dir, token, "token", "--config", "Caddyfile", "--jwks-file", jwksFile, "-")
		run.want(t, code)
		if sig := strings.Split(token, "."); len(sig) == 3 && strings.Contains(run.stdout+run.stderr, sig[2]) {
			t.Error("the output repeats the token's signature")
		}
		return run
	}

	t.Run("accepted", func(t *testing.T) {
		run := check(t, idp.AccessToken(t, nil), 0)
		for _, want := range []string{`"token_use": "access"`, `"kid": "test-key-1"`, "Caddyfile:3 (server srv0): accepted", "Caddyfile:15 (server srv0): accepted", "exp "} {
			if !strings.Contains(run.stdout, want) {
				t.Errorf("the output does not say %q:\n%s", want, run.stdout)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		run := check(t, idp.AccessToken(t, map[string]any{"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}), 1)
		if !strings.Contains(run.stdout, "refused: token expired: exp") || !strings.Contains(run.stdout, "ago)") {
			t.Errorf("the output does not say the token expired, and when:\n%s", run.stdout)
		}
	})
	t.Run("another client", func(t *testing.T) {
		run := check(t, idp.AccessToken(t, map[string]any{"client_id": "someone-else"}), 1)
		if !strings.Contains(run.stdout, `refused: token audience not accepted: client_id "someone-else"`) {
			t.Errorf("the output does not name the client refused:\n%s", run.stdout)
		}
	})
	t.Run("another issuer", func(t *testing.T) {
		run := check(t, idp.AccessToken(t, map[string]any{"iss": "https://elsewhere.example.test"}), 1)
		if !strings.Contains(run.stdout, "untrusted issuer") {
			t.Errorf("the output does not say the issuer is not trusted:\n%s", run.stdout)
		}
	})
	t.Run("a forged signature", func(t *testing.T) {
		other := testidp.New(t) // the same kid, another key
		run := check(t, other.AccessToken(t, map[string]any{"iss": idp.Issuer}), 1)
		if !strings.Contains(run.stdout, "invalid signature") {
			t.Errorf("the output does not say the signature is invalid:\n%s", run.stdout)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		run := check(t, "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", 2)
		if !strings.Contains(run.stderr, "not a JWT: the claims are not a JSON object") {
			t.Errorf("stderr does not say what is malformed:\n%s", tail(run.stderr, 2000))
		}
	})
	t.Run("explain without the issuer's keys", func(t *testing.T) {
		run := runCognito(t, dir, "", "explain", "--config", "Caddyfile", "--host", "api.example.test", "--path", "/orders/1",
			"--token", idp.AccessToken(t, nil), "--wait", "1s", "--json")
		run.want(t, 2)
		if e := run.explained(t); e.Status != http.StatusServiceUnavailable || e.Rule != "keys_unavailable" || !strings.Contains(e.Reason, "signing keys unavailable") {
			t.Errorf("explained %+v, want the server's 503 keys_unavailable", e)
		}
	})
	t.Run("token without the issuer's keys", func(t *testing.T) {
		// No route can check it: an error (2), not a refusal (1), saying why the keys are missing.
		run := runCognito(t, dir, idp.AccessToken(t, nil), "token", "--config", "Caddyfile", "--wait", "1s", "-")
		run.want(t, 2)
		if !strings.Contains(run.stdout, "signing keys unavailable") || !strings.Contains(run.stdout, "the last fetch: ") ||
			!strings.Contains(run.stdout, "connection refused") {
			t.Errorf("the output does not say the keys are unavailable, and why:\n%s", run.stdout)
		}
	})
	t.Run("decoded only, without a configuration", func(t *testing.T) {
		run := runCognito(t, t.TempDir(), "", "token", idp.IDToken(t, nil))
		run.want(t, 0)
		if !strings.Contains(run.stdout, `"email": "alice@example.com"`) || !strings.Contains(run.stdout, "checked no") {
			t.Errorf("the output does not show the claims, unchecked:\n%s", run.stdout)
		}
	})
}

// TestCognitoExplainSignedRequest explains a request signed by aws-sdk-go-v2 with guest credentials of
// the binary's own identity pool: the explaining process shares the server's keys through key_secret
// (no storage), verifies the signature and decides with the role's policy, as the server does.
func TestCognitoExplainSignedRequest(t *testing.T) {
	t.Parallel()
	const (
		pool = "us-east-1:5b7e2c1d-8a3f-4d6e-9c0b-1f2e3d4c5b6a"
		role = "arn:aws:iam::123456789012:role/explain-guest"
	)
	policy := writeRolePolicy(t, "explain-guest.json", `{
	"Version": "2012-10-17",
	"Statement": [{"Sid": "ReadOrders", "Effect": "Allow", "Action": "execute-api:Invoke",
		"Resource": "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/orders/*"}]
}`)
	caddyfile := fmt.Sprintf(`{
	cognito {
		key_secret 7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a
	}
}

{$SITE} {
	handle /identity* {
		cognito_identity_pool %[1]s {
			unauthenticated_role %[2]s
		}
	}
	handle {
		cognito_authorizer {
			identity_pool %[1]s
			role_policy %[2]s %[3]s
		}
		respond "ok"
	}
}
`, pool, role, policy)
	srv := startCaddy(t, caddyfile)
	identityID, creds := identityCredentials(t, srv.BaseURL+"/identity", pool, nil)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(strings.ReplaceAll(caddyfile, "{$SITE}", srv.BaseURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	signed := func(t *testing.T, method, path string) string {
		t.Helper()
		r, err := http.NewRequestWithContext(t.Context(), method, srv.BaseURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		signBody(t, r, "", creds)
		raw, err := httputil.DumpRequest(r, true)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	explain := func(t *testing.T, raw string) explained {
		t.Helper()
		run := runCognito(t, dir, raw, "explain", "--config", "Caddyfile", "--request-file", "-", "--json")
		if run.code > 1 {
			run.want(t, 0)
		}
		e := run.explained(t)
		if (run.code == 0) != e.Allow {
			t.Fatalf("exit status %d for allow %v", run.code, e.Allow)
		}
		return e
	}

	t.Run("allowed by the role's policy", func(t *testing.T) {
		e := explain(t, signed(t, http.MethodGet, "/orders/7"))
		if !e.Allow || e.Input.Identity["identity_id"] != identityID || e.Input.Identity["role_arn"] != role {
			t.Errorf("explained %+v, want an allow of guest %s in %s", e, identityID, role)
		}
		// The server agrees.
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(signed(t, http.MethodGet, "/orders/7"))))
		if err != nil {
			t.Fatal(err)
		}
		r.RequestURI, r.URL.Scheme, r.URL.Host = "", "http", strings.TrimPrefix(srv.BaseURL, "http://")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the server answered %d to what explain allowed", resp.StatusCode)
		}
	})
	t.Run("denied by iam", func(t *testing.T) {
		e := explain(t, signed(t, http.MethodDelete, "/orders/7"))
		if e.Allow || e.Rule != "iam" || e.Code != "AccessDeniedException" || e.Input.Identity["role_arn"] != role ||
			!strings.Contains(e.Reason, "no statement allows execute-api:Invoke on arn:aws:execute-api:us-east-1:123456789012:api/$default/DELETE/orders/7") {
			t.Errorf("explained %+v, want an iam deny of the role naming the resource", e)
		}
	})
	t.Run("a tampered signature", func(t *testing.T) {
		raw := signed(t, http.MethodGet, "/orders/7")
		raw = strings.Replace(raw, "GET /orders/7", "GET /orders/8", 1)
		e := explain(t, raw)
		if e.Allow || e.Status != http.StatusForbidden || e.Code != "InvalidSignatureException" {
			t.Errorf("explained %+v, want a 403 InvalidSignatureException", e)
		}
	})
}
