package userpool

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakePool is a user pool API that answers GetUser as told, and records the calls.
type fakePool struct {
	*httptest.Server
	calls  atomic.Int32
	answer atomic.Value // func(w http.ResponseWriter, token string)
}

func newFakePool(t *testing.T) *fakePool {
	t.Helper()
	p := &fakePool{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/" ||
			r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.GetUser" ||
			r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || r.Header.Get("Authorization") != "" {
			t.Errorf("GetUser sent as %s %s %v", r.Method, r.URL.Path, r.Header)
		}
		var body struct{ AccessToken string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("GetUser body: %v", err)
		}
		p.answer.Load().(func(http.ResponseWriter, string))(w, body.AccessToken)
	}))
	t.Cleanup(p.Close)
	p.answerWith(http.StatusOK, `{"Username":"alice","UserAttributes":[]}`)
	return p
}

func (p *fakePool) answerWith(status int, body string) {
	p.answer.Store(func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

func newTestCheck(t *testing.T, p *fakePool, mod func(*UserCheckConfig)) *UserCheck {
	t.Helper()
	cfg := UserCheckConfig{Endpoint: p.URL + "/", Interval: time.Minute, Timeout: 500 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewUserCheck(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// What the pool answers decides: a user the pool no longer knows or accepts is revoked (401); anything
// the pool cannot or does not say is unavailable (503), never an allow.
func TestUserCheckErrorMapping(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	cases := []struct {
		name   string
		status int
		body   string
		header string
		want   error
		text   string
	}{
		{"a user", 200, `{"Username":"alice","UserAttributes":[{"Name":"sub","Value":"x"}]}`, "", nil, ""},
		{"signed out (real Cognito)", 400, `{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}`, "", ErrUserRevoked, "NotAuthorizedException: Access Token has been revoked"},
		{"disabled", 400, `{"__type":"NotAuthorizedException","message":"User is disabled."}`, "", ErrUserRevoked, "User is disabled."},
		{"deleted (cognito-local)", 400, `{"__type":"UserNotFoundException","message":"User not found."}`, "", ErrUserRevoked, "UserNotFoundException"},
		{"namespaced type", 400, `{"__type":"com.amazonaws.cognito#UserNotFoundException","message":"x"}`, "", ErrUserRevoked, "UserNotFoundException"},
		{"type in the header only", 400, `{"message":"Access Token has expired"}`, "NotAuthorizedException:http://internal.amazon.com/coral/com.amazonaws/", ErrUserRevoked, "NotAuthorizedException"},
		{"password reset required", 400, `{"__type":"PasswordResetRequiredException","message":"x"}`, "", ErrUserRevoked, "PasswordResetRequiredException"},
		{"throttled", 400, `{"__type":"TooManyRequestsException","message":"Rate exceeded"}`, "", ErrUserPoolUnavailable, "TooManyRequestsException"},
		{"bad parameter", 400, `{"__type":"InvalidParameterException","message":"x"}`, "", ErrUserPoolUnavailable, "InvalidParameterException"},
		{"internal error", 500, `{"__type":"InternalErrorException","message":"x"}`, "", ErrUserPoolUnavailable, "500"},
		{"a revoked type but status 500", 500, `{"__type":"NotAuthorizedException"}`, "", ErrUserPoolUnavailable, "500"},
		{"200 without a user", 200, `{}`, "", ErrUserPoolUnavailable, "without a user"},
		{"200 not JSON", 200, `<html>`, "", ErrUserPoolUnavailable, "without a user"},
		{"400 not JSON", 400, `<html>`, "", ErrUserPoolUnavailable, "no error type"},
		{"a redirect", 302, ``, "", ErrUserPoolUnavailable, "302"},
		{"too large", 200, `{"Username":"alice","x":"` + strings.Repeat("a", maxGetUserResponseBytes) + `"}`, "", ErrUserPoolUnavailable, "larger than"},
		{"control characters in the message", 400, `{"__type":"NotAuthorizedException","message":"a\nb"}`, "", ErrUserRevoked, "a?b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.answer.Store(func(w http.ResponseWriter, _ string) {
				if tc.header != "" {
					w.Header().Set("X-Amzn-ErrorType", tc.header)
				}
				if tc.status == 302 {
					w.Header().Set("Location", "http://elsewhere.invalid/")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c := newTestCheck(t, p, nil) // a cache of its own
			err := c.Check(context.Background(), "token-"+tc.name, time.Now().Add(time.Hour))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Check = %q, want it to say %q", err, tc.text)
			}
			if err != nil && strings.Contains(err.Error(), "token-") {
				t.Errorf("the error %q names the token", err)
			}
		})
	}
}

// Answers are remembered per token for the interval, never past the token's expiry; an unavailable
// pool's answer is not remembered.
func TestUserCheckCache(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	now := time.Unix(1_800_000_000, 0)
	c := newTestCheck(t, p, func(cfg *UserCheckConfig) { cfg.Now = func() time.Time { return now } })
	ctx := context.Background()
	exp := now.Add(90 * time.Second)
	for range 3 {
		if err := c.Check(ctx, "a", exp); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d calls for one token within the interval, want 1", n)
	}
	if err := c.Check(ctx, "b", exp); err != nil || p.calls.Load() != 2 {
		t.Fatalf("another token: %v after %d calls, want its own call", err, p.calls.Load())
	}
	// The user is deleted: seen once the interval has passed.
	p.answerWith(400, `{"__type":"UserNotFoundException","message":"User not found."}`)
	now = now.Add(59 * time.Second)
	if err := c.Check(ctx, "a", exp); err != nil {
		t.Fatalf("within the interval: %v, want the remembered answer", err)
	}
	now = now.Add(2 * time.Second)
	if err := c.Check(ctx, "a", exp); !errors.Is(err, ErrUserRevoked) {
		t.Fatalf("after the interval: %v, want ErrUserRevoked", err)
	}
	calls := p.calls.Load()
	if err := c.Check(ctx, "a", exp); !errors.Is(err, ErrUserRevoked) || p.calls.Load() != calls {
		t.Fatalf("the refusal is not remembered: %v, %d calls", err, p.calls.Load())
	}
	// Never remembered past the token's expiry (here 29 s away, less than the interval).
	p.answerWith(200, `{"Username":"alice"}`)
	if err := c.Check(ctx, "c", exp); err != nil {
		t.Fatal(err)
	}
	now = exp
	calls = p.calls.Load()
	_ = c.Check(ctx, "c", exp)
	if p.calls.Load() != calls+1 {
		t.Error("an answer was remembered past the token's expiry")
	}
	// Unavailable: not remembered for the token, but the pool is not asked again for a second, so
	// that during an outage requests are answered at once instead of each waiting for the timeout.
	if err := c.Check(ctx, "f", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.answerWith(500, `{}`)
	calls = p.calls.Load()
	for _, tok := range []string{"d", "d", "e"} {
		if err := c.Check(ctx, tok, now.Add(time.Hour)); !errors.Is(err, ErrUserPoolUnavailable) {
			t.Fatalf("%v, want ErrUserPoolUnavailable", err)
		}
	}
	if p.calls.Load() != calls+1 {
		t.Errorf("%d calls within the hold-down, want 1", p.calls.Load()-calls)
	}
	if err := c.Check(ctx, "f", now.Add(time.Hour)); err != nil || p.calls.Load() != calls+1 {
		t.Errorf("a remembered answer during the hold-down: %v, want it still given without a call", err)
	}
	p.answerWith(200, `{"Username":"alice"}`)
	now = now.Add(userPoolHoldDown)
	if err := c.Check(ctx, "d", now.Add(time.Hour)); err != nil || p.calls.Load() != calls+2 {
		t.Errorf("after the hold-down: %v after %d calls, want the pool asked again", err, p.calls.Load()-calls)
	}
}

// The cache is bounded: past MaxEntries the oldest answers are forgotten.
func TestUserCheckCacheBounded(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	c := newTestCheck(t, p, func(cfg *UserCheckConfig) { cfg.MaxEntries = 2 })
	for _, tok := range []string{"a", "b", "c", "a"} {
		if err := c.Check(context.Background(), tok, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.calls.Load(); n != 4 {
		t.Errorf("%d calls, want 4 (a forgotten when c came)", n)
	}
	if c.cache.Len() != 2 {
		t.Errorf("%d entries, want 2", c.cache.Len())
	}
}

// A pool that does not answer in time, or at all, is unavailable, within the timeout; with
// AllowUnavailable the token is accepted instead.
func TestUserCheckUnreachable(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	p.answer.Store(func(http.ResponseWriter, string) { <-release })
	c := newTestCheck(t, p, func(cfg *UserCheckConfig) { cfg.Timeout = 200 * time.Millisecond })
	start := time.Now()
	err := c.Check(context.Background(), "slow", time.Now().Add(time.Hour))
	if !errors.Is(err, ErrUserPoolUnavailable) {
		t.Fatalf("%v, want ErrUserPoolUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want about the 200ms timeout", d)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	down, err := NewUserCheck(UserCheckConfig{Endpoint: closed.URL + "/", Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Check(context.Background(), "t", time.Now().Add(time.Hour)); !errors.Is(err, ErrUserPoolUnavailable) {
		t.Errorf("a closed port: %v, want ErrUserPoolUnavailable", err)
	}
	open, err := NewUserCheck(UserCheckConfig{Endpoint: closed.URL + "/", Interval: time.Minute, AllowUnavailable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Check(context.Background(), "t", time.Now().Add(time.Hour)); err != nil {
		t.Errorf("AllowUnavailable: %v, want the token accepted", err)
	}
	// A refusal is a refusal even with AllowUnavailable.
	p.answerWith(400, `{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}`)
	openRefusing := newTestCheck(t, p, func(cfg *UserCheckConfig) { cfg.AllowUnavailable = true })
	if err := openRefusing.Check(context.Background(), "t", time.Now().Add(time.Hour)); !errors.Is(err, ErrUserRevoked) {
		t.Errorf("AllowUnavailable and a revoked token: %v, want ErrUserRevoked", err)
	}
}

func TestNewUserCheckRefuses(t *testing.T) {
	t.Parallel()
	cases := map[string]UserCheckConfig{
		"no endpoint":       {Interval: time.Minute},
		"relative endpoint": {Endpoint: "cognito-idp/", Interval: time.Minute},
		"no interval":       {Endpoint: "https://cognito-idp.us-east-1.amazonaws.com/"},
		"interval too long": {Endpoint: "https://cognito-idp.us-east-1.amazonaws.com/", Interval: 2 * time.Hour},
		"timeout too long":  {Endpoint: "https://cognito-idp.us-east-1.amazonaws.com/", Interval: time.Minute, Timeout: time.Minute},
		"negative timeout":  {Endpoint: "https://cognito-idp.us-east-1.amazonaws.com/", Interval: time.Minute, Timeout: -time.Second},
	}
	for name, cfg := range cases {
		if _, err := NewUserCheck(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUserPoolEndpoint(t *testing.T) {
	t.Parallel()
	for issuer, want := range map[string]string{
		"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123": "https://cognito-idp.us-east-1.amazonaws.com/",
		"http://127.0.0.1:9229/local_abc":                              "http://127.0.0.1:9229/",
		"ftp://x/y":                                                    "",
		"not a url":                                                    "",
	} {
		got, err := UserPoolEndpoint(issuer)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("UserPoolEndpoint(%q) = %q, %v; want %q", issuer, got, err, want)
		}
	}
}

// A verifier with a user check asks the pool about access tokens, on cache hits too, and refuses
// those it refuses; ID tokens (token use any) are not asked about, GetUser taking none.
func TestVerifierAsksThePool(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	clk := newClock()
	check := newTestCheck(t, p, func(cfg *UserCheckConfig) { cfg.Interval = time.Second; cfg.Now = clk.Now })
	f := newFixture(t, fixtureConfig{clock: clk, issuer: Issuer{TokenUse: TokenUseAny, UserCheck: check},
		options: Options{Cache: NewTokenCache(10)}})
	ctx := context.Background()
	access := key("rsa1").sign(nil, accessClaims(clk.Now()))
	idToken := key("rsa1").sign(nil, idClaims(clk.Now()))
	if _, err := f.verifier.Verify(ctx, access); err != nil {
		t.Fatalf("a user's access token: %v", err)
	}
	if _, err := f.verifier.Verify(ctx, idToken); err != nil || p.calls.Load() != 1 {
		t.Fatalf("an ID token: %v after %d calls, want accepted without a call", err, p.calls.Load())
	}
	p.answerWith(400, `{"__type":"UserNotFoundException","message":"User not found."}`)
	clk.Add(2 * time.Second)
	// The token is in the verified-token cache: the pool is asked all the same.
	if _, err := f.verifier.Verify(ctx, access); !errors.Is(err, ErrUserRevoked) {
		t.Fatalf("the deleted user's access token: %v, want ErrUserRevoked", err)
	}
	if _, err := f.verifier.Verify(ctx, idToken); err != nil {
		t.Errorf("the deleted user's ID token: %v; ID tokens are not checked", err)
	}
	p.answerWith(503, `{}`)
	other := key("rsa1").sign(nil, with(accessClaims(clk.Now()), map[string]any{"jti": "another"}))
	if _, err := f.verifier.Verify(ctx, other); !errors.Is(err, ErrUserPoolUnavailable) {
		t.Errorf("the pool down: %v, want ErrUserPoolUnavailable", err)
	}
}

// The user check applies to user pools, and to their access tokens: an OIDC issuer or a pool that
// accepts only ID tokens with one is a configuration error.
func TestUserCheckConfigurationErrors(t *testing.T) {
	t.Parallel()
	check, err := NewUserCheck(UserCheckConfig{Endpoint: "https://cognito-idp.us-east-1.amazonaws.com/", Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CognitoIssuer("us-east-1_AbC123", []string{"c"}, WithTokenUse(TokenUseID), WithUserCheck(check)); err == nil ||
		!strings.Contains(err.Error(), "token use id accepts none") {
		t.Errorf("token use id with a user check: %v", err)
	}
	if _, err := OIDCIssuer("https://idp.example.com/", []string{"a"}, WithUserCheck(check)); err == nil {
		t.Error("an OIDC issuer took a user check")
	}
	if _, err := CognitoIssuer("us-east-1_AbC123", []string{"c"}, WithTokenUse(TokenUseAny), WithUserCheck(check)); err != nil {
		t.Errorf("token use any with a user check: %v", err)
	}
}

// Concurrent checks of one token (a client reconnecting its streams) make one call, and a waiter
// whose request is cancelled does not fail the others.
func TestUserCheckConcurrentCallsShareOne(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	p.answer.Store(func(w http.ResponseWriter, _ string) {
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(w, `{"Username":"alice"}`)
	})
	c := newTestCheck(t, p, nil)
	cancelled, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- c.Check(cancelled, "t", time.Now().Add(time.Hour)) }()
	time.Sleep(50 * time.Millisecond)
	errs := make(chan error, 10)
	for range 10 {
		go func() { errs <- c.Check(context.Background(), "t", time.Now().Add(time.Hour)) }()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	for range 10 {
		if err := <-errs; err != nil {
			t.Errorf("a waiter: %v", err)
		}
	}
	<-first
	if n := p.calls.Load(); n != 1 {
		t.Errorf("%d calls for 11 concurrent checks of one token, want 1", n)
	}
}

// BenchmarkUserCheckCached is what the check adds to a request whose token was asked about within
// the interval: a SHA-256 of the token and a cache lookup.
func BenchmarkUserCheckCached(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"Username":"alice"}`)
	}))
	b.Cleanup(srv.Close)
	c, err := NewUserCheck(UserCheckConfig{Endpoint: srv.URL + "/", Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	token := strings.Repeat("t", 1100) // about a Cognito access token
	exp := time.Now().Add(time.Hour)
	if err := c.Check(context.Background(), token, exp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(context.Background(), token, exp); err != nil {
			b.Fatal(err)
		}
	}
}
