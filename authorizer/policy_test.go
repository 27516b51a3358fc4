package authorizer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

func engine(t *testing.T, rego string) *policy.Engine {
	t.Helper()
	cfg := policy.Config{}
	if rego != "" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package cognito.authz\n\n"+rego), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Paths = []string{dir}
	}
	e, err := policy.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func rules(t *testing.T, groups, scopes []string, claims ...policy.ClaimRule) *policy.Rules {
	t.Helper()
	r, err := policy.NewRules(groups, scopes, claims)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuthorizeWithPolicy(t *testing.T) {
	idp := testidp.New(t)
	builtin := engine(t, "")
	alice := idp.AccessToken(t, map[string]any{"custom:tenant_id": "t1"}) // groups admins, ops; scopes orders/read, orders/write

	cases := []struct {
		name   string
		cfg    Config
		target string
		token  string
		allow  bool
		status int
		code   string
		label  string
	}{
		{"member of a required group", Config{Rules: rules(t, []string{"admins"}, nil)}, "/admin", alice, true, 0, "", "allowed"},
		{"member of no required group", Config{Rules: rules(t, []string{"billing"}, nil)}, "/admin", alice, false, 403, "", policy.RuleGroups},
		{"missing scope", Config{Rules: rules(t, nil, []string{"orders/delete"})}, "/orders", alice, false, 403, "insufficient_scope", policy.RuleScopes},
		{"tenant in the path", Config{Rules: rules(t, nil, nil, policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1})}, "/tenants/t1/orders", alice, true, 0, "", "allowed"},
		{"another tenant", Config{Rules: rules(t, nil, nil, policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1})}, "/tenants/t2/orders", alice, false, 403, "", policy.RuleClaims},
		{"anonymous where a group is required", Config{AllowAnonymous: true, Rules: rules(t, []string{"admins"}, nil)}, "/admin", "", false, 401, "", policy.RuleAuthentication},
		{"anonymous on an open route", Config{AllowAnonymous: true}, "/public", "", true, 0, "", "allowed"},
		{"shadow lets a deny through", Config{Shadow: true, Rules: rules(t, []string{"billing"}, nil)}, "/admin", alice, true, 403, "", policy.RuleGroups},
		{"shadow lets a bad token through", Config{Shadow: true}, "/x", "garbage", true, 401, "invalid_token", "invalid_token"},
		{"shadow still refuses an ambiguous path", Config{Shadow: true}, "/a/../b", alice, false, 400, "invalid_request", "bad_path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Policy = builtin
			a := newAuthorizer(t, idp, tc.cfg)
			r := httptest.NewRequest("GET", tc.target, nil)
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			d := a.Authorize(context.Background(), Request{HTTP: r})
			if d.Allow != tc.allow || d.Status != tc.status || d.Code != tc.code || d.Label != tc.label {
				t.Fatalf("allow=%v status=%d code=%q label=%q reason=%v; want allow=%v status=%d code=%q label=%q",
					d.Allow, d.Status, d.Code, d.Label, d.Reason, tc.allow, tc.status, tc.code, tc.label)
			}
			if d.Shadow != (tc.cfg.Shadow && tc.status != 0 && tc.status != 400) {
				t.Errorf("shadow = %v", d.Shadow)
			}
			if d.Allow && !d.Shadow && d.PolicyTime == 0 {
				t.Error("allowed without the policy running")
			}
		})
	}
}

func TestAuthorizePolicyFailsClosed(t *testing.T) {
	idp := testidp.New(t)
	token := idp.AccessToken(t, nil)
	cases := []struct {
		name, rego string
		status     int
		err        error
	}{
		{"undefined", `decision := true if input.identity.username == "nobody"`, 500, policy.ErrUndefined},
		{"wrong type", `decision := "yes"`, 500, policy.ErrDecisionType},
		{"conflict", `decision := true if input.identity.subject != ""
decision := false if input.identity.subject != ""`, 500, policy.ErrEvaluation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthorizer(t, idp, Config{Policy: engine(t, tc.rego)})
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			d := a.Authorize(context.Background(), Request{HTTP: r})
			if d.Allow || d.Status != tc.status || !errors.Is(d.Reason, tc.err) || d.Label != "policy_error" {
				t.Fatalf("allow=%v status=%d label=%q reason=%v; want %d %v", d.Allow, d.Status, d.Label, d.Reason, tc.status, tc.err)
			}
		})
	}
}

func TestAuthorizePolicyHeaders(t *testing.T) {
	idp := testidp.New(t)
	a := newAuthorizer(t, idp, Config{Policy: engine(t, `decision := {"allow": true, "headers": {"X-Tenant": input.identity.claims["custom:tenant_id"]}}`)})
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Authorization", "Bearer "+idp.AccessToken(t, map[string]any{"custom:tenant_id": "t9"}))
	d := a.Authorize(context.Background(), Request{HTTP: r})
	if !d.Allow || d.Headers["X-Tenant"] != "t9" {
		t.Fatalf("allow=%v headers=%v reason=%v", d.Allow, d.Headers, d.Reason)
	}
}

func TestAuthorizeSigV4PolicyDeny(t *testing.T) {
	// A SigV4 caller refused by the policy gets API Gateway's IAM deny.
	keysRing, verifier := poolVerifier(t)
	a := New(Config{Signatures: verifier, Policy: engine(t, `decision := {"allow": false, "status": 403, "rule": "iam"}`)})
	creds := poolCredentials(t, keysRing, "ASIAAAAAAAAAAAAAAAA9", clock.Add(3600e9))
	d := a.Authorize(context.Background(), Request{HTTP: signedRequest(t, creds, "GET", "/x", "")})
	if d.Allow || d.Status != http.StatusForbidden || d.Code != "AccessDeniedException" || d.Label != "iam" {
		t.Fatalf("allow=%v status=%d code=%q label=%q reason=%v", d.Allow, d.Status, d.Code, d.Label, d.Reason)
	}
}

// TestAuthorizePolicyUnavailable answers 503 while no good policy was ever loaded (OPA's bundle never
// arrived), never an allow and never the built-in policy's answer.
func TestAuthorizePolicyUnavailable(t *testing.T) {
	idp := testidp.New(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	e, err := policy.New(context.Background(), policy.Config{ReadyTimeout: -1, OPAConfig: []byte(`{
		"services": {"bundles": {"url": "` + down.URL + `"}},
		"bundles": {"authz": {"service": "bundles", "resource": "/authz.tar.gz"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	a := newAuthorizer(t, idp, Config{Policy: e})
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+idp.AccessToken(t, nil))
	d := a.Authorize(context.Background(), Request{HTTP: r})
	if d.Allow || d.Status != http.StatusServiceUnavailable || d.Label != "policy_unavailable" || !errors.Is(d.Reason, policy.ErrUnavailable) {
		t.Fatalf("allow=%v status=%d label=%q reason=%v; want 503 policy_unavailable", d.Allow, d.Status, d.Label, d.Reason)
	}
}
