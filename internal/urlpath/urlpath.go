// Package urlpath holds the rules on request paths that the authorizer, which decides which path a
// request asks for, and the policy input, which hands that path to the policy, must apply alike. It is a
// leaf package so that both can import it (policy cannot import authorizer, which imports policy).
package urlpath

import "strings"

// IsDotSegment reports whether a segment of a decoded path is a dot segment, `.` or `..`, as some
// server on the way may read it: a path parameter does not hide it (`..;x` is `..` to Tomcat, Jetty
// and the Java frameworks on them), nor does percent-encoding its dots (`%2e%2e`, `.%2E`), which a
// server that decodes twice resolves. Dots inside a name (`..b`, `...`) are not dot segments.
func IsDotSegment(seg string) bool {
	if seg == "" || seg[0] != '.' && seg[0] != '%' {
		return false
	}
	name, _, _ := strings.Cut(seg, ";")
	if len(name) > len("%2e%2e") {
		return false
	}
	name = strings.ReplaceAll(strings.ToLower(name), "%2e", ".")
	return name == "." || name == ".."
}
