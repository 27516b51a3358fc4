package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// Config is what the cognito_authorizer handler and the cognito authentication provider share: which
// credentials they accept and how they decide.
type Config struct {
	// UserPools are the Amazon Cognito user pools whose tokens are accepted.
	UserPools []UserPool `json:"user_pools,omitempty"`

	// IdentityPool, when set, accepts requests signed with AWS Signature Version 4 using credentials
	// issued by this identity pool (served by a `cognito_identity_pool` on the same Caddy storage, or
	// anywhere with the same `cognito` key_secret).
	// What they may do is their role's RolePolicies: without any (and without AllowAnyRole), the
	// built-in policy denies every signed request.
	IdentityPool *IdentityPool `json:"identity_pool,omitempty"`

	// OIDC are the other OpenID Connect issuers (Auth0, Okta, Google, Keycloak...) whose tokens are
	// accepted.
	OIDC []OIDCIssuer `json:"oidc,omitempty"`

	// AllowAnonymous lets requests without any credentials through, as identity kind "none". Default:
	// they are answered 401. Requests with bad credentials are refused either way.
	AllowAnonymous bool `json:"allow_anonymous,omitempty"`

	// ClockSkew is the tolerance for token times (`exp`, `nbf`, `iat`). Default: 60s, at most 10m
	// (authorizer.MaxClockSkew).
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// TokenQuery names a query parameter that may carry the bearer token when there is no
	// Authorization header (browsers opening WebSockets cannot set headers). Default: none, the token
	// is only read from `Authorization: Bearer`. A query token ends up in access logs: prefer a cookie.
	TokenQuery string `json:"token_query,omitempty"`

	// TokenCookie names a cookie that may carry the bearer token when there is no Authorization
	// header. Default: none.
	TokenCookie string `json:"token_cookie,omitempty"`

	// Assertion, when set, adds a signed identity assertion (a short-lived JWT) to every allowed
	// request, and serves its keys.
	Assertion *Assertion `json:"assertion,omitempty"`

	// Forward names the X-Cognito-* headers an allowed request carries upstream besides the default ones
	// (X-Cognito-Sub and X-Cognito-Groups for token callers, X-Cognito-Identity-Id for identity-pool
	// callers), or is ["all"]: X-Cognito-Username, X-Cognito-Scopes, X-Cognito-Client-Id,
	// X-Cognito-Identity-Pool-Id, X-Cognito-Authentication-Type, X-Cognito-Authentication-Provider,
	// X-Cognito-Role-Arn. Every header is written, logged and parsed on every request: name the ones the
	// upstream reads. Client-sent X-Cognito-* headers are removed whether forwarded or not. Default: none
	// more.
	Forward []string `json:"forward,omitempty"`

	// ContextHeader adds X-Cognito-Context: the identity in the shape of API Gateway's requestContext
	// (`authorizer.jwt.claims` / `identity`), base64url JSON, for backends moving off API Gateway. It
	// carries every claim of the caller's token, about 0.8 KB for a Cognito access token. Default: off.
	ContextHeader bool `json:"context_header,omitempty"`

	// CORS lets browser pages of other origins call the API: preflights are answered by the handler,
	// and responses (refusals included) carry the CORS headers for the allowed origins.
	CORS *CORS `json:"cors,omitempty"`

	// Groups, for the built-in policy: the caller must be in at least one of them (`cognito:groups`).
	// Default: no requirement.
	Groups []string `json:"groups,omitempty"`

	// Scopes, for the built-in policy: the token must grant at least one of them (`scope`). A caller
	// without is answered 403 with `error="insufficient_scope"`. Default: no requirement.
	Scopes []string `json:"scopes,omitempty"`

	// Claims, for the built-in policy: every rule must hold. A rule requires a claim to equal a path
	// segment, a header, a query parameter or one of a list of values, e.g.
	// `{"claim": "custom:tenant_id", "from": "segment", "segment": 1}` for /tenants/{tenant}/...
	Claims []authorizer.ClaimRule `json:"claims,omitempty"`

	// RolePolicies attach IAM policy documents to the roles of IdentityPool: requests signed with its
	// credentials are decided by their role's policies, as API Gateway's IAM authorization decides
	// them (a role without one is denied everything). Token callers keep the rules above.
	RolePolicies []RolePolicy `json:"role_policies,omitempty"`

	// ExecuteAPI names the API in the resource ARN role policies are evaluated on. Default: the
	// account of the roles, API id `api`, stage `$default`.
	ExecuteAPI *ExecuteAPI `json:"execute_api,omitempty"`

	// AllowAnyRole lets requests signed with IdentityPool's credentials through whatever their role,
	// guests included: the built-in policy decides them by Groups, Scopes and Claims like token
	// callers, so a route without any of those admits every valid credential. Default: off, and the
	// built-in policy denies every signed request of a route without RolePolicies (403
	// `AccessDeniedException`), as IAM denies a role that no policy allows anything; the gateway
	// warns about such a route when it starts. It contradicts RolePolicies and ExecuteAPI, and needs
	// an IdentityPool: either is a configuration error. A Policy of your own decides for itself
	// (it sees this setting as `input.config.allow_any_role`; `data.cognito.builtin.decision`
	// applies the same rule).
	AllowAnyRole bool `json:"allow_any_role,omitempty"`

	// Route names this route in the log lines of its gateway (their `route` field), e.g.
	// `Caddyfile:27`. The Caddyfile sets it to the file and line of the directive. Default: none.
	Route string `json:"route,omitempty"`

	// MetricsRoute names this route in the metrics (the route label of
	// `caddy_cognito_route_decisions_total`), e.g. `orders-api`: up to 64 letters, digits and `_ - . : /`.
	// Routes that share a name are counted together. Default: empty.
	MetricsRoute string `json:"metrics_route,omitempty"`

	// Lines say where this route's settings are written, by the name an error gives them
	// (`user_pool <id>`, `oidc <issuer>`, `identity_pool`, `role_policy <role_arn>`, `policy`,
	// `opa_config`), e.g. `{"policy": "Caddyfile:31"}`: an error found when the configuration loads (a
	// bad pool id, a policy file that is missing) names that line rather than the route's. The
	// Caddyfile sets them. Default: none, errors name the Route.
	Lines map[string]string `json:"lines,omitempty"`

	// Policy are Rego files, directories of Rego and data files, or bundles (.tar.gz) that decide
	// instead of the built-in policy (which they can import: data.cognito.lib, data.cognito.builtin).
	// Default: the built-in policy. A policy that does not compile is a configuration error.
	Policy []string `json:"policy,omitempty"`

	// Decision is the rule queried for every request. Default: data.cognito.authz.decision.
	Decision string `json:"decision,omitempty"`

	// OPAConfigFile is OPA's own configuration file (YAML or JSON, as for `opa run --config-file`):
	// bundle services polled for policies, decision logs, status. Default: none.
	OPAConfigFile string `json:"opa_config_file,omitempty"`

	// StreamGrace is how long a request may stay open after the credential that opened it expires
	// (a token's `exp`, identity-pool credentials' expiration; not a presigned URL's X-Amz-Expires,
	// which only bounds when the request may start): WebSockets, SSE and other streaming responses
	// and bodies are closed then, a WebSocket with a close frame 1008 (policy violation) when one
	// can be written between two frames. A revoked credential's requests are closed at once, whatever
	// the grace. With Shadow, nothing is closed. Default: 5s; 0 closes at expiry; at most 1h.
	StreamGrace *caddy.Duration `json:"stream_grace,omitempty"`

	// Shadow decides and logs every request, but refuses none: a request that would have been refused
	// (bad credentials, a policy deny, a gateway error) reaches the upstream with
	// `X-Cognito-Shadow-Decision: deny` and `X-Cognito-Shadow-Status`, and the placeholders
	// `{cognito.shadow.decision}`, `{cognito.shadow.status}` and `{cognito.shadow.reason}`. Use it to
	// roll out rules; malformed requests (an ambiguous path, credentials in two places) are refused
	// anyway.
	Shadow bool `json:"shadow,omitempty"`
}

