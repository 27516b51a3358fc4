package keyring_test

import (
	"context"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// A signing ring: what one instance signs, any instance on the same storage verifies with its JWKS.
func ExampleRing_SignJWT() {
	ctx := context.Background()
	storage := keyring.NewMemoryStorage() // Caddy's ctx.Storage() in production
	signer, err := keyring.New(ctx, storage, "assertion", keyring.Options{Retention: 15 * time.Minute})
	if err != nil {
		panic(err)
	}
	verifier, err := keyring.New(ctx, storage, "assertion", keyring.Options{Retention: 15 * time.Minute})
	if err != nil {
		panic(err)
	}
	t, _ := jwt.NewBuilder().Subject("alice").Expiration(time.Now().Add(5 * time.Minute)).Build()
	signed, err := signer.SignJWT(ctx, t)
	if err != nil {
		panic(err)
	}
	keys, _ := jwk.Parse(verifier.JWKS(ctx))
	verified, err := jwt.Parse([]byte(signed), jwt.WithKeySet(keys))
	if err != nil {
		panic(err)
	}
	sub, _ := verified.Subject()
	fmt.Println(sub)
	// Output: alice
}

// Sealing: the header (a format version here) and the key id travel in clear and authenticated, the
// additional data (whom the envelope is for) is authenticated without travelling.
func ExampleRing_Seal() {
	ctx := context.Background()
	ring, err := keyring.New(ctx, keyring.NewMemoryStorage(), "us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4",
		keyring.Options{Purpose: keyring.IdentityPool})
	if err != nil {
		panic(err)
	}
	header, owner := []byte{1}, []byte(ring.Name())
	sealed, err := ring.Seal(ctx, header, []byte("secret"), owner)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(sealed) == len(header)+len("secret")+keyring.Overhead)
	plaintext, _, err := ring.Open(ctx, sealed, len(header), owner)
	fmt.Println(string(plaintext), err)
	_, _, err = ring.Open(ctx, sealed, len(header), []byte("someone else"))
	fmt.Println(err)
	// Output:
	// true
	// secret <nil>
	// sealed envelope fails authentication: authentication failed
}
