package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// memoEngine starts an Engine on one Rego module whose decision is data.test.decision.
func memoEngine(t *testing.T, rego string) *Engine {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test.rego"), []byte("package test\n\n"+rego), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := New(ctx, Config{Paths: []string{dir}, Decision: "data.test.decision"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e
}

func memoInput(method, target string, headers map[string]string, id *identity.Identity, r *Rules) Input {
	req := httptest.NewRequest(method, "https://api.example.com"+target, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return Input{Request: req, Path: req.URL.Path, Identity: id, Rules: r}
}

func TestMemoSkipsNondeterministicPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rego     string
		memoized bool
	}{
		{"deterministic", `decision := input.request.method == "GET"`, true},
		{"time.now_ns", `decision := time.now_ns() > 0`, false},
		{"rand.intn", `decision := rand.intn("x", 10) >= 0`, false},
		// Verifies the chain at the current time, though OPA does not mark it nondeterministic.
		{"crypto.x509.parse_and_verify_certificates", `decision := crypto.x509.parse_and_verify_certificates("x")[0] == false`, false},
		{"io.jwt.decode_verify", `decision := io.jwt.decode_verify("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.T8NeHkwLlW5LMUeoN7V1N4TvI6bf40wuXjxJwSr5FCc", {"secret": "s"})[0]`, false},
		{"http.send in an unused rule", "decision := true\n\nfetched := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"})", false},
		// With no print hook, OPA's compiler erases print calls, so they cannot make a decision differ.
		{"print without a print hook", "decision if {\n\tprint(\"deciding\")\n}", true},
		{"nondeterministic function through a helper", "decision if now > 0\n\nnow := time.now_ns()", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := memoEngine(t, tt.rego)
			id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
			for range 3 {
				if _, err := e.Decide(context.Background(), memoInput("GET", "/a", nil, id, nil)); err != nil {
					t.Fatal(err)
				}
			}
			hits, _ := e.MemoStats()
			if got := hits == 2; got != tt.memoized {
				t.Fatalf("memo hits %d, memoized = %v, want %v", hits, got, tt.memoized)
			}
		})
	}
}

func TestMemoDistinguishesWholeHeaders(t *testing.T) {
	t.Parallel()
	e := memoEngine(t, `decision := object.get(input.request.headers, "x-tenant", []) == ["t1"]`)
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
	ctx := context.Background()
	for i, tc := range []struct {
		headers map[string]string
		want    bool
	}{
		{map[string]string{"X-Tenant": "t1"}, true},
		{map[string]string{"X-Tenant": "t2"}, false},
		{map[string]string{"X-Tenant": "t1"}, true},
		{map[string]string{"X-Other": "t1"}, false},
		{map[string]string{"X-Tenant": "t2"}, false},
	} {
		d, err := e.Decide(ctx, memoInput("GET", "/a", tc.headers, id, nil))
		if err != nil || d.Allow != tc.want {
			t.Fatalf("request %d (%v): %+v, %v; want allow %v", i, tc.headers, d, err, tc.want)
		}
	}
	if hits, _ := e.MemoStats(); hits != 2 {
		t.Fatalf("memo hits %d, want 2", hits)
	}
}

func TestMemoDroppedOnDataChange(t *testing.T) {
	t.Parallel()
	e := memoEngine(t, "default decision := false\n\ndecision if input.identity.subject in data.lists.allowed")
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
	ctx := context.Background()
	decide := func(want bool) {
		t.Helper()
		d, err := e.Decide(ctx, memoInput("GET", "/a", nil, id, nil))
		if err != nil || d.Allow != want {
			t.Fatalf("%+v, %v; want allow %v", d, err, want)
		}
	}
	decide(false)
	decide(false)
	if err := storage.WriteOne(ctx, e.manager.Store, storage.AddOp, storage.MustParsePath("/lists"), map[string]any{"allowed": []any{"alice"}}); err != nil {
		t.Fatal(err)
	}
	decide(true)
	decide(true)
	if hits, _ := e.MemoStats(); hits != 2 {
		t.Fatalf("memo hits %d, want 2", hits)
	}
}

