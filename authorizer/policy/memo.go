package policy

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

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
// and the canonical text of the parts of input.request the decision can read. It belongs to a
// prepared query, so every policy, bundle or data change (which drops the prepared query) drops it too.
//
// A decision is reused only when the policy calls no built-in that reads the clock, randomness or
// anything outside the input and the policy's data (deterministic), so it is a pure function of the
// input; the identity and config parts are immutable values, and the parts of the request read are
// compared in full (the map compares the whole key text, so no hash collision can return another
// request's decision).
//
// The identity is keyed by a tag it is given once (identityTag), never reused, so the memo keeps no
// identity alive and an identity allocated where a collected one was does not inherit its decisions.
// The parts read are found per field of input.request (memoInputUse, Rules.use), and per name within
// the headers and the query when the policy names them (input.request.headers["x-tenant"]).
type decisionMemo struct {
	mu          sync.Mutex
	entries     map[memoEntryKey]*ast.Term
	perIdentity map[uint64]int
	bytes       int
}

// memoEntryKey identifies one input: the identity by its tag, the Rules by pointer (a route's Rules
// live as long as its configuration), the request by its text.
type memoEntryKey struct {
	identity uint64
	rules    *Rules
	request  string
}

func newDecisionMemo() *decisionMemo {
	return &decisionMemo{entries: make(map[memoEntryKey]*ast.Term), perIdentity: make(map[uint64]int)}
}

// identityTags numbers identities for decision memos. It is the package's one mutable global: an
// identity's memoized input (identity.Identity.Memo) is shared by every Engine, so its tag must be
// unique across them. A uint64 does not wrap within any process's life.
var identityTags atomic.Uint64

// memoKeyOf returns the memo key of in, whose decision can read use of the request (the route's Rules
// included) and whose input is built with build, from the request itself: the input document is
// built only on a miss. It reports no key for anonymous requests (each carries a new identity, so
// remembering their decisions would only evict others) and whenever building the input would fail
// or could differ between two requests with one key text (two spellings of one header name, which
// the input merges in map order): the evaluation then reports what a fresh one would.
func memoKeyOf(in *Input, build inputUse, use keyUse) (memoEntryKey, bool) {
	if in.Request == nil || in.Identity == nil || in.Identity.Kind == identity.KindNone {
		return memoEntryKey{}, false
	}
	id := identityInput(in.Identity)
	if id.err != nil || checkPath(in.Path) != nil {
		return memoEntryKey{}, false
	}
	var buf [256]byte
	b := buf[:0]
	f := use.fields
	if f.method {
		b = strconv.AppendQuote(b, in.Request.Method)
	}
	b = append(b, ',')
	if f.host {
		b = strconv.AppendQuote(b, host(in.Request))
	}
	b = append(b, ',')
	if f.path || f.segments {
		b = strconv.AppendQuote(b, in.Path)
	}
	b = append(b, ',')
	if build.query || f.query {
		var ok bool
		if b, ok = appendQuery(b, in, use.query); !ok {
			return memoEntryKey{}, false
		}
	}
	b = append(b, ',')
	if f.headers {
		var ok bool
		if b, ok = appendHeaders(b, in, use.headers); !ok {
			return memoEntryKey{}, false
		}
	}
	b = append(b, ',')
	if f.remoteIP {
		b = strconv.AppendQuote(b, remoteIP(in))
	}
	b = append(b, ',')
	if f.tls {
		b = strconv.AppendBool(b, in.Request.TLS != nil)
	}
	return memoEntryKey{identity: id.tag, rules: in.Rules, request: string(b)}, true
}

// appendQuery appends the query parameters read, as the input holds them (parseQuery): every
// parameter in order when read names all, else each name read with its values. It checks the query
// whenever the input is built with it, so that a hit is only ever given for a query the input
// accepts; false: the query is refused.
func appendQuery(b []byte, in *Input, read names) ([]byte, bool) {
	if in.Request.URL == nil || in.Request.URL.RawQuery == "" {
		return b, true
	}
	type value struct {
		name  int
		value string
	}
	var named []value
	err := eachQueryParam(in.Request.URL.RawQuery, in.Redaction, func(key, v string) {
		switch {
		case read.all:
			b = strconv.AppendQuote(b, key)
			b = append(b, '=')
			b = strconv.AppendQuote(b, v)
			b = append(b, '&')
		case len(read.list) > 0:
			if i, found := slices.BinarySearch(read.list, key); found {
				named = append(named, value{i, v})
			}
		}
	})
	if err != nil {
		return b, false
	}
	for i := range read.list {
		b = append(b, '[')
		for _, v := range named {
			if v.name == i {
				b = strconv.AppendQuote(b, v.value)
				b = append(b, ',')
			}
		}
		b = append(b, ']')
	}
	return b, true
}