// UserPool is an Amazon Cognito user pool whose tokens are accepted.
type UserPool struct {
	// ID is the user pool id, e.g. `us-east-1_AbC123`. The issuer
	// (`https://cognito-idp.<region>.amazonaws.com/<id>`) and the JWKS URL are derived from it.
	ID string `json:"id"`

	// ClientIDs are the accepted app clients: the `client_id` of access tokens, the `aud` of ID tokens.
	// At least one is required: a pool usually has several clients, and tokens of one must not open
	// the API of another.
	ClientIDs []string `json:"client_ids,omitempty"`

	// TokenUse is the kind of token accepted: `access` (default), `id` or `any`.
	TokenUse string `json:"token_use,omitempty"`

	// Issuer overrides the derived issuer, e.g. `http://localhost:9229/local_abc` for cognito-local.
	Issuer string `json:"issuer,omitempty"`

	// JWKSURL overrides the derived JWKS URL (`<issuer>/.well-known/jwks.json`).
	JWKSURL string `json:"jwks_url,omitempty"`

	// CheckUserPool, when set, also asks the pool about every access token that verifies (Cognito's
	// GetUser, at the issuer's scheme and host), remembering the answer per token for the interval: a
	// user signed out globally, deleted or disabled is refused (401) within that interval, not at
	// their token's expiry. ID tokens are not asked about (GetUser takes only access tokens): with
	// `token_use any` they pass on their signature alone, and with `token_use id` the check is a
	// configuration error. Default: not asked.
	CheckUserPool *UserPoolCheck `json:"check_user_pool,omitempty"`
}

