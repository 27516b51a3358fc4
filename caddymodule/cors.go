package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// CORS lets browser pages of other origins call the route: the web and mobile pattern identity pools
// exist for, where a page signs in to the user pool, gets credentials from the identity pool and signs
// API requests itself. With CORS configured, the handler answers preflight requests (OPTIONS with
// Origin and Access-Control-Request-Method) itself, and adds Access-Control-Allow-Origin to the
// responses, refusals included, of the origins it allows. Without it, preflights pass untouched to
// the next handler.
type CORS struct {
	// Origins are the allowed origins, e.g. `https://app.example.com`, or `*` for any. An origin is
	// scheme, host and port, without a path.
	Origins []string `json:"origins"`

	// Headers are request headers to allow beyond those AWS SDKs and bearer clients send, which are
	// always allowed: Authorization, Content-Type, X-Amz-Date, X-Amz-Security-Token, X-Amz-Target,
	// X-Amz-Content-Sha256, X-Amz-User-Agent, Amz-Sdk-Invocation-Id, Amz-Sdk-Request.
	Headers []string `json:"headers,omitempty"`

	// MaxAge is how long browsers may cache a preflight answer. Default: 10m.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
}

// corsRequestHeaders are the request headers of AWS SDKs (SigV4, the Cognito Identity JSON protocol,
// their retry and user-agent headers) and of bearer clients.
var corsRequestHeaders = []string{
	"Authorization", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Target",
	"X-Amz-Content-Sha256", "X-Amz-User-Agent", "Amz-Sdk-Invocation-Id", "Amz-Sdk-Request",
}

// corsExposedHeaders are the response headers a page's script may read: API Gateway's error type and
// the bearer challenge, so a client can tell why it was refused.
const corsExposedHeaders = "X-Amzn-ErrorType, WWW-Authenticate"

// corsMethods are the methods preflights may ask for.
const corsMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

func (c *CORS) validate() error {
	if len(c.Origins) == 0 {
		return fmt.Errorf("cors: at least one origin (or *) is required")
	}
	for _, o := range c.Origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("cors: %q is not an origin (scheme://host[:port])", o)
		}
	}
	for _, h := range c.Headers {
		if h == "" || strings.ContainsAny(h, " ,:\r\n") {
			return fmt.Errorf("cors: %q is not a header name", h)
		}
	}
	if c.MaxAge < 0 || time.Duration(c.MaxAge) > 24*time.Hour {
		return fmt.Errorf("cors: max_age must be between 0 and 24h")
	}
	return nil
}

// isPreflight reports whether r is a CORS preflight request, which browsers send without credentials.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// corsPolicy is a provisioned CORS configuration.
type corsPolicy struct {
	any          bool
	origins      []string // normalized: lowercase, no trailing slash
	allowHeaders string
	maxAge       string
}

func newCORSPolicy(c *CORS) *corsPolicy {
	if c == nil {
		return nil
	}
	p := &corsPolicy{maxAge: "600"}
	for _, o := range c.Origins {
		if o == "*" {
			p.any = true
			continue
		}
		p.origins = append(p.origins, strings.TrimSuffix(strings.ToLower(o), "/"))
	}
	p.allowHeaders = strings.Join(append(slices.Clone(corsRequestHeaders), c.Headers...), ", ")
	if c.MaxAge > 0 {
		p.maxAge = strconv.Itoa(int(time.Duration(c.MaxAge).Seconds()))
	}
	return p
}

// allowed reports whether origin may call the route.
func (p *corsPolicy) allowed(origin string) bool {
	return origin != "" && (p.any || slices.Contains(p.origins, strings.ToLower(origin)))
}

// handle answers a preflight (and reports true), or adds the CORS response headers for an allowed
// origin to w. A nil policy does nothing.
func (p *corsPolicy) handle(w http.ResponseWriter, r *http.Request) bool {
	if p == nil {
		return false
	}
	origin := r.Header.Get("Origin")
	h := w.Header()
	if isPreflight(r) {
		h.Add("Vary", "Origin")
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		if p.allowed(origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", p.allowHeaders)
			h.Set("Access-Control-Max-Age", p.maxAge)
		}
		// A refused origin gets an answer without the headers, which browsers take as a refusal: the
		// preflight never reaches the upstream.
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if p.allowed(origin) {
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
	}
	return false
}
