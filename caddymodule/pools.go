package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// shared holds what outlives one configuration: JWKS key sets and the verified-token cache. A
// `caddy reload` acquires them again before the old configuration releases them, so a reload neither
// refetches every JWKS nor starts new goroutines; the last release stops them.
var shared = caddy.NewUsagePool()

// acquireKeySet returns the shared KeySet for cfg and records its release.
func (g *gate) acquireKeySet(cfg userpool.KeySetConfig) (*userpool.KeySet, error) {
	keys, release, err := sharedKeySet(cfg)
	if err != nil {
		return nil, err
	}
	g.releases = append(g.releases, release)
	return keys, nil
}

// acquireTokenCache returns the shared token cache and records its release.
func (g *gate) acquireTokenCache() (*userpool.TokenCache, error) {
	cache, release, err := sharedTokenCache()
	if err != nil {
		return nil, err
	}
	g.releases = append(g.releases, release)
	return cache, nil
}

// sharedKeySet returns the process-wide KeySet for cfg, creating it on first use, and the function that
// releases it. The authorizer and the identity pool both call it, so a JWKS they both trust is fetched
// once. Its limits are the userpool defaults: a 5s timeout, a refresh every hour, a 6h stale window, a
// refetch on an unknown kid held back for 15s after one that missed its kid, responses up to 512 KiB.
func sharedKeySet(cfg userpool.KeySetConfig) (*userpool.KeySet, func(), error) {
	// Key sets outlive the configuration that created them, so they log through Caddy's default logger
	// rather than this configuration's.
	cfg.Logger = caddy.Log().Named("http.handlers.cognito_authorizer.jwks")
	key := fmt.Sprintf("jwks|%s|%s|%s", cfg.JWKSURL, cfg.Discovery, strings.Join(cfg.Algorithms, ","))
	v, _, err := shared.LoadOrNew(key, func() (caddy.Destructor, error) {
		return userpool.NewKeySet(cfg)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("loading keys: %w", err)
	}
	return v.(*userpool.KeySet), func() { _, _ = shared.Delete(key) }, nil
}

// sharedTokenCache returns the process-wide cache of verified tokens (10,000 entries, about 22 MiB when
// full) and the function that releases it. One cache serves every verifier safely: an entry is only
// accepted for the key set that verified it, and each verifier checks its own audiences and times on
// every hit.
func sharedTokenCache() (*userpool.TokenCache, func(), error) {
	const key = "tokens"
	v, _, err := shared.LoadOrNew(key, func() (caddy.Destructor, error) {
		return userpool.NewTokenCache(userpool.DefaultTokenCacheEntries), nil
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(*userpool.TokenCache), func() { _, _ = shared.Delete(key) }, nil
}