// UserPoolCheck says how a user pool is asked about access tokens.
type UserPoolCheck struct {
	// Interval is how long an answer is remembered for a token (never past its expiry), e.g. `60s`:
	// between 1s and 1h. Required.
	Interval caddy.Duration `json:"interval"`

	// Timeout bounds one call to the pool. Default: 2s; at most 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// WhenUnavailable is what happens to a token the pool could not be asked about (unreachable,
	// too slow, throttled, an error): `refuse` (default: 503, as when the pool's keys are unavailable)
	// or `allow` (accepted on its signature, and a warning logged).
	WhenUnavailable string `json:"when_unavailable,omitempty"`
}

// IdentityPool is the identity pool whose credentials may sign requests (SigV4).
type IdentityPool struct {
	// ID is the identity pool id, e.g. `us-east-1:0a1b2c3d-...`. Signatures must be scoped to its region.
	ID string `json:"id"`

	// Service is the service name signatures must be scoped to. Default: `execute-api`, as for API
	// Gateway.
	Service string `json:"service,omitempty"`

	// MaxBodyBytes is the largest body read to check a signature's payload hash (bodies are buffered and
	// handed on to the upstream). Larger bodies are refused with 413. Default: 10 MiB, API Gateway's limit.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	// AllowUnsignedPayload accepts `UNSIGNED-PAYLOAD` as the payload hash (S3-style clients): in a signed
	// `x-amz-content-sha256` header (never an unsigned one), or as a presigned URL's payload hash when the
	// request sends no unsigned `x-amz-content-sha256`. Default: off, the body is always covered by the
	// signature.
	AllowUnsignedPayload bool `json:"allow_unsigned_payload,omitempty"`

	// ClockSkew is how far a signature's date may be from the gateway's clock. Default: 5m, as AWS; at
	// most 15m (sigv4.MaxClockSkew).
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// ReplayProtection, when set, refuses a non-idempotent signed request (POST, PATCH...) sent a second
	// time while its signature is still valid. Default: off, as AWS.
	ReplayProtection *ReplayProtection `json:"replay_protection,omitempty"`
}

