package caddymodule

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// Every ring of a pool agrees on the longest credential lifetime, whatever the credentials_ttl of the
// configuration that made it: the longest credentials_ttl is accepted, and a ring that only verifies
// opens what another sealed for that long.
func TestPoolKeyRingCoversLongestCredentials(t *testing.T) {
	if err := validateIn(t, poolBlock("unauthenticated_role "+guestRoleARN+"\ncredentials_ttl 12h")); err != nil {
		t.Fatalf("credentials_ttl 12h refused: %v", err)
	}
	storage := keyring.NewMemoryStorage()
	issuer, err := authorizer.NewPoolKeyRing(t.Context(), storage, testIdentityPoolID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := authorizer.NewPoolKeyRing(t.Context(), storage, testIdentityPoolID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*identitypool.KeyRing{issuer, verifier} {
		if k.Ring().Retention() != 12*time.Hour || k.PoolID() != testIdentityPoolID {
			t.Fatalf("ring for %s covers %s, want 12h", k.PoolID(), k.Ring().Retention())
		}
	}
	token, err := issuer.SealSession(t.Context(), &identitypool.Session{
		AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", SecretAccessKey: strings.Repeat("s", 40), IdentityID: "us-east-1:0f8fad5b-d9cb-469f-a165-70867728950e",
		PoolID: testIdentityPoolID, RoleARN: guestRoleARN, Expires: time.Now().Add(12 * time.Hour).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := verifier.OpenSessionToken(t.Context(), token)
	if err != nil || s.RoleARN != guestRoleARN {
		t.Fatalf("the other ring opens to %v, %v", s, err)
	}
}

func TestPoolKeyRingErrors(t *testing.T) {
	cases := []struct{ name, poolID, want string }{
		{"user pool id", "us-east-1_AbC123", `identity pool keys: creating key ring: identity pool id "us-east-1_AbC123" is not <region>:<uuid>`},
		{"empty", "", `identity pool id "" is not <region>:<uuid>`},
		{"path in the uuid", "us-east-1:../../../../etc/passwd-0000-0000-000000000000", "is not <region>:<uuid>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authorizer.NewPoolKeyRing(t.Context(), keyring.NewMemoryStorage(), tc.poolID, zap.NewNop())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
