package authorizer

import (
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// Login declares a login provider of an identity pool: whose tokens GetId and
// GetCredentialsForIdentity accept, under which name.
type Login struct {
	// Provider is the name clients use as the key of Logins: cognito-idp.<region>.amazonaws.com/<user_pool_id>
	// for a Cognito user pool (its ID tokens are accepted), or an OpenID Connect issuer URL, with or
	// without its https:// scheme.
	Provider string
	// ClientIDs are the accepted app clients or audiences (at least one).
	ClientIDs []string
	// Issuer and JWKSURL override the derived issuer and key location; empty: derived.
	Issuer, JWKSURL string
	// Algorithms are the accepted signature algorithms of an OIDC provider; empty: RS256.
	Algorithms []string
}

// userPoolProviderPrefix starts the provider names of Cognito user pools.
const userPoolProviderPrefix = "cognito-idp."

// NewLoginVerifiers builds one verifier per login provider, keyed by its name, on key sets and the
// token cache taken from shared, key sets logging to logger. One verifier per provider, so that a token
// is only ever accepted under the name of its issuer. Every login is checked before anything is taken
// from shared. release lets go of everything acquired; on error it has already run.
func NewLoginVerifiers(logins []Login, shared Shared, logger *zap.Logger) (v map[string]identitypool.LoginVerifier, release func(), err error) {
	var got acquired
	defer func() {
		if err != nil {
			got.release()
		}
	}()
	decl, err := resolveLogins(logins)
	if err != nil || len(decl) == 0 {
		return nil, got.release, err
	}
	issuers, err := got.withKeys(shared, logger, decl)
	if err != nil {
		return nil, got.release, err
	}
	cache, err := got.tokenCache(shared)
	if err != nil {
		return nil, got.release, err
	}
	v = make(map[string]identitypool.LoginVerifier, len(issuers))
	for i, iss := range issuers {
		pv, err := userpool.NewVerifier([]userpool.Issuer{iss}, userpool.Options{Cache: cache})
		if err != nil {
			return nil, got.release, fmt.Errorf("%s: %w", decl[i].name, err)
		}
		v[logins[i].Provider] = pv
	}
	return v, got.release, nil
}

// resolveLogins checks the login providers and derives their issuers and key sources, in order. Two
// providers that trust the same issuer are refused: a user could then present one token under either
// name, and choose the identity id and the role mapping that suit them.
func resolveLogins(logins []Login) ([]declaredIssuer, error) {
	out := make([]declaredIssuer, 0, len(logins))
	providers := make(map[string]bool, len(logins))
	issuers := make(map[string]string, len(logins))
	for _, l := range logins {
		if l.Provider == "" {
			return nil, errors.New("login: the provider name is required")
		}
		if providers[l.Provider] {
			return nil, fmt.Errorf("login %s configured twice", l.Provider)
		}
		providers[l.Provider] = true
		ic, err := resolveLogin(l)
		if err != nil {
			return nil, fmt.Errorf("login %s: %w", l.Provider, err)
		}
		if other, dup := issuers[ic.Issuer.Issuer]; dup {
			return nil, fmt.Errorf("logins %s and %s trust the same issuer %s: a token would be accepted under both names",
				other, l.Provider, ic.Issuer.Issuer)
		}
		issuers[ic.Issuer.Issuer] = l.Provider
		out = append(out, declaredIssuer{"login " + l.Provider, ic})
	}
	return out, nil
}

func resolveLogin(l Login) (userpool.IssuerConfig, error) {
	if len(l.ClientIDs) == 0 {
		return userpool.IssuerConfig{}, errors.New("at least one client_id (or audience) is required, so that tokens issued to other applications are refused")
	}
	if strings.HasPrefix(l.Provider, userPoolProviderPrefix) {
		// A Cognito user pool: ID tokens, RS256, keys at <issuer>/.well-known/jwks.json.
		if len(l.Algorithms) > 0 {
			return userpool.IssuerConfig{}, errors.New("algorithms applies to OIDC providers only: user pools sign RS256")
		}
		poolID := l.Provider[strings.LastIndexByte(l.Provider, '/')+1:]
		ic, err := userpool.CognitoIssuer(poolID, l.ClientIDs, userpool.WithTokenUse(userpool.TokenUseID),
			userpool.WithIssuerURL(l.Issuer), userpool.WithJWKSURL(l.JWKSURL))
		if l.Issuer == "" && (err != nil || ic.Issuer.Issuer != "https://"+l.Provider) {
			return userpool.IssuerConfig{}, fmt.Errorf("a user pool provider name is cognito-idp.<region>.amazonaws.com/<user_pool_id> " +
				"(or give its issuer)")
		}
		return ic, err
	}
	iss := l.Issuer
	switch {
	case iss != "":
	case strings.HasPrefix(l.Provider, "https://") || strings.HasPrefix(l.Provider, "http://"):
		iss = l.Provider
	default:
		iss = "https://" + l.Provider
	}
	return userpool.OIDCIssuer(iss, l.ClientIDs, userpool.WithJWKSURL(l.JWKSURL), userpool.WithAlgorithms(l.Algorithms...))
}
