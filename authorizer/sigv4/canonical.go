package sigv4

import (
	"bytes"
	"math/bits"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxQueryParams bounds the work an unauthenticated request can cause (the query is parsed and
// sorted before the credential is known).
const maxQueryParams = 1000

// presignField is one of the presigned query parameters, as a bit.
type presignField uint8

const (
	fAlgorithm presignField = 1 << iota
	fCredential
	fDate
	fExpires
	fSignedHeaders
	fSignature
	fSecurityToken
)

func presignFieldOf(key string) presignField {
	if len(key) < 10 || key[:6] != "X-Amz-" {
		return 0
	}
	switch key {
	case qAlgorithm:
		return fAlgorithm
	case qCredential:
		return fCredential
	case qDate:
		return fDate
	case qExpires:
		return fExpires
	case qSignedHeaders:
		return fSignedHeaders
	case qSignature:
		return fSignature
	case qSecurityToken:
		return fSecurityToken
	}
	return 0
}

// queryParam is one query parameter, key and value SigV4-encoded.
type queryParam struct{ key, value string }

// query is a parsed query string: its parameters in canonical form and order, and where the
// presigned parameters are.
type query struct {
	params    []queryParam
	present   presignField
	repeated  presignField
	presigned [7]string // SigV4-encoded values of the presigned parameters, by bit position
}

// value returns the decoded value of a presigned parameter ("" when absent).
func (q *query) value(f presignField) string {
	return unescapeCanonical(q.presigned[bits.TrailingZeros8(uint8(f))])
}

// parseQuery parses a raw query string as sent: split on '&', each key and value decoded
// ('+' is a space, as Go's url.ParseQuery and aws-sdk-go-v2 read it), SigV4-encoded again, then
// sorted by key and value. A malformed percent-escape is refused rather than skipped.
func parseQuery(raw string, q *query) *Error {
	for raw != "" {
		var piece string
		piece, raw, _ = strings.Cut(raw, "&")
		if piece == "" {
			continue
		}
		if len(q.params) == maxQueryParams {
			return uncanonical("query has more than %d parameters", maxQueryParams)
		}
		k, v, _ := strings.Cut(piece, "=")
		ek, ok := canonicalComponent(k)
		if !ok {
			return uncanonical("query parameter %d has a malformed percent-escape in its name", len(q.params)+1)
		}
		ev, ok := canonicalComponent(v)
		if !ok {
			return uncanonical("query parameter %d has a malformed percent-escape in its value", len(q.params)+1)
		}
		q.params = append(q.params, queryParam{ek, ev})
		if f := presignFieldOf(ek); f != 0 {
			if q.present&f != 0 {
				q.repeated |= f
			}
			q.present |= f
			q.presigned[bits.TrailingZeros8(uint8(f))] = ev
		}
	}
	slices.SortFunc(q.params, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	return nil
}

// appendCanonicalQuery writes the sorted parameters, leaving out X-Amz-Signature when presigned.
func appendCanonicalQuery(dst []byte, q *query, presigned bool) []byte {
	first := true
	for _, p := range q.params {
		if presigned && p.key == qSignature {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

// canonicalComponent returns a query key or value SigV4-encoded: unreserved characters as they
// are, every other byte as %XX in uppercase hex. A component already in that form is returned
// as is, without allocating. ok is false for a malformed percent-escape.
func canonicalComponent(s string) (string, bool) {
	i := 0
	for i < len(s) {
		c := s[i]
		if unreserved(c) {
			i++
			continue
		}
		if c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]) &&
			!unreserved(unhex(s[i+1])<<4|unhex(s[i+2])) {
			i += 3
			continue
		}
		break
	}
	if i == len(s) {
		return s, true
	}
	buf := make([]byte, i, len(s)+16)
	copy(buf, s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		case '+':
			c = ' '
		}
		buf = appendEscaped(buf, c)
	}
	return string(buf), true
}

// unescapeCanonical decodes a SigV4-encoded string (only unreserved bytes and valid %XX).
func unescapeCanonical(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			buf = append(buf, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		buf = append(buf, s[i])
	}
	return string(buf)
}

// appendCanonicalPath writes the canonical URI of a path as sent on the wire.
//
// For every service but S3 the path is normalized (empty and "." segments dropped, ".." removes the
// segment before it, a trailing slash kept) and then each byte is encoded again, so a '%' the
// client sent becomes %25: the "double encoding" AWS specifies. For S3 the path is neither
// normalized nor encoded twice: each %XX is decoded and every byte encoded once (an encoded slash
// stays %2F). ok is false for a malformed percent-escape in S3 mode.
func appendCanonicalPath(dst []byte, path string, s3 bool) ([]byte, bool) {
	if s3 {
		return appendS3Path(dst, path)
	}
	start := len(dst)
	rest := path
	for rest != "" {
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		switch seg {
		case "", ".":
		case "..":
			if i := bytes.LastIndexByte(dst[start:], '/'); i >= 0 {
				dst = dst[:start+i]
			}
		default:
			dst = append(dst, '/')
			for i := 0; i < len(seg); i++ {
				dst = appendEscaped(dst, seg[i])
			}
		}
	}
	if len(dst) == start || strings.HasSuffix(path, "/") {
		dst = append(dst, '/')
	}
	return dst, true
}

func appendS3Path(dst []byte, path string) ([]byte, bool) {
	if path == "" || path[0] != '/' {
		dst = append(dst, '/')
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch c {
		case '/':
			dst = append(dst, '/')
			continue
		case '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return dst, false
			}
			c = unhex(path[i+1])<<4 | unhex(path[i+2])
			i += 2
		}
		dst = appendEscaped(dst, c)
	}
	return dst, true
}

// appendHeaderValue writes a header value trimmed, with each run of spaces and tabs inside it
// folded to one space (as botocore and @smithy/signature-v4 do).
func appendHeaderValue(dst []byte, v string) []byte {
	i, j := 0, len(v)
	for i < j && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	for j > i && (v[j-1] == ' ' || v[j-1] == '\t') {
		j--
	}
	space := false
	for ; i < j; i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// collectSignedHeaders finds the values of each signed header in r.Header (values[i] for
// names[i]; nil when absent) and enforces the rules on what must be signed: host, and every
// x-amz-* header present but x-amz-content-sha256 and x-amz-security-token (see mayBeUnsigned). A
// header sent under two spellings of its name (only possible in a hand-built request) is refused
// rather than merged in an arbitrary order.
func collectSignedHeaders(r *http.Request, names []string, values [][]string) ([][]string, *Error) {
	values = values[:0]
	host := false
	for _, n := range names {
		values = append(values, nil)
		if n == "host" {
			host = true
		}
	}
	if !host {
		return values, refuse(ErrHeaderNotSigned, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
			"host is not in SignedHeaders")
	}
	for k, vv := range r.Header {
		if asciiEqualFold(k, "host") {
			continue // Go serves the host in r.Host; a Host entry here is never sent
		}
		i := indexFold(names, k)
		if i < 0 {
			if len(k) >= 6 && asciiEqualFold(k[:6], "x-amz-") && !mayBeUnsigned(k) {
				return values, refuse(ErrHeaderNotSigned, "Invalid or incomplete AWS Signature Version 4 authorization.",
					"header %s is present but not in SignedHeaders", printable(k))
			}
			continue
		}
		if values[i] != nil {
			return values, uncanonical("header %s is sent under several spellings", names[i])
		}
		values[i] = vv
	}
	return values, nil
}

// mayBeUnsigned reports whether an x-amz-* header may be left out of SignedHeaders: AWS accepts
// x-amz-content-sha256 and x-amz-security-token unsigned outside S3, and clients send them so
// (aws-requests-auth does not sign the content hash; the AWS suite's post-sts-header-after adds the
// token after signing). Neither can change what the signature authenticates: an unsigned content hash
// must be the hash of the body, which is what is signed (see Verifier.verify), and a session token
// must be the one issued with the access key that signed (the CredentialSource's check).
//
// The key must be Go's canonical spelling, which the server gives every header whatever its case on
// the wire: the verifier reads both headers by that key, so another spelling, possible only in a
// hand-built request, would go unchecked; it must be signed like any other x-amz-* header.
func mayBeUnsigned(key string) bool {
	return key == "X-Amz-Content-Sha256" || key == "X-Amz-Security-Token"
}

// appendCanonicalHeaders writes "name:value\n" for each signed header. Go's server moves some
// headers out of r.Header; they are rebuilt from where it puts them: host from r.Host,
// content-length from r.ContentLength, transfer-encoding from r.TransferEncoding, and expect
// (which the HTTP/2 server deletes when it is "100-continue") as "100-continue".
func appendCanonicalHeaders(dst []byte, r *http.Request, names []string, values [][]string) ([]byte, *Error) {
	for i, name := range names {
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch vv := values[i]; {
		case name == "host":
			dst = appendHeaderValue(dst, r.Host)
		case vv != nil:
			for j, v := range vv {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendHeaderValue(dst, v)
			}
		case name == "content-length" && r.ContentLength >= 0:
			dst = strconv.AppendInt(dst, r.ContentLength, 10)
		case name == "transfer-encoding" && len(r.TransferEncoding) > 0:
			for j, v := range r.TransferEncoding {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, v...)
			}
		case name == "expect":
			dst = append(dst, "100-continue"...)
		default:
			return dst, uncanonical("signed header %s is not in the request", printable(name))
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

func indexFold(names []string, k string) int {
	for i, n := range names {
		if asciiEqualFold(n, k) {
			return i
		}
	}
	return -1
}

// asciiEqualFold compares ASCII case-insensitively; unlike strings.EqualFold it does not let
// Unicode folding (the Kelvin sign, the long s) make two different header names equal.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

const upperHex = "0123456789ABCDEF"

func appendEscaped(dst []byte, c byte) []byte {
	if unreserved(c) {
		return append(dst, c)
	}
	return append(dst, '%', upperHex[c>>4], upperHex[c&15])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
