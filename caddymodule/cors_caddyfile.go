package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// unmarshalCORS reads `cors <origin>... [{ headers <name>...; max_age <duration> }]`.
func unmarshalCORS(d *caddyfile.Dispenser) (*CORS, error) {
	c := &CORS{Origins: d.RemainingArgs()}
	err := subdirectives(d, "cors", nil, map[string]func() error{
		"origins": func() error {
			c.Origins = append(c.Origins, d.RemainingArgs()...)
			return nil
		},
		"headers": func() error { return someArgs(d, &c.Headers) },
		"max_age": func() error { return durationArg(d, &c.MaxAge) },
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
