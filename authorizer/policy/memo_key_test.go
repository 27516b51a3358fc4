package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// TestMemoDoesNotKeepIdentitiesAlive checks that an identity the caller dropped is collected while
// the memo still holds its decisions: the memo keys identities by tag, not by pointer.
func TestMemoDoesNotKeepIdentitiesAlive(t *testing.T) {
	t.Parallel()
	e := memoEngine(t, `decision := input.identity.subject == "alice"`)
	ctx := context.Background()
	dropped := func() weak.Pointer[identity.Identity] {
		id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice", Claims: map[string]any{"big": string(make([]byte, 1<<20))}}
		for range 2 {
			if d, err := e.Decide(ctx, memoInput("GET", "/a", nil, id, nil)); err != nil || !d.Allow {
				t.Fatalf("%+v, %v", d, err)
			}
		}
		return weak.Make(id)
	}()
	if hits, _ := e.MemoStats(); hits != 1 {
		t.Fatalf("memo hits %d, want 1", hits)
	}
	for i := 0; dropped.Value() != nil; i++ {
		if i == 50 {
			t.Fatal("the memo keeps a dropped identity alive")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if n := e.prepared.Load().memo.len(); n != 1 {
		t.Fatalf("memo holds %d entries, want the collected identity's 1", n)
	}
}

// TestMemoSeparatesIdentities checks that two identities with the same subject and claims (two tokens
// of one user, the second issued after the user left a group) never share decisions.
func TestMemoSeparatesIdentities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	admins, err := NewRules([]string{"admins"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "custom:tenant_id": "t1"}
	before := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "alice", Groups: []string{"admins"}, Claims: claims, OriginJTI: "r1"}
	after := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "alice", Claims: claims, OriginJTI: "r1"}
	for i, tc := range []struct {
		id   *identity.Identity
		want bool
	}{{before, true}, {after, false}, {before, true}, {after, false}} {
		d, err := e.Decide(ctx, memoInput("GET", "/a", nil, tc.id, admins))
		if err != nil || d.Allow != tc.want {
			t.Fatalf("request %d: %+v, %v; want allow %v", i, d, err, tc.want)
		}
	}
	if hits, _ := e.MemoStats(); hits != 2 {
		t.Fatalf("memo hits %d, want 2", hits)
	}
	if identityInput(before).tag == identityInput(after).tag {
		t.Fatal("two identities share a tag")
	}
}

func TestMemoKeyUse(t *testing.T) {
	t.Parallel()
	named := func(l ...string) names { return names{list: l} }
	all := names{all: true}
	tests := []struct {
		name             string
		rego             string
		fields           inputUse
		headers, queries names
	}{
		{"a named header", `decision := input.request.headers["x-tenant"] == ["t1"]`, inputUse{headers: true}, named("x-tenant"), names{}},
		{"two named headers and a parameter", `decision if {
	input.request.headers["x-b"][0] == input.request.headers["x-a"][0]
	input.request.query.page[0] == "1"
}`, inputUse{headers: true, query: true}, named("x-a", "x-b"), named("page")},
		{"a variable header name", `decision if input.request.headers[k][0] == "t1"`, inputUse{headers: true}, all, names{}},
		{"a computed header name", `decision if input.request.headers[lower(input.identity.subject)]`, inputUse{headers: true}, all, names{}},
		{"the headers whole", `decision := count(input.request.headers) > 2`, inputUse{headers: true}, all, names{}},
		{"iteration over the query", `decision if { some k, v in input.request.query; k == "a" }`, inputUse{query: true}, names{}, all},
		{"object.get with a constant key", `decision := object.get(input.request.headers, "x-tenant", []) == ["t1"]`, inputUse{headers: true}, named("x-tenant"), names{}},
		{"object.get with a constant path", `decision := object.get(input.request.query, ["page", 0], "1") == "2"`, inputUse{query: true}, names{}, named("page")},
		{"object.get with a variable key", `decision if { some x in input.identity.groups; object.get(input.request.headers, x, false) }`, inputUse{headers: true}, all, names{}},
		{"walk(input)", `decision if { walk(input, [p, v]); v == "t1" }`, fullUse, all, all},
		{"a function's argument", "f(h) := h[\"x-a\"]\n\ndecision := f(input.request.headers) == [\"1\"]", inputUse{headers: true}, all, names{}},
		{"with input as", "inner if input.request.path == \"/x\"\n\ndecision if inner with input as {\"request\": {\"path\": \"/x\"}}", fullUse, all, all},
		{"with a header replaced by a parameter", "inner if input.request.headers[\"x-a\"][0] == \"yes\"\n\ndecision if inner with input.request.headers as {\"x-a\": input.request.query.a}",
			inputUse{headers: true, query: true}, all, named("a")},
		{"with the path replaced", "inner if input.request.path == \"/x\"\n\ndecision if inner with input.request.path as input.request.headers[\"x-p\"][0]",
			inputUse{headers: true, path: true}, named("x-p"), names{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := memoEngine(t, tt.rego)
			got := memoInputUse(e.manager.GetCompiler(), e.ref, false)
			want := keyUse{fields: tt.fields, headers: tt.headers, query: tt.queries}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Fatalf("memoInputUse = %+v, want %+v", got, want)
			}
		})
	}
}