// OIDCIssuer is an OpenID Connect provider whose tokens are accepted.
type OIDCIssuer struct {
	// Issuer is the exact `iss` of its tokens, e.g. `https://example.eu.auth0.com/`.
	Issuer string `json:"issuer"`

	// Audiences are the accepted `aud` values (at least one).
	Audiences []string `json:"audiences,omitempty"`

	// JWKSURL is where its keys are. Default: the `jwks_uri` of
	// `<issuer>/.well-known/openid-configuration`, discovered in the background.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Algorithms are the accepted signature algorithms. Default: RS256.
	Algorithms []string `json:"algorithms,omitempty"`
}

// gate is a provisioned Config: the authorizer and the shared resources it holds.
type gate struct {
	authz *authorizer.Authorizer
	// tokens is the bearer-token verifier authz uses, for `caddy cognito token`.
	tokens interface {
		Verify(ctx context.Context, token string) (*identity.Identity, error)
	}
	assertion *assertionSigner
	cors      *corsPolicy
	// forward is what an allowed request carries upstream (Forward, ContextHeader).
	forwarded upstream.Forward
	logger    *zap.Logger
	releases  []func()
	// tokenQuery is the query parameter that may carry the bearer token, removed before forwarding.
	tokenQuery string
	// streams closes the requests whose credential expires or is revoked while they are open.
	streams *streamGuard
	// rewriteWarned is set once a rewrite after the decision was logged.
	rewriteWarned atomic.Bool
	// metrics counts the route's decisions; nil counts none (tests that build a gate by hand).
	metrics *routeMetrics
	// revocations is the process's revocation set (checkRevocation).
	revocations *fleet.Revocations
}

// provision builds the authorizer of c. On error, whatever was acquired is released.
func (c *Config) provision(ctx caddy.Context) (*gate, error) {
	if err := c.validate(); err != nil {
		return nil, c.located(err)
	}
	forwarded, err := upstream.NewForward(c.Forward, c.ContextHeader)
	if err != nil {
		// Before anything is acquired: a misspelled header is a configuration error, never a route
		// that silently forwards less.
		return nil, c.located(err)
	}
	g := &gate{logger: ctx.Logger(), tokenQuery: c.TokenQuery, forwarded: forwarded}
	if c.Route != "" {
		g.logger = g.logger.With(zap.String("route", c.Route))
	}
	if err := g.build(ctx, c); err != nil {
		g.cleanup()
		return nil, c.located(err)
	}
	if msg := c.deniesEverySignedRequest(); msg != "" {
		g.logger.Warn(msg, zap.String("identity_pool", c.IdentityPool.ID))
	}
	return g, nil
}

// located prefixes err with where the setting it concerns is written: the line of Lines whose name
// the error begins with (this package and the authorizer name the setting first, as the Caddyfile
// spells it: "user_pool us-east-1_X: ..."), else the route's. The Caddyfile parser only parses, so
// these are all it leaves us to say where the mistake is.
func (c *Config) located(err error) error {
	msg, best := err.Error(), ""
	for name := range c.Lines {
		if len(name) > len(best) && strings.HasPrefix(msg, name) && len(msg) > len(name) &&
			(msg[len(name)] == ':' || msg[len(name)] == ' ') {
			best = name
		}
	}
	switch {
	case best != "":
		return fmt.Errorf("%s: %w", c.Lines[best], err)
	case c.Route != "":
		return fmt.Errorf("%s: %w", c.Route, err)
	}
	return err
}

// deniesEverySignedRequest returns a warning when the built-in policy denies every request signed
// with identity-pool credentials on this route, because no role policy says what they may do; ""
// otherwise.
func (c *Config) deniesEverySignedRequest() string {
	if c.IdentityPool == nil || len(c.RolePolicies) > 0 || c.AllowAnyRole || len(c.Policy) > 0 {
		return ""
	}
	where := "a route"
	if c.Route != "" {
		where = "the route at " + c.Route
	}
	return where + " accepts identity-pool credentials but has no role_policy: every signed request is denied " +
		"(403 AccessDeniedException), guests' included; give its roles a role_policy, or allow_any_role to let every role through"
}

