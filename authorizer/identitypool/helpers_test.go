package identitypool

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// The real authorizer/userpool verifier has not landed on main yet; rsaVerifier stands in for it in these
// tests. It checks RS256 signatures for real (with jwx), the issuer, the audience and the expiry, so a
// forged or expired login token is refused by cryptography, not by a stub.

const (
	testPoolID       = "us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4"
	otherPoolID      = "us-east-1:00000000-1111-2222-3333-444444444444"
	testUserPoolName = "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
	testOIDCName     = "login.example.com"
	testClientID     = "app-client-1"
	authRole         = "arn:aws:iam::123456789012:role/Authenticated"
	unauthRole       = "arn:aws:iam::123456789012:role/Guest"
	adminRole        = "arn:aws:iam::123456789012:role/Admin"
	readerRole       = "arn:aws:iam::123456789012:role/Reader"
)

var testT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testClock is a settable clock shared by a test's key rings, pools and verifiers.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: testT0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rsaKeys are generated once per test binary: RSA key generation is slow.
var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// testIssuer mints RS256 login tokens the way a user pool does.
type testIssuer struct {
	key      *rsa.PrivateKey
	issuer   string
	clientID string
	clock    *testClock
}

func newIssuer(clock *testClock, issuer string) *testIssuer {
	return &testIssuer{key: rsaKeys()[0], issuer: issuer, clientID: testClientID, clock: clock}
}

// token returns an ID token for sub, valid one hour from the clock, with extra claims.
func (i *testIssuer) token(t testing.TB, sub string, extra map[string]any) string {
	return i.tokenWith(t, i.key, sub, i.clock.Now().Add(time.Hour), extra)
}

func (i *testIssuer) tokenWith(t testing.TB, key *rsa.PrivateKey, sub string, exp time.Time, extra map[string]any) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(i.issuer).Subject(sub).Audience([]string{i.clientID}).
		IssuedAt(i.clock.Now()).Expiration(exp).Claim("token_use", "id")
	for k, v := range extra {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	jk, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := jk.Set(jwk.KeyIDKey, "test-key"); err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), jk))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func (i *testIssuer) verifier() *rsaVerifier {
	return &rsaVerifier{pub: &i.key.PublicKey, issuer: i.issuer, audience: i.clientID, clock: i.clock}
}

type rsaVerifier struct {
	pub              *rsa.PublicKey
	issuer, audience string
	clock            *testClock
}

func (v *rsaVerifier) Verify(_ context.Context, token string) (*identity.Identity, error) {
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.RS256(), v.pub), jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience), jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(v.clock.Now)))
	if err != nil {
		return nil, fmt.Errorf("verifying login token: %w", err)
	}
	raw, err := json.Marshal(tok)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, err
	}
	sub, _ := tok.Subject()
	aud, _ := tok.Audience()
	id := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Issuer: v.issuer, Subject: sub, Claims: claims}
	if len(aud) > 0 {
		id.ClientID = aud[0]
	}
	return id, nil
}

// newTestRing returns a key ring on storage s (a fresh MemoryStorage when nil).
func newTestRing(t testing.TB, s Storage, poolID string, clock *testClock) *KeyRing {
	t.Helper()
	if s == nil {
		s = NewMemoryStorage()
	}
	k, err := NewKeyRing(context.Background(), s, poolID, KeyRingOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testEnv is a pool with a user-pool login and an OIDC login, guests allowed, and its issuers.
type testEnv struct {
	clock    *testClock
	keys     *KeyRing
	pool     *Pool
	userPool *testIssuer
	oidc     *testIssuer
}

func newTestEnv(t testing.TB, edit func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{clock: newClock()}
	e.keys = newTestRing(t, nil, testPoolID, e.clock)
	e.userPool = newIssuer(e.clock, "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123")
	e.oidc = newIssuer(e.clock, "https://login.example.com")
	e.oidc.key = rsaKeys()[1]
	cfg := Config{
		PoolID: testPoolID,
		Logins: map[string]LoginVerifier{
			testUserPoolName: e.userPool.verifier(),
			testOIDCName:     e.oidc.verifier(),
		},
		AuthenticatedRole:   authRole,
		UnauthenticatedRole: unauthRole,
		Issuer:              "https://auth.example.com/identity",
		Keys:                e.keys,
		Now:                 e.clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.pool = p
	return e
}

// call runs one API operation through ServeHTTP and decodes the JSON answer.
func (e *testEnv) call(t testing.TB, op string, in any) (int, map[string]any, http.Header) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return e.raw(t, http.MethodPost, jsonContentType, targetPrefix+op, body)
}

func (e *testEnv) raw(t testing.TB, method, contentType, target string, body []byte) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest(method, "/identity/", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	w := httptest.NewRecorder()
	e.pool.ServeHTTP(w, r)
	var out map[string]any
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/") {
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %v: %q", err, w.Body.String())
		}
	}
	return w.Code, out, w.Header()
}

// mustOK runs an operation that must succeed.
func (e *testEnv) mustOK(t testing.TB, op string, in any) map[string]any {
	t.Helper()
	status, out, _ := e.call(t, op, in)
	if status != http.StatusOK {
		t.Fatalf("%s: status %d: %v", op, status, out)
	}
	return out
}
