// Package caddymodule adapts the authorizer to Caddy: it registers the `cognito_authorizer` handler,
// the `cognito` authentication provider and their Caddyfile directives, provisions the authorizer from
// their configuration, and turns each decision into upstream headers and placeholders or an error
// response.
package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `cognito_authorizer` HTTP handler: it verifies the credentials of every request
// (Cognito user-pool and OIDC bearer tokens), decides, and either forwards the request with the
// caller's identity (headers, placeholders) or answers with an error.
//
// On allow, every `X-Cognito-*` header the client sent is removed and the gateway's own are set: by
// default `X-Cognito-Sub` and `X-Cognito-Groups` (token callers) or `X-Cognito-Identity-Id`
// (identity-pool callers), the others as `forward` names them, `X-Cognito-Context` with
// `context_header on`; the placeholders `{http.auth.user.id}` and `{cognito.*}` are all available.
//
// On deny: 401 with `WWW-Authenticate: Bearer` when there are no credentials or they are invalid (on a
// route that accepts bearer tokens: one that accepts only SigV4 answers 403 as API Gateway does), 403
// when the caller may not have the resource, 503 when the gateway cannot decide (keys never fetched,
// no policy loaded, an assertion it cannot sign), with a JSON body `{"message": "..."}`. The reason goes to the log, never to the client. If the server
// has `handle_errors` routes, the error is handed to them instead, with `{cognito.error.code}`,
// `{cognito.error.message}` and `{cognito.error.request_id}` set. Every refusal carries a request id (Caddy's
// request UUID) in X-Amzn-RequestId, the body and the denial log line.
//
// CORS preflight requests pass untouched (but for the removal of client-sent `X-Cognito-*` headers),
// unless `cors` is configured: then the handler answers them itself.
type Handler struct {
	Config

	gate *gate
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.cognito_authorizer",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up the authorizer. JWKS are fetched in the background: an identity provider that is
// down does not stop Caddy from starting (requests are answered 503 until its keys arrive).
func (h *Handler) Provision(ctx caddy.Context) error {
	g, err := h.Config.provision(ctx)
	if err != nil {
		return err
	}
	h.gate = g
	return nil
}

// Cleanup releases the shared key sets and caches.
func (h *Handler) Cleanup() error {
	if h.gate != nil {
		h.gate.cleanup()
	}
	return nil
}

// ServeHTTP decides the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.gate.assertion != nil && h.gate.assertion.serveJWKS(w, r) {
		return nil
	}
	if h.gate.cors.handle(w, r) {
		upstream.StripHeaders(r.Header)
		return nil
	}
	if isPreflight(r) {
		upstream.StripHeaders(r.Header)
		return next.ServeHTTP(w, r)
	}
	d, assertion := h.gate.authorize(r)
	if !d.Allow {
		return h.gate.deny(w, r, d)
	}
	if d.Shadow {
		h.gate.logDeny(r, d, refusalID(r))
	}
	h.gate.forward(r, d, assertion)
	w, r, s := h.gate.streams.watch(w, r, d.Identity)
	err := s.serve(w, r, next)
	h.gate.checkForwardedPath(r, d)
	return err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
