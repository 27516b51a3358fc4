package policy

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputUse says which of the costly parts of input.request a decision can read. The headers, the query
// and the path segments are most of what building an input costs (an object of lists, a list per
// request), and most policies never look at them; the other request fields are plain strings and
// always present.
type inputUse struct {
	headers, query, segments bool
}

var fullUse = inputUse{headers: true, query: true, segments: true}

func (u inputUse) or(v inputUse) inputUse {
	return inputUse{headers: u.headers || v.headers, query: u.query || v.query, segments: u.segments || v.segments}
}

// policyInputUse finds the parts of input.request the compiled policy refers to. A reference it
// cannot resolve to one field (bare `input`, `input.request`, `input[x]`, `input.request[x]`) counts as
// reading everything. The embedded library is skipped while it is ours: the built-in policy only reads
// headers, query and path segments for a route's claim rules, which the route's Rules report
// (Rules.use).
func policyInputUse(compiler *ast.Compiler) inputUse {
	var u inputUse
	for name, m := range compiler.Modules {
		if strings.HasPrefix(name, builtinModulePrefix) {
			continue
		}
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			if u == fullUse || !ref[0].Equal(ast.InputRootDocument) {
				return false
			}
			u = u.or(refUse(ref))
			return false
		})
	}
	return u
}

func refUse(ref ast.Ref) inputUse {
	if len(ref) < 2 {
		return fullUse
	}
	switch k := ref[1].Value.(type) {
	case ast.String:
		if k != "request" {
			return inputUse{}
		}
	default:
		return fullUse
	}
	if len(ref) < 3 {
		return fullUse
	}
	switch k := ref[2].Value.(type) {
	case ast.String:
		return inputUse{headers: k == "headers", query: k == "query", segments: k == "path_segments"}
	default:
		return fullUse
	}
}
