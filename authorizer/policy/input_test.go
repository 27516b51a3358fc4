package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// echoPolicy allows every request and sends the whole input document upstream in one header, so a
// test sees exactly what a policy sees.
const echoPolicy = `decision := {"allow": true, "headers": {"X-Input": json.marshal(input)}}`

func echo(t *testing.T, e *policy.Engine, in policy.Input) map[string]any {
	t.Helper()
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(d.Headers["X-Input"]), &doc); err != nil {
		t.Fatalf("the echoed input is not JSON: %v", err)
	}
	return doc
}

// TestInputDocument checks the whole input document of DESIGN.md for a request that carries
// credentials in every place a client can put them, and that none of them reaches the policy.
func TestInputDocument(t *testing.T) {
	t.Parallel()
	e := policyEngine(t, echoPolicy)
	r := httptest.NewRequest(http.MethodPost, "https://API.Example.com:8443/tenants/t1/orders?"+
		"page=2&tags=a&tags=b&empty=&plus=a+b&pct=%2F&"+
		"X-Amz-Signature=sig-secret&x-amz-security-token=tok-secret&X-AMZ-CREDENTIAL=cred-secret&"+
		"X-Amz-Date=20250101T000000Z&access_token=qs-secret&Access_Token=qs2-secret", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	r.Header.Set("Authorization", "Bearer hdr-secret")
	r.Header.Set("Proxy-Authorization", "Basic proxy-secret")
	r.Header.Set("Cookie", "session=cookie-secret")
	r.Header.Set("X-Amz-Security-Token", "amz-secret")
	r.Header.Set("X-Api-Key", "apikey-secret")
	r.Header["authorization"] = []string{"Bearer lowercase-secret"} // a key Go did not canonicalize
	r.Header.Set("Content-Type", "application/json")
	r.Header.Add("X-Multi", "1")
	r.Header.Add("X-Multi", "2")
	r.Header["x-raw"] = []string{"v"}
	redaction, err := policy.NewRedaction([]string{"x-api-key"}, []string{"access_token"})
	if err != nil {
		t.Fatal(err)
	}
	in := policy.Input{
		Request:   r,
		Path:      "/tenants/t1/orders",
		Identity:  alice(),
		Rules:     mustRules(t, []string{"admins"}, nil, policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromHeader, Name: "X-Tenant-Id"}),
		Redaction: redaction,
	}
	doc := echo(t, e, in)

	raw, _ := json.Marshal(doc)
	if strings.Contains(string(raw), "secret") {
		t.Fatalf("a credential reached the policy: %s", raw)
	}
	want := map[string]any{
		"request": map[string]any{
			"method":        "POST",
			"host":          "api.example.com",
			"path":          "/tenants/t1/orders",
			"path_segments": []any{"tenants", "t1", "orders"},
			"query": map[string]any{
				"page": []any{"2"}, "tags": []any{"a", "b"}, "empty": []any{""}, "plus": []any{"a b"},
				"pct": []any{"/"}, "X-Amz-Date": []any{"20250101T000000Z"},
			},
			"headers": map[string]any{
				"content-type": []any{"application/json"},
				"x-multi":      []any{"1", "2"},
				"x-raw":        []any{"v"},
			},
			"remote_ip": "198.51.100.7",
			"tls":       true,
		},
		"identity": map[string]any{
			"kind":             "user_pool",
			"authenticated":    true,
			"issuer":           "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
			"subject":          "11111111-2222-3333-4444-555555555555",
			"username":         "alice",
			"client_id":        "client-1",
			"token_use":        "access",
			"groups":           []any{"admins", "staff"},
			"scopes":           []any{"orders/read"},
			"claims":           map[string]any{"sub": "11111111-2222-3333-4444-555555555555", "custom:tenant_id": "t1", "tenants": []any{"t1", "t2"}, "level": float64(3), "email_verified": true},
			"identity_id":      "",
			"identity_pool_id": "",
			"role_arn":         "",
			"principal_tags":   map[string]any{},
			"login_providers":  []any{},
			"expires_at":       float64(1_900_000_000),
			"context":          map[string]any{},
		},
		"config": map[string]any{
			"groups":         []any{"admins"},
			"scopes":         []any{},
			"claims":         []any{map[string]any{"claim": "custom:tenant_id", "from": "header", "name": "x-tenant-id"}},
			"iam":            nil,
			"allow_any_role": false,
		},
	}
	if !reflect.DeepEqual(doc, want) {
		got, _ := json.MarshalIndent(doc, "", "  ")
		t.Fatalf("input document:\n%s", got)
	}
}

