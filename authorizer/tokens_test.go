package authorizer

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// memoryShared is a Shared that counts its users, as a host's usage pool does.
type memoryShared struct {
	mu    sync.Mutex
	items map[string]Resource
	users map[string]int
}

func newMemoryShared() *memoryShared {
	return &memoryShared{items: map[string]Resource{}, users: map[string]int{}}
}

func (m *memoryShared) Share(key string, create func() (Resource, error)) (Resource, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[key]; !ok {
		r, err := create()
		if err != nil {
			return nil, nil, err
		}
		m.items[key] = r
	}
	m.users[key]++
	return m.items[key], func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.users[key]--; m.users[key] == 0 {
			_ = m.items[key].Destruct()
			delete(m.items, key)
		}
	}, nil
}

func (m *memoryShared) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

func TestNewTokenVerifierAuthorizesASignedToken(t *testing.T) {
	idp := testidp.New(t)
	shared := newMemoryShared()
	tokens, release, err := NewTokenVerifier(Issuers{UserPools: []UserPool{{
		ID: "us-east-1_Test", ClientIDs: []string{idp.ClientID}, IssuerURL: idp.Issuer, JWKSURL: idp.JWKSURL,
	}}}, shared, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := shared.len(); got != 2 {
		t.Fatalf("shared resources = %d, want a key set and the token cache", got)
	}
	a := New(Config{Tokens: tokens})
	for _, tc := range []struct {
		name  string
		token string
		allow bool
	}{
		{"signed by the pool", idp.AccessToken(t, nil), true},
		{"for another client", idp.AccessToken(t, map[string]any{"client_id": "other"}), false},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Authorization", "Bearer "+tc.token)
		if d := a.Authorize(context.Background(), Request{HTTP: r}); d.Allow != tc.allow {
			t.Errorf("%s: allow = %v, want %v (%v)", tc.name, d.Allow, tc.allow, d.Reason)
		}
	}
	release()
	if got := shared.len(); got != 0 {
		t.Errorf("after release, shared resources = %d, want 0", got)
	}
}

func TestNewTokenVerifierConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		iss  Issuers
		want string
	}{
		{"bad pool id", Issuers{UserPools: []UserPool{{ID: "nope", ClientIDs: []string{"c"}}}}, "user_pool nope: "},
		{"bad token use", Issuers{UserPools: []UserPool{{ID: "us-east-1_A", ClientIDs: []string{"c"}, TokenUse: "refresh"}}},
			"user_pool us-east-1_A: token use must be access, id or any"},
		{"bad jwks url", Issuers{UserPools: []UserPool{{ID: "us-east-1_A", ClientIDs: []string{"c"}, JWKSURL: "ftp://x"}}},
			`user_pool us-east-1_A: "ftp://x" is not an http(s) URL`},
		{"oidc without issuer", Issuers{OIDC: []OIDCProvider{{Audiences: []string{"a"}}}}, "oidc : the issuer URL is required"},
		{"oidc bad url", Issuers{OIDC: []OIDCProvider{{Issuer: "example.com", Audiences: []string{"a"}}}},
			`oidc example.com: "example.com" is not an http(s) URL`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			shared := newMemoryShared()
			_, _, err := NewTokenVerifier(tc.iss, shared, nil)
			wantConfigError(t, err, tc.want, shared)
		})
	}
}

func TestNewTokenVerifierWithoutIssuers(t *testing.T) {
	v, release, err := NewTokenVerifier(Issuers{}, newMemoryShared(), nil)
	if err != nil || v != nil {
		t.Fatalf("NewTokenVerifier(no issuers) = %v, %v; want nil, nil", v, err)
	}
	release()
}

// wantConfigError checks that err starts with want and that nothing was left held in shared.
func wantConfigError(t *testing.T, err error, want string, shared *memoryShared) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want it to start with %q", err, want)
	}
	if got := shared.len(); got != 0 {
		t.Errorf("after an error, shared resources = %d, want 0", got)
	}
}
