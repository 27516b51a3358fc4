package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
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
//			check_user_pool <interval> {
//				timeout <duration>
//				when_unavailable refuse|allow
//			}
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
//		stream_grace <duration>
//		token_query <name>
//		token_cookie <name>
//		metrics_route <name>
//		forward <header>...|all
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

// setLine records that the setting an error would call name is written at place.
func (c *Config) setLine(name, place string) {
	if c.Lines == nil {
		c.Lines = map[string]string{}
	}
	c.Lines[name] = place
}

// place is where the dispenser's current token is: <file>:<line>.
func place(d *caddyfile.Dispenser) string {
	return fmt.Sprintf("%s:%d", d.File(), d.Line())
}

// unmarshalBlock reads the subdirectives shared by the handler and the authentication provider.
func (c *Config) unmarshalBlock(d *caddyfile.Dispenser) error {
	once := onlyOnce(d, "user_pool", "oidc", "groups", "scopes", "claim", "role_policy", "policy")
	return subdirectives(d, "", once, map[string]func() error{
		"user_pool": func() error {
			at := place(d)
			p, err := unmarshalUserPool(d)
			c.UserPools = append(c.UserPools, p)
			c.setLine("user_pool "+p.ID, at)
			return err
		},
		"oidc": func() error {
			at := place(d)
			o, err := unmarshalOIDC(d)
			c.OIDC = append(c.OIDC, o)
			c.setLine("oidc "+o.Issuer, at)
			return err
		},
		"identity_pool": func() (err error) {
			c.setLine("identity_pool", place(d))
			c.IdentityPool, err = unmarshalIdentityPool(d)
			return err
		},
		"allow_anonymous": func() error { return noArgs(d, &c.AllowAnonymous) },
		"allow_any_role":  func() error { return noArgs(d, &c.AllowAnyRole) },
		"shadow":          func() error { return noArgs(d, &c.Shadow) },
		"clock_skew":      func() error { return durationArg(d, &c.ClockSkew) },
		"token_query":     func() error { return oneArg(d, &c.TokenQuery) },
		"token_cookie":    func() error { return oneArg(d, &c.TokenCookie) },
		"decision":        func() error { return oneArg(d, &c.Decision) },
		"metrics_route":   func() error { return oneArg(d, &c.MetricsRoute) },
		"opa_config": func() error {
			c.setLine("opa_config", place(d))
			return oneArg(d, &c.OPAConfigFile)
		},
		"context_header": func() error {
			var v string
			if !d.AllArgs(&v) || (v != "on" && v != "off") {
				return d.Err("context_header takes one argument: on or off")
			}
			c.ContextHeader = v == "on"
			return nil
		},
		"forward": func() error { return unmarshalForward(d, &c.Forward) },
		"cors": func() (err error) {
			c.CORS, err = unmarshalCORS(d)
			return err
		},
		"assertion": func() (err error) {
			c.Assertion, err = unmarshalAssertion(d)
			return err
		},
		"groups": func() error { return someArgs(d, &c.Groups) },
		"scopes": func() error { return someArgs(d, &c.Scopes) },
		"claim": func() error {
			rule, err := authorizer.ParseClaimRule(d.RemainingArgs())
			if err != nil {
				return d.Errf("claim: %v", err)
			}
			c.Claims = append(c.Claims, rule)
			return nil
		},
		"role_policy": func() error {
			at := place(d)
			rp, err := unmarshalRolePolicy(d)
			c.RolePolicies = append(c.RolePolicies, rp)
			c.setLine("role_policy "+rp.RoleARN, at)
			return err
		},
		"execute_api": func() (err error) {
			c.ExecuteAPI, err = unmarshalExecuteAPI(d)
			return err
		},
		"policy": func() error {
			c.setLine("policy", place(d))
			paths := d.RemainingArgs()
			if len(paths) == 0 {
				return d.Err("policy needs at least one Rego file, directory or bundle (.tar.gz)")
			}
			c.Policy = append(c.Policy, paths...)
			return nil
		},
		"stream_grace": func() error {
			c.StreamGrace = new(caddy.Duration)
			return durationArg(d, c.StreamGrace)
		},
	})
}

func unmarshalUserPool(d *caddyfile.Dispenser) (UserPool, error) {
	var p UserPool
	if !d.AllArgs(&p.ID) {
		return p, d.Err("user_pool needs exactly one argument: the user pool id, e.g. us-east-1_AbC123")
	}
	err := subdirectives(d, "user_pool", nil, map[string]func() error{
		"client_id": func() error { return someArgs(d, &p.ClientIDs) },
		"token_use": func() error { return oneArg(d, &p.TokenUse) },
		"issuer":    func() error { return oneArg(d, &p.Issuer) },
		"jwks_url":  func() error { return oneArg(d, &p.JWKSURL) },
		"check_user_pool": func() (err error) {
			p.CheckUserPool, err = unmarshalUserPoolCheck(d)
			return err
		},
	})
	return p, err
}

// unmarshalUserPoolCheck reads `check_user_pool <interval> [{ timeout <d>; when_unavailable refuse|allow }]`.
func unmarshalUserPoolCheck(d *caddyfile.Dispenser) (*UserPoolCheck, error) {
	c := new(UserPoolCheck)
	if err := durationArg(d, &c.Interval); err != nil {
		return nil, err
	}
	err := subdirectives(d, "check_user_pool", nil, map[string]func() error{
		"timeout": func() error { return durationArg(d, &c.Timeout) },
		"when_unavailable": func() error {
			if err := oneArg(d, &c.WhenUnavailable); err != nil {
				return err
			}
			if c.WhenUnavailable != "refuse" && c.WhenUnavailable != "allow" {
				return d.Errf("when_unavailable must be refuse or allow, not %q", c.WhenUnavailable)
			}
			return nil
		},
	})
	return c, err
}

func unmarshalOIDC(d *caddyfile.Dispenser) (OIDCIssuer, error) {
	var o OIDCIssuer
	if !d.AllArgs(&o.Issuer) {
		return o, d.Err("oidc needs exactly one argument: the issuer URL (an environment variable left unset?)")
	}
	err := subdirectives(d, "oidc", nil, map[string]func() error{
		"audience": func() error {
			auds := d.RemainingArgs()
			if len(auds) == 0 {
				return d.Errf("oidc %s: audience needs at least one value (an environment variable left unset?)", o.Issuer)
			}
			o.Audiences = append(o.Audiences, auds...)
			return nil
		},
		"jwks_url":   func() error { return oneArg(d, &o.JWKSURL) },
		"algorithms": func() error { return someArgs(d, &o.Algorithms) },
	})
	return o, err
}

func unmarshalIdentityPool(d *caddyfile.Dispenser) (*IdentityPool, error) {
	p := new(IdentityPool)
	if !d.AllArgs(&p.ID) {
		return nil, d.Err("identity_pool needs exactly one argument: the identity pool id, e.g. us-east-1:0a1b2c3d-...")
	}
	err := subdirectives(d, "identity_pool", nil, map[string]func() error{
		"service": func() error { return oneArg(d, &p.Service) },
		"max_body": func() error {
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size == 0 || size > 1<<30 {
				return d.Errf("identity_pool max_body: %q is not a size between 1B and 1GiB", v)
			}
			p.MaxBodyBytes = int64(size)
			return nil
		},
		"unsigned_payload": func() error { return noArgs(d, &p.AllowUnsignedPayload) },
		"clock_skew":       func() error { return durationArg(d, &p.ClockSkew) },
		"replay_protection": func() (err error) {
			p.ReplayProtection, err = unmarshalReplayProtection(d)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
