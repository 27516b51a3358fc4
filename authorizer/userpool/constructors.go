package userpool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// IssuerConfig is a trusted issuer with its defaults derived, before its keys are fetched: build a KeySet
// from KeySet (or share one built from an equal config) and hand WithKeys to NewVerifier.
type IssuerConfig struct {
	// Issuer is what the verifier trusts; its Keys is nil.
	Issuer Issuer
	// KeySet says where the issuer's keys are: a JWKS URL or an OIDC discovery, and the algorithms.
	KeySet KeySetConfig
}

// WithKeys returns c's Issuer with its keys.
func (c IssuerConfig) WithKeys(keys *KeySet) Issuer {
	iss := c.Issuer
	iss.Keys = keys
	return iss
}

// IssuerOption overrides a default of CognitoIssuer or OIDCIssuer.
type IssuerOption func(*issuerOptions)

type issuerOptions struct {
	issuer, jwksURL, tokenUse string
	algorithms                []string
	userCheck                 *UserCheck
}

// WithIssuerURL replaces the issuer derived from a Cognito pool id, e.g. "http://localhost:9229/local_abc"
// for cognito-local (whose pool ids are not of the AWS form, and are then not checked). "" keeps the
// default. Cognito only.
func WithIssuerURL(u string) IssuerOption { return func(o *issuerOptions) { o.issuer = u } }

// WithJWKSURL replaces the default JWKS URL: <issuer>/.well-known/jwks.json for Cognito, OIDC discovery
// otherwise. "" keeps the default.
func WithJWKSURL(u string) IssuerOption { return func(o *issuerOptions) { o.jwksURL = u } }

// WithTokenUse sets the accepted tokens of a Cognito pool: TokenUseAccess (the default, also for ""),
// TokenUseID or TokenUseAny. Cognito only.
func WithTokenUse(use string) IssuerOption { return func(o *issuerOptions) { o.tokenUse = use } }

// WithAlgorithms replaces the algorithm allow-list, RS256 by default; none keeps the default. OIDC only:
// user pools sign RS256.
func WithAlgorithms(algs ...string) IssuerOption {
	return func(o *issuerOptions) { o.algorithms = algs }
}

// WithUserCheck asks the pool about every access token with c (see Issuer.UserCheck); nil: not asked.
// Cognito only.
func WithUserCheck(c *UserCheck) IssuerOption { return func(o *issuerOptions) { o.userCheck = c } }

// CognitoIssuer is the Amazon Cognito user pool poolID, trusted for the app clients clientIDs: issuer
// https://cognito-idp.<region>.amazonaws.com/<poolID> (see CognitoIssuerURL), keys at
// <issuer>/.well-known/jwks.json, RS256, access tokens. Options override the issuer, the JWKS URL and
// the token use. Pool ids not of the form <region>_<id> are refused unless the issuer is given.
func CognitoIssuer(poolID string, clientIDs []string, opts ...IssuerOption) (IssuerConfig, error) {
	o := apply(opts)
	if len(o.algorithms) > 0 {
		return IssuerConfig{}, errors.New("algorithms applies to OIDC issuers only: user pools sign RS256")
	}
	switch o.tokenUse {
	case "", TokenUseAccess, TokenUseID, TokenUseAny:
	default:
		return IssuerConfig{}, fmt.Errorf("token use must be access, id or any, not %s", quote(o.tokenUse))
	}
	if o.userCheck != nil && o.tokenUse == TokenUseID {
		return IssuerConfig{}, errors.New("the user pool check asks about access tokens, and token use id accepts none")
	}
	iss := o.issuer
	if iss == "" {
		var err error
		if iss, err = CognitoIssuerURL(poolID); err != nil {
			return IssuerConfig{}, err
		}
	}
	jwks := o.jwksURL
	if jwks == "" {
		jwks = CognitoJWKSURL(iss)
	}
	if err := checkURLs(iss, jwks); err != nil {
		return IssuerConfig{}, err
	}
	algs := []string{"RS256"}
	return IssuerConfig{
		Issuer: Issuer{Kind: identity.KindUserPool, Issuer: iss, ClientIDs: clientIDs, TokenUse: o.tokenUse,
			Algorithms: algs, UserCheck: o.userCheck},
		KeySet: KeySetConfig{JWKSURL: jwks, Algorithms: algs},
	}, nil
}

// OIDCIssuer is the OpenID Connect issuer issuerURL (the exact iss of its tokens), trusted for the
// audiences: keys found by discovery (the jwks_uri of <issuer>/.well-known/openid-configuration) unless
// WithJWKSURL names them, RS256 unless WithAlgorithms says otherwise.
func OIDCIssuer(issuerURL string, audiences []string, opts ...IssuerOption) (IssuerConfig, error) {
	o := apply(opts)
	switch {
	case o.issuer != "":
		return IssuerConfig{}, errors.New("an OIDC issuer is its URL: WithIssuerURL applies to Cognito pools only")
	case o.tokenUse != "":
		return IssuerConfig{}, errors.New("token use applies to Cognito pools only")
	case o.userCheck != nil:
		return IssuerConfig{}, errors.New("the user pool check applies to Cognito pools only")
	case issuerURL == "":
		return IssuerConfig{}, errors.New("the issuer URL is required")
	}
	if err := checkURLs(issuerURL, o.jwksURL); err != nil {
		return IssuerConfig{}, err
	}
	algs := o.algorithms
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	ks := KeySetConfig{JWKSURL: o.jwksURL, Algorithms: algs}
	if ks.JWKSURL == "" {
		ks.Discovery = issuerURL
	}
	return IssuerConfig{
		Issuer: Issuer{Kind: identity.KindOIDC, Issuer: issuerURL, ClientIDs: audiences, Algorithms: algs},
		KeySet: ks,
	}, nil
}

func apply(opts []IssuerOption) issuerOptions {
	var o issuerOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// CheckURL is the rule for a configured issuer or JWKS URL: empty (not configured) or an absolute
// http(s) URL. Plain http is allowed for local emulators such as cognito-local. The Caddy module checks
// its settings with it, so a Caddyfile is refused for the same URLs as the library refuses.
func CheckURL(u string) error {
	if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return fmt.Errorf("%s is not an http(s) URL", quote(u))
	}
	return nil
}

func checkURLs(urls ...string) error {
	for _, u := range urls {
		if err := CheckURL(u); err != nil {
			return err
		}
	}
	return nil
}
