package authorizer

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

func TestNewPolicyRulesDecideWithTheEngine(t *testing.T) {
	idp := testidp.New(t)
	e, err := NewPolicyEngine(context.Background(), EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	alice := idp.AccessToken(t, map[string]any{"custom:tenant_id": "t1"}) // groups admins, ops
	tenant := ClaimRule{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1}
	cases := []struct {
		name   string
		cfg    PolicyConfig
		target string
		allow  bool
	}{
		{"member of a required group", PolicyConfig{Groups: []string{"admins"}}, "/admin", true},
		{"member of no required group", PolicyConfig{Groups: []string{"billing"}}, "/admin", false},
		{"tenant in the path", PolicyConfig{Claims: []ClaimRule{tenant}}, "/tenants/t1/orders", true},
		{"another tenant", PolicyConfig{Claims: []ClaimRule{tenant}}, "/tenants/t2/orders", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := NewPolicyRules(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			a := newAuthorizer(t, idp, Config{Policy: e, Rules: rules})
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Header.Set("Authorization", "Bearer "+alice)
			if d := a.Authorize(context.Background(), Request{HTTP: r}); d.Allow != tc.allow {
				t.Fatalf("allow = %v, want %v (%v)", d.Allow, tc.allow, d.Reason)
			}
		})
	}
}

func TestNewPolicyRulesConfigErrors(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/orders"
	valid := RolePolicy{RoleARN: role, Files: []PolicyFile{{Name: "orders.json", Data: []byte(`{"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/*"}]}`)}}}
	api := ExecuteAPI{Region: "us-east-1"}
	cases := []struct {
		name string
		cfg  PolicyConfig
		want string
		is   error
	}{
		{"empty group", PolicyConfig{Groups: []string{""}}, "", nil},
		{"claim rule without a claim", PolicyConfig{Claims: []ClaimRule{{From: ClaimFromQuery, Name: "tenant"}}}, "", nil},
		{"document that is not one", PolicyConfig{ExecuteAPI: api,
			RolePolicies: []RolePolicy{{RoleARN: role, Files: []PolicyFile{{Name: "bad.json", Data: []byte("{")}}}}},
			"role_policy " + role + ": ", policy.ErrInvalidPolicyDocument},
		{"any role next to role policies", PolicyConfig{ExecuteAPI: api, RolePolicies: []RolePolicy{valid}, AllowAnyRole: true},
			"any role: ", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewPolicyRules(tc.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want it to start with %q and be %v", err, tc.want, tc.is)
			}
		})
	}
	if _, err := NewPolicyRules(PolicyConfig{ExecuteAPI: api, RolePolicies: []RolePolicy{valid}}); err != nil {
		t.Errorf("a valid role policy: %v", err)
	}
}
