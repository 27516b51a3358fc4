package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// unmarshalCORS reads `cors <origin>... [{ headers <name>...; max_age <duration> }]`.
func unmarshalCORS(d *caddyfile.Dispenser) (*CORS, error) {
	c := &CORS{Origins: d.RemainingArgs()}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "origins":
			c.Origins = append(c.Origins, d.RemainingArgs()...)
		case "headers":
			err = someArgs(d, &c.Headers)
		case "max_age":
			err = durationArg(d, &c.MaxAge)
		default:
			err = d.Errf("unrecognized cors subdirective %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
