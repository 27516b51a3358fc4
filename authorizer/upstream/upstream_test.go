package upstream_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

func TestStripHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"X-Cognito-Sub":      {"forged"},
		"X_cognito_groups":   {"admins"},
		"x-cognito-username": {"root"},
		"X-Cognito-":         {"empty suffix"},
		"X-Cognitox":         {"kept"},
		"X-Cognit":           {"kept"},
		"Accept":             {"*/*"},
	}
	upstream.StripHeaders(h)
	var left []string
	for name := range h {
		left = append(left, name)
	}
	slices.Sort(left)
	if want := []string{"Accept", "X-Cognit", "X-Cognitox"}; !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}

// TestFields checks the list itself: one name per placeholder, every header in the stripped
// namespace and carried for some kind, no two fields claiming or sending the same thing.
func TestFields(t *testing.T) {
	t.Parallel()
	names, headers, claims := map[string]bool{}, map[string]bool{}, map[string]bool{}
	if n := len(upstream.Fields()); n > 64 {
		t.Errorf("%d fields: a Forward holds 64", n)
	}
	for _, f := range upstream.Fields() {
		for _, n := range append([]string{f.Name}, f.Aliases...) {
			if names[n] {
				t.Errorf("placeholder name %q twice", n)
			}
			names[n] = true
		}
		if f.Header != "" {
			if !strings.HasPrefix(f.Header, "X-Cognito-") || http.CanonicalHeaderKey(f.Header) != f.Header {
				t.Errorf("%s: header %q is not a canonical X-Cognito-* name", f.Name, f.Header)
			}
			if len(f.Kinds) == 0 {
				t.Errorf("%s: header %q for no kind", f.Name, f.Header)
			}
			if headers[f.Header] {
				t.Errorf("header %q twice", f.Header)
			}
			headers[f.Header] = true
		}
		if f.Claim != "" {
			if claims[f.Claim] {
				t.Errorf("claim %q twice", f.Claim)
			}
			claims[f.Claim] = true
		}
	}
}

// TestFieldsIsACopy: a caller that edits the list changes nothing upstream.
func TestFieldsIsACopy(t *testing.T) {
	t.Parallel()
	fs := upstream.Fields()
	for i := range fs {
		fs[i].Name = "x"
		for j := range fs[i].Kinds {
			fs[i].Kinds[j] = identity.KindNone
		}
	}
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "s"}
	if h := upstream.ForwardAll.Headers(id); len(h) != 2 || h[0].Name != upstream.HeaderSub {
		t.Errorf("headers after editing Fields(): %v", h)
	}
	if v, ok := upstream.Placeholder(id, "sub"); !ok || v != "s" {
		t.Errorf("{cognito.sub} after editing Fields(): %v %v", v, ok)
	}
}

// TestHeadersAreMemoized: a cached identity pays for its headers once per set it is forwarded with,
// and routes asking for the same set share them.
func TestHeadersAreMemoized(t *testing.T) {
	t.Parallel()
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "s"}
	if a, b := upstream.ForwardAll.Headers(id), upstream.ForwardAll.Headers(id); &a[0] != &b[0] {
		t.Error("headers computed twice for one identity")
	}
	f1, _ := upstream.NewForward([]string{"X-Cognito-Username"}, false)
	f2, _ := upstream.NewForward([]string{"x-cognito-username"}, false)
	if a, b := f1.Headers(id), f2.Headers(id); &a[0] != &b[0] {
		t.Error("two routes with the same set computed it twice")
	}
	if got := upstream.ForwardAll.Headers(identity.Anonymous()); len(got) != 0 {
		t.Errorf("an anonymous caller sends %v", got)
	}
}

func ExampleForward_Headers() {
	id := &identity.Identity{
		Kind: identity.KindUserPool, Authenticated: true, Subject: "8f3b2c1a", Username: "alice",
		Groups: []string{"admins", "ops,eu"}, ClientID: "client-1",
	}
	lean, _ := upstream.NewForward(nil, false)
	for _, h := range lean.Headers(id) {
		fmt.Printf("%s: %s\n", h.Name, h.Value)
	}
	more, _ := upstream.NewForward([]string{"X-Cognito-Username"}, true)
	for _, h := range more.Headers(id) {
		if h.Name != upstream.HeaderContext {
			fmt.Printf("%s: %s\n", h.Name, h.Value)
		}
	}
	fmt.Println(string(upstream.Context(id)))
	// Output:
	// X-Cognito-Sub: 8f3b2c1a
	// X-Cognito-Groups: admins,ops%2Ceu
	// X-Cognito-Sub: 8f3b2c1a
	// X-Cognito-Username: alice
	// X-Cognito-Groups: admins,ops%2Ceu
	// {"authorizer":{"principalId":"8f3b2c1a","jwt":{"claims":{},"scopes":null}}}
}

func ExamplePlaceholder() {
	id := &identity.Identity{
		Kind: identity.KindIdentityPool, Pool: &identity.PoolCredentials{
			IdentityID:    "us-east-1:0a1b",
			RoleARN:       "arn:aws:iam::123456789012:role/Guest",
			PrincipalTags: map[string]string{"tenant": "t1\r\n"},
		},
	}
	for _, name := range []string{"identity_id", "authentication_type", "principal_tags.tenant", "authenticated", "nope"} {
		v, ok := upstream.Placeholder(id, name)
		fmt.Printf("%s: %v %v\n", name, v, ok)
	}
	// Output:
	// identity_id: us-east-1:0a1b true
	// authentication_type: unauthenticated true
	// principal_tags.tenant: t1%0D%0A true
	// authenticated: false true
	// nope: <nil> false
}

func BenchmarkHeaders(b *testing.B) {
	id := goldenIdentities()["jwt_user"]
	b.ReportAllocs()
	for b.Loop() {
		if len(upstream.ForwardAll.Headers(id)) == 0 {
			b.Fatal("no headers")
		}
	}
}

func BenchmarkPlaceholder(b *testing.B) {
	id := goldenIdentities()["jwt_user"]
	b.ReportAllocs()
	for b.Loop() {
		for _, name := range []string{"sub", "groups", "claims.custom:tenant", "identity_id"} {
			if _, ok := upstream.Placeholder(id, name); !ok {
				b.Fatal(name)
			}
		}
	}
}
