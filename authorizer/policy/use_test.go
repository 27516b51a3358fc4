package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestPolicyInputUse(t *testing.T) {
	tests := []struct {
		name string
		rego string
		want inputUse
	}{
		{"neither", `decision := input.request.method == "GET"`, inputUse{method: true}},
		{"identity and config only", `decision if input.identity.groups[_] == input.config.groups[_]`, inputUse{}},
		{"a header", `decision := input.request.headers["x-tenant-id"] == ["t1"]`, inputUse{headers: true}},
		{"the query", `decision := count(input.request.query) > 0`, inputUse{query: true}},
		{"a path segment", `decision := input.request.path_segments[1] == "t1"`, inputUse{segments: true}},
		{"the request object", `decision := json.marshal(input.request)`, fullUse},
		{"the whole input", `decision := json.marshal(input)`, fullUse},
		{"a variable key under input", `decision if input[k]`, fullUse},
		{"a variable key under request", `decision if input.request[k]`, fullUse},
		{"through a local", `decision if { r := input.request; r.headers.x }`, fullUse},
		{"in a function", `f(x) if input.request.headers[x]
decision := f("a")`, inputUse{headers: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ast.NewCompiler()
			mod, err := ast.ParseModuleWithOpts("p.rego", "package p\n\n"+tt.rego, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatal(err)
			}
			if c.Compile(map[string]*ast.Module{"p.rego": mod}); c.Failed() {
				t.Fatal(c.Errors)
			}
			if got := policyInputUse(c); got != tt.want {
				t.Errorf("policyInputUse = %+v, want %+v", got, tt.want)
			}
		})
	}

	// The embedded library reads headers, query and segments for claim rules only: the route's Rules say so.
	if r, err := NewRules(nil, nil, []ClaimRule{{Claim: "t", From: FromHeader, Name: "X-T"}}); err != nil || r.use != (inputUse{headers: true}) {
		t.Errorf("header claim rule: use %+v, %v", r.use, err)
	}
	if r, err := NewRules(nil, nil, []ClaimRule{{Claim: "t", From: FromSegment, Segment: 1}}); err != nil || r.use != (inputUse{segments: true}) {
		t.Errorf("segment claim rule: use %+v, %v", r.use, err)
	}
}

func TestMemoInputUse(t *testing.T) {
	t.Parallel()
	// The embedded modules read every field but the host, lib.rego the path.
	embedded := inputUse{headers: true, query: true, segments: true, method: true, path: true, remoteIP: true, tls: true}
	tests := []struct {
		name string
		rego string
		want inputUse
	}{
		{"the method only", `decision := input.request.method == "GET"`, inputUse{method: true}},
		{"identity only", `decision := input.identity.subject == "alice"`, inputUse{}},
		{"the library's path_matches", "default decision := false\n\ndecision if data.cognito.lib.path_matches(\"/a/*\")", inputUse{path: true}},
		// Per module, not per rule: lib.rego also holds path_matches.
		{"the library's group check", "default decision := false\n\ndecision if data.cognito.lib.is_member_of(\"admins\")", inputUse{path: true}},
		{"every embedded package through a variable key", "default decision := false\n\ndecision if data.cognito[_].decision.allow", embedded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := memoEngine(t, tt.rego)
			if got := memoInputUse(e.manager.GetCompiler(), e.ref, false).fields; got != tt.want {
				t.Fatalf("memoInputUse = %+v, want %+v", got, tt.want)
			}
			if got := memoInputUse(e.manager.GetCompiler(), e.ref, true); got.fields != (inputUse{}) || !got.headers.empty() || !got.query.empty() {
				t.Fatalf("built-in plan: memoInputUse = %+v, want nothing beyond the Rules", got)
			}
		})
	}
}
