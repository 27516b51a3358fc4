package authorizer

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// IdentityPool declares an identity pool: who may get credentials, for which roles, for how long.
type IdentityPool struct {
	// ID is the identity pool id, `<region>:<uuid>`; it names the pool's keys in storage.
	ID string
	// Logins are the login providers whose tokens GetId and GetCredentialsForIdentity accept. With
	// none, only guests get credentials.
	Logins []Login
	// AuthenticatedRole is the role ARN of identities with logins, unless a role mapping decides.
	AuthenticatedRole string
	// UnauthenticatedRole is the role ARN of guests; empty refuses guests.
	UnauthenticatedRole string
	// RoleMappings choose the role of an authenticated identity, keyed by provider name or by
	// `<provider>:<app client id>`.
	RoleMappings map[string]RoleMapping
	// PrincipalTags maps session-tag names to claim names of the login token.
	PrincipalTags map[string]string
	// CredentialsTTL is the lifetime of issued credentials, 15m to 12h; zero: 1h.
	CredentialsTTL time.Duration
	// Issuer is the public URL of the pool, the `iss` of its OpenID tokens; empty refuses GetOpenIdToken.
	Issuer string
	// MaxBodyBytes limits request bodies; zero: the identitypool default.
	MaxBodyBytes int64
	// Logger receives the pool's refusals; nil: no logging.
	Logger *zap.Logger
	// Observer learns of the pool's API calls and the credentials it issues; nil: none.
	Observer identitypool.Observer
	// Revoked says whether an identity id or a login presented for it is revoked; nil: none is.
	Revoked func(identityID string, login *identity.Identity, now time.Time) bool
}

// RoleMapping chooses the role of an authenticated identity from its login token, as Cognito's role
// mappings do, in the spelling of a configuration file.
type RoleMapping struct {
	// Type is token or rules.
	Type string
	// Rules are tried in order for the rules type; the first match wins.
	Rules []MappingRule
	// Ambiguous is authenticated_role or deny (empty: deny).
	Ambiguous string
}

// MappingRule gives RoleARN to the logins whose Claim matches Value; Match is equals, contains,
// starts_with or not_equal.
type MappingRule struct {
	Claim, Match, Value, RoleARN string
}

// PoolHost is what an identity pool takes from its host.
type PoolHost struct {
	// Storage keeps the pool's key ring, shared by every instance that serves or verifies the pool,
	// unless KeySecret is set.
	Storage keyring.Storage
	// KeySecret, when set, is the secret every key of the pool's ring is derived from
	// (keyring.NewFromSecret): instances that share it share the keys, with no storage.
	KeySecret *keyring.Secret
	// Shared keeps the login providers' key sets and the token cache across configurations.
	Shared Shared
	// KeySetLogger is the long-lived logger of shared key sets.
	KeySetLogger *zap.Logger
	// KeyRingLogger is the logger of the pool's key ring.
	KeyRingLogger *zap.Logger
}

// PoolKeyRetention is the Retention of every identity pool's key ring: the longest CredentialsTTL
// allowed (the STS maximum). It is not derived from a configuration's CredentialsTTL on purpose:
// every ring on a pool's storage must agree on it, since a ring retires keys that long after they last
// sealed, and one that believed it shorter (a verifier, which issues nothing) would remove from storage
// keys that still open credentials another instance issued.
const PoolKeyRetention = 12 * time.Hour