func TestInputIdentityKinds(t *testing.T) {
	t.Parallel()
	e := policyEngine(t, echoPolicy)
	tests := []struct {
		name string
		id   *identity.Identity
		want map[string]any // a subset of input.identity
	}{
		{name: "anonymous", id: identity.Anonymous(), want: map[string]any{"kind": "none", "authenticated": false, "subject": "", "groups": []any{}, "claims": map[string]any{}, "expires_at": float64(0)}},
		{name: "anonymous never carries fields", id: &identity.Identity{Kind: identity.KindNone, Subject: "forged", Groups: []string{"admins"}}, want: map[string]any{"kind": "none", "subject": "", "groups": []any{}}},
		{name: "identity pool guest", id: guest(), want: map[string]any{
			"kind": "identity_pool", "authenticated": false, "identity_id": "us-east-1:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
			"identity_pool_id": "us-east-1:ffffffff-0000-1111-2222-333333333333", "role_arn": "arn:aws:iam::123456789012:role/guest",
			"principal_tags": map[string]any{"tenant": "t1"}, "groups": []any{}, "scopes": []any{}, "claims": map[string]any{},
		}},
		{name: "oidc", id: bob(), want: map[string]any{"kind": "oidc", "authenticated": true, "subject": "bob", "scopes": []any{"orders/write"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := echo(t, e, get("/", tt.id))["identity"].(map[string]any)
			for k, v := range tt.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("identity.%s = %#v, want %#v", k, got[k], v)
				}
			}
			if _, ok := got["access_key_id"]; ok {
				t.Error("identity has an access_key_id")
			}
		})
	}
}