// build creates the authorizer, recording in g what it acquires.
func (g *gate) build(ctx caddy.Context, c *Config) (err error) {
	iss := c.issuers()
	app, err := fleetApp(ctx)
	if err != nil {
		return err
	}
	if app != nil && app.redis != nil {
		// check_user_pool's answers are the fleet's: one instance asks the pool, every other reads it.
		iss.UserVerdicts = app.redis
	}
	tokens, release, err := authorizer.NewTokenVerifier(iss, sharedResources, jwksLogger())
	if err != nil {
		return err
	}
	g.releases = append(g.releases, release)
	g.tokens = tokens
	if g.revocations, release, err = acquireRevocations(); err != nil {
		return err
	}
	g.releases = append(g.releases, release)
	if err := registerMetrics(ctx); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	g.metrics = newRouteMetrics(c.MetricsRoute, c.Shadow)
	cfg := authorizer.Config{Tokens: tokens, AllowAnonymous: c.AllowAnonymous, TokenQuery: c.TokenQuery, TokenCookie: c.TokenCookie,
		Shadow: c.Shadow}
	pc, err := c.policyConfig()
	if err != nil {
		return err
	}
	if cfg.Rules, err = authorizer.NewPolicyRules(pc); err != nil {
		return err
	}
	if c.TokenQuery != "" {
		if cfg.Redaction, err = authorizer.NewRedaction(nil, []string{c.TokenQuery}); err != nil {
			return err
		}
	}
	if cfg.Policy, err = g.acquireEngine(ctx, c); err != nil {
		return err
	}
	if p := c.IdentityPool; p != nil {
		sessions, err := poolCredentials(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("identity_pool %s: %w", p.ID, err)
		}
		region, err := authorizer.PoolRegion(p.ID)
		if err != nil {
			return fmt.Errorf("identity_pool: %w", err)
		}
		opts := sigv4.Options{
			Region: region, Service: p.Service, MaxBodyBytes: p.MaxBodyBytes,
			AllowUnsignedPayload: p.AllowUnsignedPayload, ClockSkew: time.Duration(p.ClockSkew),
		}
		if p.ReplayProtection != nil {
			if err := g.replayProtection(ctx, p, &opts); err != nil {
				return fmt.Errorf("identity_pool %s: %w", p.ID, err)
			}
		}
		signatures, err := sigv4.NewVerifier(sessions.Credential, opts)
		if err != nil {
			return fmt.Errorf("identity_pool %s: %w", p.ID, err)
		}
		cfg.Signatures = signatures
		g.releases = append(g.releases, caches.trackSignatures(signatures, sessions))
	}
	g.authz = authorizer.New(cfg)
	g.cors = newCORSPolicy(c.CORS)
	if !c.Shadow { // shadow mode refuses nothing, streams included
		g.streams = newStreamGuard(c.streamGrace(), g.logger)
		if g.revocations != nil {
			g.streams.revoked = fleetRevocationCheck(g.revocations)
		}
		g.releases = append(g.releases, g.streams.stop)
	}
	if c.Assertion != nil {
		if g.assertion, err = newAssertionSigner(ctx, c.Assertion); err != nil {
			return err
		}
	}
	return nil
}

// validate checks c (nil: no check) for a pool accepting tokenUse.
func (c *UserPoolCheck) validate(tokenUse string) error {
	switch {
	case c == nil:
		return nil
	case tokenUse == "id":
		return errors.New("it asks about access tokens, and token_use id accepts none")
	case time.Duration(c.Interval) < authorizer.MinUserCheckInterval || time.Duration(c.Interval) > authorizer.MaxUserCheckInterval:
		return fmt.Errorf("the interval must be between %v and %v, not %v", authorizer.MinUserCheckInterval, authorizer.MaxUserCheckInterval, time.Duration(c.Interval))
	case c.Timeout < 0 || time.Duration(c.Timeout) > authorizer.MaxUserCheckTimeout:
		return fmt.Errorf("timeout must be between 0 and %v, not %v", authorizer.MaxUserCheckTimeout, time.Duration(c.Timeout))
	}
	switch c.WhenUnavailable {
	case "", "refuse", "allow":
		return nil
	}
	return fmt.Errorf("when_unavailable must be refuse or allow, not %q", c.WhenUnavailable)
}

