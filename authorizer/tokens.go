package authorizer

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// UserPool declares an Amazon Cognito user pool whose tokens are accepted.
type UserPool struct {
	// ID is the user pool id, e.g. us-east-1_AbC123; the issuer and the JWKS URL derive from it.
	ID string
	// ClientIDs are the accepted app clients (at least one).
	ClientIDs []string
	// TokenUse is access (default), id or any.
	TokenUse string
	// IssuerURL and JWKSURL override the derived issuer and JWKS URL; empty: derived.
	IssuerURL, JWKSURL string
	// Check, when set, also asks the pool about every access token (GetUser), so that a user signed
	// out, deleted or disabled is refused before their token expires.
	Check *UserPoolCheck
}

// UserPoolCheck says how a user pool is asked about access tokens (userpool.UserCheck).
type UserPoolCheck struct {
	// Interval is how long an answer is remembered for a token (userpool.MinUserCheckInterval to
	// userpool.MaxUserCheckInterval).
	Interval time.Duration
	// Timeout bounds one call; zero: userpool.DefaultUserCheckTimeout.
	Timeout time.Duration
	// AllowUnavailable accepts a token the pool could not be asked about, logged. Default: 503.
	AllowUnavailable bool
}

// OIDCProvider declares an OpenID Connect issuer whose tokens are accepted.
type OIDCProvider struct {
	// Issuer is the exact iss of its tokens.
	Issuer string
	// Audiences are the accepted aud values (at least one).
	Audiences []string
	// JWKSURL is where its keys are; empty: discovered from the issuer's openid-configuration.
	JWKSURL string
	// Algorithms are the accepted signature algorithms; empty: RS256.
	Algorithms []string
}

// MaxClockSkew bounds Issuers.ClockSkew.
const MaxClockSkew = userpool.MaxClockSkew

// The bounds of UserPoolCheck's Interval and Timeout.
const (
	MinUserCheckInterval = userpool.MinUserCheckInterval
	MaxUserCheckInterval = userpool.MaxUserCheckInterval
	MaxUserCheckTimeout  = userpool.MaxUserCheckTimeout
)

// Issuers declares who may issue the bearer tokens an Authorizer accepts.
type Issuers struct {
	UserPools []UserPool
	OIDC      []OIDCProvider
	// ClockSkew is the tolerance for token times, at most MaxClockSkew; zero: the userpool default.
	ClockSkew time.Duration
	// UserVerdicts, when set, shares the answers of every user pool check (UserPool.Check) with the
	// other instances of a fleet (fleet.Redis is one); nil: each instance asks the pool itself.
	UserVerdicts VerdictStore
}

// VerdictStore shares user pool checks' answers across a fleet (userpool.VerdictStore).
type VerdictStore = userpool.VerdictStore

// Resource is what a Shared store holds; Destruct runs when its last user releases it.
type Resource interface{ Destruct() error }

// Shared keeps what outlives one configuration (JWKS key sets, the verified-token cache), so that a
// host reloading its configuration neither refetches every JWKS nor starts new goroutines. Share
// returns the resource stored under key, creating it with create on first use, and the function that
// releases it.
type Shared interface {
	Share(key string, create func() (Resource, error)) (Resource, func(), error)
}

// ObservedShared is a Shared store whose key sets report their fetches (for metrics): they outlive the
// configuration that created them, as the store does, so the store is what observes them.
type ObservedShared interface {
	Shared
	KeySetObserver() userpool.KeySetObserver
}

// SharedKeySet returns the KeySet for cfg from shared, creating it on first use, and the function that
// releases it. Key sets outlive the configuration that created them, so they log to logger, the host's
// long-lived logger, and report to shared's observer when it is an ObservedShared. Its limits are the
// userpool defaults.
func SharedKeySet(shared Shared, cfg userpool.KeySetConfig, logger *zap.Logger) (*userpool.KeySet, func(), error) {
	cfg.Logger = logger
	if o, ok := shared.(ObservedShared); ok {
		cfg.Observer = o.KeySetObserver()
	}
	key := fmt.Sprintf("jwks|%s|%s|%s", cfg.JWKSURL, cfg.Discovery, strings.Join(cfg.Algorithms, ","))
	v, release, err := shared.Share(key, func() (Resource, error) { return userpool.NewKeySet(cfg) })
	if err != nil {
		return nil, nil, fmt.Errorf("loading keys: %w", err)
	}
	return v.(*userpool.KeySet), release, nil
}

