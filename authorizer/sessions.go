package authorizer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// sessionCacheEntries bounds the opened session tokens kept in memory (about 1.5 KB each: the token,
// the session and its identity).
const sessionCacheEntries = 10_000

// SessionCredentials resolves the access keys of SigV4 requests through the session tokens an identity
// pool issued: the token is opened with the pool's key ring, and the access key id it seals must be
// the one that signed. Identity-pool credentials always carry a session token.
//
// Opened tokens are remembered (by their exact bytes, bounded, until they expire), so the requests of
// one set of credentials share one Identity: what depends only on the caller (its policy input, its
// upstream headers) is then computed once, as for a cached JWT.
func SessionCredentials(keys *identitypool.KeyRing) sigv4.CredentialSource {
	return NewSessionCache(keys).Credential
}

// SessionCache is SessionCredentials with the counts of its cache of opened session tokens.
type SessionCache struct {
	keys                    *identitypool.KeyRing
	cache                   *lru.Cache[string, *sigv4.Credential]
	hits, misses, evictions atomic.Uint64
}

// NewSessionCache returns the credential source of SessionCredentials, whose Stats count its cache.
func NewSessionCache(keys *identitypool.KeyRing) *SessionCache {
	cache, _ := lru.New[string, *sigv4.Credential](sessionCacheEntries) // only fails for a size <= 0
	return &SessionCache{keys: keys, cache: cache}
}

// Credential is the sigv4.CredentialSource of SessionCredentials.
func (c *SessionCache) Credential(ctx context.Context, accessKeyID, sessionToken string) (*sigv4.Credential, error) {
	if sessionToken == "" {
		return nil, fmt.Errorf("%w: no session token (identity-pool credentials always have one)", sigv4.ErrUnknownCredential)
	}
	cred, ok := c.cache.Get(sessionToken)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
		s, err := c.keys.OpenSessionToken(ctx, sessionToken)
		switch {
		case errors.Is(err, identitypool.ErrExpiredSessionToken):
			return nil, fmt.Errorf("%w: %w", sigv4.ErrExpiredCredential, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", sigv4.ErrUnknownCredential, err)
		}
		cred = &sigv4.Credential{SecretAccessKey: s.SecretAccessKey, Expires: s.Expires, Identity: s.Identity()}
		if c.cache.Add(sessionToken, cred) {
			c.evictions.Add(1)
		}
	}
	// The verifier refuses the credential once it has expired (Credential.Expires, on its clock).
	if cred.Identity.Pool.AccessKeyID != accessKeyID {
		return nil, fmt.Errorf("%w: access key %s is not the one its session token was issued with", sigv4.ErrUnknownCredential, accessKeyID)
	}
	return cred, nil
}

// Stats returns the counts of the cache of opened session tokens: a miss is a token opened with the
// key ring (or refused).
func (c *SessionCache) Stats() userpool.CacheStats {
	return userpool.CacheStats{Entries: c.cache.Len(), Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
}