// TestMemoMatchesFreshEvaluation decides a random corpus twice: with identities shared between
// requests (so the memo answers repeats) and with a fresh copy of the identity each time (so every
// decision is evaluated). The decisions must be the same.
func TestMemoMatchesFreshEvaluation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	builtin, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { builtin.Close(ctx) })
	custom := memoEngine(t, `
default decision := {"allow": false, "status": 403, "reason": "no"}

decision := {"allow": true, "headers": {"X-Tenant": input.request.headers["x-tenant"][0]}} if {
	input.request.method in {"GET", "HEAD"}
	startswith(input.request.path, "/orders")
	input.request.query.limit[0] != "0"
	input.request.headers["x-tenant"][0] == input.identity.claims["custom:tenant_id"]
}

decision := {"allow": true} if {
	input.request.method == "DELETE"
	"admins" in input.identity.groups
	input.request.path_segments[0] == "admin"
}
`)
	iam := memoEngine(t, `
default decision := false

decision if {
	input.identity.role_arn == "arn:aws:iam::123456789012:role/reader"
	input.request.method == "GET"
}

decision if {
	input.identity.principal_tags.tenant == input.request.path_segments[1]
	input.request.method in {"PUT", "POST"}
}
`)
	rules := []*Rules{nil}
	for _, r := range []struct {
		groups, scopes []string
		claims         []ClaimRule
	}{
		{groups: []string{"admins"}}, {scopes: []string{"orders/read"}}, {groups: []string{"staff"}, scopes: []string{"orders/write"}},
		{claims: []ClaimRule{{Claim: "custom:tenant_id", From: FromHeader, Name: "X-Tenant"}}},
		{claims: []ClaimRule{{Claim: "custom:tenant_id", From: FromQuery, Name: "tenant"}}},
		{groups: []string{"admins", "staff"}, claims: []ClaimRule{{Claim: "custom:tenant_id", From: FromSegment, Segment: 1}}},
	} {
		rs, err := NewRules(r.groups, r.scopes, r.claims)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rs)
	}
	doc, err := ParsePolicyDocument("orders.json", []byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders/*"},
		{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/admin/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	roleRules, err := rules[1].WithRolePolicies(ExecuteAPI{Region: "us-east-1", Account: "123456789012", APIID: "abc123", Stage: "prod"},
		[]RolePolicy{{RoleARN: "arn:aws:iam::123456789012:role/reader", Documents: []*PolicyDocument{doc}}})
	if err != nil {
		t.Fatal(err)
	}
	rules = append(rules, roleRules)
	namedHeaders := memoEngine(t, `
default decision := {"allow": false, "reason": "tenant"}

decision := {"allow": true, "headers": {"X-Page": object.get(input.request.query, "page", ["1"])[0]}} if {
	object.get(input.request.headers, "x-tenant", ["none"])[0] == input.identity.claims["custom:tenant_id"]
	not input.request.headers["x-other"][0] == "block"
}
`)
	wholeHeaders := memoEngine(t, `
default decision := false

decision if {
	count(input.request.headers) < 3
	some name, values in input.request.headers
	startswith(name, "x-")
	values[0] == input.identity.claims["custom:tenant_id"]
}
`)
	withInput := memoEngine(t, `
default decision := {"allow": false, "status": 401}

reads_path if startswith(input.request.path, "/orders")

tenant_header if input.request.headers["x-tenant"][0] == "t1"

decision := {"allow": true} if {
	reads_path with input.request.path as concat("", ["/", input.request.query.limit[0]])
	tenant_header with input.request.headers as {"x-tenant": [input.identity.claims["custom:tenant_id"]]}
}

decision := {"allow": true, "rule": "whole"} if {
	reads_path with input as {"request": {"path": input.request.headers["x-other"][0]}}
}
`)
	groups := []string{"admins", "staff", "guests"}
	scopes := []string{"orders/read", "orders/write"}
	tenants := []string{"t1", "t2"}
	rnd := rand.New(rand.NewPCG(1, 2))
	var ids []*identity.Identity
	var fresh []func() *identity.Identity
	for i := range 12 {
		id := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: fmt.Sprint("user", i),
			Claims: map[string]any{"custom:tenant_id": tenants[rnd.IntN(2)]}}
		if i%3 == 2 {
			id.Kind = identity.KindIdentityPool
			id.Pool = &identity.PoolCredentials{
				RoleARN:       "arn:aws:iam::123456789012:role/" + []string{"reader", "writer"}[rnd.IntN(2)],
				PrincipalTags: map[string]string{"tenant": tenants[rnd.IntN(2)]},
			}
		}
		for _, g := range groups {
			if rnd.IntN(2) == 0 {
				id.Groups = append(id.Groups, g)
			}
		}
		for _, s := range scopes {
			if rnd.IntN(2) == 0 {
				id.Scopes = append(id.Scopes, s)
			}
		}
		ids = append(ids, id)
		fresh = append(fresh, func() *identity.Identity {
			return &identity.Identity{Kind: id.Kind, Authenticated: id.Authenticated, Subject: id.Subject, Claims: id.Claims,
				Pool: id.Pool, Groups: id.Groups, Scopes: id.Scopes}
		})
	}
	methods := []string{"GET", "HEAD", "PUT", "POST", "DELETE"}
	paths := []string{"/orders", "/orders/t1", "/orders/t2", "/admin/x", "/t1/t2", "/orders/../admin/x"}
	queries := []string{"", "?limit=0", "?limit=5", "?limit=orders&page=2", "?page=1&limit=0&tenant=t1", "?tenant=t2", "?x=%zz", "?limit=5;x=1"}
	others := []string{"", "block", "/orders/x", "t1"}
	for _, e := range []*Engine{builtin, custom, iam, namedHeaders, wholeHeaders, withInput} {
		for i := range 2000 {
			n := rnd.IntN(len(ids))
			id := ids[n]
			method, target := methods[rnd.IntN(len(methods))], paths[rnd.IntN(len(paths))]+queries[rnd.IntN(len(queries))]
			headers := map[string]string{}
			if t := rnd.IntN(3); t < 2 {
				headers["X-Tenant"] = tenants[t]
			}
			if o := others[rnd.IntN(len(others))]; o != "" {
				headers["X-Other"] = o
			}
			if rnd.IntN(2) == 0 {
				headers["Authorization"] = fmt.Sprint("Bearer ", rnd.IntN(1000))
			}
			r := rules[rnd.IntN(len(rules))]
			memoized, err1 := e.Decide(ctx, memoInput(method, target, headers, id, r))
			evaluated, err2 := e.Decide(ctx, memoInput(method, target, headers, fresh[n](), r))
			if fmt.Sprint(memoized, err1) != fmt.Sprint(evaluated, err2) {
				t.Fatalf("%s, input %d (%s %s %v): memo %+v %v, fresh %+v %v", e, i, method, target, headers, memoized, err1, evaluated, err2)
			}
		}
		if hits, _ := e.MemoStats(); hits == 0 {
			t.Fatalf("%s: the memo never answered", e)
		}
	}
}

func TestMemoBounds(t *testing.T) {
	t.Parallel()
	m := newDecisionMemo()
	result := ast.BooleanTerm(true)
	for id := range uint64(memoMaxEntries/memoPerIdentity + 50) {
		for j := range 2 * memoPerIdentity {
			m.put(memoEntryKey{identity: id, request: fmt.Sprint("/path/", j)}, result)
			if n := m.len(); n > memoMaxEntries {
				t.Fatalf("%d entries, more than %d", n, memoMaxEntries)
			}
		}
	}
	total := 0
	for id, n := range m.perIdentity {
		if n > memoPerIdentity {
			t.Fatalf("identity %d holds %d entries, more than %d", id, n, memoPerIdentity)
		}
		total += n
	}
	if total != m.len() || m.bytes > memoMaxBytes {
		t.Fatalf("per-identity counts sum to %d for %d entries; %d bytes", total, m.len(), m.bytes)
	}
}

func TestDeterministicSeesEnabledPrint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		print bool
		want  bool
	}{{false, true}, {true, false}} {
		c := ast.NewCompiler().WithEnablePrintStatements(tc.print)
		c.Compile(map[string]*ast.Module{"p.rego": ast.MustParseModule("package p\n\nallow if {\n\tprint(\"x\")\n}")})
		if c.Failed() {
			t.Fatal(c.Errors)
		}
		if got := deterministic(c); got != tc.want {
			t.Fatalf("print statements enabled %v: deterministic %v, want %v", tc.print, got, tc.want)
		}
	}
}

// TestMemoLogsEveryDecision checks that a decision the memo answers is still logged, as a fresh
// evaluation logs it: one entry per request, each with its own decision id, its input and the result.
func TestMemoLogsEveryDecision(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test.rego"), []byte("package test\n\ndecision := input.request.method == \"GET\""), 0o600); err != nil {
		t.Fatal(err)
	}
	core, observed := observer.New(zapcore.DebugLevel)
	ctx := context.Background()
	e, err := New(ctx, Config{
		Paths:     []string{dir},
		Decision:  "data.test.decision",
		OPAConfig: []byte(`{"decision_logs": {"console": true}}`),
		Logger:    zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice"}
	// The policy reads only the method: every request after the first is a hit, each on its own path.
	paths := []string{"/a", "/b", "/c", "/d", "/e"}
	n := len(paths)
	for _, path := range paths {
		if d, err := e.Decide(ctx, memoInput("GET", path, nil, id, nil)); err != nil || !d.Allow {
			t.Fatalf("%+v, %v", d, err)
		}
	}
	if hits, misses := e.MemoStats(); hits != uint64(n-1) || misses != 1 {
		t.Fatalf("memo hits %d, misses %d; want %d, 1", hits, misses, n-1)
	}
	ids := map[any]bool{}
	var logged []any
	for _, entry := range observed.All() {
		if entry.LoggerName != "decision_log" {
			continue
		}
		fields := entry.ContextMap()
		ids[fields["decision_id"]] = true
		input, _ := fields["input"].(map[string]any)
		request, _ := input["request"].(map[string]any)
		if fields["result"] != true || request["method"] != "GET" {
			t.Errorf("logged result %v, input %v", fields["result"], input)
		}
		logged = append(logged, request["path"])
	}
	if len(ids) != n {
		t.Fatalf("%d distinct decision ids logged for %d decisions: %v", len(ids), n, ids)
	}
	if fmt.Sprint(logged) != fmt.Sprint(paths) {
		t.Fatalf("logged paths %v, want each request's own: %v", logged, paths)
	}
}

// TestMemoKeysOnWhatThePolicyReads checks that requests differing only in what the decision cannot
// read share one memo entry, and that those differing in what it reads do not.
func TestMemoKeysOnWhatThePolicyReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	builtin, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { builtin.Close(ctx) })
	admins, err := NewRules([]string{"admins"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	segment, err := NewRules(nil, nil, []ClaimRule{{Claim: "custom:tenant_id", From: FromSegment, Segment: 0}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParsePolicyDocument("reader.json", []byte(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::123456789012:role/reader"
	iamRules, err := (*Rules)(nil).WithRolePolicies(ExecuteAPI{Region: "us-east-1", Account: "123456789012", APIID: "abc123", Stage: "prod"},
		[]RolePolicy{{RoleARN: role, Documents: []*PolicyDocument{doc}}})
	if err != nil {
		t.Fatal(err)
	}
	id := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "alice", Groups: []string{"admins"},
		Claims: map[string]any{"custom:tenant_id": "t1"}}
	tests := []struct {
		name    string
		engine  *Engine
		rules   *Rules
		entries int
	}{
		{"built-in rules reading no path", builtin, admins, 1},
		{"built-in claim rule on a path segment", builtin, segment, 2},
		{"built-in role policies, which match the path", builtin, iamRules, 2},
		{"a policy ignoring the path", memoEngine(t, `decision := input.request.method == "GET"`), nil, 1},
		{"a policy reading the path", memoEngine(t, `decision := startswith(input.request.path, "/t1")`), nil, 2},
		{"a policy calling the library's path_matches", memoEngine(t, "default decision := false\n\ndecision if data.cognito.lib.path_matches(\"/t1/*\")"), nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range []string{"/t1/a", "/t2/b", "/t1/a"} {
				if _, err := tt.engine.Decide(ctx, memoInput("GET", target, nil, id, tt.rules)); err != nil {
					t.Fatal(err)
				}
			}
			p := tt.engine.prepared.Load()
			if p == nil || p.memo == nil {
				t.Fatal("no memo")
			}
			entries := 0
			p.memo.mu.Lock()
			for k := range p.memo.entries {
				if k.rules == tt.rules && k.identity == identityInput(id).tag {
					entries++
				}
			}
			p.memo.mu.Unlock()
			if entries != tt.entries {
				t.Fatalf("%d memo entries for two paths, want %d", entries, tt.entries)
			}
		})
	}
}
