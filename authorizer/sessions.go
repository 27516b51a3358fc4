package authorizer

import (
	"context"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
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
	cache, _ := lru.New[string, *sigv4.Credential](sessionCacheEntries) // only fails for a size <= 0
	return func(ctx context.Context, accessKeyID, sessionToken string) (*sigv4.Credential, error) {
		if sessionToken == "" {
			return nil, fmt.Errorf("%w: no session token (identity-pool credentials always have one)", sigv4.ErrUnknownCredential)
		}
		cred, ok := cache.Get(sessionToken)
		if !ok {
			s, err := keys.OpenSessionToken(ctx, sessionToken)
			switch {
			case errors.Is(err, identitypool.ErrExpiredSessionToken):
				return nil, fmt.Errorf("%w: %w", sigv4.ErrExpiredCredential, err)
			case err != nil:
				return nil, fmt.Errorf("%w: %w", sigv4.ErrUnknownCredential, err)
			}
			cred = &sigv4.Credential{SecretAccessKey: s.SecretAccessKey, Expires: s.Expires, Identity: s.Identity()}
			cache.Add(sessionToken, cred)
		}
		// The verifier refuses the credential once it has expired (Credential.Expires, on its clock).
		if cred.Identity.AccessKeyID != accessKeyID {
			return nil, fmt.Errorf("%w: access key %s is not the one its session token was issued with", sigv4.ErrUnknownCredential, accessKeyID)
		}
		return cred, nil
	}
}
