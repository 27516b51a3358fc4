package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// unmarshalForward reads `forward <header>...|all`: the X-Cognito-* headers sent upstream besides the
// default ones. A name the gateway does not set is refused here, at its place, with the header it was
// probably meant to be.
func unmarshalForward(d *caddyfile.Dispenser, names *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("forward needs header names (%s) or all", strings.Join(upstream.ForwardableHeaders(), ", "))
	}
	for _, name := range args {
		if name == upstream.All {
			if len(args) > 1 {
				return d.Err("forward all names every header: give it alone")
			}
			continue
		}
		if _, err := upstream.NewForward([]string{name}, false); err != nil {
			if s := closestHeader(name); s != "" {
				return d.Errf("forward: unknown header %q (did you mean %s?)", name, s)
			}
			if http.CanonicalHeaderKey(name) == upstream.HeaderContext {
				return d.Errf("forward: %s is sent with context_header on", upstream.HeaderContext)
			}
			return d.Errf("forward: unknown header %q: the gateway forwards %s", name, strings.Join(upstream.ForwardableHeaders(), ", "))
		}
	}
	*names = append(*names, args...)
	return nil
}

// closestHeader is the forwardable header name is probably a misspelling of, or the header of a short
// name (username for X-Cognito-Username); "" when none is close.
func closestHeader(name string) string {
	headers := upstream.ForwardableHeaders()
	lower := make([]string, len(headers))
	for i, h := range headers {
		lower[i] = strings.ToLower(h)
	}
	n := strings.ToLower(name)
	if !strings.HasPrefix(n, "x-cognito-") {
		n = "x-cognito-" + strings.ReplaceAll(n, "_", "-")
	}
	if n == strings.ToLower(upstream.HeaderContext) {
		return ""
	}
	s := closestName(n, lower)
	for i, l := range lower {
		if l == s {
			return headers[i]
		}
	}
	return ""
}
