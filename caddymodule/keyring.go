package caddymodule

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// poolKeyRetention is the Retention of every identity pool's key ring: the longest credentials_ttl
// allowed (the STS maximum). It is not derived from a configuration's credentials_ttl on
// purpose: every ring on a pool's storage must agree on it, since a ring retires keys that long after they
// last sealed, and one that believed it shorter (a cognito_authorizer, which issues nothing) would remove
// from storage keys that still open credentials another instance issued.
const poolKeyRetention = 12 * time.Hour

// acquireKeyRing returns the key ring of the identity pool poolID, kept in the configuration's storage
// (ctx.Storage()): loaded, or generated and stored on first use under the storage lock. The
// cognito_identity_pool handler that issues a pool's credentials and every cognito_authorizer that
// verifies them call it, so they use the same keys, in this process and across every instance on the
// same storage.
//
// Each caller gets its own ring rather than one shared through a caddy.UsagePool: a ring starts no
// goroutines (nothing to stop), costs one storage read when created, and coordinates rotation with other
// rings through storage and its lock, which is how instances of a fleet already share a pool. A
// UsagePool would have to be keyed by the storage too (a reload may change the storage module), and a
// pooled ring would outlive the logger of the configuration that created it.
func acquireKeyRing(ctx caddy.Context, poolID string) (*identitypool.KeyRing, error) {
	return newPoolKeyRing(ctx, ctx.Storage(), poolID, ctx.Logger())
}

func newPoolKeyRing(ctx context.Context, s keyring.Storage, poolID string, logger *zap.Logger) (*identitypool.KeyRing, error) {
	keys, err := identitypool.NewKeyRing(ctx, s, poolID, keyring.Options{
		Retention: poolKeyRetention,
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("identity pool keys: %w", err)
	}
	return keys, nil
}
