package policy

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputUse says which fields of input.request a decision can read. The headers, the query and the
// path segments are most of what building an input costs (an object of lists, a list per request), and
// most policies never look at them, so the input is built with them only when read; the other fields
// are plain strings, always built, and read here only for the decision memo's key.
type inputUse struct {
	headers, query, segments          bool
	method, host, path, remoteIP, tls bool
}

var fullUse = inputUse{headers: true, query: true, segments: true, method: true, host: true, path: true, remoteIP: true, tls: true}

// iamUse is what data.cognito.iam reads of the request: the action and resource it matches, and the
// aws:SourceIp and aws:SecureTransport condition keys.
var iamUse = inputUse{method: true, path: true, remoteIP: true, tls: true}

func (u inputUse) or(v inputUse) inputUse {
	return inputUse{
		headers: u.headers || v.headers, query: u.query || v.query, segments: u.segments || v.segments,
		method: u.method || v.method, host: u.host || v.host, path: u.path || v.path,
		remoteIP: u.remoteIP || v.remoteIP, tls: u.tls || v.tls,
	}
}

// policyInputUse finds the parts of input.request the compiled policy refers to. A reference it
// cannot resolve to one field (bare `input`, `input.request`, `input[x]`, `input.request[x]`) counts as
// reading everything. The embedded library is skipped while it is ours: the built-in policy only reads
// headers, query and path segments for a route's claim rules, which the route's Rules report
// (Rules.use).
func policyInputUse(compiler *ast.Compiler) inputUse {
	var u inputUse
	for name, m := range compiler.Modules {
		if !strings.HasPrefix(name, builtinModulePrefix) {
			u = u.or(moduleInputUse(m))
		}
	}
	return u
}

// memoInputUse finds the parts of input.request the decision can read, beyond what a route's Rules
// report, for the decision memo's key. The built-in policy reads only what the Rules report. Any other
// decision reads what the policy's own modules read, and what the embedded modules it can reach read:
// those of a package the decision, or a reference in the policy (or in a reached embedded module),
// falls in or above. A reference with a variable part reaches every package under its ground prefix.
func memoInputUse(compiler *ast.Compiler, decision ast.Ref, builtin bool) inputUse {
	if builtin {
		return inputUse{}
	}
	var u inputUse
	embedded := map[string]*ast.Module{}
	queue := []ast.Ref{decision}
	for name, m := range compiler.Modules {
		if strings.HasPrefix(name, builtinModulePrefix) {
			embedded[name] = m
			continue
		}
		u = u.or(moduleInputUse(m))
		queue = append(queue, dataRefs(m)...)
	}
	for len(queue) > 0 && len(embedded) > 0 {
		ref := queue[0]
		queue = queue[1:]
		for name, m := range embedded {
			if ref.HasPrefix(m.Package.Path) || m.Package.Path.HasPrefix(ref.GroundPrefix()) {
				delete(embedded, name)
				u = u.or(moduleInputUse(m))
				queue = append(queue, dataRefs(m)...)
			}
		}
	}
	return u
}

// moduleInputUse finds the parts of input.request one compiled module refers to. A reference it cannot
// resolve to one field (bare `input`, `input.request`, `input[x]`, `input.request[x]`) counts as
// reading everything.
func moduleInputUse(m *ast.Module) inputUse {
	var u inputUse
	ast.WalkRefs(m, func(ref ast.Ref) bool {
		if u == fullUse || !ref[0].Equal(ast.InputRootDocument) {
			return false
		}
		u = u.or(refUse(ref))
		return false
	})
	return u
}

// dataRefs lists the references to data in one compiled module (where every rule reference is
// already resolved to its full data path).
func dataRefs(m *ast.Module) []ast.Ref {
	var refs []ast.Ref
	ast.WalkRefs(m, func(ref ast.Ref) bool {
		if ref[0].Equal(ast.DefaultRootDocument) {
			refs = append(refs, ref)
		}
		return false
	})
	return refs
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
		return inputUse{
			headers: k == "headers", query: k == "query", segments: k == "path_segments",
			method: k == "method", host: k == "host", path: k == "path", remoteIP: k == "remote_ip", tls: k == "tls",
		}
	default:
		return fullUse
	}
}
