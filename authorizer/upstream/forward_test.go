package upstream_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

func headerNames(hs []upstream.Header) []string {
	names := []string{}
	for _, h := range hs {
		names = append(names, h.Name)
	}
	return names
}

// TestForwardDefault: with nothing asked for, a token caller's request carries its subject and groups,
// an identity-pool caller's its identity id, and nothing else.
func TestForwardDefault(t *testing.T) {
	t.Parallel()
	ids := goldenIdentities()
	var lean upstream.Forward
	for name, want := range map[string][]string{
		"jwt_user":           {upstream.HeaderSub, upstream.HeaderGroups},
		"oidc_user":          {upstream.HeaderSub}, // no groups: no empty header
		"guest":              {upstream.HeaderIdentityID},
		"identity_pool_user": {upstream.HeaderIdentityID},
		"anonymous":          {},
	} {
		if got := headerNames(lean.Headers(ids[name])); !slices.Equal(got, want) {
			t.Errorf("%s: default headers %q, want %q", name, got, want)
		}
	}
	if lean.Context() {
		t.Error("the default sends the context")
	}
}

func TestNewForward(t *testing.T) {
	t.Parallel()
	user := goldenIdentities()["jwt_user"]
	pool := goldenIdentities()["identity_pool_user"]
	cases := []struct {
		name      string
		names     []string
		context   bool
		user, ids []string
	}{
		{"one more", []string{"X-Cognito-Username"}, false,
			[]string{"X-Cognito-Sub", "X-Cognito-Username", "X-Cognito-Groups"}, []string{"X-Cognito-Identity-Id"}},
		{"any case", []string{"x-cognito-role-arn", "X-COGNITO-SCOPES"}, false,
			[]string{"X-Cognito-Sub", "X-Cognito-Groups", "X-Cognito-Scopes"}, []string{"X-Cognito-Identity-Id", "X-Cognito-Role-Arn"}},
		{"a default named again", []string{"X-Cognito-Sub"}, false,
			[]string{"X-Cognito-Sub", "X-Cognito-Groups"}, []string{"X-Cognito-Identity-Id"}},
		{"context only", nil, true,
			[]string{"X-Cognito-Sub", "X-Cognito-Groups", "X-Cognito-Context"}, []string{"X-Cognito-Identity-Id", "X-Cognito-Context"}},
		{"all", []string{"all"}, false,
			[]string{"X-Cognito-Sub", "X-Cognito-Username", "X-Cognito-Groups", "X-Cognito-Scopes", "X-Cognito-Client-Id"},
			[]string{"X-Cognito-Identity-Id", "X-Cognito-Identity-Pool-Id", "X-Cognito-Authentication-Type", "X-Cognito-Authentication-Provider", "X-Cognito-Role-Arn"}},
	}
	for _, tc := range cases {
		f, err := upstream.NewForward(tc.names, tc.context)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := headerNames(f.Headers(user)); !slices.Equal(got, tc.user) {
			t.Errorf("%s: token caller gets %q, want %q", tc.name, got, tc.user)
		}
		if got := headerNames(f.Headers(pool)); !slices.Equal(got, tc.ids) {
			t.Errorf("%s: identity-pool caller gets %q, want %q", tc.name, got, tc.ids)
		}
	}
	all, _ := upstream.NewForward([]string{"all"}, true)
	if all != upstream.ForwardAll {
		t.Error("forward all with the context is not ForwardAll")
	}
}

// TestNewForwardRefuses: a name the gateway does not set is a configuration error, never a route that
// silently forwards less; the context is asked for with its own switch.
func TestNewForwardRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, want string }{
		{"X-Cognito-Usrname", "X-Cognito-Username"}, // the error lists what is forwardable
		{"Authorization", "not a header the gateway forwards"},
		{"X-Cognito-Context", "context_header on"},
		{"X-Cognito-Assertion", "not a header the gateway forwards"},
		{"X-Cognito-Shadow-Decision", "not a header the gateway forwards"},
		{"", "not a header the gateway forwards"},
		{"ALL", "not a header the gateway forwards"},
	} {
		_, err := upstream.NewForward([]string{"X-Cognito-Sub", tc.name}, false)
		if !errors.Is(err, upstream.ErrUnknownHeader) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("forward %q: %v, want ErrUnknownHeader mentioning %q", tc.name, err, tc.want)
		}
	}
	if got := upstream.ForwardableHeaders(); len(got) != 10 || got[0] != upstream.HeaderSub || slices.Contains(got, upstream.HeaderContext) {
		t.Errorf("ForwardableHeaders() = %q", got)
	}
}

