package policy

import (
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/internal/urlpath"
)

// maxQueryParams bounds the work one request's query can cause while its input is built.
const maxQueryParams = 1000

// Input is what a decision is made on: the request, the identity the authorizer verified, and the
// route's settings.
type Input struct {
	// Request gives the method, host, query and headers. Credentials are never copied into the policy
	// input: the headers Authorization, Proxy-Authorization, Cookie and X-Amz-Security-Token, the query
	// parameters X-Amz-Signature, X-Amz-Security-Token and X-Amz-Credential, and whatever Redaction
	// adds are left out.
	Request *http.Request
	// Path is the path to decide on: the authorizer's normalized, decoded path, which is what the
	// upstream receives (not necessarily Request.URL.Path). It must be absolute and free of dot
	// segments; anything else is refused with ErrBadRequest.
	Path string
	// RemoteIP is the client's address as the authorizer trusts it (after trusted proxies); empty:
	// the host part of Request.RemoteAddr. A port is dropped (see RemoteIP).
	RemoteIP string
	// Identity is the caller; identity.Anonymous() for a request without credentials. Never nil.
	Identity *identity.Identity
	// Rules are the route's settings (input.config); nil: no requirements.
	Rules *Rules
	// Redaction names more places that carry credentials for this route (a token query parameter,
	// an API key header); nil: the defaults only.
	Redaction *Redaction
}

// isDefaultCredentialHeader reports the headers that carry credentials in every route (lower: the
// lowercase name).
func isDefaultCredentialHeader(lower string) bool {
	switch lower {
	case "authorization", "proxy-authorization", "cookie", "x-amz-security-token":
		return true
	}
	return false
}

// isDefaultCredentialParam reports the query parameters that carry credentials in every route (the
// presigned SigV4 ones), in any case, so a differently cased copy of a credential is left out too.
func isDefaultCredentialParam(name string) bool {
	return strings.EqualFold(name, "X-Amz-Signature") ||
		strings.EqualFold(name, "X-Amz-Security-Token") ||
		strings.EqualFold(name, "X-Amz-Credential")
}

// Redaction names the headers and query parameters that carry credentials for a route, beyond the
// defaults that are always left out of the policy input (see Input.Request): for example the query
// parameter a route reads its token from. Build it once per route; it is immutable.
type Redaction struct {
	headers map[string]bool // lowercase
	params  []string
}

// NewRedaction returns a Redaction for these header names (case-insensitive) and query parameter
// names (compared case-insensitively, to leave out every casing of a credential).
func NewRedaction(headers, queryParams []string) (*Redaction, error) {
	r := &Redaction{headers: make(map[string]bool, len(headers))}
	for _, h := range headers {
		if !httpguts.ValidHeaderFieldName(h) {
			return nil, fmt.Errorf("redaction: invalid header name %.64q", h)
		}
		r.headers[strings.ToLower(h)] = true
	}
	for _, p := range queryParams {
		if err := checkText("redacted query parameter name", p); err != nil {
			return nil, fmt.Errorf("redaction: %w", err)
		}
		r.params = append(r.params, p)
	}
	return r, nil
}

func (r *Redaction) header(lower string) bool {
	return isDefaultCredentialHeader(lower) || (r != nil && r.headers[lower])
}

func (r *Redaction) param(name string) bool {
	if isDefaultCredentialParam(name) {
		return true
	}
	if r != nil {
		for _, p := range r.params {
			if strings.EqualFold(name, p) {
				return true
			}
		}
	}
	return false
}

// inputTerms holds what every input shares, built once per Engine.
type inputTerms struct {
	anonymous    *ast.Term            // the identity object of every anonymous caller
	noRules      *ast.Term            // input.config of a route without requirements
	noQuery      *ast.Term            // input.request.query of a request without a query
	lowerHeaders map[string]*ast.Term // canonical name of a common header -> its lowercase name
	methods      map[string]*ast.Term
}