// NewPoolKeyRing returns the key ring of the identity pool poolID kept in s: loaded, or generated and
// stored on first use under the storage lock, with PoolKeyRetention.
func NewPoolKeyRing(ctx context.Context, s keyring.Storage, poolID string, logger *zap.Logger) (*identitypool.KeyRing, error) {
	keys, err := identitypool.NewKeyRing(ctx, s, poolID, keyring.Options{
		Retention: PoolKeyRetention,
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("identity pool keys: %w", err)
	}
	return keys, nil
}

// NewDerivedPoolKeyRing returns the key ring of the identity pool poolID with every key derived from
// secret (identitypool.NewDerivedKeyRing), with PoolKeyRetention.
func NewDerivedPoolKeyRing(poolID string, secret keyring.Secret, logger *zap.Logger) (*identitypool.KeyRing, error) {
	keys, err := identitypool.NewDerivedKeyRing(poolID, secret, keyring.Options{
		Retention: PoolKeyRetention,
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("identity pool keys: %w", err)
	}
	return keys, nil
}

// keyRing returns the key ring of the identity pool poolID: derived from host.KeySecret when it is set,
// else kept in host.Storage.
func (host PoolHost) keyRing(ctx context.Context, poolID string) (*identitypool.KeyRing, error) {
	if host.KeySecret != nil {
		return NewDerivedPoolKeyRing(poolID, *host.KeySecret, host.KeyRingLogger)
	}
	return NewPoolKeyRing(ctx, host.Storage, poolID, host.KeyRingLogger)
}

// PoolCredentials resolves the access keys of SigV4 requests signed with credentials the identity
// pool poolID issued, through its key ring, which host gives as to the pool itself (see
// NewIdentityPool and SessionCredentials). Only host's Storage, KeySecret and KeyRingLogger are used.
func PoolCredentials(ctx context.Context, host PoolHost, poolID string) (sigv4.CredentialSource, error) {
	sessions, err := PoolSessions(ctx, host, poolID)
	if err != nil {
		return nil, err
	}
	return sessions.Credential, nil
}

// PoolSessions is PoolCredentials as a SessionCache, whose Stats count the session tokens it opened.
func PoolSessions(ctx context.Context, host PoolHost, poolID string) (*SessionCache, error) {
	keys, err := host.keyRing(ctx, poolID)
	if err != nil {
		return nil, err
	}
	return NewSessionCache(keys), nil
}

// PoolRegion checks an identity pool id (identitypool.ParsePoolID) and returns its region, the one
// signatures of its credentials are scoped to.
func PoolRegion(poolID string) (string, error) {
	region, _, err := identitypool.ParsePoolID(poolID)
	return region, err
}

// NewIdentityPool builds the identity pool cfg declares. Its role mappings and logins are checked
// before anything is acquired: the login providers' key sets come from host.Shared, and only then is
// the key ring loaded from host.Storage (or derived from host.KeySecret), so that a refused
// configuration leaves no keys behind.
// release lets go of everything acquired; on error it has already run.
func NewIdentityPool(ctx context.Context, cfg IdentityPool, host PoolHost) (p *identitypool.Pool, release func(), err error) {
	release = func() {}
	mappings, err := PoolRoleMappings(cfg.RoleMappings)
	if err != nil {
		return nil, release, err
	}
	verifiers, release, err := NewLoginVerifiers(cfg.Logins, host.Shared, host.KeySetLogger)
	if err != nil {
		return nil, release, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	keys, err := host.keyRing(ctx, cfg.ID)
	if err != nil {
		return nil, release, err
	}
	p, err = identitypool.New(identitypool.Config{
		PoolID:              cfg.ID,
		Logins:              verifiers,
		AuthenticatedRole:   cfg.AuthenticatedRole,
		UnauthenticatedRole: cfg.UnauthenticatedRole,
		RoleMappings:        mappings,
		PrincipalTags:       cfg.PrincipalTags,
		CredentialsTTL:      cfg.CredentialsTTL,
		Issuer:              cfg.Issuer,
		Keys:                keys,
		Logger:              cfg.Logger,
		MaxBodyBytes:        cfg.MaxBodyBytes,
		Observer:            cfg.Observer,
		Revoked:             cfg.Revoked,
	})
	if err != nil {
		return nil, release, err
	}
	return p, release, nil
}

// PoolRoleMappings translates role mappings to the identity pool's, refusing an unknown type,
// ambiguity resolution or match.
func PoolRoleMappings(in map[string]RoleMapping) (map[string]identitypool.RoleMapping, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]identitypool.RoleMapping, len(in))
	for provider, m := range in {
		var pm identitypool.RoleMapping
		switch m.Type {
		case "token":
			pm.Type = identitypool.RoleMappingToken
		case "rules":
			pm.Type = identitypool.RoleMappingRules
		default:
			return nil, fmt.Errorf("role mapping %s: type must be token or rules, not %q", provider, m.Type)
		}
		switch m.Ambiguous {
		case "", "deny":
			pm.AmbiguousRoleResolution = identitypool.ResolveDeny
		case "authenticated_role":
			pm.AmbiguousRoleResolution = identitypool.ResolveAuthenticatedRole
		default:
			return nil, fmt.Errorf("role mapping %s: ambiguous must be authenticated_role or deny, not %q", provider, m.Ambiguous)
		}
		for i, r := range m.Rules {
			match, ok := matchTypes[r.Match]
			if !ok {
				return nil, fmt.Errorf("role mapping %s: rule %d: match must be equals, contains, starts_with or not_equal, not %q",
					provider, i+1, r.Match)
			}
			pm.Rules = append(pm.Rules, identitypool.MappingRule{Claim: r.Claim, MatchType: match, Value: r.Value, RoleARN: r.RoleARN})
		}
		out[provider] = pm
	}
	return out, nil
}

var matchTypes = map[string]identitypool.MatchType{
	"equals":      identitypool.MatchEquals,
	"contains":    identitypool.MatchContains,
	"starts_with": identitypool.MatchStartsWith,
	"not_equal":   identitypool.MatchNotEqual,
}

// ValidMatch reports whether match is the Match of a MappingRule: equals, contains, starts_with or
// not_equal. A parser checks a rule with it, where it knows the rule's location.
func ValidMatch(match string) bool {
	_, ok := matchTypes[match]
	return ok
}
