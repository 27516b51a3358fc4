// Package identity defines the caller identity that every verifier produces: a user-pool or OIDC token
// holder, an identity-pool credential holder, or nobody, and the one parser of the IAM role ARN such an
// identity carries (ParseRoleARN). It is a leaf package: it imports nothing of this module, so every
// verifier can return an Identity and the policy engine can read one without an import cycle.
package identity

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind says which kind of credential proved the identity.
type Kind string

// The kinds of identity, as they appear in the policy input (`input.identity.kind`).
const (
	// KindNone is a request that carried no credentials (only reaches the policy with allow_anonymous).
	KindNone Kind = "none"
	// KindUserPool is the holder of a token issued by an Amazon Cognito user pool.
	KindUserPool Kind = "user_pool"
	// KindOIDC is the holder of a token issued by another OpenID Connect provider.
	KindOIDC Kind = "oidc"
	// KindIdentityPool is the holder of identity-pool credentials who signed the request with SigV4.
	KindIdentityPool Kind = "identity_pool"
)

// Identity is who is calling, as proved by the credentials in the request. Fields that do not apply to
// a kind are empty. An Identity returned by a verifier may be shared between concurrent requests (it is
// served from caches) and must not be modified.
type Identity struct {
	Kind Kind
	// Authenticated is false for anonymous callers and identity-pool guests.
	Authenticated bool

	// Token identities (user_pool, oidc).

	// Issuer is the token's `iss`.
	Issuer string
	// Subject is the token's `sub`; for identity-pool callers, the identity id.
	Subject string
	// Username is `cognito:username` (ID tokens), `username` (access tokens), or the OIDC
	// `preferred_username`, whichever the token has.
	Username string
	// ClientID is the app client: `client_id` of an access token, `aud` of an ID token (the first audience
	// of an OIDC token).
	ClientID string
	// TokenUse is Cognito's `token_use` (`access` or `id`); empty for other issuers.
	TokenUse string
	// Groups are `cognito:groups` (or an OIDC `groups` claim).
	Groups []string
	// Scopes are the space-separated `scope` claim (or `scp`), split.
	Scopes []string
	// Claims are all claims of the token, as decoded from JSON, when whoever built the identity set them
	// as a map. A verifier that caches many identities keeps them in a compact form of its own instead
	// (SetClaimSource, SetClaimsJSON) and leaves this nil: read claims through ClaimMap or Claim, which
	// see all of them.
	Claims map[string]any
	// claims decodes the claims on demand when Claims is nil: a decoded map costs about 1.3 KiB for a
	// Cognito access token, its compact form a fraction of that, and most uses of a cached identity are
	// memoized once per identity (Memo).
	claims ClaimSource

	// OriginJTI is the token's `origin_jti` (in Cognito, the refresh token it came from), and IssuedAt
	// its `iat` (zero when absent). For identity-pool callers, those of the login token the credentials
	// were issued for. Revocations match them.
	OriginJTI string
	IssuedAt  time.Time

	// Pool holds what only identity-pool callers have; it is nil for every other kind. Read its fields
	// as `if p := id.Pool; p != nil`.
	Pool *PoolCredentials

	// ExpiresAt is when the token or the credentials expire.
	ExpiresAt time.Time

	// memo holds values derived from this identity once and reused while it is served from a cache. It
	// is made on first use: most cached identities are never asked for one, and an empty sync.Map
	// would cost each of them 48 bytes.
	memo atomic.Pointer[sync.Map]
}

// ClaimSource gives the claims of an identity that keeps them in a form of its own (SetClaimSource).
type ClaimSource interface {
	// ClaimMap returns the claims, decoded afresh: the caller may modify the map.
	ClaimMap() map[string]any
}

