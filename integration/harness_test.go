package integration

// Tests of the harness itself: each real part starts and does what the end-to-end tests rely on.

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCognitoLocalIssuesTokensVerifiableWithItsJWKS(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	sub := pool.AddUser(t, "alice@example.com", "admins", "readers")
	tok := pool.SignIn(t, "alice@example.com")

	keys := fetchJWKS(t, pool.JWKSURL)
	if len(keys) != 1 || keys[0].Kid != "CognitoLocal" || keys[0].Kty != "RSA" || keys[0].Alg != "RS256" {
		t.Fatalf("JWKS at %s = %+v, want one RSA RS256 key with kid CognitoLocal", pool.JWKSURL, keys)
	}
	pub := rsaPublicKey(t, keys[0])

	tests := []struct {
		name, token, tokenUse, clientClaim string
	}{
		{name: "access token", token: tok.Access, tokenUse: "access", clientClaim: "client_id"},
		{name: "id token", token: tok.ID, tokenUse: "id", clientClaim: "aud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, claims := verifyRS256(t, tt.token, pub)
			if header["kid"] != "CognitoLocal" || header["alg"] != "RS256" {
				t.Errorf("header = %v, want kid CognitoLocal and alg RS256", header)
			}
			want := map[string]any{
				"iss":            pool.Issuer,
				"sub":            sub,
				"token_use":      tt.tokenUse,
				tt.clientClaim:   pool.ClientID,
				"cognito:groups": []any{"admins", "readers"},
			}
			for claim, v := range want {
				got := claims[claim]
				if g, ok := got.([]any); ok {
					slices.SortFunc(g, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
				}
				if !jsonEqual(got, v) {
					t.Errorf("claim %s = %v, want %v", claim, got, v)
				}
			}
			if exp, ok := claims["exp"].(float64); !ok || time.Unix(int64(exp), 0).Before(time.Now()) {
				t.Errorf("exp = %v, want a time in the future", claims["exp"])
			}
		})
	}

	t.Run("a token of another app client names that client", func(t *testing.T) {
		other := pool.AddClient(t, "other")
		_, claims := verifyRS256(t, pool.SignInWith(t, other, "alice@example.com").Access, pub)
		if claims["client_id"] != other || other == pool.ClientID {
			t.Errorf("client_id = %v, want the other client %s (first client %s)", claims["client_id"], other, pool.ClientID)
		}
	})
}

func TestAWSCLIAgainstCognitoLocal(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	pool.AddUser(t, "bob@example.com", "readers")

	t.Run("lists the pool", func(t *testing.T) {
		out := runAWS(t, nil, "cognito-idp", "list-user-pools", "--max-results", "10",
			"--endpoint-url", emu.URL, "--output", "json").ok(t)
		var list struct{ UserPools []struct{ Id, Name string } }
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("decoding list-user-pools: %v\n%s", err, out)
		}
		if !slices.ContainsFunc(list.UserPools, func(p struct{ Id, Name string }) bool { return p.Id == pool.ID }) {
			t.Errorf("list-user-pools = %+v, want pool %s", list.UserPools, pool.ID)
		}
	})
	t.Run("signs in unsigned with USER_PASSWORD_AUTH", func(t *testing.T) {
		out := runAWS(t, nil, "cognito-idp", "initiate-auth", "--no-sign-request", "--endpoint-url", emu.URL,
			"--auth-flow", "USER_PASSWORD_AUTH", "--client-id", pool.ClientID,
			"--auth-parameters", "USERNAME=bob@example.com,PASSWORD="+testPassword, "--output", "json").ok(t)
		var auth struct{ AuthenticationResult struct{ AccessToken string } }
		if err := json.Unmarshal([]byte(out), &auth); err != nil {
			t.Fatalf("decoding initiate-auth: %v", err)
		}
		_, claims := verifyRS256(t, auth.AuthenticationResult.AccessToken, rsaPublicKey(t, fetchJWKS(t, pool.JWKSURL)[0]))
		if claims["iss"] != pool.Issuer || !jsonEqual(claims["cognito:groups"], []any{"readers"}) {
			t.Errorf("claims = %v, want iss %s and group readers", claims, pool.Issuer)
		}
	})
	t.Run("a wrong password is refused", func(t *testing.T) {
		r := runAWS(t, nil, "cognito-idp", "initiate-auth", "--no-sign-request", "--endpoint-url", emu.URL,
			"--auth-flow", "USER_PASSWORD_AUTH", "--client-id", pool.ClientID,
			"--auth-parameters", "USERNAME=bob@example.com,PASSWORD=wrong-"+testPassword)
		// Cognito answers NotAuthorizedException; cognito-local 5.3.0 InvalidPasswordException.
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException") && !strings.Contains(r.Stderr, "InvalidPasswordException") {
			t.Errorf("initiate-auth with a wrong password: err %v, stderr %q; want a refusal", r.Err, r.Stderr)
		}
	})
}

