package caddymodule

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// forward prepares an allowed request for the upstream: the identity headers the route forwards
// (computed once per cached identity), the signed assertion (when configured) and placeholders.
func (g *gate) forward(r *http.Request, d *authorizer.Decision, assertion string) {
	upstream.StripHeaders(r.Header)
	g.stripCredentials(r, d)
	id := d.Identity
	if id == nil {
		// Shadow mode let through a request whose credentials failed: it goes on as nobody.
		id = identity.Anonymous()
	}
	// The policy's headers first: the identity headers are the gateway's and win over them.
	for name, value := range d.Headers {
		r.Header[name] = []string{value}
	}
	g.forwarded.SetHeaders(r.Header, id)
	if d.Shadow {
		r.Header[upstream.HeaderShadowDecision] = []string{"deny"}
		r.Header[upstream.HeaderShadowStatus] = []string{strconv.Itoa(d.Status)}
	}
	if assertion != "" {
		r.Header[g.assertion.header] = []string{assertion}
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(placeholders(id, d))
	}
}

// stripCredentials removes the credentials of a request once they have been used: a SigV4 request's
// session token header, a presigned URL's X-Amz-Signature and X-Amz-Security-Token query parameters,
// and the bearer token of token_query (the rest of the query is kept byte for byte). The upstream has
// no use for them, and the upstream's logs, reverse_proxy's debug log and `{http.request.uri}` would
// print them. Caddy's access log records the request as it arrived, before any handler: filter them
// out of it with a log filter.
func (g *gate) stripCredentials(r *http.Request, d *authorizer.Decision) {
	signed := d.Scheme == authorizer.SchemeSigV4
	if signed {
		r.Header.Del("X-Amz-Security-Token")
	}
	if !signed && g.tokenQuery == "" {
		return
	}
	drop := func(name string) bool {
		return signed && (strings.EqualFold(name, "X-Amz-Signature") || strings.EqualFold(name, "X-Amz-Security-Token")) ||
			g.tokenQuery != "" && name == g.tokenQuery
	}
	if q, ok := withoutQueryParams(r.URL.RawQuery, drop); ok {
		r.URL.RawQuery = q
		r.URL.ForceQuery = false
	}
	if path, query, found := strings.Cut(r.RequestURI, "?"); found {
		if q, ok := withoutQueryParams(query, drop); ok {
			r.RequestURI = path
			if q != "" {
				r.RequestURI += "?" + q
			}
		}
	}
}

// withoutQueryParams returns raw without the parameters whose name (decoded) drop accepts, and
// whether any was removed.
func withoutQueryParams(raw string, drop func(name string) bool) (string, bool) {
	if raw == "" {
		return raw, false
	}
	var kept []string
	removed := false
	for piece := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(piece, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if drop(name) {
			removed = true
			continue
		}
		kept = append(kept, piece)
	}
	if !removed {
		return raw, false
	}
	return strings.Join(kept, "&"), true
}

// placeholders resolves {cognito.*} and {http.auth.user.id} for an allowed request of id, lazily:
// nothing is computed for placeholders no one uses (the access log asks for the user id, once). The
// identity's are upstream.Placeholder; the shadow decision's are the request's own. A value set with
// repl.Set (the vars handler may set the user id) comes first: Caddy asks the static values before
// this provider.
func placeholders(id *identity.Identity, d *authorizer.Decision) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		if key == "http.auth.user.id" {
			return upstream.UserID(id), true
		}
		name, ok := strings.CutPrefix(key, "cognito.")
		if !ok {
			return nil, false
		}
		switch name {
		case "shadow.decision":
			if d.Shadow {
				return "deny", true
			}
			return "allow", true
		case "shadow.status":
			if d.Shadow {
				return d.Status, true
			}
			return "", true
		case "shadow.reason":
			if d.Shadow {
				return d.Label, true
			}
			return "", true
		}
		return upstream.Placeholder(id, name)
	}
}
