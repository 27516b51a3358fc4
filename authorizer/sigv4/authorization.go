package sigv4

import (
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	scopeTerminator = "aws4_request"
	amzDateLayout   = "20060102T150405Z"

	// MaxPresignExpires is the longest X-Amz-Expires accepted, in seconds (7 days, as AWS).
	MaxPresignExpires = 604800

	maxSignedHeaders = 64
	maxAccessKeyID   = 128
)

// The presigned query parameters, as AWS spells them (case-sensitive).
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
)

// authParams is what a request says about its own signature, in either form.
type authParams struct {
	presigned     bool
	accessKeyID   string
	scope         string // "<yyyymmdd>/<region>/<service>/aws4_request", as signed
	signedHeaders string // "host;x-amz-date", as signed
	signature     string // 64 lowercase hex digits
	amzDate       string // "20150830T123600Z"
	expires       int64  // X-Amz-Expires in seconds (presigned only)
	sessionToken  string
}

// parseAuthorization parses the value of an `Authorization: AWS4-HMAC-SHA256 Credential=...,
// SignedHeaders=..., Signature=...` header. Each field must appear exactly once; unknown fields are
// refused, so that no two different headers mean the same thing.
func parseAuthorization(h string, a *authParams) *Error {
	rest, ok := strings.CutPrefix(h, algorithm)
	if !ok || rest == "" || rest[0] != ' ' {
		alg, _, _ := strings.Cut(h, " ")
		return malformed("unsupported algorithm %q in the Authorization header", printable(alg))
	}
	var credential string
	var seen [3]bool
	for field := range strings.SplitSeq(rest, ",") {
		field = strings.Trim(field, " ")
		name, value, ok := strings.Cut(field, "=")
		if !ok || value == "" {
			// The field is not quoted: a garbled one may hold (part of) the signature.
			return malformed("an Authorization field is not name=value")
		}
		var i int
		switch name {
		case "Credential":
			i, credential = 0, value
		case "SignedHeaders":
			i, a.signedHeaders = 1, value
		case "Signature":
			i, a.signature = 2, value
		default:
			return malformed("unknown Authorization field %q", printable(name))
		}
		if seen[i] {
			return malformed("Authorization field %s appears more than once", name)
		}
		seen[i] = true
	}
	for i, name := range [...]string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[i] {
			return malformed("Authorization header requires the %s field", name)
		}
	}
	if err := splitCredential(credential, a); err != nil {
		return err
	}
	return checkSignatureSyntax(a.signature)
}

// splitCredential splits "<access key id>/<scope>" and checks its syntax (not its values).
func splitCredential(credential string, a *authParams) *Error {
	id, scope, ok := strings.Cut(credential, "/")
	if !ok || id == "" {
		return malformed("credential is not <access key id>/<date>/<region>/<service>/aws4_request")
	}
	if len(id) > maxAccessKeyID || !isAlnum(id) {
		return malformed("access key id is not 1 to %d letters or digits", maxAccessKeyID)
	}
	if strings.Count(scope, "/") != 3 {
		return malformed("credential scope is not <date>/<region>/<service>/aws4_request")
	}
	a.accessKeyID, a.scope = id, scope
	return nil
}

// checkSignatureSyntax accepts exactly 64 lowercase hex digits: one spelling per signature, so a
// replay cache keyed on it cannot be dodged by changing the case.
func checkSignatureSyntax(sig string) *Error {
	if len(sig) != 64 {
		return malformed("signature is %d characters, not 64 hex digits", len(sig))
	}
	for i := 0; i < len(sig); i++ {
		if c := sig[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return malformed("signature is not lowercase hex")
		}
	}
	return nil
}

// claimsPresigned are the parameters that make a query a presigned request: each names a credential
// or carries a signature, so a URL with any of them is told what else it lacks rather than taken for
// an unsigned one.
const claimsPresigned = fAlgorithm | fCredential | fSignature

