// Package floor holds the benchmark's floors: Caddy handlers that do the least an authorizer could,
// compiled only into the benchmark's Caddy (bench/benchcaddy), never into a released one. What they cost
// against plain reverse_proxy is what any handler costs; what cognito_authorizer costs above them is
// ours.
//
//	route {
//		bench_floor_header       # sets one request header and calls the next handler
//		bench_floor_authorizer   # hashes the Authorization header, looks it up in a map, sets one header
//		reverse_proxy ...
//	}
package floor

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Header{})
	caddy.RegisterModule(&Authorizer{})
	httpcaddyfile.RegisterHandlerDirective("bench_floor_header", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		if h.NextArg() {
			return nil, h.ArgErr()
		}
		return Header{}, nil
	})
	httpcaddyfile.RegisterHandlerDirective("bench_floor_authorizer", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		if h.NextArg() {
			return nil, h.ArgErr()
		}
		return &Authorizer{}, nil
	})
}

// Header sets X-Floor on the request and calls the next handler: the cost of any handler.
type Header struct{}

// CaddyModule returns the Caddy module information.
func (Header) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.bench_floor_header", New: func() caddy.Module { return Header{} }}
}

// ServeHTTP sets the header and calls next.
func (Header) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	r.Header.Set("X-Floor", "1")
	return next.ServeHTTP(w, r)
}

// maxKnown bounds the authorizer floor's map, as every cache of the project is bounded.
const maxKnown = 100_000

// Authorizer is a cache-only authorizer: the SHA-256 of the Authorization header looked up in a map
// (added on first sight, as a verifier would add what it verified), one header set from what it finds.
// A request without Authorization gets 401.
type Authorizer struct {
	mu    sync.RWMutex
	known map[[32]byte]string
}

// CaddyModule returns the Caddy module information.
func (*Authorizer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.bench_floor_authorizer", New: func() caddy.Module { return new(Authorizer) }}
}

// Provision makes the map.
func (a *Authorizer) Provision(caddy.Context) error {
	a.known = make(map[[32]byte]string)
	return nil
}

// ServeHTTP looks the credentials up, sets X-Floor-Subject and calls next.
func (a *Authorizer) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	credentials := r.Header.Get("Authorization")
	if credentials == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return nil
	}
	sum := sha256.Sum256([]byte(credentials))
	a.mu.RLock()
	subject, ok := a.known[sum]
	a.mu.RUnlock()
	if !ok {
		subject = hex.EncodeToString(sum[:8])
		a.mu.Lock()
		if len(a.known) < maxKnown {
			a.known[sum] = subject
		}
		a.mu.Unlock()
	}
	r.Header.Set("X-Floor-Subject", subject)
	return next.ServeHTTP(w, r)
}

var (
	_ caddyhttp.MiddlewareHandler = Header{}
	_ caddyhttp.MiddlewareHandler = (*Authorizer)(nil)
	_ caddy.Provisioner           = (*Authorizer)(nil)
)
