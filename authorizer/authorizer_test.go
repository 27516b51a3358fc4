package authorizer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// newAuthorizer trusts idp's user pool through the real verifier.
func newAuthorizer(t *testing.T, idp *testidp.IdP, cfg Config) *Authorizer {
	t.Helper()
	keys, err := userpool.NewKeySet(userpool.KeySetConfig{JWKSURL: idp.JWKSURL, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	cfg.Tokens, err = userpool.NewVerifier([]userpool.Issuer{{
		Kind: identity.KindUserPool, Issuer: idp.Issuer, ClientIDs: []string{idp.ClientID}, Keys: keys,
	}}, userpool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg)
}

func TestAuthorizeFindsCredentials(t *testing.T) {
	idp := testidp.New(t)
	token := idp.AccessToken(t, nil)
	a := newAuthorizer(t, idp, Config{TokenQuery: "access_token", TokenCookie: "session"})

	cases := []struct {
		name   string
		target string
		header http.Header
		allow  bool
		status int
		code   string
		reason error
	}{
		{"bearer header", "/x", http.Header{"Authorization": {"Bearer " + token}}, true, 0, "", nil},
		{"scheme is case-insensitive", "/x", http.Header{"Authorization": {"bearer " + token}}, true, 0, "", nil},
		{"query token", "/x?access_token=" + token, nil, true, 0, "", nil},
		{"cookie token", "/x", http.Header{"Cookie": {"session=" + token}}, true, 0, "", nil},
		{"no credentials", "/x", nil, false, 401, "", ErrNoCredentials},
		{"empty bearer", "/x", http.Header{"Authorization": {"Bearer "}}, false, 401, "invalid_token", userpool.ErrMalformed},
		{"basic", "/x", http.Header{"Authorization": {"Basic YTpi"}}, false, 401, "", ErrUnsupportedScheme},
		{"two headers", "/x", http.Header{"Authorization": {"Bearer " + token, "Bearer " + token}}, false, 400, "invalid_request", ErrAmbiguousCredentials},
		{"header and query", "/x?access_token=" + token, http.Header{"Authorization": {"Bearer " + token}}, false, 400, "invalid_request", ErrAmbiguousCredentials},
		{"two query tokens", "/x?access_token=" + token + "&access_token=" + token, nil, false, 400, "invalid_request", ErrAmbiguousCredentials},
		{"query and cookie", "/x?access_token=" + token, http.Header{"Cookie": {"session=" + token}}, false, 400, "invalid_request", ErrAmbiguousCredentials},
		{"forged", "/x", http.Header{"Authorization": {"Bearer " + token[:len(token)-4] + "AAAA"}}, false, 401, "invalid_token", userpool.ErrSignature},
		// The RS256 signature's last character (A, Q, g or w) with a padding bit set: the same bytes to a
		// lenient decoder.
		{"signature not canonical base64url", "/x", http.Header{"Authorization": {"Bearer " + token[:len(token)-1] + string(token[len(token)-1]+1)}},
			false, 401, "invalid_token", userpool.ErrMalformed},
		{"bad path", "/a/../b", http.Header{"Authorization": {"Bearer " + token}}, false, 400, "invalid_request", ErrBadPath},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://api.example.com"+tc.target, nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			d := a.Authorize(context.Background(), Request{HTTP: r})
			if d.Allow != tc.allow || d.Status != tc.status || d.Code != tc.code {
				t.Fatalf("decision allow=%v status=%d code=%q reason=%v; want allow=%v status=%d code=%q",
					d.Allow, d.Status, d.Code, d.Reason, tc.allow, tc.status, tc.code)
			}
			if tc.reason != nil && !errors.Is(d.Reason, tc.reason) {
				t.Errorf("reason = %v, want %v", d.Reason, tc.reason)
			}
			if d.Allow && (d.Identity == nil || d.Identity.Subject != testidp.Subject) {
				t.Errorf("allowed without the verified identity: %+v", d.Identity)
			}
			if !d.Allow && d.Identity != nil {
				t.Errorf("denied request carries an identity")
			}
		})
	}
}

func TestAuthorizeAnonymous(t *testing.T) {
	idp := testidp.New(t)
	a := newAuthorizer(t, idp, Config{AllowAnonymous: true})
	d := a.Authorize(context.Background(), Request{HTTP: httptest.NewRequest("GET", "/x", nil)})
	if !d.Allow || d.Identity == nil || d.Identity.Kind != identity.KindNone || d.Identity.Authenticated {
		t.Fatalf("anonymous request: %+v", d)
	}
	// Bad credentials are not anonymous.
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer nope")
	if d := a.Authorize(context.Background(), Request{HTTP: r}); d.Allow || d.Status != 401 {
		t.Fatalf("bad token with anonymous access: allow=%v status=%d", d.Allow, d.Status)
	}
}

func TestAuthorizeKeysUnavailable(t *testing.T) {
	idp := testidp.New(t)
	token := idp.AccessToken(t, nil)
	idp.Server.Close()
	a := newAuthorizer(t, idp, Config{})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := a.Authorize(ctx, Request{HTTP: r})
	if d.Allow || d.Status != http.StatusServiceUnavailable || !errors.Is(d.Reason, userpool.ErrKeysUnavailable) {
		t.Fatalf("keys unavailable: allow=%v status=%d reason=%v; want 503", d.Allow, d.Status, d.Reason)
	}
}

func TestAuthorizeWithoutIssuers(t *testing.T) {
	a := New(Config{AllowAnonymous: true})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer x.y.z")
	// The route accepts no bearer token, so the refusal does not ask for one (no 401, no challenge).
	if d := a.Authorize(context.Background(), Request{HTTP: r}); d.Allow || d.Status != 403 || d.Code != "" || d.Challenge != "" {
		t.Fatalf("bearer with no issuer configured: %+v", d)
	}
}
