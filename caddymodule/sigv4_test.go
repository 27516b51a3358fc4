package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

const testPoolID = "eu-west-1:11111111-2222-3333-4444-555555555555"

// mintCredentials seals identity-pool credentials with the pool's key ring in Caddy's storage dir, as
// cognito_identity_pool would.
func mintCredentials(t *testing.T, storageDir string, authenticated bool) aws.Credentials {
	t.Helper()
	keys, err := identitypool.NewKeyRing(context.Background(), &certmagic.FileStorage{Path: storageDir}, testPoolID, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &identitypool.Session{
		AccessKeyID: "ASIAQWERTYUIOPASDFGH", SecretAccessKey: strings.Repeat("k", 40),
		IdentityID: "eu-west-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", PoolID: testPoolID,
		RoleARN: "arn:aws:iam::123456789012:role/service-role/Guests", Expires: time.Now().Add(time.Hour),
		PrincipalTags: map[string]string{"tenant": "t1"},
	}
	if authenticated {
		s.RoleARN = "arn:aws:iam::123456789012:role/Users"
		s.LoginProviders = []string{"cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"}
		s.AuthenticationProvider = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123,cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123:CognitoSignIn:sub-1"
	}
	token, err := keys.SealSession(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: token}
}

func sign(t *testing.T, creds aws.Credentials, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestSigV4DefaultForward: by default a signed request carries the identity id and nothing else of
// the caller, whatever X-Cognito-* headers it was signed with; the placeholders still have the rest.
func TestSigV4DefaultForward(t *testing.T) {
	echo := newEcho(t)
	base, accessLog := runCaddy(t, `	cognito_authorizer {
		identity_pool `+testPoolID+`
		allow_any_role
	}
	reverse_proxy `+echo.URL+` {
		header_up X-Seen-Role {cognito.role_arn}
	}`)
	guest := mintCredentials(t, filepath.Dir(accessLog), false)
	req := sign(t, guest, "GET", base+"/orders", "")
	for k, v := range spoofedIdentity {
		req.Header[k] = []string{v} // added after signing, as SigV4 allows
	}
	res := doRequest(t, req)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	h := res.echoed(t).Header
	onlyIdentityHeaders(t, h, map[string]string{"X-Cognito-Identity-Id": "eu-west-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"})
	if got := h["X-Seen-Role"]; len(got) != 1 || got[0] != "arn:aws:iam::123456789012:role/service-role/Guests" {
		t.Errorf("{cognito.role_arn} = %q", got)
	}
}

func TestSigV4ThroughCaddy(t *testing.T) {
	var bodies []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Header: r.Header})
	}))
	t.Cleanup(echo.Close)
	base, accessLog := runCaddy(t, `	uri strip_prefix /api
	cognito_authorizer {
		identity_pool `+testPoolID+`
		allow_any_role
		forward all
		context_header on
	}
	reverse_proxy `+echo.URL)
	storageDir := filepath.Dir(accessLog)

	guest := mintCredentials(t, storageDir, false)
	req := sign(t, guest, "POST", base+"/api/orders?b=2&a=1", `{"item":42}`)
	for k, v := range spoofedIdentity {
		req.Header[k] = []string{v}
	}
	res := doRequest(t, req)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	e := res.echoed(t)
	if e.Path != "/orders" || len(bodies) != 1 || bodies[0] != `{"item":42}` {
		t.Errorf("upstream got %s with body %q", e.Path, bodies)
	}
	want := map[string]string{
		"X-Cognito-Identity-Id":         "eu-west-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
		"X-Cognito-Identity-Pool-Id":    testPoolID,
		"X-Cognito-Authentication-Type": "unauthenticated",
		"X-Cognito-Role-Arn":            "arn:aws:iam::123456789012:role/service-role/Guests",
	}
	withContext := maps.Clone(want)
	if c := e.Header["X-Cognito-Context"]; len(c) == 1 {
		withContext["X-Cognito-Context"] = c[0]
	}
	onlyIdentityHeaders(t, e.Header, withContext)
	if got := e.Header["X-Amz-Security-Token"]; got != nil {
		t.Errorf("the session token reached the upstream")
	}
	ident := decodeContext(t, e.Header["X-Cognito-Context"])["identity"].(map[string]any)
	for k, v := range map[string]string{
		"cognitoIdentityId": want["X-Cognito-Identity-Id"], "cognitoIdentityPoolId": testPoolID,
		"cognitoAuthenticationType": "unauthenticated", "accessKey": guest.AccessKeyID, "accountId": "123456789012",
		"userArn": "arn:aws:sts::123456789012:assumed-role/Guests/CognitoIdentityCredentials",
		"caller":  "Guests:CognitoIdentityCredentials",
	} {
		if ident[k] != v {
			t.Errorf("context identity.%s = %v, want %q", k, ident[k], v)
		}
	}

	user := mintCredentials(t, storageDir, true)
	e = doRequest(t, sign(t, user, "GET", base+"/api/me", "")).echoed(t)
	if got := e.Header["X-Cognito-Authentication-Type"]; len(got) != 1 || got[0] != "authenticated" {
		t.Errorf("authenticated caller: X-Cognito-Authentication-Type = %q", got)
	}
	if got := e.Header["X-Cognito-Authentication-Provider"]; len(got) != 1 || !strings.HasSuffix(got[0], ":CognitoSignIn:sub-1") {
		t.Errorf("X-Cognito-Authentication-Provider = %q", got)
	}

	// presign presigns a GET for base+path, with the query parameter drop removed from the URL.
	presign := func(path string, drop string) *http.Request {
		r, _ := http.NewRequest("GET", base+path, nil)
		if drop != "X-Amz-Expires" {
			r.URL.RawQuery = "X-Amz-Expires=300" // aws-sdk-go-v2 signs the X-Amz-Expires the URL has, and adds none
		}
		signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), guest, r, hex.EncodeToString(sha256.New().Sum(nil)), "execute-api", "eu-west-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r, _ = http.NewRequest("GET", signed, nil)
		var kept []string
		for p := range strings.SplitSeq(r.URL.RawQuery, "&") {
			if k, _, _ := strings.Cut(p, "="); k != drop {
				kept = append(kept, p)
			}
		}
		r.URL.RawQuery = strings.Join(kept, "&")
		return r
	}
	denies := []struct {
		name, errorType string
		status          int
		req             func() *http.Request
		message         string // in the body's message, when set
	}{
		{"no credentials", "MissingAuthenticationTokenException", 403, func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/api/orders", nil)
			return r
		}, ""},
		{"tampered body", "InvalidSignatureException", 403, func() *http.Request {
			r := sign(t, guest, "POST", base+"/api/orders", "a")
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("b")), 1
			return r
		}, ""},
		{"tampered path", "InvalidSignatureException", 403, func() *http.Request {
			r := sign(t, guest, "GET", base+"/api/orders", "")
			r.URL.Path = "/api/admin"
			return r
		}, ""},
		{"forged token", "UnrecognizedClientException", 403, func() *http.Request {
			forged := guest
			forged.SessionToken = guest.SessionToken[:20] + strings.Repeat("A", len(guest.SessionToken)-20)
			return sign(t, forged, "GET", base+"/api/orders", "")
		}, ""},
		{"unsigned x-amz-content-sha256 of another body", "InvalidSignatureException", 403, func() *http.Request {
			r := sign(t, guest, "POST", base+"/api/orders", "a")
			sum := sha256.Sum256([]byte("b"))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			return r
		}, "'x-amz-content-sha256'"},
		{"presigned without X-Amz-Expires", "IncompleteSignatureException", 403, func() *http.Request {
			return presign("/api/orders", "X-Amz-Expires")
		}, "must include 'X-Amz-Expires'"},
		{"presigned without X-Amz-Algorithm", "IncompleteSignatureException", 403, func() *http.Request {
			return presign("/api/orders", "X-Amz-Algorithm")
		}, "must include 'X-Amz-Algorithm'"},
	}
	for _, tc := range denies {
		t.Run(tc.name, func(t *testing.T) {
			res := doRequest(t, tc.req())
			if res.status != tc.status || res.header.Get("X-Amzn-ErrorType") != tc.errorType {
				t.Fatalf("got %d %q (%s), want %d %q", res.status, res.header.Get("X-Amzn-ErrorType"), res.body, tc.status, tc.errorType)
			}
			if res.header.Get("WWW-Authenticate") != "" {
				t.Errorf("SigV4 deny carries a bearer challenge")
			}
			var body map[string]string
			if err := json.Unmarshal(res.body, &body); err != nil || body["message"] == "" || !strings.Contains(body["message"], tc.message) {
				t.Errorf("body %s, want a message with %q", res.body, tc.message)
			}
			if strings.Contains(string(res.body), guest.SessionToken[:30]) {
				t.Error("body echoes the session token")
			}
		})
	}
	if len(bodies) != 2 {
		t.Errorf("the upstream saw %d requests, want only the 2 allowed ones", len(bodies))
	}
}
