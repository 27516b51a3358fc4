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
	err := subdirectives(d, "assertion", nil, map[string]func() error{
		"issuer":    func() error { return oneArg(d, &a.Issuer) },
		"audience":  func() error { return oneArg(d, &a.Audience) },
		"ttl":       func() error { return durationArg(d, &a.TTL) },
		"jwks_path": func() error { return oneArg(d, &a.JWKSPath) },
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}
