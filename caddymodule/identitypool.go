package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

func init() {
	caddy.RegisterModule(IdentityPoolEndpoint{})
}

// IdentityPoolEndpoint is the `cognito_identity_pool` HTTP handler: it serves an Amazon Cognito identity pool,
// the Cognito Identity API (`GetId`, `GetCredentialsForIdentity`, `GetOpenIdToken`), wire-compatible so
// that stock AWS SDKs and the AWS CLI get temporary credentials from it, for guests and for users
// signed in to a user pool or an OpenID Connect provider. `cognito_authorizer` verifies requests signed
// with these credentials.
//
// Give it a matcher that covers both the endpoint path and everything below it (SDKs post to the
// endpoint path itself; the pool's JSON Web Key Set is served below it), e.g.
// `cognito_identity_pool /identity* <id>`, and point clients at it: `BaseEndpoint`
// `https://api.example.com/identity` (aws-sdk-go-v2), `endpoint` (JavaScript), `--endpoint-url` (AWS
// CLI, with `--no-sign-request`). Its directive order runs it before `cognito_authorizer` in the same
// route, since clients call it without credentials.
//
// The handler is terminal: every request that reaches it is answered by the pool (a Cognito error, or
// 404 for a GET it does not serve) and never passes on to the next handler, so a route that catches more
// than the pool's path cannot leak requests to an upstream unauthenticated.
//
// The pool keeps no database: identity ids derive from the logins (or carry a MAC for guests), and the
// session token of the credentials is sealed with the pool's keys, which live in Caddy's storage,
// generated on first use and rotated daily. Every Caddy instance on the same storage serves the same
// pool and verifies credentials any of them issued. With the `cognito` app's key_secret, the keys are
// derived from that secret instead, and every instance that shares it does the same with no shared
// storage.
//
// Refusals (bad logins, unknown identities, guests when guests are not allowed...) are logged at info
// level with their reason, never with a token or a secret.
type IdentityPoolEndpoint struct {
	// IdentityPoolID is the identity pool id, `<region>:<uuid>`, e.g.
	// `us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4`. Clients name it in GetId; identity ids live in
	// its region. Required. Choose a fresh random UUID: the id names the pool's keys in storage.
	IdentityPoolID string `json:"identity_pool_id"`

	// Logins are the identity providers whose tokens clients may present in `Logins`. With none, only
	// guests get credentials.
	Logins []Login `json:"logins,omitempty"`

	// AuthenticatedRole is the role ARN of identities with logins, unless a role mapping decides, e.g.
	// `arn:aws:iam::123456789012:role/app-user`. It may be left out only when every login provider has a
	// role mapping that resolves ambiguity with `deny`.
	AuthenticatedRole string `json:"authenticated_role,omitempty"`

	// UnauthenticatedRole is the role ARN of guest identities. Set, guests (clients without logins) get
	// credentials for it; absent, guests are refused.
	UnauthenticatedRole string `json:"unauthenticated_role,omitempty"`

	// RoleMappings choose the role of an authenticated identity from its login token, keyed by provider
	// name (a Provider of Logins), or by `<provider>:<app client id>` for a mapping of one app client
	// only (tried first, as Cognito does). Without a mapping, a login gets AuthenticatedRole.
	RoleMappings map[string]RoleMapping `json:"role_mappings,omitempty"`

	// PrincipalTags maps session-tag names to claim names of the login token, e.g.
	// `{"tenant": "custom:tenant"}`, on top of Cognito's defaults (`username` = the login's `sub`,
	// `client` = its app client id), which an entry of the same name replaces. Policies read them as
	// `aws:PrincipalTag/<tag>`.
	PrincipalTags map[string]string `json:"principal_tags,omitempty"`

	// CredentialsTTL is the lifetime of the credentials the pool issues, between 15m and 12h. Default:
	// 1h, as Cognito's.
	CredentialsTTL caddy.Duration `json:"credentials_ttl,omitempty"`

	// Issuer is the public URL at which the pool is served, e.g. `https://api.example.com/identity`. It
	// is the `iss` of the OpenID tokens GetOpenIdToken issues, whose keys are published at
	// `<issuer>/.well-known/jwks.json` (with an OpenID configuration beside), so the pool can itself be
	// an `oidc` issuer of `cognito_authorizer` or of AWS STS. Absent, GetOpenIdToken is refused: an
	// issuer taken from the request's Host header would let clients choose it.
	Issuer string `json:"issuer,omitempty"`

	// CORS lets browser pages of other origins call the pool (answering their preflights).
	CORS *CORS `json:"cors,omitempty"`

	// Route is where the directive is written, e.g. `Caddyfile:12`: a configuration error names it.
	// The Caddyfile sets it. Default: none.
	Route string `json:"route,omitempty"`

	pool     http.Handler
	cors     *corsPolicy
	releases []func()
}