// SharedTokenCache returns the cache of verified tokens from shared (userpool.DefaultTokenCacheEntries
// entries) and the function that releases it. One cache serves every verifier safely: an entry is only
// accepted for the key set that verified it, and each verifier checks its own audiences and times on
// every hit.
func SharedTokenCache(shared Shared) (*userpool.TokenCache, func(), error) {
	v, release, err := shared.Share("tokens", func() (Resource, error) {
		return userpool.NewTokenCache(userpool.DefaultTokenCacheEntries), nil
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(*userpool.TokenCache), release, nil
}

// declaredIssuer is a declared issuer, without its keys, and the name its errors carry.
type declaredIssuer struct {
	name string
	cfg  userpool.IssuerConfig
}

// acquired collects the releases of what was taken from a Shared store.
type acquired struct{ releases []func() }

// release lets go of everything acquired so far.
func (a *acquired) release() {
	for _, r := range a.releases {
		r()
	}
	a.releases = nil
}

// withKeys returns the issuers of decl, each with its key set from shared, key sets logging to logger.
func (a *acquired) withKeys(shared Shared, logger *zap.Logger, decl []declaredIssuer) ([]userpool.Issuer, error) {
	issuers := make([]userpool.Issuer, 0, len(decl))
	for _, d := range decl {
		keys, rel, err := SharedKeySet(shared, d.cfg.KeySet, logger)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		a.releases = append(a.releases, rel)
		issuers = append(issuers, d.cfg.WithKeys(keys))
	}
	return issuers, nil
}

// tokenCache returns the token cache from shared.
func (a *acquired) tokenCache(shared Shared) (*userpool.TokenCache, error) {
	cache, rel, err := SharedTokenCache(shared)
	if err != nil {
		return nil, err
	}
	a.releases = append(a.releases, rel)
	return cache, nil
}

// NewTokenVerifier builds the verifier of iss: an issuer per user pool and OIDC provider, their key
// sets and the token cache taken from shared, key sets logging to logger. It returns nil and no error
// when iss declares no issuer. release lets go of everything acquired; on error it has already run.
func NewTokenVerifier(iss Issuers, shared Shared, logger *zap.Logger) (v *userpool.Verifier, release func(), err error) {
	var got acquired
	defer func() {
		if err != nil {
			got.release()
		}
	}()
	var decl []declaredIssuer
	for _, p := range iss.UserPools {
		check, err := newUserCheck(p, iss.UserVerdicts, logger)
		if err != nil {
			return nil, got.release, fmt.Errorf("user_pool %s: %w", p.ID, err)
		}
		ic, err := userpool.CognitoIssuer(p.ID, p.ClientIDs, userpool.WithTokenUse(p.TokenUse),
			userpool.WithIssuerURL(p.IssuerURL), userpool.WithJWKSURL(p.JWKSURL), userpool.WithUserCheck(check))
		if err != nil {
			return nil, got.release, fmt.Errorf("user_pool %s: %w", p.ID, err)
		}
		decl = append(decl, declaredIssuer{"user_pool " + p.ID, ic})
	}
	for _, o := range iss.OIDC {
		ic, err := userpool.OIDCIssuer(o.Issuer, o.Audiences, userpool.WithJWKSURL(o.JWKSURL),
			userpool.WithAlgorithms(o.Algorithms...))
		if err != nil {
			return nil, got.release, fmt.Errorf("oidc %s: %w", o.Issuer, err)
		}
		decl = append(decl, declaredIssuer{"oidc " + o.Issuer, ic})
	}
	issuers, err := got.withKeys(shared, logger, decl)
	if err != nil {
		return nil, got.release, err
	}
	if len(issuers) == 0 {
		return nil, got.release, nil
	}
	cache, err := got.tokenCache(shared)
	if err != nil {
		return nil, got.release, err
	}
	v, err = userpool.NewVerifier(issuers, userpool.Options{ClockSkew: iss.ClockSkew, Cache: cache})
	if err != nil {
		return nil, got.release, err
	}
	return v, got.release, nil
}

// newUserCheck builds p's user pool check, asking the API at the issuer's scheme and host and sharing
// its answers through store (nil: not shared); nil when p has none.
func newUserCheck(p UserPool, store VerdictStore, logger *zap.Logger) (*userpool.UserCheck, error) {
	if p.Check == nil {
		return nil, nil
	}
	issuer := p.IssuerURL
	if issuer == "" {
		var err error
		if issuer, err = userpool.CognitoIssuerURL(p.ID); err != nil {
			return nil, err
		}
	}
	endpoint, err := userpool.UserPoolEndpoint(issuer)
	if err != nil {
		return nil, err
	}
	return userpool.NewUserCheck(userpool.UserCheckConfig{Endpoint: endpoint, Interval: p.Check.Interval,
		Timeout: p.Check.Timeout, AllowUnavailable: p.Check.AllowUnavailable, Store: store, Logger: logger})
}

// CheckURL is the rule for a configured issuer or JWKS URL (userpool.CheckURL): empty or an absolute
// http(s) URL. An adapter checks its settings with it, so it refuses the URLs the library refuses.
func CheckURL(u string) error { return userpool.CheckURL(u) }
