package policy

import (
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Bounds of one policy version's decision memo. A policy keyed on the path must not grow the memo
// with every identity times every path: each identity holds at most memoPerIdentity entries, and
// the whole memo at most memoMaxEntries entries and about memoMaxBytes bytes of keys.
const (
	memoMaxEntries  = 10000
	memoMaxBytes    = 16 << 20
	memoPerIdentity = 64
)

// decisionMemo holds the decisions of one policy version, keyed by the identity, the route's Rules
// and the canonical text of the fields of input.request the decision can read. It belongs to a
// prepared query, so every policy, bundle or data change (which drops the prepared query) drops it too.
//
// A decision is reused only when the policy calls no nondeterministic built-in and no print
// (deterministic), so it is a pure function of the input; the identity and config parts are
// immutable values shared by pointer, and the fields read are compared in full (the map compares the
// whole key text, so no hash collision can return another request's decision).
//
// The fields read are found per field of input.request (memoInputUse, Rules.use), not per key within
// one: a policy that reads one header keys on all of them, and one that reads the request object
// whole, or through a variable key, keys on every field. The built-in policy keys on the method, path,
// remote address and TLS only on routes with role policies, and on headers, query or path segments
// only for the route's claim rules; a policy of your own that reaches the embedded library (by
// calling it or by living in data.cognito) keys on what the library's reached packages read too.
type decisionMemo struct {
	mu          sync.Mutex
	entries     map[memoEntryKey]*ast.Term
	perIdentity map[*identity.Identity]int
	bytes       int
}

// memoEntryKey identifies one input: the identity and Rules by pointer, the request by its text.
type memoEntryKey struct {
	identity *identity.Identity
	rules    *Rules
	request  string
}

func newDecisionMemo() *decisionMemo {
	return &decisionMemo{entries: make(map[memoEntryKey]*ast.Term), perIdentity: make(map[*identity.Identity]int)}
}

// memoKeyOf returns the memo key of an input built by inputTerms.build, whose decision can read use
// of the request and what in's Rules report. Anonymous requests have no key: each carries a new
// identity, so remembering their decisions would only evict others.
func memoKeyOf(in *Input, input ast.Value, use inputUse) (memoEntryKey, bool) {
	if in.Identity.Kind == identity.KindNone {
		return memoEntryKey{}, false
	}
	obj, ok := input.(ast.Object)
	if !ok {
		return memoEntryKey{}, false
	}
	term := obj.Get(keyRequest)
	if term == nil {
		return memoEntryKey{}, false
	}
	request, ok := term.Value.(ast.Object)
	if !ok {
		return memoEntryKey{}, false
	}
	if in.Rules != nil {
		use = use.or(in.Rules.use)
	}
	var buf [256]byte
	b := buf[:0]
	for _, f := range [...]struct {
		key  *ast.Term
		read bool
	}{
		{keyMethod, use.method}, {keyHost, use.host}, {keyPath, use.path}, {keyPathSegments, use.segments},
		{keyQuery, use.query}, {keyHeaders, use.headers}, {keyRemoteIP, use.remoteIP}, {keyTLS, use.tls},
	} {
		if f.read {
			if v := request.Get(f.key); v != nil {
				b = appendKeyValue(b, v.Value)
			}
		}
		b = append(b, ',')
	}
	return memoEntryKey{identity: in.Identity, rules: in.Rules, request: string(b)}, true
}

// appendKeyValue appends v as Rego text (strings quoted), so that no two values share a text, without
// the allocations of v.String() for the common strings, booleans and lists of strings.
func appendKeyValue(b []byte, v ast.Value) []byte {
	switch v := v.(type) {
	case ast.String:
		return strconv.AppendQuote(b, string(v))
	case ast.Boolean:
		return strconv.AppendBool(b, bool(v))
	case *ast.Array:
		b = append(b, '[')
		for i := range v.Len() {
			b = appendKeyValue(b, v.Elem(i).Value)
			b = append(b, ',')
		}
		return append(b, ']')
	default:
		return append(b, v.String()...)
	}
}

func (m *decisionMemo) get(k memoEntryKey) *ast.Term {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entries[k]
}

// put remembers a decision within the bounds: an identity at its cap remembers no more, and a full
// memo forgets arbitrary entries (Go's map iteration order is random) to make room.
func (m *decisionMemo) put(k memoEntryKey, result *ast.Term) {
	size := len(k.request) + 64
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[k]; ok || m.perIdentity[k.identity] >= memoPerIdentity {
		return
	}
	for old := range m.entries {
		if len(m.entries) < memoMaxEntries && m.bytes+size <= memoMaxBytes {
			break
		}
		m.remove(old)
	}
	m.entries[k] = result
	m.perIdentity[k.identity]++
	m.bytes += size
}

func (m *decisionMemo) remove(k memoEntryKey) {
	delete(m.entries, k)
	m.bytes -= len(k.request) + 64
	if n := m.perIdentity[k.identity] - 1; n > 0 {
		m.perIdentity[k.identity] = n
	} else {
		delete(m.perIdentity, k.identity)
	}
}

// len returns the number of entries, for tests.
func (m *decisionMemo) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// deterministic reports whether the compiled policy calls only deterministic built-ins and no
// print: a built-in the capabilities mark nondeterministic (http.send, time.now_ns, rand.intn,
// net.*, opa.runtime, uuid.rfc4122...), or one that is not known at all, makes every decision
// unrepeatable. References are checked as well as calls, so a `with` that substitutes such a
// built-in counts.
func deterministic(compiler *ast.Compiler) bool {
	builtins := make(map[string]*ast.Builtin)
	for _, b := range compiler.Capabilities().Builtins {
		builtins[b.Name] = b
	}
	for name, b := range ast.BuiltinMap {
		if _, ok := builtins[name]; !ok {
			builtins[name] = b
		}
	}
	unrepeatable := func(name string) bool {
		if name == ast.Print.Name || name == ast.InternalPrint.Name {
			return true
		}
		b, ok := builtins[name]
		return ok && b.Nondeterministic
	}
	called := func(op *ast.Term) bool {
		ref, ok := op.Value.(ast.Ref)
		if !ok {
			return true
		}
		if ref.HasPrefix(ast.DefaultRootRef) {
			return false
		}
		name := ref.String()
		_, known := builtins[name]
		return !known || unrepeatable(name)
	}
	ok := true
	for _, m := range compiler.Modules {
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			if ok && !ref.HasPrefix(ast.DefaultRootRef) && !ref.HasPrefix(ast.InputRootRef) && unrepeatable(ref.String()) {
				ok = false
			}
			return !ok
		})
		ast.WalkExprs(m, func(x *ast.Expr) bool {
			if ok && x.IsCall() && called(x.OperatorTerm()) {
				ok = false
			}
			return !ok
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if call, isCall := t.Value.(ast.Call); ok && isCall && len(call) > 0 && called(call[0]) {
				ok = false
			}
			return !ok
		})
		if !ok {
			return false
		}
	}
	return true
}
