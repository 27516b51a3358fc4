package upstream

import (
	"encoding/json"
	"strconv"
	"strings"
)

// headerSafe percent-encodes the bytes that cannot appear in a header value (control characters) and
// the percent sign itself, so the encoding is reversible and a claim cannot inject a header line.
func headerSafe(s string) string {
	return escape(s, func(c byte) bool { return c < 0x20 || c == 0x7f || c == '%' })
}

// headerList joins list elements with sep, each element percent-encoded like headerSafe and for sep
// too: a group named "admins,ops" must not read as two groups upstream.
func headerList(list []string, sep byte) string {
	if len(list) == 0 {
		return ""
	}
	var b strings.Builder
	for i, e := range list {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(escape(e, func(c byte) bool { return c < 0x20 || c == 0x7f || c == '%' || c == sep }))
	}
	return b.String()
}

func escape(s string, must func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if must(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; must(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// claimString renders a claim value as API Gateway does: strings as they are, other values as their
// JSON text, arrays as "[a b]".
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// placeholderClaim renders a claim for a placeholder: arrays comma-joined (like {cognito.groups}),
// encoded as headers are.
func placeholderClaim(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = claimString(e)
		}
		return headerList(parts, ',')
	}
	return headerSafe(claimString(v))
}
