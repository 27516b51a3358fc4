package identitypool

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// cachingVerifier remembers verified tokens, as authorizer/userpool's verified-token cache does, so the
// "cached login" benchmark measures the pool's own cost rather than an RSA verification.
type cachingVerifier struct {
	LoginVerifier
	mu   sync.Mutex
	seen map[string]*identity.Identity
}

func (c *cachingVerifier) Verify(ctx context.Context, token string) (*identity.Identity, error) {
	c.mu.Lock()
	id, ok := c.seen[token]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := c.LoginVerifier.Verify(ctx, token)
	if err == nil {
		c.mu.Lock()
		c.seen[token] = id
		c.mu.Unlock()
	}
	return id, err
}

func BenchmarkGetCredentials(b *testing.B) {
	e := newTestEnv(b, nil)
	cached := newTestEnv(b, func(c *Config) {
		c.Logins[testUserPoolName] = &cachingVerifier{LoginVerifier: c.Logins[testUserPoolName], seen: map[string]*identity.Identity{}}
	})
	body := func(v any) []byte {
		data, _ := json.Marshal(v)
		return data
	}
	guestID := e.mustOK(b, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"]
	logins := map[string]string{testUserPoolName: e.userPool.token(b, "user-1", map[string]any{"cognito:groups": []any{"users"}})}
	authID := e.mustOK(b, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})["IdentityId"]
	cases := []struct {
		name string
		env  *testEnv
		body []byte
	}{
		{"guest", e, body(map[string]any{"IdentityId": guestID})},
		{"login RS256 verified", e, body(map[string]any{"IdentityId": authID, "Logins": logins})},
		{"login cached", cached, body(map[string]any{"IdentityId": authID, "Logins": logins})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(c.body))
				r.Header.Set("Content-Type", jsonContentType)
				r.Header.Set("X-Amz-Target", targetPrefix+"GetCredentialsForIdentity")
				w := httptest.NewRecorder()
				c.env.pool.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

func BenchmarkOpenSessionToken(b *testing.B) {
	clock := newClock()
	k := newTestRing(b, nil, testPoolID, clock)
	tok, err := k.SealSession(context.Background(), typicalSession(clock))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.OpenSessionToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealSession(b *testing.B) {
	clock := newClock()
	k := newTestRing(b, nil, testPoolID, clock)
	s := typicalSession(clock)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SealSession(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