func TestCaddyProxiesToTheEchoUpstream(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	srv := startCaddy(t, "{$SITE} {\n\treverse_proxy "+up.Addr+"\n}\n")

	const token = "eyJhbGciOiJSUzI1NiJ9.integration-secret-token.c2ln"
	resp := srv.get(t, "/orders/42?b=2&a=1", http.Header{
		"Authorization": {"Bearer " + token},
		"X-Probe":       {"visible-probe-value"},
	})
	e := readEcho(t, resp)
	if e.Method != http.MethodGet || e.Path != "/orders/42" || e.RawQuery != "b=2&a=1" {
		t.Errorf("upstream saw %s %s?%s, want GET /orders/42?b=2&a=1", e.Method, e.Path, e.RawQuery)
	}
	if got := e.Header.Get("X-Probe"); got != "visible-probe-value" {
		t.Errorf("upstream saw X-Probe %q", got)
	}
	if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("upstream saw X-Forwarded-For %q, want 127.0.0.1 (it went through Caddy)", got)
	}
	if up.Count() != 1 {
		t.Errorf("upstream count = %d, want 1", up.Count())
	}

	// The logs are captured and decoded: the access through reverse_proxy is there at DEBUG level
	// with its headers, and Caddy redacts the credential.
	entry := srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["logger"] == "http.handlers.reverse_proxy" && strings.Contains(toJSON(e), "visible-probe-value")
	})
	if entry["level"] != "debug" {
		t.Errorf("log entry %v, want a debug entry", entry)
	}
	srv.assertLogsExclude(t, token)
}

