package upstream

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Forward is the set of X-Cognito-* headers a route sends upstream: a comparable value, so routes that
// ask for the same set share what a cached identity has computed for it. The zero value is the lean
// default (DefaultHeaders, no context).
//
// Why lean by default: every header is written, logged by reverse_proxy and parsed by the upstream on
// every request, and the context is 0.5 to 1 KB more; most upstreams read the subject and the groups
// only. A route names the rest, as API Gateway maps claims to headers explicitly.
type Forward struct {
	forwardKey
	// key is forwardKey boxed once, for identity.Identity.Memo: boxing it per request would allocate.
	// nil in the zero value, which stands for leanKey.
	key any
}

type forwardKey struct {
	// extra are the fields, by index in fields, sent besides the default ones.
	extra uint64
	// context sends HeaderContext.
	context bool
}

var leanKey any = forwardKey{}

func newForward(k forwardKey) Forward {
	if k == (forwardKey{}) {
		return Forward{} // one value for the default, however it was built
	}
	return Forward{forwardKey: k, key: k}
}

// ForwardAll is every header, the context included: what every route sent before the default became
// lean.
var ForwardAll = newForward(forwardKey{extra: allHeaders(), context: true})

// All is the name that asks for every header in NewForward.
const All = "all"

// DefaultHeaders are the headers every allowed request carries: the subject and, for user pools, the
// groups (token callers); the identity id (identity-pool callers).
var DefaultHeaders = []string{HeaderSub, HeaderGroups, HeaderIdentityID}

// ErrUnknownHeader is returned by NewForward for a name that is not a header the gateway sets: a typo
// must not silently forward nothing.
var ErrUnknownHeader = errors.New("not a header the gateway forwards")

// NewForward is the set of the default headers, the named ones (header names, any case, or All) and,
// with context, HeaderContext.
func NewForward(names []string, context bool) (Forward, error) {
	f := forwardKey{context: context}
	for _, name := range names {
		if name == All {
			f.extra |= allHeaders()
			continue
		}
		i := headerIndex(name)
		if i < 0 {
			if strings.EqualFold(name, HeaderContext) {
				return Forward{}, fmt.Errorf("forward %s: %w (the context is sent with context_header on)", name, ErrUnknownHeader)
			}
			return Forward{}, fmt.Errorf("forward %q: %w (%s or %s)", name, ErrUnknownHeader, strings.Join(ForwardableHeaders(), ", "), All)
		}
		f.extra |= 1 << i
	}
	return newForward(f), nil
}

// ForwardableHeaders are the header names a route may ask for, in header order.
func ForwardableHeaders() []string {
	var names []string
	for i := range fields {
		if fields[i].Header != "" {
			names = append(names, fields[i].Header)
		}
	}
	return names
}

// Context reports whether the set carries HeaderContext.
func (f Forward) Context() bool { return f.context }

func (f Forward) has(i int) bool { return f.extra&(1<<i) != 0 || isDefault(fields[i].Header) }

// Headers are the headers of the set for id, in the order of Fields, HeaderContext last; none for an
// anonymous caller. They are computed once per identity and set (identity.Identity.Memo: a cached
// identity holds one list per distinct set it was forwarded with, a handful at most) and shared: do
// not modify the slice.
func (f Forward) Headers(id *identity.Identity) []Header {
	key := f.key
	if key == nil {
		key = leanKey
	}
	return id.Memo(key, func() any {
		if id.Kind == identity.KindNone {
			return []Header(nil)
		}
		var hs []Header
		for i := range fields {
			fl := &fields[i]
			if !fl.carries(id.Kind) || !f.has(i) {
				continue
			}
			if v := fl.text(id); v != "" {
				hs = append(hs, Header{fl.Header, v})
			}
		}
		if f.context {
			hs = append(hs, Header{HeaderContext, base64.RawURLEncoding.EncodeToString(Context(id))})
		}
		return hs
	}).([]Header)
}

// SetHeaders sets the headers of the set for id in h, replacing any of the same name. The values come
// from the identity's memo; the slices h holds are fresh (one allocation for all of them), so a later
// handler that edits a header in place edits this request's only.
func (f Forward) SetHeaders(h http.Header, id *identity.Identity) {
	hs := f.Headers(id)
	if len(hs) == 0 {
		return
	}
	values := make([]string, len(hs))
	for i, x := range hs {
		values[i] = x.Value
		h[x.Name] = values[i : i+1 : i+1]
	}
}

func headerIndex(name string) int {
	name = http.CanonicalHeaderKey(name)
	for i := range fields {
		if fields[i].Header != "" && fields[i].Header == name {
			return i
		}
	}
	return -1
}

func isDefault(header string) bool {
	for _, d := range DefaultHeaders {
		if d == header {
			return true
		}
	}
	return false
}

func allHeaders() uint64 {
	var m uint64
	for i := range fields {
		if fields[i].Header != "" {
			m |= 1 << i
		}
	}
	return m
}
