package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

// poolCredentials resolves the credentials of the identity pool poolID through its key ring, kept in
// the configuration's storage (ctx.Storage()): loaded, or generated and stored on first use under the
// storage lock. The cognito_identity_pool handler that issues a pool's credentials and every
// cognito_authorizer that verifies them build their ring with authorizer.NewPoolKeyRing, so they use
// the same keys, in this process and across every instance on the same storage.
//
// Each caller gets its own ring rather than one shared through a caddy.UsagePool: a ring starts no
// goroutines (nothing to stop), costs one storage read when created, and coordinates rotation with other
// rings through storage and its lock, which is how instances of a fleet already share a pool. A
// UsagePool would have to be keyed by the storage too (a reload may change the storage module), and a
// pooled ring would outlive the logger of the configuration that created it.
//
// With the cognito app's key_secret, the ring is derived from the secret instead (see App), as the
// cognito_identity_pool handler's is.
func poolCredentials(ctx caddy.Context, poolID string) (*authorizer.SessionCache, error) {
	secret, err := keySecret(ctx)
	if err != nil {
		return nil, err
	}
	return authorizer.PoolSessions(ctx, authorizer.PoolHost{
		Storage: ctx.Storage(), KeySecret: secret, KeyRingLogger: ctx.Logger(),
	}, poolID)
}