func newInputTerms() *inputTerms {
	t := &inputTerms{
		noRules:      configTerm(nil, nil, nil, nil, false),
		noQuery:      ast.ObjectTerm(),
		lowerHeaders: map[string]*ast.Term{},
		methods:      map[string]*ast.Term{},
	}
	t.anonymous, _ = identityTerm(&identity.Identity{Kind: identity.KindNone})
	for _, h := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Connection", "Content-Length",
		"Content-Type", "Forwarded", "If-Match", "If-None-Match", "If-Modified-Since", "Origin", "Pragma",
		"Referer", "Traceparent", "Tracestate", "User-Agent", "Via", "X-Amz-Content-Sha256", "X-Amz-Date",
		"X-Amz-User-Agent", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
		"X-Request-Id",
	} {
		t.lowerHeaders[h] = ast.StringTerm(strings.ToLower(h))
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		t.methods[m] = ast.StringTerm(m)
	}
	return t
}

// terms hands out terms, and slices of term pointers, from a few allocations per request rather than
// one each.
type terms struct {
	terms []ast.Term
	ptrs  []*ast.Term
}

func (ts *terms) of(v ast.Value) *ast.Term {
	if len(ts.terms) == 0 {
		ts.terms = make([]ast.Term, 32)
	}
	t := &ts.terms[0]
	ts.terms = ts.terms[1:]
	t.Value = v
	return t
}

func (ts *terms) str(s string) *ast.Term { return ts.of(ast.String(s)) }

// list returns n term pointers; its capacity is n, so an append to it never writes into the next.
func (ts *terms) list(n int) []*ast.Term {
	if len(ts.ptrs) < n {
		ts.ptrs = make([]*ast.Term, max(n, 32))
	}
	l := ts.ptrs[:n:n]
	ts.ptrs = ts.ptrs[n:]
	return l
}

// build turns in into the policy input document. It fails with ErrBadRequest when the request cannot
// be represented faithfully (a path that is not normalized, a query that does not parse). The
// identity part is converted once per identity (identity.Identity.Memo) and the config part once per
// route; both are shared between requests, which only read them.
//
// Headers and query are built when use says the policy can read them; otherwise they are empty
// objects, as for a request that has none.
func (t *inputTerms) build(in *Input, use inputUse) (ast.Value, error) {
	if in.Request == nil {
		return nil, fmt.Errorf("building the policy input: no request")
	}
	if in.Identity == nil {
		return nil, fmt.Errorf("building the policy input: no identity (use identity.Anonymous())")
	}
	var ts terms
	// The path is checked whether or not the policy reads its segments.
	segments, err := pathSegments(&ts, in.Path, use.segments)
	if err != nil {
		return nil, err
	}
	query := t.noQuery
	if use.query && in.Request.URL != nil && in.Request.URL.RawQuery != "" {
		if query, err = parseQuery(&ts, in.Request.URL.RawQuery, in.Redaction); err != nil {
			return nil, err
		}
	}
	id := t.anonymous
	if in.Identity.Kind != identity.KindNone {
		m := identityInput(in.Identity)
		if m.err != nil {
			return nil, m.err
		}
		id = m.term
	}
	config := t.noRules
	if in.Rules != nil {
		config = in.Rules.config
	}
	method, ok := t.methods[in.Request.Method]
	if !ok {
		method = ts.str(in.Request.Method)
	}
	headers := t.noQuery // an empty object
	if use.headers {
		headers = t.headers(&ts, in.Request.Header, in.Redaction)
	}
	request := ast.NewObject(
		ast.Item(keyMethod, method),
		ast.Item(keyHost, ts.str(host(in.Request))),
		ast.Item(keyPath, ts.str(in.Path)),
		ast.Item(keyPathSegments, segments),
		ast.Item(keyQuery, query),
		ast.Item(keyHeaders, headers),
		ast.Item(keyRemoteIP, ts.str(remoteIP(in))),
		ast.Item(keyTLS, ast.InternedTerm(in.Request.TLS != nil)),
	)
	return ast.NewObject(
		ast.Item(keyRequest, ts.of(request)),
		ast.Item(keyIdentity, id),
		ast.Item(keyConfig, config),
	), nil
}

