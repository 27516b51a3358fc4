// Package clip shortens caller-supplied text for error messages and logs, so that a hostile value can
// neither flood a log line nor leave a broken UTF-8 sequence in it.
package clip

import "unicode/utf8"

// String returns s when it is at most n bytes, else its first n bytes or fewer (never splitting a
// UTF-8 sequence) followed by "...".
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
