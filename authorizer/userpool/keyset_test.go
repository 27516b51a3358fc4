package userpool

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// logged reports whether an entry whose message contains msg, and whose message or fields mention
// detail, was logged.
func logged(logs *observer.ObservedLogs, msg, detail string) bool {
	for _, e := range logs.All() {
		if !strings.Contains(e.Message, msg) {
			continue
		}
		if strings.Contains(e.Message+" "+fmt.Sprint(e.ContextMap()), detail) {
			return true
		}
	}
	return false
}

func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{keySet: KeySetConfig{MinRefetchInterval: time.Minute}})
	steps := []struct {
		name     string
		advance  time.Duration
		kid      string
		wantHits int64
	}{
		{"unknown kid refetches once", 0, "unknown-1", 2},
		{"another unknown kid within the interval fetches nothing", 59 * time.Second, "unknown-2", 2},
		{"after the interval, one more refetch", time.Second, "unknown-3", 3},
		{"and the limit holds again", 0, "unknown-4", 3},
	}
	for _, s := range steps {
		f.clock.Add(s.advance)
		_, err := f.verifier.Verify(verifyCtx(t), key("rsa2").withKid(s.kid).sign(nil, accessClaims(f.clock.Now())))
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("%s: Verify: %v, want ErrUnknownKey", s.name, err)
		}
		if got := f.idp.hits.Load(); got != s.wantHits {
			t.Fatalf("%s: %d JWKS requests, want %d", s.name, got, s.wantHits)
		}
	}
}

// TestFetchEndingBeforeRefetch is the race of the first requests at start: a request misses the key
// because no fetch has ended yet, and the start-up fetch ends before the request asks for a refetch. The
// key it brought is used, and no other fetch is made.
func TestFetchEndingBeforeRefetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{noWait: true})
	waitFor(t, "the first fetch", f.keys.Ready)
	// As key does after its lookup missed: the fetch has ended since.
	if _, err := f.keys.refetch(verifyCtx(t), key("rsa1").kid); err != nil {
		t.Fatalf("refetch after a fetch ended during the miss: %v", err)
	}
	if got := f.idp.hits.Load(); got != 1 {
		t.Errorf("%d JWKS requests, want 1", got)
	}
}

// TestUnknownKidBurst sends 100 concurrent requests with unknown kids: the JWKS is fetched once for all
// of them, both when the kid stays unknown and when it is a newly rotated key.
func TestUnknownKidBurst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{keySet: KeySetConfig{MinRefetchInterval: time.Minute}})
	rotated := key("rsa2").withKid("rotated")
	slow := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(50 * time.Millisecond) // let the burst pile up on the fetch
			w.Write(body)
		}
	}
	tests := []struct {
		name     string
		serve    []byte
		token    func(i int) string
		want     error
		wantHits int64
	}{
		{
			name:  "kids that stay unknown",
			serve: jwksOf(key("rsa1")),
			token: func(i int) string {
				return key("rsa2").withKid(fmt.Sprintf("unknown-%d", i)).sign(nil, accessClaims(f.clock.Now()))
			},
			want: ErrUnknownKey, wantHits: 2,
		},
		{
			name:  "a key rotated in",
			serve: jwksOf(key("rsa1"), rotated),
			token: func(int) string { return rotated.sign(nil, accessClaims(f.clock.Now())) },
			want:  nil, wantHits: 3,
		},
	}
	for _, tt := range tests {
		f.idp.handle(slow(tt.serve))
		f.clock.Add(time.Minute)
		var wg sync.WaitGroup
		errs := make([]error, 100)
		for i := range errs {
			token := tt.token(i)
			wg.Go(func() { _, errs[i] = f.verifier.Verify(verifyCtx(t), token) })
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("%s: request %d: %v, want %v", tt.name, i, err, tt.want)
			}
		}
		if got := f.idp.hits.Load(); got != tt.wantHits {
			t.Errorf("%s: %d JWKS requests in all, want %d", tt.name, got, tt.wantHits)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	t.Run("on an unknown kid, and the retired key stops verifying cached tokens", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureConfig{options: Options{Cache: NewTokenCache(100)}})
		old := key("rsa1").sign(nil, accessClaims(f.clock.Now()))
		if _, err := f.verifier.Verify(verifyCtx(t), old); err != nil {
			t.Fatalf("old key: %v", err)
		}
		f.idp.serveKeys(key("rsa2"))
		f.clock.Add(DefaultMinRefetchInterval)
		if _, err := f.verifier.Verify(verifyCtx(t), key("rsa2").sign(nil, accessClaims(f.clock.Now()))); err != nil {
			t.Fatalf("new key: %v", err)
		}
		if _, err := f.verifier.Verify(verifyCtx(t), old); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("cached token of the retired key: %v, want ErrUnknownKey", err)
		}
	})
	t.Run("at the maximum age, with no request asking", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureConfig{keySet: KeySetConfig{MaxAge: 20 * time.Millisecond, MinRefetchInterval: time.Hour}})
		f.idp.serveKeys(key("rsa2"))
		waitFor(t, "the refresh", func() bool {
			_, err := f.keys.lookup(key("rsa2").kid)
			return err == nil
		})
		if _, err := f.keys.lookup(key("rsa1").kid); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("retired key: %v, want ErrUnknownKey", err)
		}
	})
}