// memoEntries counts the memo entries of one identity.
func memoEntries(t *testing.T, e *Engine, id *identity.Identity) int {
	t.Helper()
	p := e.prepared.Load()
	if p == nil || p.memo == nil {
		t.Fatal("no memo")
	}
	p.memo.mu.Lock()
	defer p.memo.mu.Unlock()
	n := 0
	for k := range p.memo.entries {
		if k.identity == identityInput(id).tag {
			n++
		}
	}
	return n
}

// TestMemoKeysOnNamedHeadersAndParameters checks that requests differing only in headers and
// parameters the policy does not name share an entry, and that those differing in one it names, or
// in any when it reads the object whole, do not.
func TestMemoKeysOnNamedHeadersAndParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		rego    string
		targets []string
		headers []map[string]string
		entries int
	}{
		{"a named header", `decision := input.request.headers["x-tenant"] == ["t1"]`, []string{"/a?x=1", "/a?x=2"},
			[]map[string]string{{"X-Tenant": "t1", "X-Other": "a"}, {"X-Tenant": "t1", "X-Other": "b"}, {"X-Tenant": "t2"}, {}}, 2},
		{"a named header through object.get", `decision := object.get(input.request.headers, "x-tenant", []) == ["t1"]`, []string{"/a?x=1", "/a?x=2"},
			[]map[string]string{{"X-Tenant": "t1", "X-Other": "a"}, {"X-Tenant": "t1", "X-Other": "b"}, {"X-Tenant": "t2"}, {}}, 3},
		{"a header passed to object.get and elsewhere", `decision := object.get(input.request.headers, "x-tenant", []) == ["t1"]

other := count(input.request.headers)`, []string{"/a"},
			[]map[string]string{{"X-Tenant": "t1", "X-Other": "a"}, {"X-Tenant": "t1", "X-Other": "b"}}, 2},
		{"a header read whole", `decision := count(input.request.headers) > 1`, []string{"/a"},
			[]map[string]string{{"X-Tenant": "t1", "X-Other": "a"}, {"X-Tenant": "t1", "X-Other": "b"}, {"X-Tenant": "t1"}}, 3},
		{"a variable header name", `decision if input.request.headers[k][0] == "t1"`, []string{"/a"},
			[]map[string]string{{"X-Tenant": "t1", "X-Other": "a"}, {"X-Tenant": "t1", "X-Other": "b"}}, 2},
		{"a named parameter", `decision := input.request.query.page == ["1"]`, []string{"/a?page=1&x=1", "/a?x=2&page=1", "/a?page=2", "/a", "/b?page=1"},
			[]map[string]string{{"X-Tenant": "t1"}}, 2},
		{"the query whole", `decision := count(input.request.query) > 1`, []string{"/a?page=1&x=1", "/a?page=1&x=2", "/a?page=1&x=1"},
			[]map[string]string{{}}, 2},
		{"a credential header named", `decision := object.get(input.request.headers, "authorization", []) == []`, []string{"/a"},
			[]map[string]string{{"Authorization": "Bearer a"}, {"Authorization": "Bearer b"}, {}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := memoEngine(t, tt.rego)
			id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
			for _, target := range tt.targets {
				for _, h := range tt.headers {
					memoized, err1 := e.Decide(ctx, memoInput("GET", target, h, id, nil))
					fresh, err2 := e.Decide(ctx, memoInput("GET", target, h, &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}, nil))
					if fmt.Sprint(memoized, err1) != fmt.Sprint(fresh, err2) {
						t.Fatalf("%s %v: memo %+v %v, fresh %+v %v", target, h, memoized, err1, fresh, err2)
					}
				}
			}
			if n := memoEntries(t, e, id); n != tt.entries {
				t.Fatalf("%d memo entries, want %d", n, tt.entries)
			}
		})
	}
}

