package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

func TestPresignedCredentialsAreNotForwarded(t *testing.T) {
	var got []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.RequestURI)
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Header: r.Header})
	}))
	t.Cleanup(echo.Close)
	base, accessLog := runCaddy(t, `	cognito_authorizer {
		identity_pool `+testPoolID+`
		allow_any_role
	}
	reverse_proxy `+echo.URL+` {
		header_down X-Seen-URI {http.request.uri}
	}`)
	guest := mintCredentials(t, filepath.Dir(accessLog), false)
	req, err := http.NewRequest(http.MethodGet, base+"/orders?page=2&sort=a%2Cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "60")
	req.URL.RawQuery = q.Encode()
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), guest, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "execute-api", "eu-west-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	presigned, err := http.NewRequest(http.MethodGet, signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := doRequest(t, presigned)
	if res.status != 200 || len(got) != 1 {
		t.Fatalf("presigned GET: %d %s", res.status, res.body)
	}
	for _, secret := range []string{"X-Amz-Signature", "X-Amz-Security-Token", guest.SessionToken[:40]} {
		if strings.Contains(got[0], secret) || strings.Contains(res.header.Get("X-Seen-URI"), secret) {
			t.Errorf("%s reached the upstream or {http.request.uri}: %s", secret, got[0])
		}
	}
	// The rest of the query is kept as sent, presigning parameters and all.
	for _, kept := range []string{"page=2", "sort=a%2Cb", "X-Amz-Credential=", "X-Amz-Date=", "X-Amz-Expires=60"} {
		if !strings.Contains(got[0], kept) {
			t.Errorf("the upstream's query lost %q: %s", kept, got[0])
		}
	}
}

func TestWithoutQueryParams(t *testing.T) {
	sigv4Credentials := func(name string) bool {
		return strings.EqualFold(name, "X-Amz-Signature") || strings.EqualFold(name, "X-Amz-Security-Token")
	}
	tests := []struct {
		name, in, want string
		removed        bool
	}{
		{name: "empty", in: ""},
		{name: "no credentials", in: "a=1&b=%20x&c", want: "a=1&b=%20x&c"},
		{name: "presigned", in: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2Fx&X-Amz-Signature=abc&X-Amz-Security-Token=t%2B&page=2",
			want: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2Fx&page=2", removed: true},
		{name: "encoded names", in: "X%2DAmz%2DSignature=abc&X-Amz-Security%2DToken=t&k=v", want: "k=v", removed: true},
		{name: "other case", in: "x-amz-signature=abc&X-AMZ-SECURITY-TOKEN=t", want: "", removed: true},
		{name: "repeated", in: "X-Amz-Signature=a&X-Amz-Signature=b&z=1", want: "z=1", removed: true},
		{name: "name without value", in: "X-Amz-Security-Token&z", want: "z", removed: true},
		{name: "bad escape kept", in: "%zz=1&X-Amz-Signature=a", want: "%zz=1", removed: true},
		{name: "similar names kept", in: "X-Amz-Signature-Version=2&MyX-Amz-Signature=1", want: "X-Amz-Signature-Version=2&MyX-Amz-Signature=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, removed := withoutQueryParams(tt.in, sigv4Credentials)
			if got != tt.want || removed != tt.removed {
				t.Errorf("withoutQueryParams(%q) = %q, %v; want %q, %v", tt.in, got, removed, tt.want, tt.removed)
			}
		})
	}
}

func TestTokenQueryIsNotForwarded(t *testing.T) {
	idp := testidp.New(t)
	var got []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.RequestURI)
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Header: r.Header})
	}))
	t.Cleanup(echo.Close)
	base, _ := runCaddy(t, site(idp, echo.URL, "token_query access_token"))
	token := idp.AccessToken(t, nil)
	res := do(t, http.MethodGet, base+"/ws?room=1&access_token="+token+"&x=%2F", nil)
	if res.status != 200 || len(got) != 1 {
		t.Fatalf("GET with a query token: %d %s", res.status, res.body)
	}
	if strings.Contains(got[0], "access_token") || strings.Contains(got[0], token[len(token)-20:]) {
		t.Errorf("the token reached the upstream: %s", got[0])
	}
	if got[0] != "/ws?room=1&x=%2F" {
		t.Errorf("the upstream got %s, want the query without the token, as sent: /ws?room=1&x=%%2F", got[0])
	}
}

// Session tokens that are not base64url, or that decode to fewer bytes than a sealed session, are
// refused like any unknown credential, in the header and in a presigned URL (where %0D and %0A decode
// to characters a base64 decoder skips).
func TestMalformedSessionTokens(t *testing.T) {
	echo := newEcho(t)
	base, accessLog := runCaddy(t, `	cognito_authorizer {
		identity_pool `+testPoolID+`
		allow_any_role
	}
	reverse_proxy `+echo.URL)
	guest := mintCredentials(t, filepath.Dir(accessLog), false)
	tokens := []struct{ name, token string }{
		{"carriage returns", strings.Repeat("\r", 200)},
		{"line feeds", strings.Repeat("\n", 200)},
		{"a few bytes among line feeds", "AQ" + strings.Repeat("\n", 200)},
		{"a header's worth among carriage returns", "AQAAAAAAAAAAAAAAAAAAAAA" + strings.Repeat("\r", 200)},
		{"not base64url", strings.Repeat("*", 200)},
		// The version and key id of a genuine token (key ids are public: the JWKS lists them), a few
		// bytes, then carriage returns: fewer bytes than a header and a nonce.
		{"a genuine key id among carriage returns", guest.SessionToken[:12] + "AAAAAAAA" + strings.Repeat("\r", 200)},
	}
	for _, tt := range tokens {
		t.Run(tt.name, func(t *testing.T) {
			creds := guest
			creds.SessionToken = tt.token
			req, err := http.NewRequest(http.MethodGet, base+"/orders", nil)
			if err != nil {
				t.Fatal(err)
			}
			q := req.URL.Query()
			q.Set("X-Amz-Expires", "60")
			req.URL.RawQuery = q.Encode()
			signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req,
				"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "execute-api", "eu-west-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			presigned, err := http.NewRequest(http.MethodGet, signed, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := (&http.Client{Timeout: 10 * time.Second}).Do(presigned)
			if err != nil {
				t.Fatalf("the gateway dropped the connection: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != 403 || res.Header.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" {
				t.Errorf("status %d %q, want 403 UnrecognizedClientException", res.StatusCode, res.Header.Get("X-Amzn-ErrorType"))
			}
		})
	}
}

// BenchmarkStripCredentials is what an allowed presigned request pays to have its signature and
// session token removed from the query it forwards.
func BenchmarkStripCredentials(b *testing.B) {
	const query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAQWERTYUIOPASDFGH%2F20260314%2Fus-east-1%2Fexecute-api%2Faws4_request" +
		"&X-Amz-Date=20260314T150926Z&X-Amz-Expires=300&X-Amz-Security-Token=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
		"&X-Amz-SignedHeaders=host&page=2&X-Amz-Signature=c405ae42696c6541d87a94c09d4771f34396e7258dc1fa82d03343de9f8eeaa4"
	g := &gate{}
	d := &authorizer.Decision{Allow: true, Scheme: authorizer.SchemeSigV4}
	r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/orders"}}
	b.ReportAllocs()
	for b.Loop() {
		r.URL.RawQuery, r.RequestURI = query, "/orders?"+query
		g.stripCredentials(r, d)
	}
}