// Login is an identity provider whose tokens the pool accepts as logins. Tokens are verified by the
// same verifier as `cognito_authorizer`'s (signature by a key of the provider's JWKS, exact issuer,
// audience, expiry), and a user-pool key set configured in both is fetched once.
type Login struct {
	// Provider is the name clients use as the key of `Logins`, as in Cognito:
	// `cognito-idp.<region>.amazonaws.com/<user_pool_id>` for a Cognito user pool (its ID tokens are
	// accepted), or, for another OpenID Connect provider, its issuer URL without `https://`, e.g.
	// `accounts.google.com` or `example.eu.auth0.com/` (an issuer URL with its scheme is accepted too).
	// The token issuer and the JWKS URL derive from it unless Issuer and JWKSURL say otherwise.
	Provider string `json:"provider"`

	// ClientIDs are the accepted app clients (user pools: the `aud` of ID tokens) or audiences (OIDC
	// providers: the token's `aud` must contain one). At least one is required, so that tokens issued to
	// other applications of the provider are refused.
	ClientIDs []string `json:"client_ids,omitempty"`

	// Issuer overrides the `iss` tokens must carry, e.g. `http://localhost:9229/local_abc` for a user
	// pool emulated by cognito-local. Default: `https://<provider>`.
	Issuer string `json:"issuer,omitempty"`

	// JWKSURL overrides where the provider's keys are. Default: `<issuer>/.well-known/jwks.json` for a
	// user pool; for an OIDC provider, the `jwks_uri` of `<issuer>/.well-known/openid-configuration`.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Algorithms are the accepted signature algorithms of an OIDC provider. Default: RS256. User pools
	// always sign RS256.
	Algorithms []string `json:"algorithms,omitempty"`
}

// RoleMapping chooses the role of an authenticated identity from its login token, as Cognito's role
// mappings do.
type RoleMapping struct {
	// Type is `token` (the role comes from the token's `cognito:preferred_role`, or its only
	// `cognito:roles` entry, or the `CustomRoleArn` the client asks for among `cognito:roles`) or
	// `rules` (the role of the first matching rule).
	Type string `json:"type"`

	// Rules are tried in order for the `rules` type; the first match wins. 1 to 25.
	Rules []MappingRule `json:"rules,omitempty"`

	// Ambiguous is what happens when no rule matches, or a `token` mapping finds no single role:
	// `authenticated_role` (the pool's AuthenticatedRole) or `deny` (no credentials). Default: deny.
	Ambiguous string `json:"ambiguous,omitempty"`
}

// MappingRule gives a role to the logins whose claim matches.
type MappingRule struct {
	// Claim is the claim name, e.g. `cognito:groups` or `custom:tier`.
	Claim string `json:"claim"`

	// Match is how the claim is compared with Value: `equals`, `contains`, `starts_with` or
	// `not_equal`. A list claim (such as `cognito:groups`) matches `equals` and `contains` when one
	// element equals Value, `starts_with` when one element starts with it, `not_equal` when none equals
	// it. A rule on a claim the token lacks never matches, `not_equal` included.
	Match string `json:"match"`

	// Value is what the claim is compared with, e.g. `admins`.
	Value string `json:"value"`

	// RoleARN is the role given when the rule matches.
	RoleARN string `json:"role_arn"`
}

// CaddyModule returns the Caddy module information.
func (IdentityPoolEndpoint) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.cognito_identity_pool",
		New: func() caddy.Module { return new(IdentityPoolEndpoint) },
	}
}

