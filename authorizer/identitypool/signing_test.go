package identitypool

import (
	"context"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func TestSigningKeyRing(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"", "Upper", "a/b", "../x", string(make([]byte, 65))} {
		if _, err := NewSigningKeyRing(ctx, NewMemoryStorage(), bad, KeyRingOptions{}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}

	storage := NewMemoryStorage()
	a, err := NewSigningKeyRing(ctx, storage, "assertion", KeyRingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSigningKeyRing(ctx, storage, "assertion", KeyRingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewBuilder().Subject("alice").Expiration(time.Now().Add(time.Minute)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := a.SignJWT(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	// Another instance on the same storage publishes the key that signed it.
	set, err := jwk.Parse(b.JWKS(ctx))
	if err != nil {
		t.Fatal(err)
	}
	got, err := jwt.Parse([]byte(signed), jwt.WithKeySet(set))
	if err != nil {
		t.Fatalf("assertion signed by one ring does not verify with the other's JWKS: %v", err)
	}
	if sub, _ := got.Subject(); sub != "alice" {
		t.Errorf("sub = %q", sub)
	}

	// A signing ring is not a pool's: it lives elsewhere in storage and its keys verify nothing of a pool.
	pool, err := NewKeyRing(ctx, storage, "us-east-1:11111111-2222-3333-4444-555555555555", KeyRingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poolSet, err := jwk.Parse(pool.JWKS(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse([]byte(signed), jwt.WithKeySet(poolSet)); err == nil {
		t.Error("an assertion verified with an identity pool's keys")
	}
}
