package caddymodule

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// ReplayProtection refuses a signed POST, PATCH (or other non-idempotent request) whose signature was
// already accepted and is still valid, so that a captured request cannot be sent again. GET, HEAD,
// OPTIONS, PUT and DELETE requests are not checked.
//
// Without the cognito app's redis, the signatures seen are kept in memory, in this Caddy instance
// only, shared by every route that verifies the same identity pool and kept across config reloads:
// a request replayed to another instance within its validity (the clock skew, or a presigned URL's
// expiry) is accepted there, and a restart forgets them. With redis, they are kept in Redis for what
// is left of their validity (SET NX), so a signature seen by any instance is refused by every other;
// when Redis cannot be reached, the redis option's replay_when_unreachable says what is done.
type ReplayProtection struct {
	// MaxEntries bounds the signatures remembered (about 150 bytes each). When full, the signature
	// that expires soonest is forgotten first. Size it for the non-idempotent requests of ten minutes
	// (twice the default clock skew). Default: 100000.
	MaxEntries int `json:"max_entries,omitempty"`
}

// replayProtection sets the replay protection of the identity pool p in opts: Redis when the cognito
// app has it (with the local cache as the fallback when replay_when_unreachable is local), else the
// local cache.
func (g *gate) replayProtection(ctx caddy.Context, p *IdentityPool, opts *sigv4.Options) error {
	app, err := fleetApp(ctx)
	if err != nil {
		return err
	}
	if app == nil || app.redis == nil {
		opts.ReplayCache, err = g.acquireReplayCache(p.ID, p.ReplayProtection)
		return err
	}
	action := replayRefuse
	if app.replayLocal {
		action = replayLocal
		if opts.ReplayCache, err = g.acquireReplayCache(p.ID, p.ReplayProtection); err != nil {
			return err
		}
	}
	opts.ReplayStore = countedReplayStore{store: app.redis, errors: replayStoreErrors.WithLabelValues(action)}
	return nil
}

// countedReplayStore counts the failures of a replay store.
type countedReplayStore struct {
	store  sigv4.ReplayStore
	errors prometheus.Counter
}

func (s countedReplayStore) Seen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	fresh, err := s.store.Seen(ctx, key, ttl)
	if err != nil {
		s.errors.Inc()
	}
	return fresh, err
}

// acquireReplayCache returns the replay cache of the identity pool poolID, shared by every handler of
// the process that verifies it and kept across reloads, and records its release.
func (g *gate) acquireReplayCache(poolID string, p *ReplayProtection) (*sigv4.ReplayCache, error) {
	if p.MaxEntries < 0 {
		return nil, fmt.Errorf("replay_protection: max entries %d is negative", p.MaxEntries)
	}
	size := p.MaxEntries
	if size == 0 {
		size = sigv4.DefaultReplayCacheEntries
	}
	// The size is part of the key: a reload that changes it starts a cache of the new size.
	key := fmt.Sprintf("replay|%s|%d", poolID, size)
	v, _, err := shared.LoadOrNew(key, func() (caddy.Destructor, error) {
		return sigv4.NewReplayCache(size), nil
	})
	if err != nil {
		return nil, err
	}
	g.releases = append(g.releases, func() { _, _ = shared.Delete(key) })
	return v.(*sigv4.ReplayCache), nil
}
