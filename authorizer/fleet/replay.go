package fleet

import (
	"context"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// ReplayStore remembers keys (request signatures) for a while. Seen records key for ttl and reports
// whether it was fresh (not recorded yet). An error means the store could not tell: the caller decides,
// and the safe default is to refuse a non-idempotent request (503) rather than accept a replay.
type ReplayStore interface {
	Seen(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}

// The in-memory replay cache of one process is a ReplayStore.
var _ ReplayStore = (*sigv4.ReplayCache)(nil)
