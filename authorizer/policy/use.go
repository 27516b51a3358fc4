package policy

import (
	"slices"
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
func memoInputUse(compiler *ast.Compiler, decision ast.Ref, builtin bool) keyUse {
	if builtin {
		return keyUse{}
	}
	var u keyUse
	embedded := map[string]*ast.Module{}
	queue := []ast.Ref{decision}
	for name, m := range compiler.Modules {
		if strings.HasPrefix(name, builtinModulePrefix) {
			embedded[name] = m
			continue
		}
		u = u.or(moduleKeyUse(m))
		queue = append(queue, dataRefs(m)...)
	}
	for len(queue) > 0 && len(embedded) > 0 {
		ref := queue[0]
		queue = queue[1:]
		for name, m := range embedded {
			if ref.HasPrefix(m.Package.Path) || m.Package.Path.HasPrefix(ref.GroundPrefix()) {
				delete(embedded, name)
				u = u.or(moduleKeyUse(m))
				queue = append(queue, dataRefs(m)...)
			}
		}
	}
	return u
}

// keyUse says which parts of input.request a decision can read, for the decision memo's key: the
// fields (inputUse) and, of the headers and the query, which names.
type keyUse struct {
	fields         inputUse
	headers, query names
}

// names are the keys of input.request.headers or input.request.query a decision reads: all of them
// (the object read whole, or through a key that is not a constant string), or only those listed.
type names struct {
	all  bool
	list []string // sorted, without duplicates; empty when all
}

var fullKeyUse = keyUse{fields: fullUse, headers: names{all: true}, query: names{all: true}}

// wholeKeyUse is u, reading the headers and the query whole when it reads them at all: what a
// route's Rules read (the built-in policy looks a claim rule's header or parameter up by a variable).
func wholeKeyUse(u inputUse) keyUse {
	return keyUse{fields: u, headers: names{all: u.headers}, query: names{all: u.query}}
}

func (u keyUse) or(v keyUse) keyUse {
	return keyUse{fields: u.fields.or(v.fields), headers: u.headers.or(v.headers), query: u.query.or(v.query)}
}

// empty reports whether no name is read.
func (n names) empty() bool { return !n.all && len(n.list) == 0 }

func (n names) or(m names) names {
	switch {
	case n.all || m.all:
		return names{all: true}
	case len(m.list) == 0:
		return n
	case len(n.list) == 0:
		return m
	}
	list := append(slices.Clone(n.list), m.list...)
	slices.Sort(list)
	return names{list: slices.Compact(list)}
}

func (n names) with(name string) names {
	return n.or(names{list: []string{name}})
}

// moduleInputUse finds the parts of input.request one compiled module refers to.
func moduleInputUse(m *ast.Module) inputUse {
	return moduleKeyUse(m).fields
}

// moduleKeyUse finds the parts of input.request one compiled module refers to, in the policy's
// rules, functions and `with` modifiers (targets and values) alike. A reference it cannot resolve to
// one field (bare `input`, `input.request`, `input[x]`, `input.request[x]`) counts as reading
// everything; one to the headers or the query reads one name when the next part is a constant string
// (input.request.headers["x-tenant"]), or is the object passed to object.get with a constant key, and
// the whole object otherwise (input.request.headers[k], walk(input.request.query), a function's
// argument).
func moduleKeyUse(m *ast.Module) keyUse {
	// The compiler hoists a reference passed to a built-in into a local (`__local1__ =
	// input.request.headers; object.get(__local1__, "x-tenant", [], __local2__)`). Such a reference,
	// or one passed directly, reads only the keys of the object.get calls it feeds, when it feeds
	// nothing else.
	hoisted := map[ast.Var]*ast.Term{}
	keys := map[ast.Var][]string{}
	lookups := map[*ast.Term][]string{}
	objectRef := func(t *ast.Term) bool {
		ref, ok := t.Value.(ast.Ref)
		return ok && len(ref) == 3 && ref[0].Equal(ast.InputRootDocument) && ref[1].Equal(keyRequest) &&
			(ref[2].Equal(keyHeaders) || ref[2].Equal(keyQuery))
	}
	call := func(terms []*ast.Term) {
		switch {
		case len(terms) == 3 && terms[0].Equal(equalityRef) && objectRef(terms[2]):
			if v, ok := terms[1].Value.(ast.Var); ok && v.IsGenerated() {
				hoisted[v] = terms[2]
			}
		case len(terms) >= 3 && terms[0].Equal(objectGetRef):
			key := terms[2].Value
			if path, ok := key.(*ast.Array); ok && path.Len() > 0 {
				key = path.Elem(0).Value
			}
			name, ok := key.(ast.String)
			if !ok {
				return
			}
			if v, isVar := terms[1].Value.(ast.Var); isVar {
				keys[v] = append(keys[v], string(name))
			} else if objectRef(terms[1]) {
				lookups[terms[1]] = append(lookups[terms[1]], string(name))
			}
		}
	}
	ast.WalkExprs(m, func(x *ast.Expr) bool {
		if terms, ok := x.Terms.([]*ast.Term); ok && x.IsCall() {
			call(terms)
		}
		return false
	})
	ast.WalkTerms(m, func(t *ast.Term) bool {
		if c, ok := t.Value.(ast.Call); ok {
			call(c)
		}
		return false
	})
	if len(hoisted) > 0 {
		uses := map[ast.Var]int{}
		ast.WalkVars(m, func(v ast.Var) bool {
			if _, ok := hoisted[v]; ok {
				uses[v]++
			}
			return false
		})
		for v, ref := range hoisted {
			if len(keys[v]) > 0 && uses[v] == 1+len(keys[v]) {
				lookups[ref] = append(lookups[ref], keys[v]...)
			}
		}
	}
	var u keyUse
	ast.WalkTerms(m, func(t *ast.Term) bool {
		ref, ok := t.Value.(ast.Ref)
		if !ok || !ref[0].Equal(ast.InputRootDocument) {
			return false
		}
		if names, ok := lookups[t]; ok {
			for _, name := range names {
				u = u.or(refKeyUse(append(ref[:3:3], ast.StringTerm(name))))
			}
			return false
		}
		u = u.or(refKeyUse(ref))
		return false
	})
	return u
}

var equalityRef = ast.NewTerm(ast.Equality.Ref())

var objectGetRef = ast.NewTerm(ast.ObjectGet.Ref())

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

// refKeyUse is what one reference under input reads of the request.
func refKeyUse(ref ast.Ref) keyUse {
	if len(ref) < 2 {
		return fullKeyUse
	}
	switch k := ref[1].Value.(type) {
	case ast.String:
		if k != "request" {
			return keyUse{}
		}
	default:
		return fullKeyUse
	}
	if len(ref) < 3 {
		return fullKeyUse
	}
	k, ok := ref[2].Value.(ast.String)
	if !ok {
		return fullKeyUse
	}
	u := keyUse{fields: inputUse{
		headers: k == "headers", query: k == "query", segments: k == "path_segments",
		method: k == "method", host: k == "host", path: k == "path", remoteIP: k == "remote_ip", tls: k == "tls",
	}}
	var read names
	if name, ok := refString(ref, 3); ok {
		read = read.with(name)
	} else {
		read = names{all: true}
	}
	switch {
	case u.fields.headers:
		u.headers = read
	case u.fields.query:
		u.query = read
	}
	return u
}

// refString returns ref's i-th part when it is a constant string.
func refString(ref ast.Ref, i int) (string, bool) {
	if len(ref) <= i {
		return "", false
	}
	s, ok := ref[i].Value.(ast.String)
	return string(s), ok
}