func TestInputRequestParts(t *testing.T) {
	t.Parallel()
	e := policyEngine(t, echoPolicy)
	tests := []struct {
		name     string
		host     string
		path     string
		remoteIP string
		want     map[string]any // a subset of input.request
	}{
		{name: "root path has no segments", host: "api.example.com", path: "/", want: map[string]any{"path_segments": []any{}}},
		{name: "empty segments kept", host: "api.example.com", path: "/a//b/", want: map[string]any{"path_segments": []any{"a", "", "b", ""}}},
		{name: "dots inside a segment are not dot segments", host: "api.example.com", path: "/a/..b/c..", want: map[string]any{"path_segments": []any{"a", "..b", "c.."}}},
		{name: "IPv6 host without port", host: "[2001:DB8::1]:8443", path: "/", want: map[string]any{"host": "2001:db8::1"}},
		{name: "host without port", host: "Example.COM", path: "/", want: map[string]any{"host": "example.com"}},
		{name: "remote IP from the authorizer", host: "a", path: "/", remoteIP: "203.0.113.9", want: map[string]any{"remote_ip": "203.0.113.9"}},
		{name: "remote IP from the authorizer with a port", host: "a", path: "/", remoteIP: "203.0.113.9:41234", want: map[string]any{"remote_ip": "203.0.113.9"}},
		{name: "remote IP from the request", host: "a", path: "/", want: map[string]any{"remote_ip": "192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Host = tt.host
			got := echo(t, e, policy.Input{Request: r, Path: tt.path, RemoteIP: tt.remoteIP, Identity: alice()})["request"].(map[string]any)
			for k, v := range tt.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("request.%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

// TestHeaderSpellings keeps the values of a header the request holds under two spellings (a request
// built by code rather than parsed by net/http), so a policy cannot miss one of them.
func TestHeaderSpellings(t *testing.T) {
	t.Parallel()
	e := policyEngine(t, echoPolicy)
	in := get("/", alice())
	in.Request.Header["X-Tenant-Id"] = []string{"t1"}
	in.Request.Header["x-tenant-id"] = []string{"t2"}
	got := echo(t, e, in)["request"].(map[string]any)["headers"].(map[string]any)["x-tenant-id"].([]any)
	if len(got) != 2 || got[0] == got[1] || (got[0] != "t1" && got[0] != "t2") || (got[1] != "t1" && got[1] != "t2") {
		t.Fatalf("x-tenant-id = %v, want t1 and t2", got)
	}
}

// TestBadRequests checks that requests the policy could read differently from the upstream are
// refused with ErrBadRequest, never decided on.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	// The policy reads the query, so the input must hold it: a query is only parsed (and refused when
	// malformed) for a policy that can read it.
	e := policyEngine(t, "decision := is_object(input.request.query)")
	tests := []struct {
		name  string
		path  string
		query string
	}{
		{name: "relative path", path: "tenants/t1"},
		{name: "empty path", path: ""},
		{name: "dot-dot segment", path: "/tenants/t1/../t2"},
		{name: "dot segment", path: "/tenants/./t2"},
		{name: "trailing dot-dot", path: "/tenants/t1/.."},
		{name: "encoded dot-dot", path: "/tenants/t1/%2e%2e/t2"},
		{name: "encoded dot-dot, upper case", path: "/tenants/t1/%2E%2E/t2"},
		{name: "half encoded dot-dot", path: "/tenants/t1/.%2e/t2"},
		{name: "encoded dot", path: "/tenants/%2e/t2"},
		{name: "semicolon separator", path: "/", query: "tenant=t1;tenant=t2"},
		{name: "bad escape in a value", path: "/", query: "tenant=%zz"},
		{name: "bad escape in a name", path: "/", query: "%zz=1"},
		{name: "too many parameters", path: "/", query: strings.Repeat("a=1&", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.URL.RawQuery = tt.query
			d, err := e.Decide(context.Background(), policy.Input{Request: r, Path: tt.path, Identity: alice()})
			if !errors.Is(err, policy.ErrBadRequest) || d.Allow {
				t.Fatalf("got %+v, %v; want ErrBadRequest", d, err)
			}
		})
	}
}

// TestInputHoldsWhatThePolicyReads checks that a policy that names a header or a query parameter gets
// it (the input is built with headers and query only for policies that can read them; use_test.go
// checks that analysis).
func TestInputHoldsWhatThePolicyReads(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, rego string }{
		{"a header", `decision := input.request.headers["x-tenant-id"] == ["t1"]`},
		{"a query parameter", `decision := input.request.query.page == ["2"]`},
		{"both", `decision := input.request.query.page == input.request.headers["x-page"]`},
		{"through a local", `decision if { r := input.request; r.headers["x-tenant-id"] == ["t1"] }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := get("/?page=2", alice())
			in.Request.Header.Set("X-Tenant-Id", "t1")
			in.Request.Header.Set("X-Page", "2")
			d, err := policyEngine(t, tt.rego).Decide(context.Background(), in)
			if err != nil || !d.Allow {
				t.Fatalf("got %+v, %v; want an allow", d, err)
			}
		})
	}
}

func TestNewRedaction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers []string
		params  []string
		ok      bool
	}{
		{name: "header and parameter", headers: []string{"X-Api-Key"}, params: []string{"access_token"}, ok: true},
		{name: "nothing", ok: true},
		{name: "invalid header name", headers: []string{"X Api"}},
		{name: "empty header name", headers: []string{""}},
		{name: "empty parameter name", params: []string{""}},
		{name: "parameter with a newline", params: []string{"a\nb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := policy.NewRedaction(tt.headers, tt.params)
			if (err == nil) != tt.ok {
				t.Fatalf("NewRedaction: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestRemoteIP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, addr, want string }{
		{"IPv4 with port", "203.0.113.9:41234", "203.0.113.9"},
		{"IPv4 alone", "203.0.113.9", "203.0.113.9"},
		{"IPv6 with port", "[2001:db8::7]:443", "2001:db8::7"},
		{"IPv6 alone", "2001:db8::7", "2001:db8::7"},
		{"IPv6 in brackets", "[2001:db8::7]", "2001:db8::7"},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := policy.RemoteIP(tt.addr); got != tt.want {
				t.Errorf("RemoteIP(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
