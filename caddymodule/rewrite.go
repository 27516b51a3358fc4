package caddymodule

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

// checkForwardedPath warns when a handler after cognito_authorizer rewrote the path of an allowed
// request: the upstream then received a path the policy never decided on (an allowed /public/x
// rewritten to /admin/x). The authorizer cannot stop a later handler; it sees the change when the
// request comes back, and says so once per configuration. Rewrites belong before the authorizer,
// where Caddy's directive order puts `uri`, `rewrite` and `handle_path`; a `route` block keeps the
// order it is written in.
func (g *gate) checkForwardedPath(r *http.Request, d *authorizer.Decision) {
	forwarded := r.URL.Path
	if forwarded == "" {
		forwarded = "/"
	}
	if d.Path == "" || forwarded == d.Path || !g.rewriteWarned.CompareAndSwap(false, true) {
		return
	}
	g.logger.Warn("the request path was rewritten after cognito_authorizer decided: the upstream received a path the "+
		"policy did not decide on; put uri, rewrite and handle_path before cognito_authorizer (logged once)",
		zap.String("decided_path", d.Path), zap.String("forwarded_path", forwarded), zap.String("method", r.Method))
}