func TestCaddyReload(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	first := "{$SITE} {\n\treverse_proxy " + up.Addr + "\n}\n"
	srv := startCaddy(t, first)

	srv.reload(t, "{$SITE} {\n\trespond /health \"reloaded\" 200\n\treverse_proxy "+up.Addr+"\n}\n")
	resp := srv.get(t, "/health", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "reloaded" {
		t.Fatalf("after reload: %d %q, want 200 \"reloaded\"", resp.StatusCode, body)
	}

	// A config that does not adapt is refused and the running one keeps serving.
	if err := srv.tryReload(t, "{$SITE} {\n\tno_such_directive\n}\n"); err == nil || !strings.Contains(err.Error(), "no_such_directive") {
		t.Fatalf("reload with an unknown directive: %v, want Caddy's refusal naming it", err)
	}
	resp = srv.get(t, "/health", nil)
	body, _ = io.ReadAll(resp.Body)
	if string(body) != "reloaded" {
		t.Errorf("after a refused reload: %q, want the previous config still serving", body)
	}
}

func TestUpstreamEchoesWhatItReceived(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)
	up := startUpstream(t)
	tests := []struct {
		name, method, target, body string
		want                       echoedRequest
	}{
		{
			name: "escaped path kept raw", method: http.MethodGet, target: "/a%2Fb/c%20d?x=1&x=2&y",
			want: echoedRequest{Method: "GET", RequestURI: "/a%2Fb/c%20d?x=1&x=2&y", Path: "/a/b/c d",
				RawPath: "/a%2Fb/c%20d", RawQuery: "x=1&x=2&y"},
		},
		{
			name: "body", method: http.MethodPost, target: "/orders", body: `{"n":1}`,
			want: echoedRequest{Method: "POST", RequestURI: "/orders", Path: "/orders", RawPath: "/orders", Body: `{"n":1}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, up.URL+tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readEcho(t, resp)
			got.Host, got.Header, got.Query = "", nil, nil
			if !jsonEqual(got, tt.want) {
				t.Errorf("echo = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
	t.Run("oversized body refused", func(t *testing.T) {
		resp, err := http.Post(up.URL+"/big", "text/plain", strings.NewReader(strings.Repeat("x", maxUpstreamBody+1)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})
	if n := len(up.Received()); n != 2 || up.Count() != 2 {
		t.Errorf("recorded %d requests, counted %d; want the 2 accepted ones", n, up.Count())
	}
}

func TestWithGlobalOptions(t *testing.T) {
	const opts = "\tadmin off\n"
	tests := []struct{ name, in, want string }{
		{name: "site only", in: "{$SITE} {\n}\n", want: "{\n\tadmin off\n}\n\n{$SITE} {\n}\n"},
		{name: "own global block", in: "\n{\n\tdebug\n}\n:80\n", want: "{\n\tadmin off\n\n\tdebug\n}\n:80\n"},
		{name: "placeholder address is not a global block", in: "{$SITE}\nrespond ok\n", want: "{\n\tadmin off\n}\n\n{$SITE}\nrespond ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withGlobalOptions(tt.in, opts); got != tt.want {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCapturedOutputIsBounded(t *testing.T) {
	c := &capturedOutput{limit: 8}
	for _, chunk := range []string{"12345", "6789", "0"} {
		if n, err := c.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want all of it accepted (a child must never block)", chunk, n, err)
		}
	}
	if c.String() != "12345678" || !c.Truncated() {
		t.Errorf("kept %q, truncated %v; want the first 8 bytes and truncated", c.String(), c.Truncated())
	}
}

func TestCheckNPMPackages(t *testing.T) {
	write := func(t *testing.T, path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		installed map[string]string // package -> version in node_modules
		wantErr   string
	}{
		{name: "all pinned versions installed", installed: map[string]string{"cognito-local": "5.3.0", "aws4": "1.13.2"}},
		{name: "one missing", installed: map[string]string{"aws4": "1.13.2"}, wantErr: "cognito-local not installed"},
		{name: "nothing installed", installed: nil, wantErr: "none installed"},
		{name: "stale version", installed: map[string]string{"cognito-local": "3.23.2", "aws4": "1.13.2"}, wantErr: "cognito-local 3.23.2 installed, 5.3.0 pinned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "package.json"), `{"dependencies": {"cognito-local": "5.3.0", "aws4": "1.13.2"}}`)
			for name, v := range tt.installed {
				write(t, filepath.Join(dir, "node_modules", name, "package.json"), `{"version": "`+v+`"}`)
			}
			err := checkNPMPackages(dir)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkNPMPackages = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// jwk is the part of a JSON Web Key these tests read.
type jwk struct {
	Kty, Kid, Alg, Use, N, E string
}

func fetchJWKS(t *testing.T, url string) []jwk {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("fetching the JWKS: %v", err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		t.Fatalf("decoding the JWKS at %s (status %d): %v", url, resp.StatusCode, err)
	}
	return set.Keys
}

func rsaPublicKey(t *testing.T, k jwk) *rsa.PublicKey {
	t.Helper()
	n, errN := base64.RawURLEncoding.DecodeString(k.N)
	e, errE := base64.RawURLEncoding.DecodeString(k.E)
	if errN != nil || errE != nil {
		t.Fatalf("key %s: bad n or e: %v %v", k.Kid, errN, errE)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// verifyRS256 checks the token's RS256 signature with pub (a check of the emulator, independent of the
// verifier under test) and returns its decoded header and claims.
func verifyRS256(t *testing.T, token string, pub *rsa.PublicKey) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("decoding the signature: %v", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("the token's signature does not verify with the JWKS key: %v", err)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		if err := json.Unmarshal([]byte(decodeSegment(t, parts[i])), v); err != nil {
			t.Fatalf("decoding token part %d: %v", i, err)
		}
	}
	return header, claims
}

func decodeSegment(t *testing.T, segment string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatalf("decoding a JWT segment: %v", err)
	}
	return string(raw)
}

func encodeSegment(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jsonEqual compares two values by their JSON encoding.
func jsonEqual(a, b any) bool { return toJSON(a) == toJSON(b) }

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	return string(b)
}