// Provision checks the configuration, loads the pool's keys from storage (generating them on first
// use) and starts fetching the login providers' keys in the background.
func (h *IdentityPoolEndpoint) Provision(ctx caddy.Context) error {
	if err := h.provision(ctx); err != nil {
		h.release()
		if h.Route != "" {
			return fmt.Errorf("%s: cognito_identity_pool %s: %w", h.Route, h.IdentityPoolID, err)
		}
		return fmt.Errorf("cognito_identity_pool %s: %w", h.IdentityPoolID, err)
	}
	return nil
}

func (h *IdentityPoolEndpoint) provision(ctx caddy.Context) error {
	if h.CORS != nil {
		if err := h.CORS.validate(); err != nil {
			return err
		}
		h.cors = newCORSPolicy(h.CORS)
	}
	declared, err := logins(h.Logins)
	if err != nil {
		return err
	}
	secret, err := keySecret(ctx)
	if err != nil {
		return err
	}
	if err := registerMetrics(ctx); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	revocations, releaseRevocations, err := acquireRevocations()
	if err != nil {
		return err
	}
	h.releases = append(h.releases, releaseRevocations)
	logger := ctx.Logger()
	pool, release, err := authorizer.NewIdentityPool(ctx, authorizer.IdentityPool{
		ID:                  h.IdentityPoolID,
		Logins:              declared,
		AuthenticatedRole:   h.AuthenticatedRole,
		UnauthenticatedRole: h.UnauthenticatedRole,
		RoleMappings:        h.roleMappings(),
		PrincipalTags:       h.PrincipalTags,
		CredentialsTTL:      time.Duration(h.CredentialsTTL),
		Issuer:              h.Issuer,
		Logger:              logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return atLeastInfo{c} })),
		Observer:            poolMetrics,
		Revoked:             poolRevocationCheck(revocations),
	}, authorizer.PoolHost{
		Storage:       ctx.Storage(),
		KeySecret:     secret,
		Shared:        sharedResources,
		KeySetLogger:  jwksLogger(),
		KeyRingLogger: logger,
	})
	if err != nil {
		return err
	}
	h.releases = append(h.releases, release)
	h.pool = pool
	return nil
}

// roleMappings translates the configured mappings to the library's, which checks their spelling.
func (h *IdentityPoolEndpoint) roleMappings() map[string]authorizer.RoleMapping {
	if len(h.RoleMappings) == 0 {
		return nil
	}
	out := make(map[string]authorizer.RoleMapping, len(h.RoleMappings))
	for provider, m := range h.RoleMappings {
		rm := authorizer.RoleMapping{Type: m.Type, Ambiguous: m.Ambiguous}
		for _, r := range m.Rules {
			rm.Rules = append(rm.Rules, authorizer.MappingRule{Claim: r.Claim, Match: r.Match, Value: r.Value, RoleARN: r.RoleARN})
		}
		out[provider] = rm
	}
	return out
}

// Cleanup releases the login providers' shared key sets.
func (h *IdentityPoolEndpoint) Cleanup() error {
	h.release()
	return nil
}

func (h *IdentityPoolEndpoint) release() {
	for _, release := range h.releases {
		release()
	}
	h.releases = nil
}

// ServeHTTP answers every request with the pool: it never calls next.
func (h *IdentityPoolEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.cors.handle(w, r) {
		return nil
	}
	h.pool.ServeHTTP(w, r)
	return nil
}

// atLeastInfo logs debug entries at info level. The pool logs its refusals (a forged login, an unknown
// identity...) at debug, as a library should; a gateway operator wants them beside cognito_authorizer's
// denials, which are logged at info.
type atLeastInfo struct{ zapcore.Core }

func (c atLeastInfo) Enabled(l zapcore.Level) bool { return c.Core.Enabled(max(l, zapcore.InfoLevel)) }

func (c atLeastInfo) With(fields []zapcore.Field) zapcore.Core {
	return atLeastInfo{c.Core.With(fields)}
}

func (c atLeastInfo) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	e.Level = max(e.Level, zapcore.InfoLevel)
	return c.Core.Check(e, ce)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*IdentityPoolEndpoint)(nil)
	_ caddy.CleanerUpper          = (*IdentityPoolEndpoint)(nil)
	_ caddyhttp.MiddlewareHandler = (*IdentityPoolEndpoint)(nil)
)
