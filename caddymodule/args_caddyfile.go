package caddymodule

import (
	"maps"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// What every *_caddyfile.go reads the arguments of a subdirective with. Their errors come from the
// dispenser, so they carry the file and line of the subdirective.

// subdirectives reads the block that opens at d's current token: for each subdirective it runs check,
// when there is one, and then the reader the table holds under its name. It stops at the first error.
// The table is the block's whole grammar, so the names a misspelling is compared with are the ones the
// block accepts. block names the block in the error about an unknown subdirective, e.g. "user_pool";
// empty for the top level of a directive.
func subdirectives(d *caddyfile.Dispenser, block string, check func(name string) error, table map[string]func() error) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		read, ok := table[name]
		if !ok {
			return unknownSubdirective(d, block, name, slices.Collect(maps.Keys(table)))
		}
		if check != nil {
			if err := check(name); err != nil {
				return err
			}
		}
		if err := read(); err != nil {
			return err
		}
	}
	return nil
}

// unknownSubdirective is the error for a subdirective name the block does not know, at the dispenser's
// place, with the closest known name when one is close enough to be a misspelling of it.
func unknownSubdirective(d *caddyfile.Dispenser, block, name string, known []string) error {
	what := "subdirective"
	if block != "" {
		what = block + " subdirective"
	}
	if s := closestName(name, known); s != "" {
		return d.Errf("unrecognized %s %q (did you mean %s?)", what, name, s)
	}
	return d.Errf("unrecognized %s %q", what, name)
}

// closestName is the known name nearest to name: within two edits (an insertion, a deletion, a
// substitution or a swap of neighbours), or else one that starts with name or that name starts with
// (client for client_id). Empty when none is. Ties go to the alphabetically first, so the suggestion
// does not depend on map order.
func closestName(name string, known []string) string {
	const maxEdits = 2
	const minPrefix = 3
	known = slices.Sorted(slices.Values(known))
	best, bestDist := "", maxEdits+1
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return best
	}
	if len(name) < minPrefix {
		return ""
	}
	for _, k := range known {
		if strings.HasPrefix(k, name) || (len(k) >= minPrefix && strings.HasPrefix(name, k)) {
			return k
		}
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b: the Levenshtein distance
// with a swap of two neighbouring bytes counted as one edit, the commonest typing slip. Subdirective
// names are ASCII, so bytes are characters.
func editDistance(a, b string) int {
	// Three rows of the dynamic programming table: the swap looks two rows back.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
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
