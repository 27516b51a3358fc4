package identitypool

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/internal/clip"
)

// LoginVerifier verifies a login token (an ID token of a user pool or of an OpenID Connect provider) and
// returns who holds it. The project's JWT verifier, authorizer/userpool.Verifier, is one. Its errors must
// not contain the token.
type LoginVerifier interface {
	Verify(ctx context.Context, token string) (*identity.Identity, error)
}

// Config configures an identity pool.
type Config struct {
	// PoolID is the identity pool id, `<region>:<uuid>`, e.g. `us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4`.
	// Clients name it in GetId; identity ids live in its region.
	PoolID string
	// Logins maps the provider names clients use as keys of `Logins` to the verifier of that provider's
	// tokens: `cognito-idp.<region>.amazonaws.com/<user_pool_id>` for a user pool, `accounts.google.com`,
	// or an OpenID Connect issuer without `https://`. Tokens of other providers are refused.
	Logins map[string]LoginVerifier
	// AuthenticatedRole is the role ARN of identities with logins, unless a role mapping decides. It may
	// be empty only if every login provider has a role mapping that resolves ambiguity with Deny.
	AuthenticatedRole string
	// UnauthenticatedRole is the role ARN of guest identities. Empty refuses guests.
	UnauthenticatedRole string
	// RoleMappings choose the role of an authenticated identity per login provider. A key is a provider
	// name of Logins, or `<provider>:<app client id>` for a mapping that applies to one app client only
	// (tried first, as Cognito does).
	RoleMappings map[string]RoleMapping
	// PrincipalTags maps session-tag names to claim names of the login token, on top of Cognito's defaults
	// (`username` = `sub`, `client` = the app client id), which an entry of the same name replaces.
	PrincipalTags map[string]string
	// CredentialsTTL is the lifetime of issued credentials: 15m to 12h and at most the key ring's
	// Retention. Default 1h, as Cognito.
	CredentialsTTL time.Duration
	// Issuer is the public URL at which the pool is served, e.g. `https://auth.example.com/identity`:
	// the `iss` of GetOpenIdToken tokens, whose keys are published at `<Issuer>/.well-known/jwks.json`
	// with an OpenID configuration at `<Issuer>/.well-known/openid-configuration`. Empty disables
	// GetOpenIdToken: an issuer taken from the request's Host header would let a client choose it.
	Issuer string
	// Keys holds the pool's keys; it must be for PoolID. Required.
	Keys *KeyRing
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives request failures (at debug level for client errors); default no logging.
	Logger *zap.Logger
	// MaxBodyBytes limits request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// Observer learns of every API call and of the credentials issued, for metrics; default: none.
	Observer Observer
	// Revoked reports whether an identity id (empty in GetId) or a login presented for it is revoked
	// (a revocation list's identity, origin_jti or sign-out cut-off): the pool then issues nothing, as
	// its credentials would be refused anyway. It is called on the request's path: it must be cheap and
	// safe for concurrent use. Default: nothing is revoked.
	Revoked func(identityID string, login *identity.Identity, now time.Time) bool
}

// Observer learns what a Pool serves, for metrics. Its methods are called on the request's path: they
// must be cheap and safe for concurrent use.
type Observer interface {
	// Served reports an API call: op is GetId, GetCredentialsForIdentity or GetOpenIdToken, or empty for
	// an unknown operation; outcome is "ok" or the error type answered (NotAuthorizedException...).
	Served(op, outcome string)
	// Issued reports credentials issued for the role roleARN.
	Issued(roleARN string)
}

// Pool serves an identity pool. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	region string
	// providers are the configured provider names, sorted.
	providers []string
}

const (
	defaultCredentialsTTL = time.Hour
	defaultMaxBodyBytes   = 64 << 10
	// openIDTokenTTL is the lifetime of GetOpenIdToken tokens, as Cognito's.
	openIDTokenTTL = 10 * time.Minute
	// verifyTimeout bounds the verification of a request's logins, JWKS fetches included.
	verifyTimeout = 10 * time.Second
)