// emptyArray stands for path segments the policy never reads.
var emptyArray = ast.ArrayTerm()

// Keys of the input document, interned so building an input allocates none.
var (
	keyRequest      = ast.InternedTerm("request")
	keyIdentity     = ast.InternedTerm("identity")
	keyConfig       = ast.InternedTerm("config")
	keyMethod       = ast.InternedTerm("method")
	keyHost         = ast.InternedTerm("host")
	keyPath         = ast.InternedTerm("path")
	keyPathSegments = ast.InternedTerm("path_segments")
	keyQuery        = ast.InternedTerm("query")
	keyHeaders      = ast.InternedTerm("headers")
	keyRemoteIP     = ast.InternedTerm("remote_ip")
	keyTLS          = ast.InternedTerm("tls")
)

// pathSegments splits the path on "/" after its leading slash, keeping empty segments so that segment
// indexes are those the upstream sees: "/a//b/" gives ["a", "", "b", ""], "/" gives []. It refuses a
// path that is not absolute or that has dot segments (urlpath.IsDotSegment, the authorizer's rule too),
// which the upstream might resolve to another resource than the one decided on.
func pathSegments(ts *terms, path string, build bool) (*ast.Term, error) {
	if !build {
		if err := checkPath(path); err != nil {
			return nil, err
		}
		return emptyArray, nil
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%w: path %.64q is not absolute", ErrBadRequest, path)
	}
	if path == "/" {
		return ts.of(ast.NewArray()), nil
	}
	segments := ts.list(strings.Count(path, "/"))
	i := 0
	for seg := range strings.SplitSeq(path[1:], "/") {
		if urlpath.IsDotSegment(seg) {
			return nil, fmt.Errorf("%w: path %.64q has a dot segment", ErrBadRequest, path)
		}
		segments[i] = ts.str(seg)
		i++
	}
	return ts.of(ast.NewArray(segments...)), nil
}

// checkPath refuses what pathSegments refuses, without building the segments.
func checkPath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%w: path %.64q is not absolute", ErrBadRequest, path)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if urlpath.IsDotSegment(seg) {
			return fmt.Errorf("%w: path %.64q has a dot segment", ErrBadRequest, path)
		}
	}
	return nil
}

// parseQuery parses the raw query itself, so that nothing is silently dropped: a malformed escape or a
// semicolon separator (which some upstreams split on and others do not) is refused rather than read
// differently from the upstream. Values are lists, in order.
func parseQuery(ts *terms, raw string, red *Redaction) (*ast.Term, error) {
	type param struct {
		key    string
		values []*ast.Term
	}
	var params []param
	var index map[string]int // once there are more than a few, so a long query costs linear time
	err := eachQueryParam(raw, red, func(key, value string) {
		i, seen := -1, false
		if index != nil {
			i, seen = index[key]
		} else if i = slices.IndexFunc(params, func(p param) bool { return p.key == key }); i >= 0 {
			seen = true
		}
		if !seen {
			i = len(params)
			params = append(params, param{key: key})
			if index != nil {
				index[key] = i
			} else if len(params) > 8 {
				index = make(map[string]int, 2*len(params))
				for j, p := range params {
					index[p.key] = j
				}
			}
		}
		params[i].values = append(params[i].values, ts.str(value))
	})
	if err != nil {
		return nil, err
	}
	items := make([][2]*ast.Term, len(params))
	for i, p := range params {
		items[i] = ast.Item(ts.str(p.key), ts.of(ast.NewArray(p.values...)))
	}
	return ts.of(ast.NewObject(items...)), nil
}