func TestJWKSDownAtStart(t *testing.T) {
	t.Parallel()
	t.Run("refused, then recovered by the background retry", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureConfig{
			noWait:   true,
			setupIDP: func(p *idp) { p.serveBody(http.StatusServiceUnavailable, []byte("down")) },
		})
		waitFor(t, "the failure to be logged", func() bool { return logged(f.logs, "fetching signing keys failed", "503") })
		token := key("rsa1").sign(nil, accessClaims(f.clock.Now()))
		_, err := f.verifier.Verify(verifyCtx(t), token)
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("while down: %v, want ErrKeysUnavailable", err)
		}
		// The refusal says why the keys are missing, not only that they are.
		if !strings.Contains(err.Error(), "(the last fetch: ") || !strings.Contains(err.Error(), "503") {
			t.Errorf("while down: %q, want the last fetch's error", err)
		}
		f.idp.serveKeys(key("rsa1"))
		waitFor(t, "the background retry", f.keys.Ready)
		if _, err := f.verifier.Verify(verifyCtx(t), token); err != nil {
			t.Fatalf("once up: %v", err)
		}
	})
	t.Run("recovered on demand by a request, without waiting for the retry", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureConfig{
			noWait:   true,
			setupIDP: func(p *idp) { p.serveBody(http.StatusBadGateway, nil) },
		})
		waitFor(t, "the first fetch to end", func() bool {
			f.keys.mu.Lock()
			defer f.keys.mu.Unlock()
			return f.idp.hits.Load() == 1 && !f.keys.fetching
		})
		f.idp.serveKeys(key("rsa1"))
		// A failed scheduled fetch holds back no refetch: the request fetches, about a second before the
		// background retry would.
		if _, err := f.verifier.Verify(verifyCtx(t), key("rsa1").sign(nil, accessClaims(f.clock.Now()))); err != nil {
			t.Fatalf("once the JWKS is back: %v", err)
		}
		if got := f.idp.hits.Load(); got != 2 {
			t.Errorf("%d JWKS requests, want 2", got)
		}
	})
	t.Run("hanging: a request waits for the first fetch's timeout, not for a second fetch", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, fixtureConfig{
			noWait:   true,
			keySet:   KeySetConfig{Timeout: 200 * time.Millisecond},
			setupIDP: func(p *idp) { p.handle(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }) },
		})
		waitFor(t, "the first request", func() bool { return f.idp.hits.Load() == 1 })
		if _, err := f.verifier.Verify(verifyCtx(t), key("rsa1").sign(nil, accessClaims(f.clock.Now()))); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("while hanging: %v, want ErrKeysUnavailable", err)
		}
		if got := f.idp.hits.Load(); got != 1 {
			t.Errorf("%d JWKS requests before the answer, want 1 (the background retry comes later)", got)
		}
	})
	t.Run("hanging: NewKeySet does not wait and requests give up with their context", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		f := newFixture(t, fixtureConfig{
			noWait: true,
			setupIDP: func(p *idp) {
				p.handle(func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-release:
						w.Write(jwksOf(key("rsa1")))
					case <-r.Context().Done():
					}
				})
			},
		})
		waitFor(t, "the first request", func() bool { return f.idp.hits.Load() == 1 })
		ctx, cancel := context.WithTimeout(verifyCtx(t), 50*time.Millisecond)
		defer cancel()
		token := key("rsa1").sign(nil, accessClaims(f.clock.Now()))
		if _, err := f.verifier.Verify(ctx, token); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("while hanging: %v, want ErrKeysUnavailable", err)
		}
		close(release)
		waitFor(t, "the fetch to end", f.keys.Ready)
		if _, err := f.verifier.Verify(verifyCtx(t), token); err != nil {
			t.Fatalf("once answered: %v", err)
		}
	})
}