// TestMemoKeyRefusesAmbiguousHeaders checks that a request whose header map holds two spellings of a
// name the policy reads (which the input merges in map order) is evaluated, not looked up.
func TestMemoKeyRefusesAmbiguousHeaders(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("GET", "/a", nil)
	req.Header["X-Tenant"] = []string{"t1"}
	req.Header["x-tenant"] = []string{"t2"}
	in := &Input{Request: req, Path: "/a", Identity: &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}}
	for _, read := range []names{{all: true}, {list: []string{"x-tenant"}}} {
		use := keyUse{fields: inputUse{headers: true}, headers: read}
		if _, ok := memoKeyOf(in, use.fields, use); ok {
			t.Errorf("reading %+v: a key for two spellings of x-tenant", read)
		}
	}
	use := keyUse{fields: inputUse{headers: true}, headers: names{list: []string{"x-other"}}}
	if _, ok := memoKeyOf(in, use.fields, use); !ok {
		t.Error("no key although the policy reads another header")
	}
}

// TestMemoKeyChecksTheInput checks that a request whose input cannot be built has no memo key, so
// that it is refused as a fresh evaluation refuses it even when the memo has an entry for its key.
func TestMemoKeyChecksTheInput(t *testing.T) {
	t.Parallel()
	e := memoEngine(t, `decision := input.request.query.page == ["1"]`)
	ctx := context.Background()
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
	if _, err := e.Decide(ctx, memoInput("GET", "/a?page=1", nil, id, nil)); err != nil {
		t.Fatal(err)
	}
	for _, in := range []Input{
		memoInput("GET", "/a?page=1&x=%zz", nil, id, nil),
		memoInput("GET", "/a?page=1&x=1;y=2", nil, id, nil),
		{Request: httptest.NewRequest("GET", "/a?page=1", nil), Path: "/a/../b", Identity: id},
		{Request: httptest.NewRequest("GET", "/a?page=1", nil), Path: "a", Identity: id},
	} {
		if _, err := e.Decide(ctx, in); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s %s: %v, want ErrBadRequest", in.Request.URL, in.Path, err)
		}
	}
	if hits, _ := e.MemoStats(); hits != 0 {
		t.Fatalf("memo hits %d for requests a fresh evaluation refuses", hits)
	}
	bad := &identity.Identity{Kind: identity.KindUserPool, Subject: "bob", Claims: map[string]any{"c": func() {}}}
	if _, ok := memoKeyOf(&Input{Request: httptest.NewRequest("GET", "/a", nil), Path: "/a", Identity: bad}, inputUse{}, keyUse{}); ok {
		t.Error("a key for an identity whose input cannot be built")
	}
}

// TestMemoSeesWithModifiers checks that what a `with` modifier puts in the input keys the memo: the
// inner rules read a header or the path, which the modifier replaces by a query parameter or a header.
func TestMemoSeesWithModifiers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		rego     string
		requests []struct {
			target  string
			headers map[string]string
			want    bool
		}
	}{
		{"a header replaced by a parameter", "default decision := false\n\ninner if input.request.headers[\"x-a\"][0] == \"yes\"\n\n" +
			"decision if inner with input.request.headers as {\"x-a\": input.request.query.a}", []struct {
			target  string
			headers map[string]string
			want    bool
		}{{"/p?a=yes", map[string]string{"X-A": "no"}, true}, {"/p?a=no", map[string]string{"X-A": "yes"}, false}, {"/p?a=yes", nil, true}}},
		{"the input replaced by one of a header", "default decision := false\n\ninner if input.request.path == \"/x\"\n\n" +
			"decision if inner with input as {\"request\": {\"path\": input.request.headers[\"x-p\"][0]}}", []struct {
			target  string
			headers map[string]string
			want    bool
		}{{"/p", map[string]string{"X-P": "/x"}, true}, {"/p", map[string]string{"X-P": "/y"}, false}, {"/x", map[string]string{"X-P": "/y"}, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := memoEngine(t, tt.rego)
			id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
			for range 2 {
				for i, r := range tt.requests {
					d, err := e.Decide(ctx, memoInput("GET", r.target, r.headers, id, nil))
					if err != nil || d.Allow != r.want {
						t.Fatalf("request %d (%s %v): %+v, %v; want allow %v", i, r.target, r.headers, d, err, r.want)
					}
				}
			}
			if hits, _ := e.MemoStats(); hits == 0 {
				t.Fatal("never memoized: the test needs the memo")
			}
		})
	}
}
