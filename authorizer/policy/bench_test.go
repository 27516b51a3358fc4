package policy_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// cognitoIdentity is a realistic Cognito user-pool caller: an access token's identity with about
// twenty claims, as a verifier returns it (and caches it).
func cognitoIdentity() *identity.Identity {
	const pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123dEf"
	return &identity.Identity{
		Kind:          identity.KindUserPool,
		Authenticated: true,
		Issuer:        pool,
		Subject:       "8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c",
		Username:      "alice@example.com",
		ClientID:      "3n4b5urk1ft4fl3mg5e62d9ado",
		TokenUse:      "access",
		Groups:        []string{"staff", "admins", "eu-west"},
		Scopes:        []string{"openid", "orders/read", "orders/write", "profile"},
		ExpiresAt:     time.Unix(1_900_000_000, 0),
		Claims: map[string]any{
			"sub":                    "8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c",
			"cognito:groups":         []any{"staff", "admins", "eu-west"},
			"iss":                    pool,
			"version":                float64(2),
			"client_id":              "3n4b5urk1ft4fl3mg5e62d9ado",
			"origin_jti":             "0b7c6d5e-4f3a-2b1c-0d9e-8f7a6b5c4d3e",
			"event_id":               "1c2d3e4f-5a6b-7c8d-9e0f-1a2b3c4d5e6f",
			"token_use":              "access",
			"scope":                  "openid orders/read orders/write profile",
			"auth_time":              float64(1_899_996_400),
			"exp":                    float64(1_900_000_000),
			"iat":                    float64(1_899_996_400),
			"jti":                    "2d3e4f5a-6b7c-8d9e-0f1a-2b3c4d5e6f7a",
			"username":               "alice@example.com",
			"custom:tenant_id":       "t-1234",
			"custom:plan":            "enterprise",
			"custom:department":      "finance",
			"email":                  "alice@example.com",
			"email_verified":         true,
			"cognito:roles":          []any{"arn:aws:iam::123456789012:role/staff"},
			"cognito:preferred_role": "arn:aws:iam::123456789012:role/staff",
		},
	}
}

// benchRequests are requests to varied paths with a typical set of headers.
func benchRequests(n int) []policy.Input {
	ins := make([]policy.Input, n)
	for i := range ins {
		path := fmt.Sprintf("/tenants/t-1234/orders/%d", i)
		r := httptest.NewRequest("GET", "https://api.example.com"+path+"?page=2&limit=50", nil)
		r.Header.Set("Authorization", "Bearer eyJraWQiOiJ0ZXN0In0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl")
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Accept-Encoding", "gzip, deflate, br")
		r.Header.Set("User-Agent", "orders-client/1.4 (go)")
		r.Header.Set("X-Request-Id", fmt.Sprintf("req-%d", i))
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		ins[i] = policy.Input{Request: r, Path: path, RemoteIP: "203.0.113.9"}
	}
	return ins
}

// roleIdentity is a realistic identity-pool caller: signed in through a user pool, with the
// principal tags Cognito gives by default and a tenant tag.
func roleIdentity() *identity.Identity {
	const provider = "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123dEf"
	return &identity.Identity{
		Kind:          identity.KindIdentityPool,
		Authenticated: true,
		Subject:       "us-east-1:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		Pool: &identity.PoolCredentials{
			IdentityID:             "us-east-1:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
			IdentityPoolID:         "us-east-1:5b0e2a4c-7d1f-4e8a-9c3b-2f6d8e1a0b4c",
			RoleARN:                "arn:aws:iam::123456789012:role/orders-user",
			PrincipalTags:          map[string]string{"username": "8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c", "client": "3n4b5urk1ft4fl3mg5e62d9ado", "tenant": "t-1234"},
			LoginProviders:         []string{provider},
			AuthenticationProvider: provider + "," + provider + ":CognitoSignIn:8f3b2c1a-5d4e-4f6a-9b8c-7d6e5f4a3b2c",
			AccessKeyID:            "ASIAEXAMPLEEXAMPLE00",
		},
		ExpiresAt: time.Unix(1_900_000_000, 0),
	}
}

// rolePolicy is a realistic role policy: three statements, policy variables, a condition.
const rolePolicy = `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "TenantOrders", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:orders1/prod/GET/tenants/${aws:PrincipalTag/tenant}/*",
		 "Condition": {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}},
		{"Sid": "OwnProfile", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:orders1/prod/*/users/${cognito-identity.amazonaws.com:sub}/*"},
		{"Sid": "NoAdmin", "Effect": "Deny", "Action": "execute-api:*",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:orders1/prod/*/admin/*"}
	]
}`