// TestSetHeadersFreshSlices: the memoized values are shared by every request of an identity, so the
// slices set on a request are its own: a handler editing a value in place (Caddy's header replace
// does) must not change the next request's.
func TestSetHeadersFreshSlices(t *testing.T) {
	t.Parallel()
	id := goldenIdentities()["jwt_user"]
	a, b := http.Header{"X-Cognito-Sub": {"forged"}}, http.Header{}
	upstream.ForwardAll.SetHeaders(a, id)
	a["X-Cognito-Sub"][0] = "edited"
	a["X-Cognito-Groups"][0] = "edited"
	upstream.ForwardAll.SetHeaders(b, id)
	if b.Get("X-Cognito-Sub") != id.Subject || b.Get("X-Cognito-Groups") != "admins,ops%2Ceu,100%25" {
		t.Errorf("a request's edit leaked into the next: %v", b)
	}
	for name, vs := range b {
		if len(vs) != 1 {
			t.Errorf("%s: %q", name, vs)
		}
		a.Add(name, "appended")
	}
	if got := upstream.ForwardAll.Headers(id)[0].Value; got != id.Subject {
		t.Errorf("the memo changed: %q", got)
	}
}

// typicalAccessToken is the identity of a Cognito access token as a user pool issues it: the claims
// every one carries, one group, two scopes.
func typicalAccessToken() *identity.Identity {
	claims := map[string]any{
		"sub": "8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c", "cognito:groups": []any{"admins"},
		"iss":     "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
		"version": json.Number("2"), "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
		"origin_jti": "6e1f0b7c-2d3a-4b5c-8d9e-0f1a2b3c4d5e", "event_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
		"token_use": "access", "scope": "orders/read orders/write", "auth_time": json.Number("1700000000"),
		"exp": json.Number("1700003600"), "iat": json.Number("1700000000"),
		"jti": "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b", "username": "alice",
	}
	return &identity.Identity{
		Kind: identity.KindUserPool, Authenticated: true, Issuer: claims["iss"].(string),
		Subject: claims["sub"].(string), Username: "alice", ClientID: "3n4b5urk1ft4fl3mg5e62d9ado", TokenUse: "access",
		Groups: []string{"admins"}, Scopes: []string{"orders/read", "orders/write"}, Claims: claims,
		ExpiresAt: time.Unix(1700003600, 0),
	}
}

// TestContextSize pins what context_header on costs for a typical access token: the JSON once its
// claims are no longer there twice (it was 1,103 bytes, 1,471 base64url-encoded, with REST API's
// authorizer.claims copy), and the header value.
func TestContextSize(t *testing.T) {
	t.Parallel()
	id := typicalAccessToken()
	ctx := upstream.Context(id)
	f, _ := upstream.NewForward(nil, true)
	hs := f.Headers(id)
	header := hs[len(hs)-1]
	if header.Name != upstream.HeaderContext {
		t.Fatalf("last header %s", header.Name)
	}
	if n := strings.Count(string(ctx), `"jti":`); n != 1 {
		t.Errorf("the claims appear %d times in %s", n, ctx)
	}
	const wantJSON, wantHeader = 610, 814
	if len(ctx) != wantJSON || len(header.Value) != wantHeader {
		t.Errorf("context %d bytes, header %d bytes; want %d and %d:\n%s", len(ctx), len(header.Value), wantJSON, wantHeader, ctx)
	}
}

// BenchmarkForwardWire is what each forwarded part costs a request on the wire, for a typical access
// token (and an identity-pool caller for the identity-pool sets): setting the headers from the
// identity's memo, writing the upstream request's header block as reverse_proxy does, and parsing it
// again as the upstream does. upstream-B/op is what the part adds to the header block.
func BenchmarkForwardWire(b *testing.B) {
	user := typicalAccessToken()
	pool := goldenIdentities()["identity_pool_user"]
	sets := []struct {
		name    string
		names   []string
		context bool
		id      *identity.Identity
	}{
		{"none", nil, false, nil},
		{"default", nil, false, user},
		{"forward_all", []string{upstream.All}, false, user},
		{"context_header_on", nil, true, user},
		{"forward_all_context_header_on", []string{upstream.All}, true, user},
		{"identity_pool_default", nil, false, pool},
		{"identity_pool_forward_all_context_header_on", []string{upstream.All}, true, pool},
	}
	for _, s := range sets {
		f, err := upstream.NewForward(s.names, s.context)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			var buf bytes.Buffer
			base := http.Header{
				"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64)"}, "Accept": {"application/json"},
				"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com"},
			}
			b.ReportAllocs()
			for b.Loop() {
				h := make(http.Header, 16)
				for k, v := range base {
					h[k] = v
				}
				if s.id != nil {
					f.SetHeaders(h, s.id)
				}
				buf.Reset()
				buf.WriteString("GET /orders/42 HTTP/1.1\r\nHost: backend\r\n")
				if err := h.Write(&buf); err != nil {
					b.Fatal(err)
				}
				buf.WriteString("\r\n")
				r, err := http.ReadRequest(bufio.NewReader(&buf))
				if err != nil || r.Header.Get("Accept") == "" {
					b.Fatal(err)
				}
			}
			n := 0
			if s.id != nil {
				for _, x := range f.Headers(s.id) {
					n += len(x.Name) + len(": ") + len(x.Value) + len("\r\n")
				}
			}
			b.ReportMetric(float64(n), "upstream-B/op")
		})
	}
}
