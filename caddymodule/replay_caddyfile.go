package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshalReplayProtection reads `replay_protection [<max_entries>]`.
func unmarshalReplayProtection(d *caddyfile.Dispenser) (*ReplayProtection, error) {
	p := new(ReplayProtection)
	if d.NextArg() {
		n, err := strconv.Atoi(d.Val())
		if err != nil || n < 1 || n > 100_000_000 {
			return nil, d.Errf("replay_protection: %q is not a number of entries between 1 and 100000000", d.Val())
		}
		p.MaxEntries = n
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	if d.NextBlock(d.Nesting()) {
		return nil, d.Err("replay_protection takes no block")
	}
	return p, nil
}
