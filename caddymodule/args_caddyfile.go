package caddymodule

import (
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// What every *_caddyfile.go reads the arguments of a subdirective with. Their errors come from the
// dispenser, so they carry the file and line of the subdirective.

// subdirectives calls read with the name of each subdirective in the block that opens at d's
// current token, and stops at the first error.
func subdirectives(d *caddyfile.Dispenser, read func(name string) error) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := read(d.Val()); err != nil {
			return err
		}
	}
	return nil
}

// onlyOnce returns a check that refuses a subdirective given twice in one block, unless it is one of
// the repeatable ones.
func onlyOnce(d *caddyfile.Dispenser, repeatable ...string) func(name string) error {
	seen := map[string]bool{}
	return func(name string) error {
		if slices.Contains(repeatable, name) {
			return nil
		}
		if seen[name] {
			return d.Errf("%s given twice", name)
		}
		seen[name] = true
		return nil
	}
}

// noArgs reads a subdirective that takes no argument, a flag: it sets *v.
func noArgs(d *caddyfile.Dispenser, v *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*v = true
	return nil
}

// oneArg reads the one argument of the current subdirective into *v.
func oneArg(d *caddyfile.Dispenser, v *string) error {
	if !d.AllArgs(v) {
		return d.ArgErr()
	}
	return nil
}

// someArgs appends the arguments of the current subdirective, at least one, to *v.
func someArgs(d *caddyfile.Dispenser, v *[]string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("wrong argument count: %s needs at least one argument", name)
	}
	*v = append(*v, args...)
	return nil
}

// durationArg reads the one argument of the current subdirective, a duration such as 90s or 1h30m,
// into *v.
func durationArg(d *caddyfile.Dispenser, v *caddy.Duration) error {
	name := d.Val()
	var arg string
	if err := oneArg(d, &arg); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil {
		return d.Errf("%s: %v", name, err)
	}
	*v = caddy.Duration(dur)
	return nil
}
