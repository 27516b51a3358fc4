package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

func init() {
	caddy.RegisterModule(Provider{})
}

// Provider is the `cognito` provider of Caddy's `authentication` handler, for configurations that
// compose several providers there. It verifies credentials like `cognito_authorizer` and sets the same
// upstream headers and placeholders, plus `{http.auth.user.*}` (kind, sub, username, groups, scopes,
// client_id, identity_id, identity_pool_id, role_arn).
//
// Caddy's authentication handler owns the response: every refusal is its 401 (with the provider's
// WWW-Authenticate challenge). Use `cognito_authorizer` when you need 403 and 503 to be told apart.
type Provider struct {
	Config

	gate *gate
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.cognito",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision sets up the authorizer, as Handler.Provision does.
func (p *Provider) Provision(ctx caddy.Context) error {
	g, err := p.Config.provision(ctx)
	if err != nil {
		return err
	}
	p.gate = g
	return nil
}

// Cleanup releases the shared key sets and caches.
func (p *Provider) Cleanup() error {
	if p.gate != nil {
		p.gate.cleanup()
	}
	return nil
}

// Authenticate verifies the request's credentials.
func (p *Provider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	if isPreflight(r) {
		upstream.StripHeaders(r.Header)
		return caddyauth.User{}, true, nil
	}
	d, assertion := p.gate.authorize(r)
	if !d.Allow {
		requestID := p.gate.refused(r, d)
		upstream.StripHeaders(r.Header)
		// Every refusal is the authentication handler's 401: on a route that accepts bearer tokens it
		// challenges for one even where cognito_authorizer would answer 403 or 503.
		challenge := d.Challenge
		if challenge == "" && d.Scheme != authorizer.SchemeSigV4 && (len(p.UserPools) > 0 || len(p.OIDC) > 0) {
			challenge = "Bearer"
		}
		if challenge != "" {
			w.Header().Set("WWW-Authenticate", challenge)
		}
		w.Header().Set("X-Amzn-RequestId", requestID)
		return caddyauth.User{}, false, nil
	}
	if d.Shadow {
		p.gate.logDeny(r, d, refusalID(r))
	}
	p.gate.forward(r, d, assertion)
	id := d.Identity
	if id == nil {
		id = identity.Anonymous()
	}
	return caddyauth.User{ID: upstream.UserID(id), Metadata: upstream.Metadata(id)}, true, nil
}

// Interface guards.
var (
	_ caddy.Provisioner       = (*Provider)(nil)
	_ caddy.CleanerUpper      = (*Provider)(nil)
	_ caddyauth.Authenticator = (*Provider)(nil)
)
