package authorizer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/internal/urlpath"
)

// ErrBadPath: the request path is ambiguous (dot segments, encoded slashes, empty segments...), so
// the policy and the upstream could read it differently.
var ErrBadPath = errors.New("ambiguous request path")

// DecisionPath returns the path a request is decided on: its decoded path, which Caddy hands unchanged
// to the upstream. A path that a server could read in more than one way is refused with ErrBadPath,
// because the policy and the upstream must never disagree about which resource is asked for:
//
//   - dot segments (`/public/../admin`, also encoded as `%2e%2e`): servers that resolve them would
//     serve a path the policy never saw; so are dot segments with path parameters (`/public/..;/admin`,
//     `..;x=1`), which Tomcat, Jetty and the Java frameworks on them resolve as `..`;
//   - percent-encoded dots, slashes and backslashes that remain after decoding (`%252e%252e`,
//     `%252f`): a server or framework that decodes twice reads them as `..` and `/`;
//   - empty segments (`//admin`): some servers merge slashes, some do not;
//   - encoded slashes or backslashes inside a segment (`%2F`, `%5C`, `\`): the decoded path and the
//     raw path have different segments;
//   - control characters, and anything not starting with `/`.
func DecisionPath(r *http.Request) (string, error) {
	p := r.URL.Path
	if p == "" {
		// An absolute-form request target without a path ("http://host") asks for the root.
		p = "/"
	}
	if p[0] != '/' {
		return "", fmt.Errorf("%w: does not start with /", ErrBadPath)
	}
	if raw := r.URL.RawPath; raw != "" && (containsFold(raw, "%2f") || containsFold(raw, "%5c")) {
		return "", fmt.Errorf("%w: encoded slash in a segment", ErrBadPath)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", fmt.Errorf("%w: control character or backslash", ErrBadPath)
		} else if c == '%' && encodedTwice(p[i+1:]) {
			return "", fmt.Errorf("%w: a dot, slash or backslash encoded twice", ErrBadPath)
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if urlpath.IsDotSegment(seg) {
			return "", fmt.Errorf("%w: dot segment", ErrBadPath)
		}
	}
	// A trailing slash is a path of its own, not an ambiguity; an empty segment inside is.
	if strings.Contains(p, "//") {
		return "", fmt.Errorf("%w: empty segment", ErrBadPath)
	}
	return p, nil
}

// encodedTwice reports whether s, which follows a '%' left in the decoded path, starts with the hex
// code of a dot, a slash or a backslash (2e, 2f, 5c, in either case).
func encodedTwice(s string) bool {
	if len(s) < 2 {
		return false
	}
	lo := s[1] | 0x20
	return s[0] == '2' && (lo == 'e' || lo == 'f') || s[0] == '5' && lo == 'c'
}

// containsFold reports whether s contains the ASCII string sub, ignoring case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