// TestJWKSBadResponses: a JWKS endpoint that answers badly leaves the key set without keys (and the
// previous keys, if any, in place), logs why, and never blocks longer than the timeout.
func TestJWKSBadResponses(t *testing.T) {
	t.Parallel()
	const limit = 4096
	const timeout = 200 * time.Millisecond
	body := func(status int, b string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(b))
		}
	}
	manyKeys := `{"keys":[{}` + strings.Repeat(",{}", maxKeysPerSet) + `]}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // in the logged error
	}{
		{"garbage", body(200, "\x00\x01garbage"), "decoding JWKS"},
		{"an HTML error page", body(200, "<html><body>Service Unavailable</body></html>"), "decoding JWKS"},
		{"an empty object", body(200, "{}"), "no keys array"},
		{"keys not an array", body(200, `{"keys":"rsa"}`), "decoding JWKS"},
		{"an empty key list", body(200, `{"keys":[]}`), "none of its 0 keys"},
		{"only a symmetric key", body(200, `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0c2VjcmV0"}]}`), "none of its 1 keys"},
		{"too many keys", body(200, manyKeys), "more than the limit"},
		{"status 500", body(500, string(jwksOf(key("rsa1")))), "unexpected status 500"},
		{"status 404", body(404, ""), "unexpected status 404"},
		{"a body over the limit, announced", body(200, `{"keys":[]}`+strings.Repeat(" ", limit)), "larger than the limit"},
		{"a body over the limit, streamed", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"keys":[`))
			for range 64 {
				w.Write([]byte(strings.Repeat(" ", 1024)))
				w.(http.Flusher).Flush()
			}
		}, "larger than the limit"},
		{"endless redirects", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		}, "redirects"},
		{"a slow answer", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}, "deadline exceeded"},
		{"a body that trickles", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[`))
			w.(http.Flusher).Flush()
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			f := newFixture(t, fixtureConfig{
				noWait:   true,
				keySet:   KeySetConfig{Timeout: timeout, MaxResponseBytes: limit, MinRefetchInterval: time.Hour},
				setupIDP: func(p *idp) { p.handle(tt.handler) },
			})
			waitFor(t, "the failure to be logged", func() bool { return logged(f.logs, "fetching signing keys failed", tt.want) })
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("the failed fetch took %v with a timeout of %v", d, timeout)
			}
			if f.keys.Ready() {
				t.Fatal("the key set is ready")
			}
			if _, err := f.verifier.Verify(verifyCtx(t), key("rsa1").sign(nil, accessClaims(f.clock.Now()))); !errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("Verify: %v, want ErrKeysUnavailable", err)
			}
		})
	}
}

