package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("cognito_authorizer", parseHandler)
	// After basic_auth, like the other authentication handlers, and after rewrite and uri, so the
	// decision is made on the path the upstream receives.
	httpcaddyfile.RegisterDirectiveOrder("cognito_authorizer", httpcaddyfile.After, "basic_auth")
}

func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	cognito_authorizer [<matcher>] {
//		user_pool <user_pool_id> {
//			client_id <id>...
//			token_use access|id|any
//			issuer <url>
//			jwks_url <url>
//		}
//		oidc <issuer_url> {
//			audience <aud>...
//			jwks_url <url>
//			algorithms <alg>...
//		}
//		identity_pool <identity_pool_id> {
//			service <name>
//			max_body <size>
//			unsigned_payload
//			clock_skew <duration>
//			replay_protection [<max_entries>]
//		}
//		groups <group>...
//		scopes <scope>...
//		claim <claim> segment <index> | header <name> | query <name> | value <value>...
//		role_policy <role_arn> <file.json>...
//		execute_api <account> [<api_id> [<stage>]]
//		allow_any_role
//		policy <file|dir|bundle.tar.gz>...
//		decision <ref>
//		opa_config <file>
//		shadow
//		allow_anonymous
//		clock_skew <duration>
//		token_query <name>
//		token_cookie <name>
//		context_header on|off
//		cors <origin>... {
//			headers <name>...
//			max_age <duration>
//		}
//		assertion [<header>] {
//			issuer <iss>
//			audience <aud>
//			ttl <duration>
//			jwks_path <path>
//		}
//	}
//
// A route with an identity_pool but no role_policy denies every signed request (403
// AccessDeniedException) and is warned about at start; allow_any_role lets every role through instead.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	h.Route = place(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	return h.Config.unmarshalBlock(d)
}

// place is where the dispenser's current token is: <file>:<line>.
func place(d *caddyfile.Dispenser) string {
	return fmt.Sprintf("%s:%d", d.File(), d.Line())
}

// unmarshalBlock reads the subdirectives shared by the handler and the authentication provider.
func (c *Config) unmarshalBlock(d *caddyfile.Dispenser) error {
	once := onlyOnce(d)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		switch name {
		case "user_pool":
			p, err := unmarshalUserPool(d)
			if err != nil {
				return err
			}
			c.UserPools = append(c.UserPools, p)
		case "oidc":
			o, err := unmarshalOIDC(d)
			if err != nil {
				return err
			}
			c.OIDC = append(c.OIDC, o)
		case "allow_anonymous", "allow_any_role":
			if err := once(name); err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if name == "allow_anonymous" {
				c.AllowAnonymous = true
			} else {
				c.AllowAnyRole = true
			}
		case "clock_skew":
			if err := once(name); err != nil {
				return err
			}
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("clock_skew: %v", err)
			}
			if dur < 0 || dur > 10*time.Minute {
				return d.Errf("clock_skew must be between 0 and 10m, not %s", v)
			}
			c.ClockSkew = caddy.Duration(dur)
		case "token_query", "token_cookie":
			if err := once(name); err != nil {
				return err
			}
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			if name == "token_query" {
				c.TokenQuery = v
			} else {
				c.TokenCookie = v
			}
		case "context_header":
			if err := once(name); err != nil {
				return err
			}
			var v string
			if !d.AllArgs(&v) || (v != "on" && v != "off") {
				return d.Err("context_header takes one argument: on or off")
			}
			c.NoContextHeader = v == "off"
		case "cors":
			if err := once(name); err != nil {
				return err
			}
			cors, err := unmarshalCORS(d)
			if err != nil {
				return err
			}
			c.CORS = cors
		case "assertion":
			if err := once(name); err != nil {
				return err
			}
			a, err := unmarshalAssertion(d)
			if err != nil {
				return err
			}
			c.Assertion = a
		case "identity_pool":
			if err := once(name); err != nil {
				return err
			}
			p, err := unmarshalIdentityPool(d)
			if err != nil {
				return err
			}
			c.IdentityPool = p
		case "groups", "scopes":
			values := d.RemainingArgs()
			if len(values) == 0 {
				return d.Errf("%s needs at least one argument", name)
			}
			if name == "groups" {
				c.Groups = append(c.Groups, values...)
			} else {
				c.Scopes = append(c.Scopes, values...)
			}
		case "claim":
			rule, err := policy.ParseClaimRule(d.RemainingArgs())
			if err != nil {
				return d.Errf("claim: %v", err)
			}
			c.Claims = append(c.Claims, rule)
		case "role_policy":
			rp, err := unmarshalRolePolicy(d)
			if err != nil {
				return err
			}
			c.RolePolicies = append(c.RolePolicies, rp)
		case "execute_api":
			if err := once(name); err != nil {
				return err
			}
			e, err := unmarshalExecuteAPI(d)
			if err != nil {
				return err
			}
			c.ExecuteAPI = e
		case "policy":
			paths := d.RemainingArgs()
			if len(paths) == 0 {
				return d.Err("policy needs at least one Rego file, directory or bundle (.tar.gz)")
			}
			c.Policy = append(c.Policy, paths...)
		case "decision", "opa_config":
			if err := once(name); err != nil {
				return err
			}
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			if name == "decision" {
				c.Decision = v
			} else {
				c.OPAConfigFile = v
			}
		case "shadow":
			if err := once(name); err != nil {
				return err
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			c.Shadow = true
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
	}
	return nil
}

