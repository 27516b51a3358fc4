package identitypool

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// KeyRing is an identity pool's key ring: a keyring.Ring of purpose keyring.IdentityPool, named by the
// pool id, with the pool's uses of it: sealing and opening session tokens (SealSession,
// OpenSessionToken), deriving identity ids from its root key, and signing OpenID tokens. Every instance
// that serves or verifies the pool shares the ring through storage. It is safe for concurrent use.
type KeyRing struct {
	ring   *keyring.Ring
	poolID string
	// poolIDBytes is the pool id as the additional data of every session token.
	poolIDBytes []byte
	now         func() time.Time
	// tokenBufs holds buffers for decoding session tokens: a decoded token of the longest accepted length.
	tokenBufs sync.Pool
}

// NewKeyRing loads the pool's key ring from storage, generating and storing it on first use (see
// keyring.New). opts.Retention is the longest lifetime of the pool's credentials; opts.Purpose is set
// to keyring.IdentityPool.
func NewKeyRing(ctx context.Context, s keyring.Storage, poolID string, opts keyring.Options) (*KeyRing, error) {
	if _, _, err := ParsePoolID(poolID); err != nil {
		return nil, fmt.Errorf("creating key ring: %w", err)
	}
	opts.Purpose = keyring.IdentityPool
	ring, err := keyring.New(ctx, s, poolID, opts)
	if err != nil {
		return nil, err
	}
	return newKeyRing(ring, poolID, opts), nil
}

// NewDerivedKeyRing returns the pool's key ring with every key derived from secret (see
// keyring.NewFromSecret), so that every instance sharing the secret holds the same keys with no
// storage. opts is as for NewKeyRing.
func NewDerivedKeyRing(poolID string, secret keyring.Secret, opts keyring.Options) (*KeyRing, error) {
	if _, _, err := ParsePoolID(poolID); err != nil {
		return nil, fmt.Errorf("creating key ring: %w", err)
	}
	opts.Purpose = keyring.IdentityPool
	ring, err := keyring.NewFromSecret(poolID, secret, opts)
	if err != nil {
		return nil, err
	}
	return newKeyRing(ring, poolID, opts), nil
}

func newKeyRing(ring *keyring.Ring, poolID string, opts keyring.Options) *KeyRing {
	k := &KeyRing{ring: ring, poolID: poolID, poolIDBytes: []byte(poolID), now: opts.Now}
	if k.now == nil {
		k.now = time.Now
	}
	k.tokenBufs.New = func() any {
		b := make([]byte, base64.RawURLEncoding.DecodedLen(maxSessionTokenLen))
		return &b
	}
	return k
}

// PoolID is the identity pool the ring holds keys for.
func (k *KeyRing) PoolID() string { return k.poolID }

// Ring is the ring that holds the pool's keys: it signs the pool's OpenID tokens and publishes their
// JWKS, and its Retention is the longest lifetime of the credentials it seals.
func (k *KeyRing) Ring() *keyring.Ring { return k.ring }

// randomBytes reads n bytes from crypto/rand, which never fails (it crashes the program instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