// TestJWKSDropsUnfitKeys serves a good key next to a bad one: the bad one is dropped and logged, the
// good one still verifies.
func TestJWKSDropsUnfitKeys(t *testing.T) {
	t.Parallel()
	rsa2 := key("rsa2")
	jwkWith := func(k *signingKey, changes map[string]any) map[string]any { return with(k.jwk(), changes) }
	tests := []struct {
		name    string
		bad     map[string]any
		signer  *signingKey // signs a token naming the bad key; nil: none
		algs    []string    // KeySetConfig.Algorithms
		want    string      // in the log
		wantErr error       // of the token naming the bad key
	}{
		{name: "symmetric key", bad: map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}, want: "symmetric"},
		{name: "symmetric key, malformed", bad: map[string]any{"kty": "oct", "kid": "hmac", "k": "!!secret!!"}, want: "symmetric"},
		{name: "encryption key", bad: jwkWith(rsa2, map[string]any{"use": "enc"}), signer: rsa2, want: "use", wantErr: ErrUnknownKey},
		{name: "key_ops without verify", bad: jwkWith(rsa2, map[string]any{"key_ops": []any{"encrypt"}}), signer: rsa2, want: "key_ops", wantErr: ErrUnknownKey},
		{name: "1024-bit RSA", bad: key("weak").jwk(), signer: key("weak"), want: "1024 bits", wantErr: ErrUnknownKey},
		{name: "RSA key labelled ES256", bad: jwkWith(rsa2, map[string]any{"alg": "ES256"}), signer: rsa2, want: "does not fit", wantErr: ErrUnknownKey},
		{name: "RSA key labelled HS256", bad: jwkWith(rsa2, map[string]any{"alg": "HS256"}), signer: rsa2, want: "does not fit", wantErr: ErrUnknownKey},
		{name: "EC key labelled RS256", bad: jwkWith(key("ec"), map[string]any{"alg": "RS256"}), want: "does not fit"},
		{name: "no kid", bad: jwkWith(rsa2, map[string]any{"kid": nil}), want: "no kid"},
		{name: "a private key", bad: privateJWK(rsa2), signer: rsa2, want: "private", wantErr: ErrUnknownKey},
		{name: "unknown key type", bad: map[string]any{"kty": "XYZ", "kid": "x"}, want: "not a valid JWK"},
		{name: "EC point off the curve", bad: jwkWith(key("ec"), map[string]any{"x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}), want: "not a valid JWK"},
		{name: "RSA key without its exponent", bad: jwkWith(rsa2, map[string]any{"e": nil}), signer: rsa2, want: "not a valid JWK", wantErr: ErrUnknownKey},
		{name: "outside the allowed algorithms", bad: rsa2.withAlg("PS256").jwk(), algs: []string{"RS256", "ES256"}, want: "allowed algorithms",
			signer: rsa2.withAlg("PS256"), wantErr: ErrUnknownKey},
		{name: "a second key under a taken kid", bad: rsa2.withKid(key("rsa1").kid).jwk(), want: "already taken",
			signer: rsa2.withKid(key("rsa1").kid), wantErr: ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureConfig{
				keySet: KeySetConfig{Algorithms: tt.algs},
				issuer: Issuer{Algorithms: []string{"RS256", "PS256"}},
				setupIDP: func(p *idp) {
					p.serveBody(http.StatusOK, mustJSON(map[string]any{"keys": []any{key("rsa1").jwk(), tt.bad}}))
				},
			})
			if !logged(f.logs, "dropping a JWKS key", tt.want) {
				t.Errorf("no log of the dropped key mentioning %q; logs: %v", tt.want, f.logs.All())
			}
			if _, err := f.verifier.Verify(verifyCtx(t), key("rsa1").sign(nil, accessClaims(f.clock.Now()))); err != nil {
				t.Errorf("the good key: %v", err)
			}
			if tt.signer != nil {
				_, err := f.verifier.Verify(verifyCtx(t), tt.signer.sign(nil, accessClaims(f.clock.Now())))
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("a token naming the dropped key: %v, want %v", err, tt.wantErr)
				}
			}
		})
	}
}