// presignedParams fills a from the presigned query parameters. A presigned request must carry all
// six of X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and
// X-Amz-Signature (and X-Amz-Security-Token with temporary credentials); the client is told which
// are missing, in API Gateway's words.
func presignedParams(q *query, a *authParams) *Error {
	var missing []string
	for _, p := range [...]struct {
		name string
		f    presignField
	}{
		{qAlgorithm, fAlgorithm}, {qCredential, fCredential}, {qDate, fDate},
		{qExpires, fExpires}, {qSignedHeaders, fSignedHeaders}, {qSignature, fSignature},
	} {
		if q.present&p.f == 0 {
			missing = append(missing, "'"+p.name+"'")
		}
	}
	if missing != nil {
		list := strings.Join(missing, ", ")
		return refuse(ErrMalformedSignature, "AWS query-string parameters must include "+list+". Re-examine the query-string parameters.",
			"presigned request without the query parameters %s", list)
	}
	if q.repeated != 0 {
		return malformed("a presigned query parameter appears more than once")
	}
	if alg := q.value(fAlgorithm); alg != algorithm {
		return malformed("unsupported algorithm %q in X-Amz-Algorithm", printable(alg))
	}
	a.presigned = true
	if err := splitCredential(q.value(fCredential), a); err != nil {
		return err
	}
	a.signedHeaders = q.value(fSignedHeaders)
	a.signature = q.value(fSignature)
	if err := checkSignatureSyntax(a.signature); err != nil {
		return err
	}
	a.amzDate = q.value(fDate)
	a.sessionToken = q.value(fSecurityToken)
	exp := q.value(fExpires)
	if exp == "" || len(exp) > 7 || !isDigits(exp) {
		return malformed("X-Amz-Expires is not a number of seconds")
	}
	for i := 0; i < len(exp); i++ {
		a.expires = a.expires*10 + int64(exp[i]-'0')
	}
	if a.expires > MaxPresignExpires {
		return malformed("X-Amz-Expires %d is more than %d seconds", a.expires, MaxPresignExpires)
	}
	return nil
}

// parseAmzDate parses the ISO 8601 basic format AWS signs with (20060102T150405Z), and nothing
// looser: fixed width, UTC only, no leap second.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' || !isDigits(s[:8]) || !isDigits(s[9:15]) {
		return time.Time{}, false
	}
	num := func(i, j int) int {
		n := 0
		for ; i < j; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(4, 6), num(6, 8)
	hour, minute, sec := num(9, 11), num(11, 13), num(13, 15)
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // February 30th and the like roll over into the next month
		return time.Time{}, false
	}
	return t, true
}

// splitSignedHeaders checks a SignedHeaders list and appends its names to names: lowercase
// tokens, strictly ascending (as every signer writes them), so no name can appear twice.
func splitSignedHeaders(list string, names []string) ([]string, *Error) {
	if list == "" {
		return names, malformed("SignedHeaders is empty")
	}
	prev := ""
	for name := range strings.SplitSeq(list, ";") {
		if name == "" || !isLowerToken(name) {
			// Not quoted: a garbled list may run into the signature.
			return names, malformed("SignedHeaders has an invalid header name at position %d", len(names)+1)
		}
		if len(names) > 0 && name <= prev {
			return names, malformed("SignedHeaders is not sorted or has a duplicate (%q after %q)", printable(name), printable(prev))
		}
		if len(names) == maxSignedHeaders {
			return names, malformed("SignedHeaders has more than %d names", maxSignedHeaders)
		}
		names = append(names, name)
		prev = name
	}
	return names, nil
}

func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// printable returns attacker-supplied text for a log detail when it is a short name, and a
// placeholder otherwise: a long or odd string may be a secret sent in the wrong place.
func printable(s string) string {
	if len(s) > 32 {
		return "(too long to show)"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "(not shown)"
		}
	}
	return s
}