// eachQueryParam is the one parser of the query for the input (parseQuery) and the decision memo's
// key: it calls yield with each parameter's decoded name and value, in order, leaving credentials
// out, or fails with ErrBadRequest (and then may have yielded some).
func eachQueryParam(raw string, red *Redaction, yield func(key, value string)) error {
	if strings.Count(raw, "&") >= maxQueryParams {
		return fmt.Errorf("%w: query has more than %d parameters", ErrBadRequest, maxQueryParams)
	}
	if strings.Contains(raw, ";") {
		return fmt.Errorf("%w: query contains a semicolon", ErrBadRequest)
	}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return fmt.Errorf("%w: query parameter name %.64q: bad escape", ErrBadRequest, rawKey)
		}
		if red.param(key) {
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return fmt.Errorf("%w: query parameter %.64q: bad escape in its value", ErrBadRequest, key)
		}
		yield(key, value)
	}
	return nil
}

// headers lowercases names and keeps every value, in order, leaving credentials out.
func (t *inputTerms) headers(ts *terms, h http.Header, red *Redaction) *ast.Term {
	items := make([][2]*ast.Term, 0, len(h))
	var seen map[string]int // only for a header map with non-canonical keys, which may collide
	for name, values := range h {
		key, common := t.lowerHeaders[name]
		var lower string
		if common {
			lower = string(key.Value.(ast.String))
		} else {
			lower = strings.ToLower(name)
		}
		if red.header(lower) {
			continue
		}
		vals := ts.list(len(values))
		for i, v := range values {
			vals[i] = ts.str(v)
		}
		if !common && seen == nil && textproto.CanonicalMIMEHeaderKey(name) != name {
			seen = make(map[string]int, len(h))
			for i, item := range items {
				seen[string(item[0].Value.(ast.String))] = i
			}
		}
		if i, dup := seen[lower]; dup {
			// Two spellings of one name: keep the values of both.
			prev := items[i][1].Value.(*ast.Array)
			merged := make([]*ast.Term, 0, prev.Len()+len(vals))
			prev.Foreach(func(v *ast.Term) { merged = append(merged, v) })
			items[i][1] = ts.of(ast.NewArray(append(merged, vals...)...))
			continue
		}
		if !common {
			key = ts.str(lower)
		}
		if seen != nil {
			seen[lower] = len(items)
		}
		items = append(items, ast.Item(key, ts.of(ast.NewArray(vals...))))
	}
	return ts.of(ast.NewObject(items...))
}

