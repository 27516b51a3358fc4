// Package identitypool serves an Amazon Cognito identity pool: the Cognito Identity API (GetId,
// GetCredentialsForIdentity, GetOpenIdToken; AWS JSON 1.1), wire-compatible so that stock AWS SDKs and the
// AWS CLI obtain temporary credentials from it, for guests and for holders of user-pool or OpenID Connect
// logins.
//
// It keeps no database. Identity ids are derived from (pool, provider, sub) with a keyed MAC, or, for
// guests, carry a MAC of their own. Credentials are `ASIA...` access key ids whose session token is a
// sealed envelope (AES-256-GCM, key id in clear) holding the secret, the identity, the role and the
// principal tags, so a SigV4 verifier that shares the pool's KeyRing opens it with
// KeyRing.OpenSessionToken and needs neither storage nor network per request.
//
// The pool's KeyRing wraps a keyring.Ring (package keyring owns the keys: their storage, shared by every
// instance, their rotation, sealing and signing); this package owns what it makes of them: the session
// token format, the identity-id scheme, the OpenID tokens, and the pool-id syntax (ParsePoolID).
//
// The package does not import Caddy; the cognito_identity_pool directive adapts it.
package identitypool
