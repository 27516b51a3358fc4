package policy_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// The built-in policy, with a route that requires the group "admins".
func Example() {
	ctx := context.Background()
	engine, err := policy.New(ctx, policy.Config{})
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)
	admins, err := policy.NewRules([]string{"admins"}, nil, nil)
	if err != nil {
		panic(err)
	}

	for _, caller := range []*identity.Identity{
		{Kind: identity.KindUserPool, Subject: "alice", Groups: []string{"admins"}},
		{Kind: identity.KindUserPool, Subject: "bob", Groups: []string{"staff"}},
		identity.Anonymous(),
	} {
		r := httptest.NewRequest("GET", "/admin/users", nil)
		d, err := engine.Decide(ctx, policy.Input{Request: r, Path: r.URL.Path, Identity: caller, Rules: admins})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%q: allow=%v status=%d rule=%q\n", caller.Subject, d.Allow, d.Status, d.Rule)
	}
	// Output:
	// "alice": allow=true status=200 rule=""
	// "bob": allow=false status=403 rule="groups"
	// "": allow=false status=401 rule="authentication"
}

// A tenant rule from a Caddyfile line: the caller's custom:tenant_id must be the path's second
// segment.
func ExampleParseClaimRule() {
	ctx := context.Background()
	rule, err := policy.ParseClaimRule([]string{"custom:tenant_id", "segment", "1"})
	if err != nil {
		panic(err)
	}
	rules, err := policy.NewRules(nil, nil, []policy.ClaimRule{rule})
	if err != nil {
		panic(err)
	}
	engine, err := policy.New(ctx, policy.Config{})
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)

	caller := &identity.Identity{Kind: identity.KindUserPool, Claims: map[string]any{"custom:tenant_id": "t1"}}
	for _, path := range []string{"/tenants/t1/orders", "/tenants/t2/orders"} {
		d, err := engine.Decide(ctx, policy.Input{Request: httptest.NewRequest("GET", path, nil), Path: path, Identity: caller, Rules: rules})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s allow=%v reason=%q\n", path, d.Allow, d.Reason)
	}
	// Output:
	// /tenants/t1/orders allow=true reason=""
	// /tenants/t2/orders allow=false reason="claim custom:tenant_id does not match path segment 1"
}

// A policy of your own, importing the embedded library, with a decision that sends a header upstream.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "policy")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	rego := `package orders

import data.cognito.lib

default decision := {"allow": false, "status": 403, "reason": "orders are for staff"}

decision := {"allow": true, "headers": {"X-Staff": input.identity.username}} if {
	lib.is_member_of("staff")
	lib.path_matches("/orders/**")
}
`
	if err := os.WriteFile(filepath.Join(dir, "orders.rego"), []byte(rego), 0o600); err != nil {
		panic(err)
	}

	ctx := context.Background()
	engine, err := policy.New(ctx, policy.Config{Paths: []string{dir}, Decision: "data.orders.decision"})
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)
	caller := &identity.Identity{Kind: identity.KindUserPool, Username: "carol", Groups: []string{"staff"}}
	d, err := engine.Decide(ctx, policy.Input{Request: httptest.NewRequest("POST", "/orders/7", nil), Path: "/orders/7", Identity: caller})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Allow, d.Headers)
	// Output:
	// true map[X-Staff:carol]
}

// IAM-style role policies: each signed-in user of an identity pool reaches only the paths under their
// own identity id, as with API Gateway's IAM authorization.
func ExampleRules_WithRolePolicies() {
	doc, err := policy.ParsePolicyDocument("users.json", []byte(`{
		"Version": "2012-10-17",
		"Statement": [{
			"Effect": "Allow",
			"Action": "execute-api:Invoke",
			"Resource": "arn:aws:execute-api:us-east-1:123456789012:orders/prod/*/users/${cognito-identity.amazonaws.com:sub}/*"
		}]
	}`))
	if err != nil {
		panic(err)
	}
	const role = "arn:aws:iam::123456789012:role/orders-user"
	rules, err := (*policy.Rules)(nil).WithRolePolicies(
		policy.ExecuteAPI{Region: "us-east-1", APIID: "orders", Stage: "prod"}, // the account is the role's
		[]policy.RolePolicy{{RoleARN: role, Documents: []*policy.PolicyDocument{doc}}},
	)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	engine, err := policy.New(ctx, policy.Config{})
	if err != nil {
		panic(err)
	}
	defer engine.Close(ctx)

	alice := &identity.Identity{Kind: identity.KindIdentityPool, Authenticated: true,
		Pool: &identity.PoolCredentials{
			IdentityID:     "us-east-1:a11ce",
			IdentityPoolID: "us-east-1:pool",
			RoleARN:        role,
		}}
	for _, path := range []string{"/users/us-east-1:a11ce/cart", "/users/us-east-1:b0b/cart"} {
		d, err := engine.Decide(ctx, policy.Input{Request: httptest.NewRequest("PUT", path, nil), Path: path, Identity: alice, Rules: rules})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s allow=%v rule=%q\n", path, d.Allow, d.Rule)
	}
	// Output:
	// /users/us-east-1:a11ce/cart allow=true rule=""
	// /users/us-east-1:b0b/cart allow=false rule="iam"
}
