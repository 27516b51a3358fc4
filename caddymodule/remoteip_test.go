package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestRemoteIP: the address handed to the policy and written to the deny log has no port, whether Caddy
// set its client IP or not, as input.request.remote_ip is documented.
func TestRemoteIP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, remoteAddr, clientIP, want string }{
		{"Caddy's client IP", "10.0.0.1:5000", "203.0.113.9", "203.0.113.9"},
		{"Caddy's IPv6 client IP", "10.0.0.1:5000", "2001:db8::7", "2001:db8::7"},
		{"no client IP: the port is dropped", "192.0.2.1:1234", "", "192.0.2.1"},
		{"no client IP, IPv6", "[2001:db8::1]:443", "", "2001:db8::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remoteAddr
			if tt.clientIP != "" {
				ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: tt.clientIP})
				r = r.WithContext(ctx)
			}
			if got := remoteIP(r); got != tt.want {
				t.Errorf("remoteIP = %q, want %q", got, tt.want)
			}
		})
	}
}
