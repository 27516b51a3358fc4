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
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "issuer":
			err = oneArg(d, &a.Issuer)
		case "audience":
			err = oneArg(d, &a.Audience)
		case "ttl":
			err = durationArg(d, &a.TTL)
		case "jwks_path":
			err = oneArg(d, &a.JWKSPath)
		default:
			err = d.Errf("unrecognized assertion subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}