// PoolCredentials are the parts of an identity-pool caller's identity that token identities do not
// have: kept behind Identity.Pool, they cost a token identity (most cached ones) one pointer.
type PoolCredentials struct {
	// IdentityID is the identity-pool identity id, e.g. `us-east-1:0a1b...`.
	IdentityID string
	// IdentityPoolID is the identity pool that issued the credentials.
	IdentityPoolID string
	// RoleARN is the role the credentials were issued for.
	RoleARN string
	// PrincipalTags are the session tags of the credentials (`aws:PrincipalTag/<key>`).
	PrincipalTags map[string]string
	// LoginProviders are the providers whose logins the identity used, e.g.
	// `cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123`; empty for guests.
	LoginProviders []string
	// AuthenticationProvider is API Gateway's `cognitoAuthenticationProvider`: the login providers, and
	// for a user-pool login `<provider>:CognitoSignIn:<sub>`, comma-separated.
	AuthenticationProvider string
	// AccessKeyID is the access key id that signed the request (not a secret: AWS logs it too).
	AccessKeyID string
	// LoginSubject is the `sub` of the login token the credentials were issued for; empty for guests
	// and for credentials sealed before it was recorded.
	LoginSubject string
}

// Memo returns the value derived from the identity under key, computing it with derive on first use.
// Packages use it for work that depends only on the identity (its policy input, its upstream headers),
// so a cached identity pays for it once. derive must be deterministic: two concurrent first uses may both
// run it, and one result wins. key should be a value of an unexported type of the calling package.
func (id *Identity) Memo(key any, derive func() any) any {
	m := id.memo.Load()
	if m == nil {
		id.memo.CompareAndSwap(nil, new(sync.Map))
		m = id.memo.Load()
	}
	if v, ok := m.Load(key); ok {
		return v
	}
	v, _ := m.LoadOrStore(key, derive())
	return v
}

// SetClaimSource makes src the source of the claims when Claims is nil; ClaimMap and Claim ask it on
// each use. Call it while building the identity, before it is shared.
func (id *Identity) SetClaimSource(src ClaimSource) {
	id.claims = src
}

// SetClaimsJSON makes the claims the JSON object obj, which must decode (encoding/json, numbers as
// json.Number) to the claims the identity was verified with; ClaimMap and Claim decode it on each use.
// Call it while building the identity, before it is shared.
func (id *Identity) SetClaimsJSON(obj []byte) {
	id.claims = claimsJSON(obj)
}

// ClaimsJSON returns the JSON object SetClaimsJSON kept, or "".
func (id *Identity) ClaimsJSON() string {
	s, _ := id.claims.(claimsJSON)
	return string(s)
}

// claimsJSON is a JSON object of claims, decoded on each use.
type claimsJSON string

func (s claimsJSON) ClaimMap() map[string]any {
	dec := json.NewDecoder(strings.NewReader(string(s)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		// SetClaimsJSON is given JSON that decoded once; it decodes the same way again.
		return nil
	}
	return claims
}

// ClaimMap returns the claims: Claims when set, otherwise those the verifier kept in a compact form,
// decoded afresh (numbers as json.Number, exactly as the verifier decoded them), or nil when there are
// none. The map must not be modified when it is Claims; a decoded one is the caller's. Decoding costs a
// few microseconds: per-request callers should memoize what they derive from it (Memo).
func (id *Identity) ClaimMap() map[string]any {
	if id.Claims != nil || id.claims == nil {
		return id.Claims
	}
	return id.claims.ClaimMap()
}

// Claim returns the claim name and whether the identity has it (see ClaimMap).
func (id *Identity) Claim(name string) (any, bool) {
	if id.Claims != nil || id.claims == nil {
		v, ok := id.Claims[name]
		return v, ok
	}
	v, ok := id.ClaimMap()[name]
	return v, ok
}

// Anonymous is the identity of a request without credentials.
func Anonymous() *Identity {
	return &Identity{Kind: KindNone}
}

// UserID is the id Caddy puts in `{http.auth.user.id}` and the access log: the identity id for
// identity-pool callers, otherwise the subject.
func (id *Identity) UserID() string {
	if id.Kind == KindIdentityPool {
		if p := id.Pool; p != nil {
			return p.IdentityID
		}
		return ""
	}
	return id.Subject
}
