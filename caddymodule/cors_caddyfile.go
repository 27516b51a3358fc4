package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// unmarshalCORS reads `cors <origin>... [{ headers <name>...; max_age <duration> }]`.
func unmarshalCORS(d *caddyfile.Dispenser) (*CORS, error) {
	c := &CORS{Origins: d.RemainingArgs()}
	err := subdirectives(d, func(name string) error {
		switch name {
		case "origins":
			c.Origins = append(c.Origins, d.RemainingArgs()...)
			return nil
		case "headers":
			return someArgs(d, &c.Headers)
		case "max_age":
			return durationArg(d, &c.MaxAge)
		}
		return d.Errf("unrecognized cors subdirective %q", name)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
