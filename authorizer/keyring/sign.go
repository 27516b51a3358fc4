package keyring

import (
	"context"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// SignJWT signs t with the newest active key generation (ES256, its key id in `kid`), rotating first if
// one is due.
func (k *Ring) SignJWT(ctx context.Context, t jwt.Token) (string, error) {
	g, err := k.current(ctx)
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(t, jwt.WithKey(jwa.ES256(), g.signer))
	if err != nil {
		return "", fmt.Errorf("signing a JWT: %w", err)
	}
	return string(signed), nil
}

// JWKS returns the public keys that verify what the ring signs, as a JSON Web Key Set. Keys another
// instance added are picked up at most RefetchInterval later.
func (k *Ring) JWKS(ctx context.Context) []byte {
	k.refetch(ctx)
	return k.set.Load().jwks
}