// library is c as the authorizer takes it.
func (c *UserPoolCheck) library() *authorizer.UserPoolCheck {
	if c == nil {
		return nil
	}
	return &authorizer.UserPoolCheck{Interval: time.Duration(c.Interval), Timeout: time.Duration(c.Timeout),
		AllowUnavailable: c.WhenUnavailable == "allow"}
}

// streamGrace is StreamGrace or its default.
func (c *Config) streamGrace() time.Duration {
	if c.StreamGrace == nil {
		return defaultStreamGrace
	}
	return time.Duration(*c.StreamGrace)
}

// issuers is what c declares about bearer tokens, as the library takes it.
func (c *Config) issuers() authorizer.Issuers {
	iss := authorizer.Issuers{ClockSkew: time.Duration(c.ClockSkew)}
	for _, p := range c.UserPools {
		iss.UserPools = append(iss.UserPools, authorizer.UserPool{ID: p.ID, ClientIDs: p.ClientIDs,
			TokenUse: p.TokenUse, IssuerURL: p.Issuer, JWKSURL: p.JWKSURL, Check: p.CheckUserPool.library()})
	}
	for _, o := range c.OIDC {
		iss.OIDC = append(iss.OIDC, authorizer.OIDCProvider{Issuer: o.Issuer, Audiences: o.Audiences,
			JWKSURL: o.JWKSURL, Algorithms: o.Algorithms})
	}
	return iss
}

// validate checks what provision cannot fix.
func (c *Config) validate() error {
	if len(c.UserPools) == 0 && len(c.OIDC) == 0 && c.IdentityPool == nil && !c.AllowAnonymous {
		return errors.New("no credentials would ever be accepted: configure a user_pool, an oidc issuer or an identity_pool (or allow_anonymous)")
	}
	if p := c.IdentityPool; p != nil {
		if _, err := authorizer.PoolRegion(p.ID); err != nil {
			return fmt.Errorf("identity_pool: %w", err)
		}
		if p.MaxBodyBytes < 0 {
			return fmt.Errorf("identity_pool %s: max_body must be positive", p.ID)
		}
		if p.ClockSkew < 0 || time.Duration(p.ClockSkew) > sigv4.MaxClockSkew {
			return fmt.Errorf("identity_pool %s: clock_skew must be between 0 and %v, not %v", p.ID, sigv4.MaxClockSkew, time.Duration(p.ClockSkew))
		}
	}
	for _, p := range c.UserPools {
		if p.ID == "" {
			return errors.New("user_pool: the pool id is required")
		}
		if len(p.ClientIDs) == 0 {
			return fmt.Errorf("user_pool %s: at least one client_id is required, so that tokens issued to other app clients of the pool are refused", p.ID)
		}
		switch p.TokenUse {
		case "", "access", "id", "any":
		default:
			return fmt.Errorf("user_pool %s: token_use must be access, id or any, not %q", p.ID, p.TokenUse)
		}
		for _, u := range []string{p.Issuer, p.JWKSURL} {
			if err := authorizer.CheckURL(u); err != nil {
				return fmt.Errorf("user_pool %s: %w", p.ID, err)
			}
		}
		if err := p.CheckUserPool.validate(p.TokenUse); err != nil {
			return fmt.Errorf("user_pool %s: check_user_pool: %w", p.ID, err)
		}
	}
	for _, o := range c.OIDC {
		if o.Issuer == "" {
			return errors.New("oidc: the issuer URL is required")
		}
		if len(o.Audiences) == 0 {
			return fmt.Errorf("oidc %s: at least one audience is required", o.Issuer)
		}
		for _, u := range []string{o.Issuer, o.JWKSURL} {
			if err := authorizer.CheckURL(u); err != nil {
				return fmt.Errorf("oidc %s: %w", o.Issuer, err)
			}
		}
	}
	if err := checkRouteLabel(c.MetricsRoute); err != nil {
		return err
	}
	if c.ClockSkew < 0 || time.Duration(c.ClockSkew) > authorizer.MaxClockSkew {
		return fmt.Errorf("clock_skew must be between 0 and %v, not %v", authorizer.MaxClockSkew, time.Duration(c.ClockSkew))
	}
	if c.Assertion != nil {
		if err := c.Assertion.validate(); err != nil {
			return err
		}
	}
	if c.CORS != nil {
		if err := c.CORS.validate(); err != nil {
			return err
		}
	}
	if err := c.validateRolePolicies(); err != nil {
		return err
	}
	for _, rule := range c.Claims {
		if rule.From == authorizer.ClaimFromQuery && c.TokenQuery != "" && strings.EqualFold(rule.Name, c.TokenQuery) {
			return fmt.Errorf("claim %s: query parameter %s carries the token (token_query), so the rule could never hold", rule.Claim, rule.Name)
		}
	}
	if g := c.StreamGrace; g != nil && (*g < 0 || time.Duration(*g) > maxStreamGrace) {
		return fmt.Errorf("stream_grace must be between 0 and %v, not %v", maxStreamGrace, time.Duration(*g))
	}
	if c.TokenQuery != "" && c.TokenCookie != "" {
		// Not ambiguous (the authorizer refuses a request carrying both), but never needed.
		return errors.New("token_query and token_cookie: choose one")
	}
	return nil
}