// privateJWK is k's JWK with its private exponent, as a misconfigured IdP might publish it.
func privateJWK(k *signingKey) map[string]any {
	priv := k.priv.(*rsa.PrivateKey)
	b64 := base64.RawURLEncoding.EncodeToString
	m := k.jwk()
	m["d"], m["p"], m["q"] = b64(priv.D.Bytes()), b64(priv.Primes[0].Bytes()), b64(priv.Primes[1].Bytes())
	m["dp"], m["dq"], m["qi"] = b64(priv.Precomputed.Dp.Bytes()), b64(priv.Precomputed.Dq.Bytes()), b64(priv.Precomputed.Qinv.Bytes())
	return m
}

func TestStaleWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{keySet: KeySetConfig{MaxAge: time.Hour, StaleWindow: 2 * time.Hour, MinRefetchInterval: time.Minute}})
	f.idp.serveBody(http.StatusServiceUnavailable, nil)
	verify := func() error {
		_, err := f.verifier.Verify(verifyCtx(t), key("rsa1").sign(nil, accessClaims(f.clock.Now())))
		return err
	}
	f.clock.Add(90 * time.Minute) // past the maximum age: refreshes fail
	if _, err := f.verifier.Verify(verifyCtx(t), key("rsa2").withKid("unknown").sign(nil, accessClaims(f.clock.Now()))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid during the outage: %v, want ErrUnknownKey", err)
	}
	waitFor(t, "the failed refresh to be logged as a warning", func() bool { return logged(f.logs, "known keys stay in use", "503") })
	if err := verify(); err != nil {
		t.Fatalf("inside the stale window: %v", err)
	}
	f.clock.Add(90*time.Minute + time.Second) // past max age + stale window
	if err := verify(); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("after the stale window: %v, want ErrKeysUnavailable", err)
	}
	waitFor(t, "dropping the keys to be logged", func() bool { return logged(f.logs, "past their stale window", "503") })
	f.idp.serveKeys(key("rsa1"))
	f.clock.Add(time.Minute)
	if err := verify(); err != nil {
		t.Fatalf("once the JWKS is back: %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tls       bool
		trailing  bool                                     // configure the issuer with a trailing slash
		doc       func(issuer, base string) map[string]any // the discovery document
		want      error
		wantInLog string
	}{
		{name: "jwks_uri discovered", doc: func(iss, base string) map[string]any {
			return map[string]any{"issuer": iss, "jwks_uri": base + "/keys"}
		}},
		{name: "issuer with a trailing slash", trailing: true, doc: func(iss, base string) map[string]any {
			return map[string]any{"issuer": iss, "jwks_uri": base + "/keys"}
		}},
		{name: "document naming another issuer", want: ErrKeysUnavailable, wantInLog: "names issuer", doc: func(_, base string) map[string]any {
			return map[string]any{"issuer": "https://evil.example.com", "jwks_uri": base + "/keys"}
		}},
		{name: "no jwks_uri", want: ErrKeysUnavailable, wantInLog: "jwks_uri", doc: func(iss, _ string) map[string]any {
			return map[string]any{"issuer": iss}
		}},
		{name: "a file jwks_uri", want: ErrKeysUnavailable, wantInLog: "jwks_uri", doc: func(iss, _ string) map[string]any {
			return map[string]any{"issuer": iss, "jwks_uri": "file:///etc/passwd"}
		}},
		{name: "plain http jwks_uri for an https issuer", tls: true, want: ErrKeysUnavailable, wantInLog: "plain http", doc: func(iss, base string) map[string]any {
			return map[string]any{"issuer": iss, "jwks_uri": "http" + strings.TrimPrefix(base, "https") + "/keys"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var srv *httptest.Server
			issuer := func() string {
				if tt.trailing {
					return srv.URL + "/"
				}
				return srv.URL
			}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/.well-known/openid-configuration":
					w.Write(mustJSON(tt.doc(issuer(), srv.URL)))
				case "/keys":
					w.Write(jwksOf(key("rsa1")))
				default:
					http.NotFound(w, r)
				}
			})
			if tt.tls {
				srv = httptest.NewTLSServer(h)
			} else {
				srv = httptest.NewServer(h)
			}
			defer srv.Close()
			f := newFixture(t, fixtureConfig{
				noWait: true,
				keySet: KeySetConfig{Discovery: issuer(), HTTPClient: srv.Client(), MinRefetchInterval: time.Hour},
				issuer: Issuer{Kind: identity.KindOIDC, Issuer: issuer(), ClientIDs: []string{"api"}},
			})
			if tt.want == nil {
				waitFor(t, "discovery", f.keys.Ready)
			} else {
				waitFor(t, "the failure to be logged", func() bool { return logged(f.logs, "fetching signing keys failed", tt.wantInLog) })
			}
			token := key("rsa1").sign(nil, map[string]any{"iss": issuer(), "sub": "u", "aud": "api", "exp": f.clock.unix(time.Hour)})
			if _, err := f.verifier.Verify(verifyCtx(t), token); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewKeySetRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  KeySetConfig
		want string
	}{
		{"neither URL", KeySetConfig{}, "exactly one"},
		{"both URLs", KeySetConfig{JWKSURL: "https://a/jwks", Discovery: "https://a"}, "exactly one"},
		{"relative URL", KeySetConfig{JWKSURL: "/jwks.json"}, "absolute"},
		{"file URL", KeySetConfig{JWKSURL: "file:///etc/jwks.json"}, "absolute"},
		{"discovery without a host", KeySetConfig{Discovery: "https://"}, "absolute"},
		{"negative timeout", KeySetConfig{JWKSURL: "https://a/jwks", Timeout: -1}, "negative"},
		{"negative stale window", KeySetConfig{JWKSURL: "https://a/jwks", StaleWindow: -1}, "negative"},
		{"negative size", KeySetConfig{JWKSURL: "https://a/jwks", MaxResponseBytes: -1}, "negative"},
		{"HMAC algorithm", KeySetConfig{JWKSURL: "https://a/jwks", Algorithms: []string{"HS256"}}, "never allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := NewKeySet(tt.cfg)
			if err == nil {
				ks.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewKeySet: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// ourGoroutines lists the goroutines running code of this package's KeySet.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "userpool.(*KeySet)") {
			found = append(found, g)
		}
	}
	return found
}

// TestCloseLeavesNoGoroutine closes key sets in every state (serving, retrying, in a hanging fetch,
// discovering, with a request waiting): nothing of theirs keeps running. Not parallel: it inspects
// every goroutine of the process.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	states := []struct {
		name    string
		handler http.HandlerFunc
		cfg     KeySetConfig
	}{
		{"serving", nil, KeySetConfig{}},
		{"retrying after failures", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, KeySetConfig{}},
		{"in a hanging fetch", hang, KeySetConfig{}},
		{"discovering from a hanging issuer", hang, KeySetConfig{Discovery: "set below"}},
	}
	var sets []*KeySet
	waiting := make(chan error, len(states))
	for _, s := range states {
		p := newIDP(t, key("rsa1"))
		if s.handler != nil {
			p.handle(s.handler)
		}
		cfg := s.cfg
		if cfg.Discovery != "" {
			cfg.Discovery = p.URL
		} else {
			cfg.JWKSURL = p.URL
		}
		ks, err := NewKeySet(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, ks)
		waitFor(t, s.name+": first request", func() bool { return p.hits.Load() > 0 })
		go func() { _, err := ks.key(context.Background(), "waiting"); waiting <- err }()
	}
	for _, ks := range sets {
		if err := ks.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ks.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	for range states {
		select {
		case <-waiting:
		case <-time.After(5 * time.Second):
			t.Fatal("a request waiting for a fetch was not released by Close")
		}
	}
	waitFor(t, "the key sets' goroutines to end", func() bool { return len(ourGoroutines()) == 0 })
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

func TestKeySetLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		wantWarn bool
	}{
		{"https", "https://user:s3cr3t@jwks.example.com/keys", false},
		{"plain http to a remote host", "http://user:s3cr3t@jwks.example.com/keys", true},
		{"plain http to localhost", "http://user:s3cr3t@localhost:9229/local_abc/.well-known/jwks.json", false},
		{"plain http to a loopback address", "http://user:s3cr3t@[::1]:9229/keys", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zap.DebugLevel)
			ks, err := NewKeySet(KeySetConfig{JWKSURL: tt.url, Logger: zap.New(core), HTTPClient: &http.Client{Transport: failingTransport{}}})
			if err != nil {
				t.Fatal(err)
			}
			defer ks.Close()
			waitFor(t, "the failed fetch", func() bool { return logged(logs, "fetching signing keys failed", "no network") })
			if got := logged(logs, "plain http", ""); got != tt.wantWarn {
				t.Errorf("plain http warning logged: %v, want %v", got, tt.wantWarn)
			}
			_, err = ks.key(verifyCtx(t), "k")
			for _, e := range logs.All() {
				if text := e.Message + fmt.Sprint(e.ContextMap()); strings.Contains(text, "s3cr3t") {
					t.Errorf("log shows the password: %s", text)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestNewKidRefetchedAfterAnyFetch: a token signed with a key published since the last fetch triggers a
// refetch whatever that fetch was (the first one, or an on-demand one that found its key); only a refetch
// that did not find its kid holds the next one back, for MinRefetchInterval.
func TestNewKidRefetchedAfterAnyFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{noWait: true}) // the default interval, and the clock stays put
	waitFor(t, "the first fetch", f.keys.Ready)
	verify := func(k *signingKey) error {
		_, err := f.verifier.Verify(verifyCtx(t), k.sign(nil, accessClaims(f.clock.Now())))
		return err
	}
	rotated1, rotated2, rotated3 := key("rsa2").withKid("rotated-1"), key("rsa2").withKid("rotated-2"), key("rsa2").withKid("rotated-3")
	steps := []struct {
		name     string
		publish  []*signingKey
		advance  time.Duration
		signer   *signingKey
		want     error
		wantHits int64
	}{
		{"a key published just after the first fetch", []*signingKey{key("rsa1"), rotated1}, 0, rotated1, nil, 2},
		{"another one just after that refetch found its key", []*signingKey{key("rsa1"), rotated1, rotated2}, 0, rotated2, nil, 3},
		{"an unknown kid: refetched, not found", nil, 0, key("rsa2").withKid("never-published"), ErrUnknownKey, 4},
		{"a key published within the interval after that miss waits", []*signingKey{key("rsa1"), rotated3}, DefaultMinRefetchInterval - time.Second, rotated3, ErrUnknownKey, 4},
		{"and is fetched once the interval has passed", nil, time.Second, rotated3, nil, 5},
	}
	for _, s := range steps {
		if s.publish != nil {
			f.idp.serveKeys(s.publish...)
		}
		f.clock.Add(s.advance)
		if err := verify(s.signer); !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
			t.Fatalf("%s: Verify: %v, want %v", s.name, err, s.want)
		}
		if got := f.idp.hits.Load(); got != s.wantHits {
			t.Fatalf("%s: %d JWKS requests, want %d", s.name, got, s.wantHits)
		}
	}
}

