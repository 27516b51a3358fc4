package policy

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// TestIdentityConvertedOnce checks that the identity object is converted on the first decision and
// reused by the next ones, for any path and any route: identities are served from caches, and their
// conversion (claims included) is the costly part of the input.
func TestIdentityConvertedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice", Groups: []string{"admins"}, Claims: map[string]any{"custom:tenant_id": "t1"}}
	rules, err := NewRules([]string{"admins"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	decide := func(path string, r *Rules) {
		t.Helper()
		d, err := e.Decide(ctx, Input{Request: httptest.NewRequest("GET", path, nil), Path: path, Identity: id, Rules: r})
		if err != nil || !d.Allow {
			t.Fatalf("%s: %+v, %v", path, d, err)
		}
	}
	decide("/a", rules)
	first, ok := id.Memo(memoKey{}, func() any { return nil }).(memoIdentity)
	if !ok || first.term == nil {
		t.Fatal("the first decision did not memoize the identity object")
	}
	decide("/b", nil)
	decide("/c/d", rules)
	again := id.Memo(memoKey{}, func() any {
		t.Fatal("the identity object was converted again")
		return nil
	}).(memoIdentity)
	if again.term != first.term {
		t.Fatal("a later decision replaced the memoized identity object")
	}
	if got := again.term.Value.(ast.Object).Get(ast.StringTerm("subject")); got == nil || got.Value.Compare(ast.String("alice")) != 0 {
		t.Fatalf("memoized identity object has subject %v", got)
	}
}
