package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("cognito_identity_pool", parseIdentityPool)
	// Before the authentication handlers (and so before cognito_authorizer): clients call the pool to get
	// credentials, so they have none yet.
	httpcaddyfile.RegisterDirectiveOrder("cognito_identity_pool", httpcaddyfile.Before, "basic_auth")
}

func parseIdentityPool(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler IdentityPoolEndpoint
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	cognito_identity_pool [<matcher>] <identity_pool_id> {
//		login <provider_name> {
//			client_id <id>...
//			audience <aud>...
//			issuer <url>
//			jwks_url <url>
//			algorithms <alg>...
//		}
//		authenticated_role <role_arn>
//		unauthenticated_role <role_arn>
//		role_mapping <provider_name> token|rules {
//			rule <claim> equals|contains|starts_with|not_equal <value> <role_arn>
//			ambiguous authenticated_role|deny
//		}
//		principal_tag <tag> <claim>
//		credentials_ttl <duration>
//		issuer <url>
//		cors <origin>... {
//			headers <name>...
//			max_age <duration>
//		}
//	}
//
// The handler answers every request it gets, so give it a matcher that covers the endpoint path and what
// lies below it. Among a site's other directives, its order puts it before cognito_authorizer:
//
//	api.example.com {
//		cognito_identity_pool /identity* us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4 {
//			...
//		}
//		cognito_authorizer {
//			...
//		}
//		reverse_proxy backend:8080
//	}
//
// With `handle` blocks, which run after the authentication directives of the site, keep
// cognito_authorizer inside the API's block, or it would demand credentials of clients coming for them:
//
//	handle /identity* {
//		cognito_identity_pool us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4 { ... }
//	}
//	handle {
//		cognito_authorizer { ... }
//		reverse_proxy backend:8080
//	}
func (h *IdentityPoolEndpoint) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	h.Route = place(d)
	if !d.AllArgs(&h.IdentityPoolID) {
		return d.Err("cognito_identity_pool needs exactly one argument: the identity pool id, e.g. us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4")
	}
	once := onlyOnce(d, "login", "role_mapping", "principal_tag")
	return subdirectives(d, "cognito_identity_pool", once, map[string]func() error{
		"cors": func() (err error) {
			h.CORS, err = unmarshalCORS(d)
			return err
		},
		"login": func() error {
			l, err := unmarshalLogin(d)
			h.Logins = append(h.Logins, l)
			return err
		},
		"authenticated_role":   func() error { return oneArg(d, &h.AuthenticatedRole) },
		"unauthenticated_role": func() error { return oneArg(d, &h.UnauthenticatedRole) },
		"issuer":               func() error { return oneArg(d, &h.Issuer) },
		"role_mapping": func() error {
			provider, m, err := unmarshalRoleMapping(d)
			if err != nil {
				return err
			}
			if _, dup := h.RoleMappings[provider]; dup {
				return d.Errf("role_mapping %s given twice", provider)
			}
			if h.RoleMappings == nil {
				h.RoleMappings = map[string]RoleMapping{}
			}
			h.RoleMappings[provider] = m
			return nil
		},
		"principal_tag": func() error {
			var tag, claim string
			if !d.AllArgs(&tag, &claim) {
				return d.Err("principal_tag needs two arguments: the tag name and the claim it takes its value from")
			}
			if _, dup := h.PrincipalTags[tag]; dup {
				return d.Errf("principal_tag %s given twice", tag)
			}
			if h.PrincipalTags == nil {
				h.PrincipalTags = map[string]string{}
			}
			h.PrincipalTags[tag] = claim
			return nil
		},
		"credentials_ttl": func() error {
			if err := durationArg(d, &h.CredentialsTTL); err != nil {
				return err
			}
			if h.CredentialsTTL <= 0 {
				return d.Errf("credentials_ttl must be positive, not %s", time.Duration(h.CredentialsTTL))
			}
			return nil
		},
	})
}

func unmarshalLogin(d *caddyfile.Dispenser) (Login, error) {
	var l Login
	if !d.AllArgs(&l.Provider) {
		return l, d.Err("login needs exactly one argument: the provider name, e.g. cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123")
	}
	clientIDs := func() error { return someArgs(d, &l.ClientIDs) }
	err := subdirectives(d, "login", nil, map[string]func() error{
		"client_id":  clientIDs,
		"audience":   clientIDs,
		"issuer":     func() error { return oneArg(d, &l.Issuer) },
		"jwks_url":   func() error { return oneArg(d, &l.JWKSURL) },
		"algorithms": func() error { return someArgs(d, &l.Algorithms) },
	})
	if err != nil {
		return l, err
	}
	if len(l.ClientIDs) == 0 {
		return l, d.Errf("login %s: at least one client_id (or audience) is required", l.Provider)
	}
	return l, nil
}

func unmarshalRoleMapping(d *caddyfile.Dispenser) (string, RoleMapping, error) {
	var provider string
	var m RoleMapping
	if !d.AllArgs(&provider, &m.Type) {
		return "", m, d.Err("role_mapping needs two arguments: the provider name and the mapping type, token or rules")
	}
	if m.Type != "token" && m.Type != "rules" {
		return "", m, d.Errf("role_mapping type must be token or rules, not %q", m.Type)
	}
	once := onlyOnce(d, "rule")
	err := subdirectives(d, "role_mapping", once, map[string]func() error{
		"rule": func() error {
			if m.Type != "rules" {
				return d.Err("a token role_mapping takes no rules: the role comes from the login token")
			}
			var r MappingRule
			if !d.AllArgs(&r.Claim, &r.Match, &r.Value, &r.RoleARN) {
				return d.Err("rule needs four arguments: <claim> equals|contains|starts_with|not_equal <value> <role_arn>")
			}
			if !authorizer.ValidMatch(r.Match) {
				return d.Errf("rule match must be equals, contains, starts_with or not_equal, not %q", r.Match)
			}
			m.Rules = append(m.Rules, r)
			return nil
		},
		"ambiguous": func() error {
			if err := oneArg(d, &m.Ambiguous); err != nil {
				return err
			}
			if m.Ambiguous != "authenticated_role" && m.Ambiguous != "deny" {
				return d.Errf("ambiguous must be authenticated_role or deny, not %q", m.Ambiguous)
			}
			return nil
		},
	})
	if err != nil {
		return "", m, err
	}
	if m.Type == "rules" && len(m.Rules) == 0 {
		return "", m, d.Errf("role_mapping %s rules: at least one rule is required", provider)
	}
	return provider, m, nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*IdentityPoolEndpoint)(nil)
