package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// ReplayProtection refuses a signed POST, PATCH (or other non-idempotent request) whose signature was
// already accepted and is still valid, so that a captured request cannot be sent again. GET, HEAD,
// OPTIONS, PUT and DELETE requests are not checked.
//
// The signatures seen are kept in memory, in this Caddy instance only, shared by every route that
// verifies the same identity pool and kept across config reloads. Instances of a fleet do not share
// them: a request replayed to another instance within its validity (the clock skew, or a presigned
// URL's expiry) is accepted there, and a restart forgets them.
type ReplayProtection struct {
	// MaxEntries bounds the signatures remembered (about 150 bytes each). When full, the signature
	// that expires soonest is forgotten first. Size it for the non-idempotent requests of ten minutes
	// (twice the default clock skew). Default: 100000.
	MaxEntries int `json:"max_entries,omitempty"`
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
