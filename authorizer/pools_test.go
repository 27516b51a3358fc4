package authorizer

import (
	"context"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

const testGuestRole = "arn:aws:iam::123456789012:role/guest"

// untouchedStorage is a keyring.Storage that fails its test when used.
type untouchedStorage struct{ t *testing.T }

func (s untouchedStorage) touched() error {
	s.t.Helper()
	s.t.Error("storage touched by a refused identity pool")
	return context.Canceled
}

func (s untouchedStorage) Lock(context.Context, string) error   { return s.touched() }
func (s untouchedStorage) Unlock(context.Context, string) error { return s.touched() }
func (s untouchedStorage) Store(context.Context, string, []byte) error {
	return s.touched()
}
func (s untouchedStorage) Load(context.Context, string) ([]byte, error) { return nil, s.touched() }

// A pool whose role mappings or logins are refused is refused before its key ring touches storage,
// and holds nothing shared.
func TestNewIdentityPoolChecksBeforeStorage(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  IdentityPool
		want string
	}{
		{"login without client id", IdentityPool{Logins: []Login{{Provider: "accounts.example.com"}}},
			"login accounts.example.com: at least one client_id"},
		{"role mapping type", IdentityPool{RoleMappings: map[string]RoleMapping{"accounts.example.com": {Type: "Rules"}}},
			`role mapping accounts.example.com: type must be token or rules, not "Rules"`},
		{"role mapping ambiguous", IdentityPool{RoleMappings: map[string]RoleMapping{"accounts.example.com": {Type: "token", Ambiguous: "Deny"}}},
			`role mapping accounts.example.com: ambiguous must be authenticated_role or deny, not "Deny"`},
		{"rule match", IdentityPool{RoleMappings: map[string]RoleMapping{"accounts.example.com": {Type: "rules",
			Rules: []MappingRule{{Claim: "a", Match: "like", Value: "b", RoleARN: testGuestRole}}}}},
			`role mapping accounts.example.com: rule 1: match must be`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared := newMemoryShared()
			tc.cfg.ID, tc.cfg.UnauthenticatedRole = testPoolID, testGuestRole
			p, release, err := NewIdentityPool(t.Context(), tc.cfg, PoolHost{Storage: untouchedStorage{t}, Shared: shared})
			if p != nil {
				t.Fatal("a refused pool was returned")
			}
			wantConfigError(t, err, tc.want, shared)
			release()
		})
	}
}

// A pool refused after its logins were verified lets go of their shared key sets.
func TestNewIdentityPoolReleasesOnError(t *testing.T) {
	idp := testidp.New(t)
	shared := newMemoryShared()
	_, release, err := NewIdentityPool(t.Context(), IdentityPool{
		ID:                  testPoolID,
		Logins:              []Login{{Provider: "accounts.example.com", ClientIDs: []string{idp.ClientID}, Issuer: idp.Issuer, JWKSURL: idp.JWKSURL}},
		UnauthenticatedRole: "not-a-role",
	}, PoolHost{Storage: keyring.NewMemoryStorage(), Shared: shared})
	wantConfigError(t, err, "configuring identity pool", shared)
	release()
}

func TestNewIdentityPoolServesGuests(t *testing.T) {
	shared := newMemoryShared()
	p, release, err := NewIdentityPool(t.Context(), IdentityPool{ID: testPoolID, UnauthenticatedRole: testGuestRole},
		PoolHost{Storage: keyring.NewMemoryStorage(), Shared: shared})
	if err != nil || p == nil {
		t.Fatalf("NewIdentityPool(guests) = %v, %v", p, err)
	}
	release()
}

func TestValidMatch(t *testing.T) {
	for _, m := range []string{"equals", "contains", "starts_with", "not_equal"} {
		if !ValidMatch(m) {
			t.Errorf("ValidMatch(%q) = false", m)
		}
	}
	for _, m := range []string{"", "Equals", "like"} {
		if ValidMatch(m) {
			t.Errorf("ValidMatch(%q) = true", m)
		}
	}
}

// With a key secret, a pool and a verifier on storage nobody may touch share the pool's keys: credentials
// sealed by the one open with the other's ring.
func TestNewIdentityPoolKeySecretTouchesNoStorage(t *testing.T) {
	secret := &keyring.Secret{Current: []byte("q7Vx2mKp9LwR4tYz8NcB3hJd6FgS1aQe")}
	host := PoolHost{Storage: untouchedStorage{t}, Shared: newMemoryShared(), KeySecret: secret}
	p, release, err := NewIdentityPool(t.Context(), IdentityPool{ID: testPoolID, UnauthenticatedRole: testGuestRole}, host)
	if err != nil || p == nil {
		t.Fatalf("NewIdentityPool(key secret) = %v, %v", p, err)
	}
	release()
	if _, err := PoolCredentials(t.Context(), host, testPoolID); err != nil {
		t.Fatalf("PoolCredentials(key secret): %v", err)
	}
	issuer, err := NewDerivedPoolKeyRing(testPoolID, *secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := NewDerivedPoolKeyRing(testPoolID, *secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(issuer.Ring().JWKS(t.Context())) != string(verifier.Ring().JWKS(t.Context())) {
		t.Fatal("two rings derived from one secret hold different keys")
	}
}
