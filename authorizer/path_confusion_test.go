package authorizer

import (
	"net/http"
	"net/url"
	"testing"
)

// Paths that servlet containers and double-decoding servers read as another path than the one
// decoded once: each is refused, while its harmless look-alikes pass.
func TestDecisionPathServerQuirks(t *testing.T) {
	cases := []struct {
		name, target string
		want         string // "" when refused
	}{
		{"dot-dot with a path parameter (Tomcat, Jetty)", "/public/..;/admin", ""},
		{"dot-dot with a valued path parameter", "/public/..;jsessionid=x/admin", ""},
		{"dot with a path parameter", "/public/.;x/admin", ""},
		{"dot-dot with an encoded semicolon", "/public/%2e%2e%3b/admin", ""},
		{"double-encoded dot-dot", "/public/%252e%252e/admin", ""},
		{"double-encoded dot-dot, upper case", "/public/%252E%252E/admin", ""},
		{"double-encoded slash", "/public%252fadmin", ""},
		{"double-encoded backslash", "/public%255cadmin", ""},
		{"a path parameter on a name", "/orders;v=2/42", "/orders;v=2/42"},
		{"dots and a parameter in a name", "/a..;b/c", "/a..;b/c"},
		{"three dots with a parameter", "/...;x", "/...;x"},
		{"an encoded percent before other hex", "/100%2541", "/100%41"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkDecisionPath(t, tc.target, tc.want)
		})
	}
}

// BenchmarkDecisionPath is the path check every request pays, on a typical API path.
func BenchmarkDecisionPath(b *testing.B) {
	r := &http.Request{URL: &url.URL{Path: "/tenants/t-42/orders/2026-03-14/items;v=2", RawPath: ""}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecisionPath(r); err != nil {
			b.Fatal(err)
		}
	}
}