func benchmarkDecision(b *testing.B, cfg policy.Config, rules *policy.Rules) {
	benchmarkDecisionAs(b, cfg, rules, cognitoIdentity())
}

func benchmarkDecisionAs(b *testing.B, cfg policy.Config, rules *policy.Rules, id *identity.Identity) {
	benchmarkDecisionPaths(b, cfg, rules, id, 64)
}

// benchmarkDecisionPaths decides for id on paths distinct paths in turn.
func benchmarkDecisionPaths(b *testing.B, cfg policy.Config, rules *policy.Rules, id *identity.Identity, paths int) {
	ctx := context.Background()
	e, err := policy.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	ins := benchRequests(paths)
	for i := range ins {
		ins[i].Identity = id
		ins[i].Rules = rules
	}
	b.ReportAllocs()
	i := 0
	start := cpuTime()
	for b.Loop() {
		d, err := e.Decide(ctx, ins[i%len(ins)])
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
		i++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDecision measures one decision for a cached Cognito identity on varied paths: the built-in
// policy with groups and scopes (and with a tenant claim rule), an identity-pool caller decided by its
// role's IAM policy, and a custom Rego policy.
func BenchmarkDecision(b *testing.B) {
	b.Run("builtin/groups+scopes", func(b *testing.B) {
		rules, err := policy.NewRules([]string{"ops", "admins"}, []string{"orders/read"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		benchmarkDecision(b, policy.Config{}, rules)
	})
	b.Run("builtin/groups+scopes+claim", func(b *testing.B) {
		rules, err := policy.NewRules([]string{"ops", "admins"}, []string{"orders/read"},
			[]policy.ClaimRule{{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1}})
		if err != nil {
			b.Fatal(err)
		}
		benchmarkDecision(b, policy.Config{}, rules)
	})
	// More paths than the decision memo keeps per caller: the built-in rules read no path, so the
	// decision is reused on all of them.
	b.Run("builtin/groups+scopes/4096-paths", func(b *testing.B) {
		rules, err := policy.NewRules([]string{"ops", "admins"}, []string{"orders/read"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		benchmarkDecisionPaths(b, policy.Config{}, rules, cognitoIdentity(), 4096)
	})
	b.Run("builtin/no-rules", func(b *testing.B) {
		benchmarkDecision(b, policy.Config{}, nil)
	})
	b.Run("builtin/iam-role", func(b *testing.B) {
		doc, err := policy.ParsePolicyDocument("orders-user.json", []byte(rolePolicy))
		if err != nil {
			b.Fatal(err)
		}
		rules, err := policy.NewRules([]string{"ops", "admins"}, []string{"orders/read"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		rules, err = rules.WithRolePolicies(policy.ExecuteAPI{Region: "us-east-1", APIID: "orders1", Stage: "prod"},
			[]policy.RolePolicy{{RoleARN: "arn:aws:iam::123456789012:role/orders-user", Documents: []*policy.PolicyDocument{doc}}})
		if err != nil {
			b.Fatal(err)
		}
		benchmarkDecisionAs(b, policy.Config{}, rules, roleIdentity())
	})
	b.Run("custom", func(b *testing.B) {
		dir := b.TempDir()
		src := `package orders

import data.cognito.lib

default decision := {"allow": false, "status": 403, "reason": "not allowed"}

decision := {"allow": true, "headers": {"X-Tenant": input.identity.claims["custom:tenant_id"]}} if {
	input.request.method == "GET"
	lib.path_matches("/tenants/*/orders/*")
	input.request.path_segments[1] == input.identity.claims["custom:tenant_id"]
	lib.has_scope("orders/read")
}
`
		if err := os.WriteFile(filepath.Join(dir, "orders.rego"), []byte(src), 0o600); err != nil {
			b.Fatal(err)
		}
		benchmarkDecision(b, policy.Config{Paths: []string{dir}, Decision: "data.orders.decision"}, nil)
	})
}

// cpuTime is the CPU time this process has used (all threads, GC included). Benchmarks report it per
// operation next to ns/op because the machines they run on are shared: wall time per operation
// grows with other processes' load, CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