// onlyOnce returns a check that refuses a subdirective given twice in one block.
func onlyOnce(d *caddyfile.Dispenser) func(name string) error {
	seen := map[string]bool{}
	return func(name string) error {
		if seen[name] {
			return d.Errf("%s given twice", name)
		}
		seen[name] = true
		return nil
	}
}

func unmarshalUserPool(d *caddyfile.Dispenser) (UserPool, error) {
	var p UserPool
	if !d.AllArgs(&p.ID) {
		return p, d.Err("user_pool needs exactly one argument: the user pool id, e.g. us-east-1_AbC123")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "client_id":
			ids := d.RemainingArgs()
			if len(ids) == 0 {
				return p, d.ArgErr()
			}
			p.ClientIDs = append(p.ClientIDs, ids...)
		case "token_use":
			if !d.AllArgs(&p.TokenUse) {
				return p, d.ArgErr()
			}
			switch p.TokenUse {
			case "access", "id", "any":
			default:
				return p, d.Errf("token_use must be access, id or any, not %q", p.TokenUse)
			}
		case "issuer":
			if !d.AllArgs(&p.Issuer) {
				return p, d.ArgErr()
			}
		case "jwks_url":
			if !d.AllArgs(&p.JWKSURL) {
				return p, d.ArgErr()
			}
		default:
			return p, d.Errf("unrecognized user_pool subdirective %q", d.Val())
		}
	}
	if len(p.ClientIDs) == 0 {
		return p, d.Errf("user_pool %s: at least one client_id is required", p.ID)
	}
	return p, nil
}

func unmarshalOIDC(d *caddyfile.Dispenser) (OIDCIssuer, error) {
	var o OIDCIssuer
	if !d.AllArgs(&o.Issuer) {
		return o, d.Err("oidc needs exactly one argument: the issuer URL (an environment variable left unset?)")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "audience":
			auds := d.RemainingArgs()
			if len(auds) == 0 {
				return o, d.Errf("oidc %s: audience needs at least one value (an environment variable left unset?)", o.Issuer)
			}
			o.Audiences = append(o.Audiences, auds...)
		case "jwks_url":
			if !d.AllArgs(&o.JWKSURL) {
				return o, d.ArgErr()
			}
		case "algorithms":
			algs := d.RemainingArgs()
			if len(algs) == 0 {
				return o, d.ArgErr()
			}
			o.Algorithms = append(o.Algorithms, algs...)
		default:
			return o, d.Errf("unrecognized oidc subdirective %q", d.Val())
		}
	}
	if len(o.Audiences) == 0 {
		return o, d.Errf("oidc %s: at least one audience is required", o.Issuer)
	}
	return o, nil
}

func unmarshalIdentityPool(d *caddyfile.Dispenser) (*IdentityPool, error) {
	p := new(IdentityPool)
	if !d.AllArgs(&p.ID) {
		return nil, d.Err("identity_pool needs exactly one argument: the identity pool id, e.g. us-east-1:0a1b2c3d-...")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "service":
			if !d.AllArgs(&p.Service) {
				return nil, d.ArgErr()
			}
		case "max_body":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 || size > 1<<30 {
				return nil, d.Errf("identity_pool max_body: %q is not a size between 1B and 1GiB", v)
			}
			p.MaxBodyBytes = int64(size)
		case "unsigned_payload":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			p.AllowUnsignedPayload = true
		case "clock_skew":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur < 0 || dur > 15*time.Minute {
				return nil, d.Errf("identity_pool clock_skew must be a duration between 0 and 15m, not %q", v)
			}
			p.ClockSkew = caddy.Duration(dur)
		case "replay_protection":
			rp, err := unmarshalReplayProtection(d)
			if err != nil {
				return nil, err
			}
			p.ReplayProtection = rp
		default:
			return nil, d.Errf("unrecognized identity_pool subdirective %q", d.Val())
		}
	}
	return p, nil
}

func unmarshalAssertion(d *caddyfile.Dispenser) (*Assertion, error) {
	a := new(Assertion)
	if d.NextArg() {
		a.Header = d.Val()
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "issuer":
			if !d.AllArgs(&a.Issuer) {
				return nil, d.ArgErr()
			}
		case "audience":
			if !d.AllArgs(&a.Audience) {
				return nil, d.ArgErr()
			}
		case "ttl":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return nil, d.Errf("assertion ttl: %v", err)
			}
			a.TTL = caddy.Duration(dur)
		case "jwks_path":
			if !d.AllArgs(&a.JWKSPath) {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unrecognized assertion subdirective %q", d.Val())
		}
	}
	if err := a.validate(); err != nil {
		return nil, d.Err(err.Error())
	}
	return a, nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