// appendHeaders appends the headers read, as the input holds them (inputTerms.headers: lowercase
// names, credentials left out): every header, by name, when read names all, else each name read with
// its values. False: two header names of the request lowercase to one that is read (the input merges
// them in map order), or a name is not ASCII (whose lowercase this does not predict).
func appendHeaders(b []byte, in *Input, read names) ([]byte, bool) {
	h := in.Request.Header
	if read.all {
		lower := make([]string, 0, len(h))
		byLower := make(map[string][]string, len(h))
		for name, values := range h {
			l := strings.ToLower(name)
			if in.Redaction.header(l) {
				continue
			}
			if _, dup := byLower[l]; dup {
				return b, false
			}
			byLower[l] = values
			lower = append(lower, l)
		}
		slices.Sort(lower)
		for _, l := range lower {
			b = strconv.AppendQuote(b, l)
			b = appendValues(b, byLower[l])
		}
		return b, true
	}
	type header struct {
		values []string
		found  bool
	}
	var fixed [4]header
	found := fixed[:]
	if len(read.list) > len(fixed) {
		found = make([]header, len(read.list))
	}
	for name, values := range h {
		for i, n := range read.list {
			match, ascii := asciiLowerEqual(name, n)
			if !ascii || match && found[i].found {
				return b, false
			}
			if match {
				found[i] = header{values, true}
			}
		}
	}
	for i, n := range read.list {
		switch {
		case in.Redaction.header(n) || !found[i].found:
			b = append(b, '-')
		default:
			b = appendValues(b, found[i].values)
		}
	}
	return b, true
}

// asciiLowerEqual reports whether name, lowercased, is lower, and whether name is ASCII.
func asciiLowerEqual(name, lower string) (match, ascii bool) {
	match = len(name) == len(lower)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return false, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if match && c != lower[i] {
			match = false
		}
	}
	return match, true
}

func appendValues(b []byte, values []string) []byte {
	b = append(b, '[')
	for _, v := range values {
		b = strconv.AppendQuote(b, v)
		b = append(b, ',')
	}
	return append(b, ']')
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

// deterministic reports whether the compiled policy calls only built-ins whose result is a function
// of their arguments, and no print: a built-in the capabilities mark nondeterministic, one of
// readsClock, or one that is not known at all makes every decision unrepeatable. References are
// checked as well as calls, so a `with` that substitutes such a built-in counts.
//
// OPA v1.22 marks nondeterministic: http.send, net.lookup_ip_addr and opa.runtime (the network and the
// runtime's configuration), time.now_ns and io.jwt.decode_verify (the clock), rand.intn,
// uuid.rfc4122, io.jwt.encode_sign and io.jwt.encode_sign_raw (randomness), json.match_schema and
// json.verify_schema (a schema's remote references).
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
		b, ok := builtins[name]
		return unrepeatableBuiltin(name, ok && b.Nondeterministic)
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

// unrepeatableBuiltin reports whether the built-in name, which the capabilities mark nondeterministic
// or not, turns memoization off.
func unrepeatableBuiltin(name string, nondeterministic bool) bool {
	return nondeterministic || readsClock[name] || name == ast.Print.Name || name == ast.InternalPrint.Name
}

// readsClock are the built-ins OPA does not mark nondeterministic that read the current time: both
// verify a certificate chain at time.Now unless given another time (x509.VerifyOptions.CurrentTime).
var readsClock = map[string]bool{
	ast.CryptoX509ParseAndVerifyCertificates.Name:            true,
	ast.CryptoX509ParseAndVerifyCertificatesWithOptions.Name: true,
}
