package policy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

func TestBuiltinPolicy(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	tenantSegment := policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1}
	tenantHeader := policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromHeader, Name: "X-Tenant-Id"}
	tenantQuery := policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromQuery, Name: "tenant"}
	tests := []struct {
		name    string
		id      *identity.Identity
		rules   *policy.Rules
		target  string
		headers http.Header
		allow   bool
		status  int
		rule    string
	}{
		{name: "no rules admit a user", id: alice(), target: "/", allow: true, status: 200},
		{name: "no rules admit an anonymous caller", id: identity.Anonymous(), target: "/", allow: true, status: 200},
		{name: "empty rules admit an anonymous caller", id: identity.Anonymous(), rules: mustRules(t, nil, nil), target: "/", allow: true, status: 200},
		{name: "no rules deny a guest", id: guest(), target: "/", status: 403, rule: policy.RuleIAM},
		{name: "empty rules deny a guest", id: guest(), rules: mustRules(t, nil, nil), target: "/", status: 403, rule: policy.RuleIAM},
		{name: "any role admits a guest", id: guest(), rules: anyRole(t, nil), target: "/", allow: true, status: 200},
		{name: "member of one required group", id: alice(), rules: mustRules(t, []string{"ops", "admins"}, nil), target: "/admin/x", allow: true, status: 200},
		{name: "member of no required group", id: bob(), rules: mustRules(t, []string{"admins"}, nil), target: "/admin/x", status: 403, rule: policy.RuleGroups},
		{name: "guest on a group route", id: guest(), rules: mustRules(t, []string{"admins"}, nil), target: "/admin/x", status: 403, rule: policy.RuleIAM},
		{name: "guest of any role has no groups", id: guest(), rules: anyRole(t, mustRules(t, []string{"admins"}, nil)), target: "/admin/x", status: 403, rule: policy.RuleGroups},
		{name: "anonymous on a group route", id: identity.Anonymous(), rules: mustRules(t, []string{"admins"}, nil), target: "/admin", status: 401, rule: policy.RuleAuthentication},
		{name: "anonymous on a scope route", id: identity.Anonymous(), rules: mustRules(t, nil, []string{"orders/read"}), target: "/orders", status: 401, rule: policy.RuleAuthentication},
		{name: "anonymous on a claim route", id: identity.Anonymous(), rules: mustRules(t, nil, nil, tenantSegment), target: "/tenants/t1", status: 401, rule: policy.RuleAuthentication},
		{name: "one required scope granted", id: alice(), rules: mustRules(t, nil, []string{"orders/write", "orders/read"}), target: "/orders", allow: true, status: 200},
		{name: "missing scope is insufficient_scope", id: bob(), rules: mustRules(t, nil, []string{"orders/read"}), target: "/orders", status: 403, rule: policy.RuleScopes},
		{name: "groups checked before scopes", id: bob(), rules: mustRules(t, []string{"admins"}, []string{"orders/read"}), target: "/orders", status: 403, rule: policy.RuleGroups},
		{name: "group and scope both held", id: alice(), rules: mustRules(t, []string{"admins"}, []string{"orders/read"}), target: "/orders", allow: true, status: 200},
		{name: "tenant in the path matches", id: alice(), rules: mustRules(t, nil, nil, tenantSegment), target: "/tenants/t1/orders", allow: true, status: 200},
		{name: "other tenant in the path", id: alice(), rules: mustRules(t, nil, nil, tenantSegment), target: "/tenants/t3/orders", status: 403, rule: policy.RuleClaims},
		{name: "other user's tenant in the path", id: bob(), rules: mustRules(t, nil, nil, tenantSegment), target: "/tenants/t1/orders", status: 403, rule: policy.RuleClaims},
		{name: "path too short for the segment", id: alice(), rules: mustRules(t, nil, nil, tenantSegment), target: "/tenants", status: 403, rule: policy.RuleClaims},
		{name: "empty tenant segment", id: alice(), rules: mustRules(t, nil, nil, policy.ClaimRule{Claim: "missing", From: policy.FromSegment, Segment: 1}), target: "/tenants//orders", status: 403, rule: policy.RuleClaims},
		{name: "tenant header matches", id: alice(), rules: mustRules(t, nil, nil, tenantHeader), target: "/orders", headers: http.Header{"X-Tenant-Id": {"t1"}}, allow: true, status: 200},
		{name: "tenant header sent twice", id: alice(), rules: mustRules(t, nil, nil, tenantHeader), target: "/orders", headers: http.Header{"X-Tenant-Id": {"t1", "t3"}}, status: 403, rule: policy.RuleClaims},
		{name: "tenant header missing", id: alice(), rules: mustRules(t, nil, nil, tenantHeader), target: "/orders", status: 403, rule: policy.RuleClaims},
		{name: "tenant query matches", id: alice(), rules: mustRules(t, nil, nil, tenantQuery), target: "/orders?tenant=t1", allow: true, status: 200},
		{name: "tenant query sent twice", id: alice(), rules: mustRules(t, nil, nil, tenantQuery), target: "/orders?tenant=t3&tenant=t1", status: 403, rule: policy.RuleClaims},
		{name: "array claim contains the segment", id: alice(), rules: mustRules(t, nil, nil, policy.ClaimRule{Claim: "tenants", From: policy.FromSegment, Segment: 1}), target: "/tenants/t2", allow: true, status: 200},
		{name: "number claim by its JSON form", id: alice(), rules: mustRules(t, nil, nil, policy.ClaimRule{Claim: "level", From: policy.FromValue, Values: []string{"2", "3"}}), target: "/", allow: true, status: 200},
		{name: "boolean claim by its JSON form", id: alice(), rules: mustRules(t, nil, nil, policy.ClaimRule{Claim: "email_verified", From: policy.FromValue, Values: []string{"true"}}), target: "/", allow: true, status: 200},
		{name: "every claim rule must hold", id: alice(), rules: mustRules(t, nil, nil, tenantSegment, policy.ClaimRule{Claim: "level", From: policy.FromValue, Values: []string{"9"}}), target: "/tenants/t1", status: 403, rule: policy.RuleClaims},
		{name: "everything at once", id: alice(), rules: mustRules(t, []string{"admins"}, []string{"orders/read"}, tenantSegment, tenantHeader), target: "/tenants/t1/orders", headers: http.Header{"X-Tenant-Id": {"t1"}}, allow: true, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := get(tt.target, tt.id)
			in.Rules = tt.rules
			for k, v := range tt.headers {
				in.Request.Header[k] = v
			}
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tt.allow || d.Status != tt.status || d.Rule != tt.rule {
				t.Fatalf("got allow=%v status=%d rule=%q (reason %q), want allow=%v status=%d rule=%q",
					d.Allow, d.Status, d.Rule, d.Reason, tt.allow, tt.status, tt.rule)
			}
			if !d.Allow && d.Reason == "" {
				t.Fatal("a deny of the built-in policy has no reason")
			}
		})
	}
}

func TestDecisionShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rego    string
		want    policy.Decision
		wantErr error
		errHas  string
	}{
		{name: "true allows", rego: `decision := true`, want: policy.Decision{Allow: true, Status: 200}},
		{name: "false denies with 403", rego: `decision := false`, want: policy.Decision{Status: 403}},
		{name: "object allow", rego: `decision := {"allow": true}`, want: policy.Decision{Allow: true, Status: 200}},
		{name: "object deny defaults to 403", rego: `decision := {"allow": false}`, want: policy.Decision{Status: 403}},
		{
			name: "object deny with status, reason and rule",
			rego: `decision := {"allow": false, "status": 401, "reason": "token expired", "rule": "auth.expiry"}`,
			want: policy.Decision{Status: 401, Reason: "token expired", Rule: "auth.expiry"},
		},
		{name: "deny with a 5xx", rego: `decision := {"allow": false, "status": 503}`, want: policy.Decision{Status: 503}},
		{
			name: "allow with headers, names canonicalized",
			rego: `decision := {"allow": true, "headers": {"x-tenant": "t1", "X-Plan": "pro tier"}}`,
			want: policy.Decision{Allow: true, Status: 200, Headers: map[string]string{"X-Tenant": "t1", "X-Plan": "pro tier"}},
		},
		{name: "allow with status 200", rego: `decision := {"allow": true, "status": 200}`, want: policy.Decision{Allow: true, Status: 200}},
		{name: "long reason truncated", rego: `decision := {"allow": false, "reason": concat("", [x | some i in numbers.range(1, 600); x := "é"])}`, want: policy.Decision{Status: 403, Reason: strings.Repeat("é", 256)}},
		{name: "string", rego: `decision := "allow"`, wantErr: policy.ErrDecisionType, errHas: "got string"},
		{name: "number", rego: `decision := 1`, wantErr: policy.ErrDecisionType, errHas: "got number"},
		{name: "array", rego: `decision := [true]`, wantErr: policy.ErrDecisionType, errHas: "got array"},
		{name: "set", rego: `decision contains true`, wantErr: policy.ErrDecisionType, errHas: "got set"},
		{name: "null", rego: `decision := null`, wantErr: policy.ErrDecisionType, errHas: "got null"},
		{name: "object without allow", rego: `decision := {"status": 403}`, wantErr: policy.ErrDecisionType, errHas: `without "allow"`},
		{name: "allow as a string", rego: `decision := {"allow": "true"}`, wantErr: policy.ErrDecisionType, errHas: `"allow" must be a boolean`},
		{name: "unknown key", rego: `decision := {"allow": true, "header": {"X-A": "b"}}`, wantErr: policy.ErrDecisionType, errHas: "unknown key"},
		{name: "redirect status on a deny", rego: `decision := {"allow": false, "status": 302}`, wantErr: policy.ErrDecisionType, errHas: "want 400-599"},
		{name: "success status on a deny", rego: `decision := {"allow": false, "status": 200}`, wantErr: policy.ErrDecisionType, errHas: "want 400-599"},
		{name: "deny status on an allow", rego: `decision := {"allow": true, "status": 403}`, wantErr: policy.ErrDecisionType, errHas: "on an allow"},
		{name: "status out of range", rego: `decision := {"allow": false, "status": 1000}`, wantErr: policy.ErrDecisionType, errHas: "not an HTTP status"},
		{name: "fractional status", rego: `decision := {"allow": false, "status": 403.5}`, wantErr: policy.ErrDecisionType, errHas: "not an HTTP status"},
		{name: "status as a string", rego: `decision := {"allow": false, "status": "403"}`, wantErr: policy.ErrDecisionType, errHas: "must be a number"},
		{name: "reason not a string", rego: `decision := {"allow": false, "reason": ["x"]}`, wantErr: policy.ErrDecisionType, errHas: `"reason" must be a string`},
		{name: "rule with a space", rego: `decision := {"allow": false, "rule": "no tenant"}`, wantErr: policy.ErrDecisionType, errHas: `"rule"`},
		{name: "empty rule", rego: `decision := {"allow": false, "rule": ""}`, wantErr: policy.ErrDecisionType, errHas: `"rule"`},
		{name: "headers not an object", rego: `decision := {"allow": true, "headers": ["X-A"]}`, wantErr: policy.ErrDecisionType, errHas: `"headers" must be an object`},
		{name: "header name with a space", rego: `decision := {"allow": true, "headers": {"X A": "b"}}`, wantErr: policy.ErrDecisionType, errHas: "invalid header name"},
		{name: "header name with a colon", rego: `decision := {"allow": true, "headers": {"X-A:": "b"}}`, wantErr: policy.ErrDecisionType, errHas: "invalid header name"},
		{name: "empty header name", rego: `decision := {"allow": true, "headers": {"": "b"}}`, wantErr: policy.ErrDecisionType, errHas: "invalid header name"},
		{name: "header value with CRLF", rego: `decision := {"allow": true, "headers": {"X-A": "b\r\nX-Cognito-Sub: admin"}}`, wantErr: policy.ErrDecisionType, errHas: "control character"},
		{name: "header value with LF", rego: `decision := {"allow": true, "headers": {"X-A": "b\nc"}}`, wantErr: policy.ErrDecisionType, errHas: "control character"},
		{name: "header value with NUL", rego: `decision := {"allow": true, "headers": {"X-A": "b\u0000"}}`, wantErr: policy.ErrDecisionType, errHas: "control character"},
		{name: "header value not a string", rego: `decision := {"allow": true, "headers": {"X-A": 1}}`, wantErr: policy.ErrDecisionType, errHas: "must be a string"},
		{name: "header given twice by case", rego: `decision := {"allow": true, "headers": {"x-a": "1", "X-A": "2"}}`, wantErr: policy.ErrDecisionType, errHas: "given twice"},
		{name: "header value too long", rego: `decision := {"allow": true, "headers": {"X-A": concat("", [x | some i in numbers.range(1, 4097); x := "a"])}}`, wantErr: policy.ErrDecisionType, errHas: "longer than"},
		{name: "too many headers", rego: `decision := {"allow": true, "headers": {sprintf("X-H%d", [i]): "v" | some i in numbers.range(1, 33)}}`, wantErr: policy.ErrDecisionType, errHas: "at most 32"},
		{name: "undefined", rego: "decision := true if input.request.method == \"POST\"", wantErr: policy.ErrUndefined},
		{name: "conflict between rules", rego: "decision := {k: v | some v in [1, 2]; k := \"a\"}", wantErr: policy.ErrEvaluation, errHas: "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := policyEngine(t, tt.rego)
			d, err := e.Decide(context.Background(), get("/x", alice()))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %+v, %v; want an error wrapping %v and saying %q", d, err, tt.wantErr, tt.errHas)
				}
				if !strings.Contains(err.Error(), "data.test.decision") || !strings.Contains(err.Error(), "policy [") {
					t.Fatalf("error %q does not name the policy and the decision", err)
				}
				if d.Allow {
					t.Fatal("an error came with an allow")
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tt.want.Allow || d.Status != tt.want.Status || d.Reason != tt.want.Reason || d.Rule != tt.want.Rule || !equalHeaders(d.Headers, tt.want.Headers) {
				t.Fatalf("got %+v, want %+v", d, tt.want)
			}
		})
	}
}

func equalHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestBuiltinErrors(t *testing.T) {
	t.Parallel()
	rego := "decision := to_number(input.request.query.n[0]) > 0\n"
	dir := writeFiles(t, map[string]string{"p.rego": "package test\n\n" + rego})
	tests := []struct {
		name    string
		strict  bool
		wantErr error
	}{
		// By default OPA makes a failing built-in undefined; the decision is then undefined, an error too.
		{name: "lenient", wantErr: policy.ErrUndefined},
		{name: "strict", strict: true, wantErr: policy.ErrEvaluation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, policy.Config{Paths: []string{dir}, Decision: "data.test.decision", StrictBuiltinErrors: tt.strict})
			if d, err := e.Decide(context.Background(), get("/?n=1", alice())); err != nil || !d.Allow {
				t.Fatalf("a number: got %+v, %v", d, err)
			}
			d, err := e.Decide(context.Background(), get("/?n=abc", alice()))
			if !errors.Is(err, tt.wantErr) || d.Allow {
				t.Fatalf("not a number: got %+v, %v; want %v", d, err, tt.wantErr)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	e := policyEngine(t, "decision := count([x | some x in numbers.range(1, 10000000)]) > 0\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := e.Decide(ctx, get("/", alice()))
	if !errors.Is(err, policy.ErrEvaluation) || d.Allow {
		t.Fatalf("got %+v, %v; want ErrEvaluation", d, err)
	}
}

func TestCustomDecisionAndLibrary(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"apps/orders.rego": `package apps.orders

import data.cognito.lib

default allow := false

allow if {
	lib.path_matches("/orders/*")
	lib.has_scope("orders/read")
	input.request.method == "GET"
}
`,
		"apps/admin.rego": `package apps.admin

import data.cognito.builtin

# Reuse the built-in policy and add an upstream header.
decision := object.union(builtin.decision, {"headers": {"X-Admin": "yes"}}) if builtin.decision.allow
else := builtin.decision
`,
		"apps/orders_test.rego": "package apps.orders_test\n\nthis does not parse, and is not loaded\n",
	})
	orders := newEngine(t, policy.Config{Paths: []string{dir}, Decision: "data.apps.orders.allow"})
	admin := newEngine(t, policy.Config{Paths: []string{dir}, Decision: `data.apps["admin"].decision`})
	tests := []struct {
		name    string
		engine  *policy.Engine
		in      policy.Input
		allow   bool
		headers map[string]string
	}{
		{name: "lib helpers allow", engine: orders, in: get("/orders/1", alice()), allow: true},
		{name: "lib helpers deny by path", engine: orders, in: get("/orders/1/items", alice())},
		{name: "lib helpers deny by scope", engine: orders, in: get("/orders/1", bob())},
		{name: "builtin reused, allow", engine: admin, in: withRules(get("/admin", alice()), mustRules(t, []string{"admins"}, nil)), allow: true, headers: map[string]string{"X-Admin": "yes"}},
		{name: "builtin reused, deny", engine: admin, in: withRules(get("/admin", bob()), mustRules(t, []string{"admins"}, nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := tt.engine.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tt.allow || !equalHeaders(d.Headers, tt.headers) {
				t.Fatalf("got %+v, want allow=%v headers=%v", d, tt.allow, tt.headers)
			}
		})
	}
}

func withRules(in policy.Input, r *policy.Rules) policy.Input {
	in.Rules = r
	return in
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	good := writeFiles(t, map[string]string{"p.rego": "package test\n\ndecision := true\n"})
	tests := []struct {
		name   string
		files  map[string]string
		cfg    policy.Config
		errHas []string
	}{
		{name: "parse error", files: map[string]string{"bad.rego": "package test\n\ndecision := {\n"}, errHas: []string{"bad.rego:", "rego_parse_error"}},
		{name: "compile error", files: map[string]string{"bad.rego": "package test\n\ndecision := nope(1)\n"}, errHas: []string{"bad.rego:3", "rego_type_error", "nope"}},
		{name: "unsafe variable", files: map[string]string{"bad.rego": "package test\n\ndecision if x > 1\n"}, errHas: []string{"bad.rego:3", "unsafe"}},
		{name: "v0 syntax", files: map[string]string{"bad.rego": "package test\n\ndecision { true }\n"}, errHas: []string{"bad.rego:3", "rego_parse_error"}},
		{name: "bad data file", files: map[string]string{"p.rego": "package test\n\ndecision := true\n", "data.json": "{"}, errHas: []string{"data.json"}},
		{name: "missing path", cfg: policy.Config{Paths: []string{"/nonexistent/policy.rego"}, Decision: "data.test.decision"}, errHas: []string{"/nonexistent/policy.rego"}},
		{name: "missing bundle", cfg: policy.Config{Paths: []string{"/nonexistent/bundle.tar.gz"}, Decision: "data.test.decision"}, errHas: []string{"/nonexistent/bundle.tar.gz"}},
		{name: "decision not defined", cfg: policy.Config{Paths: []string{good}, Decision: "data.test.decison"}, errHas: []string{"does not define decision data.test.decison"}},
		{name: "default decision not defined by own policy", cfg: policy.Config{Paths: []string{good}}, errHas: []string{"does not define decision data.cognito.authz.decision"}},
		{name: "decision not under data", cfg: policy.Config{Decision: "input.allow"}, errHas: []string{"under data"}},
		{name: "decision is data itself", cfg: policy.Config{Decision: "data"}, errHas: []string{"under data"}},
		{name: "decision with a variable", cfg: policy.Config{Decision: "data.test[x]"}, errHas: []string{"under data"}},
		{name: "decision does not parse", cfg: policy.Config{Decision: "data.test.decision)"}, errHas: []string{"decision"}},
		{name: "OPA configuration does not parse", cfg: policy.Config{OPAConfig: []byte("services: [")}, errHas: []string{"starting OPA"}},
		{name: "OPA configuration names an unknown service", cfg: policy.Config{OPAConfig: []byte(`{"bundles": {"b": {"service": "nope"}}}`)}, errHas: []string{"starting OPA", "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			if tt.files != nil {
				cfg.Paths = []string{writeFiles(t, tt.files)}
				cfg.Decision = "data.test.decision"
			}
			e, err := policy.New(context.Background(), cfg)
			if err == nil {
				e.Close(context.Background())
				t.Fatal("New succeeded")
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestUserLibraryCopyWins checks that a policy tree carrying its own copy of the library (for `opa
// test` outside the gateway) is not refused for declaring the library's packages twice.
func TestUserLibraryCopyWins(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"lib.rego":   "package cognito.lib\n\nis_member_of(group) if group == \"everyone\"\n",
		"authz.rego": "package cognito.authz\n\nimport data.cognito.lib\n\ndecision := lib.is_member_of(\"everyone\")\n",
	})
	e := newEngine(t, policy.Config{Paths: []string{dir}})
	d, err := e.Decide(context.Background(), get("/", bob()))
	if err != nil || !d.Allow {
		t.Fatalf("got %+v, %v; want the user's library to decide", d, err)
	}
}

func TestConcurrentDecisions(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	rules := mustRules(t, []string{"admins"}, nil, policy.ClaimRule{Claim: "custom:tenant_id", From: policy.FromSegment, Segment: 1})
	shared := []*identity.Identity{alice(), bob(), guest(), identity.Anonymous()}
	want := []int{200, 403, 403, 401}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (w + i) % len(shared)
				in := withRules(get("/tenants/t1/orders", shared[k]), rules)
				d, err := e.Decide(context.Background(), in)
				if err != nil || d.Status != want[k] {
					errs <- errors.New("caller " + shared[k].Subject + ": unexpected decision")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDecideAfterClose(t *testing.T) {
	t.Parallel()
	e, err := policy.New(context.Background(), policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.Close(context.Background())
	// Caddy closes the old configuration's engine while its last requests finish: they still decide.
	d, err := e.Decide(context.Background(), get("/", alice()))
	if err != nil || !d.Allow {
		t.Fatalf("got %+v, %v", d, err)
	}
}

func TestMissingRequestOrIdentity(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for name, in := range map[string]policy.Input{
		"no request":  {Path: "/", Identity: alice()},
		"no identity": {Request: r, Path: "/"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), in)
			if err == nil || d.Allow {
				t.Fatalf("got %+v, %v; want an error", d, err)
			}
		})
	}
}
