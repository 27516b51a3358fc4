package fleet

import (
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// ReplayStore remembers keys (request signatures) for a while. Seen records key for ttl and reports
// whether it was fresh (not recorded yet). An error means the store could not tell: the caller decides,
// and the safe default is to refuse a non-idempotent request (503) rather than accept a replay.
//
// It is sigv4.ReplayStore, which sigv4.Options.ReplayStore takes.
type ReplayStore = sigv4.ReplayStore

// The in-memory replay cache of one process is a ReplayStore.
var _ ReplayStore = (*sigv4.ReplayCache)(nil)