// TestFirstFetchRetriedWithinSeconds: a JWKS that is down for the first fetch (a pool that is its own OIDC
// issuer, fetched before Caddy listens) is fetched again about a second later, not after
// MinRefetchInterval.
func TestFirstFetchRetriedWithinSeconds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{noWait: true, setupIDP: func(p *idp) {
		var first atomic.Bool
		body := jwksOf(key("rsa1"))
		p.handle(func(w http.ResponseWriter, _ *http.Request) {
			if first.CompareAndSwap(false, true) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write(body)
		})
	}})
	start := time.Now()
	for !f.keys.Ready() {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("no keys %v after a failed first fetch (%d requests)", time.Since(start), f.idp.hits.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("retried after %v, want about 1s", d)
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	ks := &KeySet{cfg: KeySetConfig{MaxAge: time.Hour, MinRefetchInterval: 15 * time.Second}}
	tests := []struct {
		failures int
		min, max time.Duration
	}{
		{1, time.Second, 1200 * time.Millisecond},
		{2, 2 * time.Second, 2400 * time.Millisecond},
		{3, 4 * time.Second, 4800 * time.Millisecond},
		{9, 256 * time.Second, 300 * time.Second * 6 / 5},
		{10, maxRetryInterval, maxRetryInterval * 6 / 5},
		{1000, maxRetryInterval, maxRetryInterval * 6 / 5},
	}
	for _, tt := range tests {
		for range 20 {
			if d := ks.retryDelay(tt.failures); d < tt.min || d > tt.max {
				t.Fatalf("after %d failures: %v, want %v..%v", tt.failures, d, tt.min, tt.max)
			}
		}
	}
	short := &KeySet{cfg: KeySetConfig{MaxAge: 3 * time.Second}}
	if d := short.retryDelay(10); d < 3*time.Second || d > 3600*time.Millisecond {
		t.Errorf("with a 3s maximum age: %v, want 3s..3.6s", d)
	}
}

// TestClosedSoonAfterAFailureLogsNothing is `caddy validate`: a key set created, its first fetch failing
// at once (an issuer that is not up, or not reachable from where the configuration is checked), closed a
// moment later. Nothing is logged at warning level or above; a failure that lasts is still logged.
func TestClosedSoonAfterAFailureLogsNothing(t *testing.T) {
	t.Parallel()
	newSet := func() (*KeySet, *observer.ObservedLogs) {
		core, logs := observer.New(zap.DebugLevel)
		ks, err := NewKeySet(KeySetConfig{JWKSURL: "https://jwks.example.com/keys", Logger: zap.New(core),
			HTTPClient: &http.Client{Transport: failingTransport{}}})
		if err != nil {
			t.Fatal(err)
		}
		return ks, logs
	}
	ks, logs := newSet()
	time.Sleep(100 * time.Millisecond) // the fetch has failed
	ks.Close()
	for _, e := range logs.All() {
		if e.Level >= zap.WarnLevel {
			t.Errorf("logged at %v: %s %v", e.Level, e.Message, e.ContextMap())
		}
	}
	ks, logs = newSet()
	defer ks.Close()
	waitFor(t, "a lasting failure to be logged", func() bool { return logged(logs, "fetching signing keys failed", "no network") })
}

// TestNewKidRefetchedAfterARefresh: the scheduled refresh holds back no refetch either (the clock of the
// hold-back stays put; refreshes come every 20ms of real time).
func TestNewKidRefetchedAfterARefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{keySet: KeySetConfig{MaxAge: 20 * time.Millisecond}})
	waitFor(t, "two refreshes", func() bool { return f.idp.hits.Load() >= 3 })
	rotated := key("rsa2").withKid("rotated")
	f.idp.serveKeys(key("rsa1"), rotated)
	if _, err := f.verifier.Verify(verifyCtx(t), rotated.sign(nil, accessClaims(f.clock.Now()))); err != nil {
		t.Fatalf("a key published just after a refresh: %v", err)
	}
}