// host is the request's host name, lowercase, without port.
func host(r *http.Request) string {
	h := r.Host
	if h == "" && r.URL != nil {
		h = r.URL.Host
	}
	if name, _, err := net.SplitHostPort(h); err == nil {
		h = name
	} else {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
	return strings.ToLower(h)
}

func remoteIP(in *Input) string {
	if in.RemoteIP != "" {
		return RemoteIP(in.RemoteIP)
	}
	return RemoteIP(in.Request.RemoteAddr)
}

// RemoteIP is the IP of a client address, as `input.request.remote_ip` and aws:SourceIp hold it: the
// host of `host:port` (http.Request.RemoteAddr), without the brackets of an IPv6 address; an address
// without a port, such as Caddy's client IP, is kept as it is. Every place that reports the client's
// address uses it, so the policy, the logs and the IAM conditions see one spelling.
func RemoteIP(addr string) string {
	if ip, _, err := net.SplitHostPort(addr); err == nil {
		return ip
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

// memoKey keys the identity object in identity.Identity.Memo.
type memoKey struct{}

// memoIdentity is what is derived once per identity for its inputs: input.identity, or why it
// cannot be built, and the tag that keys the identity's decisions in a decision memo.
type memoIdentity struct {
	term *ast.Term
	err  error
	tag  uint64
}

// identityInput returns what is derived once per identity for its inputs.
func identityInput(id *identity.Identity) memoIdentity {
	return id.Memo(memoKey{}, func() any {
		term, err := identityTerm(id)
		return memoIdentity{term, err, identityTags.Add(1)}
	}).(memoIdentity)
}

// identityTerm is input.identity. Every key is present (empty when it does not apply to the kind),
// so a policy never reads an undefined field of a known kind.
func identityTerm(id *identity.Identity) (*ast.Term, error) {
	value, err := ast.InterfaceToValue(identityValue(id))
	if err != nil {
		// Claims decoded from JSON always convert; do not quote them, they may be personal data.
		return nil, fmt.Errorf("building the policy input: the claims of %s cannot be represented", id.UserID())
	}
	return ast.NewTerm(value), nil
}

// identityValue is input.identity as Go values.
func identityValue(id *identity.Identity) map[string]any {
	var expiresAt int64
	if !id.ExpiresAt.IsZero() {
		expiresAt = id.ExpiresAt.Unix()
	}
	pool := poolOf(id)
	tags := make(map[string]any, len(pool.PrincipalTags))
	for k, v := range pool.PrincipalTags {
		tags[k] = v
	}
	claims := id.ClaimMap()
	if claims == nil {
		claims = map[string]any{}
	}
	return map[string]any{
		"kind":             string(id.Kind),
		"authenticated":    id.Authenticated,
		"issuer":           id.Issuer,
		"subject":          id.Subject,
		"username":         id.Username,
		"client_id":        id.ClientID,
		"token_use":        id.TokenUse,
		"groups":           stringList(id.Groups),
		"scopes":           stringList(id.Scopes),
		"claims":           claims,
		"identity_id":      pool.IdentityID,
		"identity_pool_id": pool.IdentityPoolID,
		"role_arn":         pool.RoleARN,
		"principal_tags":   tags,
		"login_providers":  stringList(pool.LoginProviders),
		"context":          iamContext(id),
		"expires_at":       expiresAt,
	}
}

// iamContext is an identity-pool caller's part of IAM's request context: its condition keys, by
// lowercase name (context keys are case-insensitive) — the identity id
// (cognito-identity.amazonaws.com:sub), the pool (cognito-identity.amazonaws.com:aud), how it signed
// in (cognito-identity.amazonaws.com:amr: "authenticated" and each login provider, for a user pool
// also "<provider>:CognitoSignIn:<sub>"; or "unauthenticated") and its principal tags
// (aws:principaltag/<tag>). Empty for other kinds. Two tags whose names differ only in case (which
// STS and the identity pool refuse) are both left out rather than one chosen.
func iamContext(id *identity.Identity) map[string]any {
	ctx := map[string]any{}
	if id.Kind != identity.KindIdentityPool {
		return ctx
	}
	pool := poolOf(id)
	if pool.IdentityID != "" {
		ctx[keySub] = pool.IdentityID
	}
	if pool.IdentityPoolID != "" {
		ctx[keyAud] = pool.IdentityPoolID
	}
	amr := []any{"unauthenticated"}
	if id.Authenticated {
		amr = []any{"authenticated"}
		providers := pool.LoginProviders
		if pool.AuthenticationProvider != "" {
			providers = strings.Split(pool.AuthenticationProvider, ",")
		}
		for _, p := range providers {
			if p != "" {
				amr = append(amr, p)
			}
		}
	}
	ctx[keyAMR] = amr
	names := make(map[string]int, len(pool.PrincipalTags))
	for tag, v := range pool.PrincipalTags {
		key := keyPrincipalTag + strings.ToLower(tag)
		names[key]++
		ctx[key] = v
	}
	for key, n := range names {
		if n > 1 {
			delete(ctx, key)
		}
	}
	return ctx
}

// poolOf is id's identity-pool part, empty for the kinds that have none.
func poolOf(id *identity.Identity) *identity.PoolCredentials {
	if p := id.Pool; p != nil {
		return p
	}
	return &identity.PoolCredentials{}
}
