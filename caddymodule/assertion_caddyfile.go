package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// unmarshalAssertion reads `assertion [<header>] [{ issuer, audience, ttl, jwks_path }]`.
func unmarshalAssertion(d *caddyfile.Dispenser) (*Assertion, error) {
	a := new(Assertion)
	if d.NextArg() {
		a.Header = d.Val()
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	err := subdirectives(d, func(name string) error {
		switch name {
		case "issuer":
			return oneArg(d, &a.Issuer)
		case "audience":
			return oneArg(d, &a.Audience)
		case "ttl":
			return durationArg(d, &a.TTL)
		case "jwks_path":
			return oneArg(d, &a.JWKSPath)
		}
		return d.Errf("unrecognized assertion subdirective %q", name)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}
