package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// shared holds what outlives one configuration: JWKS key sets and the verified-token cache. A
// `caddy reload` acquires them again before the old configuration releases them, so a reload neither
// refetches every JWKS nor starts new goroutines; the last release stops them.
var shared = caddy.NewUsagePool()

// usagePool is Caddy's usage pool as the library's store of shared resources.
type usagePool struct{ pool *caddy.UsagePool }

// Share returns the resource under key, creating it on first use, and the function that releases it.
func (u usagePool) Share(key string, create func() (authorizer.Resource, error)) (authorizer.Resource, func(), error) {
	v, _, err := u.pool.LoadOrNew(key, func() (caddy.Destructor, error) { return create() })
	if err != nil {
		return nil, nil, err
	}
	return v.(authorizer.Resource), func() { _, _ = u.pool.Delete(key) }, nil
}

// sharedResources is the process-wide store the authorizer and the identity pool both draw from, so
// a JWKS they both trust is fetched once.
var sharedResources authorizer.Shared = usagePool{pool: shared}

// jwksLogger is where key sets log: they outlive the configuration that created them, so they log
// through Caddy's default logger rather than this configuration's.
func jwksLogger() *zap.Logger {
	return caddy.Log().Named("http.handlers.cognito_authorizer.jwks")
}

var _ authorizer.Shared = usagePool{}

// KeySetObserver is the observer of every key set in the pool: the module's metrics.
func (u usagePool) KeySetObserver() userpool.KeySetObserver { return keySets }

var _ authorizer.ObservedShared = usagePool{}