// New checks the configuration and returns the pool.
func New(cfg Config) (*Pool, error) {
	region, _, err := ParsePoolID(cfg.PoolID)
	if err != nil {
		return nil, fmt.Errorf("configuring identity pool: %w", err)
	}
	p := &Pool{cfg: cfg, region: region, providers: sortedKeys(cfg.Logins)}
	if p.cfg.CredentialsTTL == 0 {
		p.cfg.CredentialsTTL = defaultCredentialsTTL
	}
	if p.cfg.MaxBodyBytes == 0 {
		p.cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if p.cfg.Now == nil {
		p.cfg.Now = time.Now
	}
	if p.cfg.Logger == nil {
		p.cfg.Logger = zap.NewNop()
	}
	p.cfg.Issuer = strings.TrimSuffix(p.cfg.Issuer, "/")
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("configuring identity pool %s: %w", cfg.PoolID, err)
	}
	return p, nil
}

func (p *Pool) validate() error {
	c := &p.cfg
	if c.Keys == nil {
		return errors.New("no key ring")
	}
	if c.Keys.PoolID() != c.PoolID {
		return fmt.Errorf("key ring is for pool %s", c.Keys.PoolID())
	}
	if len(c.Logins) == 0 && c.UnauthenticatedRole == "" {
		return errors.New("neither logins nor an unauthenticated role: nobody could get credentials")
	}
	for name, v := range c.Logins {
		if err := validateProviderName(name); err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("login provider %s has no verifier", name)
		}
	}
	for _, role := range []string{c.AuthenticatedRole, c.UnauthenticatedRole} {
		if role != "" {
			if _, err := identity.ParseRoleARN(role); err != nil {
				return err
			}
		}
	}
	for key, m := range c.RoleMappings {
		if p.mappingProvider(key) == "" {
			return fmt.Errorf("role mapping %q: not a login provider, nor <provider>:<app client id>", key)
		}
		if err := m.validate(); err != nil {
			return fmt.Errorf("role mapping %s: %w", key, err)
		}
	}
	if c.AuthenticatedRole == "" {
		for name := range c.Logins {
			if p.mayUseAuthenticatedRole(name) {
				return fmt.Errorf("no authenticated role, yet logins of %s can get it (no role mapping, or one "+
					"resolving ambiguity with AuthenticatedRole)", name)
			}
		}
	}
	if err := validateTagMap(c.PrincipalTags); err != nil {
		return err
	}
	if ttl := c.CredentialsTTL; ttl < 15*time.Minute || ttl > 12*time.Hour {
		return fmt.Errorf("credentials TTL %s is not between 15m and 12h", ttl)
	}
	if c.CredentialsTTL > c.Keys.ring.Retention() {
		return fmt.Errorf("credentials TTL %s exceeds the key ring's maximum %s", c.CredentialsTTL, c.Keys.ring.Retention())
	}
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "?") || strings.HasSuffix(c.Issuer, "#") {
			return fmt.Errorf("issuer %q is not an http(s) URL without query or fragment", c.Issuer)
		}
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("negative body limit %d", c.MaxBodyBytes)
	}
	return nil
}

// validateProviderName accepts Cognito's provider names: 1 to 128 printable ASCII characters, no spaces.
func validateProviderName(name string) error {
	if len(name) == 0 || len(name) > 128 {
		return fmt.Errorf("login provider name %q must have 1 to 128 characters", clip.String(name, 64))
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("login provider name %q has a space or a character outside printable ASCII", clip.String(name, 64))
		}
	}
	return nil
}

// mappingProvider returns the configured provider a role-mapping key refers to, or "".
func (p *Pool) mappingProvider(key string) string {
	if _, ok := p.cfg.Logins[key]; ok {
		return key
	}
	for name := range p.cfg.Logins {
		if rest, ok := strings.CutPrefix(key, name+":"); ok && rest != "" {
			return name
		}
	}
	return ""
}

// mayUseAuthenticatedRole reports whether a login of provider can end up with the pool's default
// authenticated role.
func (p *Pool) mayUseAuthenticatedRole(provider string) bool {
	if _, ok := p.cfg.RoleMappings[provider]; !ok {
		return true
	}
	for key, m := range p.cfg.RoleMappings {
		if p.mappingProvider(key) == provider && m.AmbiguousRoleResolution == ResolveAuthenticatedRole {
			return true
		}
	}
	return false
}

// roleMapping returns the mapping for a login: `<provider>:<client id>` first, then `<provider>`.
func (p *Pool) roleMapping(provider, clientID string) *RoleMapping {
	if clientID != "" {
		if m, ok := p.cfg.RoleMappings[provider+":"+clientID]; ok {
			return &m
		}
	}
	if m, ok := p.cfg.RoleMappings[provider]; ok {
		return &m
	}
	return nil
}
