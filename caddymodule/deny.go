package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// deny answers a refused request: the challenge or error-type header, a JSON body with the generic
// message, and one log line with the reason. When the server has handle_errors routes, they render
// the error instead of the JSON body.
func (g *gate) deny(w http.ResponseWriter, r *http.Request, d *authorizer.Decision) error {
	requestID := g.refused(r, d)
	// A denied request must not carry the client's identity claims anywhere further, not even into
	// handle_errors routes that might proxy it.
	upstream.StripHeaders(r.Header)
	g.stripCredentials(r, d)

	h := w.Header()
	h.Set("X-Amzn-RequestId", requestID)
	if d.Scheme == authorizer.SchemeSigV4 && d.Code != "" {
		h.Set("X-Amzn-ErrorType", d.Code)
	}
	if d.Challenge != "" {
		h.Set("WWW-Authenticate", d.Challenge)
	}

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil {
		repl.Set("cognito.error.request_id", requestID)
		repl.Set("cognito.error.status", d.Status)
		repl.Set("cognito.error.code", d.Code)
		repl.Set("cognito.error.message", d.Message)
	}
	if hasErrorRoutes(r) {
		return caddyhttp.Error(d.Status, errors.New(d.Message))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	_, err := w.Write(errorBody(d.Message, requestID))
	return err
}

// refused records a refusal: the caller's user id for the access log when the caller was
// authenticated and then refused, and the denial log line. It returns the refusal's request id.
func (g *gate) refused(r *http.Request, d *authorizer.Decision) string {
	requestID := refusalID(r)
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl != nil && d.Identity != nil && d.Identity.Kind != identity.KindNone {
		repl.Set("http.auth.user.id", upstream.UserID(d.Identity))
	}
	g.logDeny(r, d, requestID)
	return requestID
}

// refusalID is the id a refusal is quoted by: Caddy's request UUID ({http.request.uuid}, which Caddy
// also writes into the request's access log line as "uuid"), or a fresh one outside a Caddy request.
func refusalID(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if id, ok := repl.GetString("http.request.uuid"); ok && id != "" {
			return id
		}
	}
	return uuid.NewString()
}

// errorBody is API Gateway's error body, {"message": "..."}, with the request id a user can quote
// (API Gateway sends it only as the x-amzn-RequestId header).
func errorBody(message, requestID string) []byte {
	b, _ := json.Marshal(struct {
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	}{message, requestID})
	return b
}

// hasErrorRoutes reports whether the server has handle_errors routes to render errors.
func hasErrorRoutes(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && srv != nil && srv.Errors != nil && len(srv.Errors.Routes) > 0
}

func (g *gate) logDeny(r *http.Request, d *authorizer.Decision, requestID string) {
	level, msg := zapcore.InfoLevel, "request denied"
	if d.Status >= 500 {
		level = zapcore.ErrorLevel
	}
	if d.Shadow {
		msg = "request would be denied (shadow mode: let through)"
	}
	c := g.logger.Check(level, msg)
	if c == nil {
		return
	}
	fields := []zap.Field{
		zap.String("request_id", requestID),
		zap.Int("status", d.Status),
		zap.String("code", d.Code),
		zap.String("rule", d.Label),
		zap.String("method", r.Method),
		zap.String("host", r.Host),
		zap.String("path", r.URL.Path),
		zap.String("remote_ip", remoteIP(r)),
	}
	if d.Reason != nil {
		fields = append(fields, zap.String("reason", d.Reason.Error()))
	}
	if d.Identity != nil {
		fields = append(fields, zap.String("kind", string(d.Identity.Kind)), zap.String("user_id", d.Identity.UserID()))
		if p := d.Identity.Pool; p != nil && p.RoleARN != "" {
			// The role whose policy was evaluated (an identity-pool caller's).
			fields = append(fields, zap.String("role", p.RoleARN))
		}
	}
	c.Write(fields...)
}
