package caddymodule

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// loginSource is a configured login provider, checked and with its issuer and key source derived.
type loginSource struct {
	provider string
	issuer   userpool.Issuer // without Keys
	keys     userpool.KeySetConfig
}

// userPoolProviderPrefix starts the provider names of Cognito user pools.
const userPoolProviderPrefix = "cognito-idp."

// resolveLogins checks the login providers and derives their issuers and key sources. Two providers that
// trust the same issuer are refused: a user could then present one token under either name, and choose
// the identity id and the role mapping that suit them.
func resolveLogins(logins []Login) ([]loginSource, error) {
	out := make([]loginSource, 0, len(logins))
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
		src, err := resolveLogin(l)
		if err != nil {
			return nil, fmt.Errorf("login %s: %w", l.Provider, err)
		}
		if other, dup := issuers[src.issuer.Issuer]; dup {
			return nil, fmt.Errorf("logins %s and %s trust the same issuer %s: a token would be accepted under both names",
				other, l.Provider, src.issuer.Issuer)
		}
		issuers[src.issuer.Issuer] = l.Provider
		out = append(out, src)
	}
	return out, nil
}

func resolveLogin(l Login) (loginSource, error) {
	if len(l.ClientIDs) == 0 {
		return loginSource{}, errors.New("at least one client_id (or audience) is required, so that tokens issued to other applications are refused")
	}
	for _, u := range []string{l.Issuer, l.JWKSURL} {
		if err := checkURL(u); err != nil {
			return loginSource{}, err
		}
	}
	src := loginSource{provider: l.Provider}
	if strings.HasPrefix(l.Provider, userPoolProviderPrefix) {
		// A Cognito user pool: ID tokens, RS256, keys at <issuer>/.well-known/jwks.json.
		if len(l.Algorithms) > 0 {
			return loginSource{}, errors.New("algorithms applies to OIDC providers only: user pools sign RS256")
		}
		poolID := l.Provider[strings.LastIndexByte(l.Provider, '/')+1:]
		ic, err := userpool.CognitoIssuer(poolID, l.ClientIDs, userpool.WithTokenUse(userpool.TokenUseID),
			userpool.WithIssuerURL(l.Issuer), userpool.WithJWKSURL(l.JWKSURL))
		if l.Issuer == "" && (err != nil || ic.Issuer.Issuer != "https://"+l.Provider) {
			return loginSource{}, fmt.Errorf("a user pool provider name is cognito-idp.<region>.amazonaws.com/<user_pool_id> " +
				"(or give its issuer)")
		}
		if err != nil {
			return loginSource{}, err
		}
		src.issuer, src.keys = ic.Issuer, ic.KeySet
		return src, nil
	}
	iss := l.Issuer
	switch {
	case iss != "":
	case strings.HasPrefix(l.Provider, "https://") || strings.HasPrefix(l.Provider, "http://"):
		iss = l.Provider
	default:
		iss = "https://" + l.Provider
	}
	ic, err := userpool.OIDCIssuer(iss, l.ClientIDs, userpool.WithJWKSURL(l.JWKSURL), userpool.WithAlgorithms(l.Algorithms...))
	if err != nil {
		return loginSource{}, err
	}
	src.issuer, src.keys = ic.Issuer, ic.KeySet
	return src, nil
}

// loginVerifiers builds one verifier per login provider, on key sets and the token cache shared with
// every other handler of the process. It returns what must be released, even on error.
func loginVerifiers(sources []loginSource) (map[string]identitypool.LoginVerifier, []func(), error) {
	if len(sources) == 0 {
		return nil, nil, nil
	}
	var releases []func()
	cache, release, err := authorizer.SharedTokenCache(sharedResources)
	if err != nil {
		return nil, releases, err
	}
	releases = append(releases, release)
	out := make(map[string]identitypool.LoginVerifier, len(sources))
	for _, src := range sources {
		keys, release, err := authorizer.SharedKeySet(sharedResources, src.keys, jwksLogger())
		if err != nil {
			return nil, releases, fmt.Errorf("login %s: %w", src.provider, err)
		}
		releases = append(releases, release)
		iss := src.issuer
		iss.Keys = keys
		// One verifier per provider, so that a token is only ever accepted under the name of its issuer.
		v, err := userpool.NewVerifier([]userpool.Issuer{iss}, userpool.Options{Cache: cache})
		if err != nil {
			return nil, releases, fmt.Errorf("login %s: %w", src.provider, err)
		}
		out[src.provider] = v
	}
	return out, releases, nil
}