// sentRequest is r as the client sent it, before Caddy's rewrites: its original method and target, with
// r's header and body. nil when nothing was rewritten.
func sentRequest(r *http.Request) *http.Request {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok || (orig.RequestURI == r.RequestURI && orig.Method == r.Method && orig.URL != nil && *orig.URL == *r.URL) {
		return nil
	}
	sent := *r
	sent.Method, sent.RequestURI, sent.URL = orig.Method, orig.RequestURI, orig.URL
	return &sent
}

// remoteIP is the client IP as Caddy determined it (trusted proxies applied), without a port, as
// authorizer.RemoteIP spells it; r.RemoteAddr when Caddy has not set it.
func remoteIP(r *http.Request) string {
	if addr, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && addr != "" {
		return authorizer.RemoteIP(addr)
	}
	return authorizer.RemoteIP(r.RemoteAddr)
}

func (g *gate) cleanup() {
	for _, release := range g.releases {
		release()
	}
	g.releases = nil
}

// authorize decides r, and counts what is answered. An allowed identity that needs an assertion gets
// it here: a gateway that cannot sign one cannot vouch for the caller, so it answers 503 rather than
// forward an unvouched request.
func (g *gate) authorize(r *http.Request) (*authorizer.Decision, string) {
	d, token := g.decide(r)
	observe(d)
	g.metrics.observe(d)
	return d, token
}

func (g *gate) decide(r *http.Request) (*authorizer.Decision, string) {
	d := g.authz.Authorize(r.Context(), authorizer.Request{HTTP: r, Sent: sentRequest(r), RemoteIP: remoteIP(r)})
	d = g.checkRevocation(d, time.Now())
	if !d.Allow || g.assertion == nil || d.Identity == nil || d.Identity.Kind == identity.KindNone {
		return d, ""
	}
	token, err := g.assertion.assertion(r.Context(), d.Identity)
	if err != nil {
		return &authorizer.Decision{Scheme: d.Scheme, Path: d.Path, Identity: d.Identity,
			Status: http.StatusServiceUnavailable, Message: "Service Unavailable", Reason: err,
			Label: "assertion_unavailable", PolicyTime: d.PolicyTime}, ""
	}
	return d, token
}
