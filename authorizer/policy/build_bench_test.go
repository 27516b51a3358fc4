package policy

import (
	"net/http/httptest"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// BenchmarkInput measures building the input document of a typical request for a cached identity.
func BenchmarkInput(b *testing.B) {
	t := newInputTerms()
	r := httptest.NewRequest("GET", "https://api.example.com/tenants/t-1234/orders/1?page=2&limit=50", nil)
	r.Header.Set("Authorization", "Bearer x")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("User-Agent", "orders-client/1.4 (go)")
	r.Header.Set("X-Request-Id", "req-1")
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	in := Input{Request: r, Path: "/tenants/t-1234/orders/1", Identity: &identity.Identity{Kind: identity.KindUserPool}, RemoteIP: "203.0.113.9"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.build(&in, fullUse); err != nil {
			b.Fatal(err)
		}
	}
}
