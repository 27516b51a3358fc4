package authorizer

import (
	"context"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

func TestNewLoginVerifiersAcceptsIDTokensUnderTheProviderName(t *testing.T) {
	idp := testidp.New(t)
	shared := newMemoryShared()
	const provider = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
	verifiers, release, err := NewLoginVerifiers([]Login{{
		Provider: provider, ClientIDs: []string{idp.ClientID}, Issuer: idp.Issuer, JWKSURL: idp.JWKSURL,
	}}, shared, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := shared.len(); got != 2 {
		t.Fatalf("shared resources = %d, want a key set and the token cache", got)
	}
	v, ok := verifiers[provider]
	if !ok || len(verifiers) != 1 {
		t.Fatalf("verifiers = %v, want one for %s", verifiers, provider)
	}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"id token", idp.IDToken(t, nil), true},
		{"access token", idp.AccessToken(t, nil), false},
		{"id token for another client", idp.IDToken(t, map[string]any{"aud": "other"}), false},
	} {
		if _, err := v.Verify(context.Background(), tc.token); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want accepted %v", tc.name, err, tc.ok)
		}
	}
	release()
	if got := shared.len(); got != 0 {
		t.Errorf("after release, shared resources = %d, want 0", got)
	}
}

func TestNewLoginVerifiersConfigErrors(t *testing.T) {
	const pool = "cognito-idp.us-east-1.amazonaws.com/us-east-1_A"
	cases := []struct {
		name   string
		logins []Login
		want   string
	}{
		{"no provider", []Login{{ClientIDs: []string{"c"}}}, "login: the provider name is required"},
		{"twice", []Login{{Provider: pool, ClientIDs: []string{"c"}}, {Provider: pool, ClientIDs: []string{"c"}}},
			"login " + pool + " configured twice"},
		{"no client", []Login{{Provider: pool}}, "login " + pool + ": at least one client_id"},
		{"algorithms on a pool", []Login{{Provider: pool, ClientIDs: []string{"c"}, Algorithms: []string{"ES256"}}},
			"login " + pool + ": algorithms applies to OIDC providers only"},
		{"bad pool name", []Login{{Provider: "cognito-idp.nope", ClientIDs: []string{"c"}}},
			"login cognito-idp.nope: a user pool provider name is"},
		{"same issuer twice", []Login{{Provider: "accounts.example.com", ClientIDs: []string{"c"}},
			{Provider: "https://accounts.example.com", ClientIDs: []string{"c"}}},
			"logins accounts.example.com and https://accounts.example.com trust the same issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			shared := newMemoryShared()
			_, _, err := NewLoginVerifiers(tc.logins, shared, nil)
			wantConfigError(t, err, tc.want, shared)
		})
	}
}

func TestNewLoginVerifiersWithoutLogins(t *testing.T) {
	v, release, err := NewLoginVerifiers(nil, newMemoryShared(), nil)
	if err != nil || v != nil {
		t.Fatalf("NewLoginVerifiers(no logins) = %v, %v; want nil, nil", v, err)
	}
	release()
}
