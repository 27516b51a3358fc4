package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCanonicalPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		s3         bool
		want       string // "" for a refusal
	}{
		{"empty", "", false, "/"},
		{"root", "/", false, "/"},
		{"plain", "/a/b", false, "/a/b"},
		{"unreserved kept", "/-._~AZaz09", false, "/-._~AZaz09"},
		{"raw space encoded once", "/a b", false, "/a%20b"},
		{"escape encoded twice", "/a%20b", false, "/a%2520b"},
		{"encoded slash encoded twice", "/a%2Fb", false, "/a%252Fb"},
		{"raw utf-8", "/\u1234", false, "/%E1%88%B4"},
		{"reserved characters", "/(x)!$&'*+,;=:@", false, "/%28x%29%21%24%26%27%2A%2B%2C%3B%3D%3A%40"},
		{"dot segment", "/a/./b", false, "/a/b"},
		{"dot-dot segment", "/a/../b", false, "/b"},
		{"dot-dot above root", "/../../a", false, "/a"},
		{"empty segments", "//a//b//", false, "/a/b/"},
		{"trailing dot-dot", "/a/b/..", false, "/a"},
		{"trailing dot-dot slash", "/a/b/../", false, "/a/"},
		{"trailing dot", "/a/.", false, "/a"},
		{"encoded dots are not dot segments", "/%2E%2E/a", false, "/%252E%252E/a"},
		{"dots inside a name", "/a..b/.c/d.", false, "/a..b/.c/d."},
		{"s3: empty", "", true, "/"},
		{"s3: escape decoded then encoded once", "/a%20b", true, "/a%20b"},
		{"s3: raw space", "/a b", true, "/a%20b"},
		{"s3: lowercase escape", "/a%2fb%e2%9c%93", true, "/a%2Fb%E2%9C%93"},
		{"s3: escaped unreserved", "/%7E%41", true, "/~A"},
		{"s3: no normalization", "//a/./b/../", true, "//a/./b/../"},
		{"s3: malformed escape", "/a%zz", true, ""},
		{"s3: truncated escape", "/a%2", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := appendCanonicalPath(nil, tc.path, tc.s3)
			if tc.want == "" {
				if ok {
					t.Fatalf("canonical path of %q = %q, want a refusal", tc.path, got)
				}
				return
			}
			if !ok || string(got) != tc.want {
				t.Fatalf("canonical path of %q = %q (ok %v), want %q", tc.path, got, ok, tc.want)
			}
		})
	}
}

func canonicalQueryOf(raw string, presigned bool) (string, error) {
	var q query
	if err := parseQuery(raw, &q); err != nil {
		return "", err
	}
	return string(appendCanonicalQuery(nil, &q, presigned)), nil
}

func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		presigned bool
		want      string
		wantErr   bool
	}{
		{name: "empty", raw: "", want: ""},
		{name: "sorted by key", raw: "b=2&a=1", want: "a=1&b=2"},
		{name: "repeated key sorted by value", raw: "a=2&a=1&a=", want: "a=&a=1&a=2"},
		{name: "key without value", raw: "flag", want: "flag="},
		{name: "empty key", raw: "=v", want: "=v"},
		{name: "equals in value", raw: "a=b=c", want: "a=b%3Dc"},
		{name: "plus is a space", raw: "a+b=c+d", want: "a%20b=c%20d"},
		{name: "encoded plus stays a plus", raw: "a=%2B", want: "a=%2B"},
		{name: "escaped unreserved decoded", raw: "%7e=%7E%41", want: "~=~A"},
		{name: "lowercase escape uppercased", raw: "%e2%9c%93=1", want: "%E2%9C%93=1"},
		{name: "raw utf-8", raw: "\u1234=bar", want: "%E1%88%B4=bar"},
		{name: "raw reserved", raw: "a=!*'();:@$,/?[]", want: "a=%21%2A%27%28%29%3B%3A%40%24%2C%2F%3F%5B%5D"},
		{name: "empty pieces skipped", raw: "&&a=1&&", want: "a=1"},
		{name: "byte order: uppercase first", raw: "a=1&A=2", want: "A=2&a=1"},
		{name: "prefix key first", raw: "Param-3=Value3&Param=Value2", want: "Param=Value2&Param-3=Value3"},
		{name: "signature kept in header form", raw: "X-Amz-Signature=abc&a=1", want: "X-Amz-Signature=abc&a=1"},
		{name: "signature left out when presigned", raw: "X-Amz-Signature=abc&a=1", presigned: true, want: "a=1"},
		{name: "malformed escape", raw: "a=%zz", wantErr: true},
		{name: "truncated escape", raw: "a=%2", wantErr: true},
		{name: "malformed escape in key", raw: "%g1=1", wantErr: true},
		{name: "too many parameters", raw: strings.Repeat("a&", maxQueryParams+1), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := canonicalQueryOf(tc.raw, tc.presigned)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedRequest) {
					t.Fatalf("canonical query of %q = %q, %v; want ErrMalformedRequest", tc.raw, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("canonical query of %q = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
}

// The query canonicalization agrees with Go's url.ParseQuery, which aws-sdk-go-v2 signs with.
func TestCanonicalQueryAgreesWithParseQuery(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"a=1&b=2", "x=a+b&y=%20", "k=%E2%9C%93&k=%e2%9c%93&k=", "z&y=&x==", "%41%42=%7e"} {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for k, vv := range vals {
			for _, v := range vv {
				want = append(want, escapeAll(k)+"="+escapeAll(v))
			}
		}
		got, err := canonicalQueryOf(raw, false)
		if err != nil {
			t.Fatal(err)
		}
		// Same parameters (the order is checked by the table above).
		parts := strings.Split(got, "&")
		if len(parts) != len(want) || !sameSet(parts, want) {
			t.Errorf("canonical query of %q = %q, want the parameters %q", raw, got, want)
		}
	}
}

func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestHeaderValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"value", "value"},
		{"  padded  ", "padded"},
		{"a   b    c", "a b c"},
		{"a\t \tb", "a b"},
		{"\t\"a   b\"\t", "\"a b\""},
		{"   ", ""},
	} {
		if got := string(appendHeaderValue(nil, tc.in)); got != tc.want {
			t.Errorf("header value %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const testSig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	const cred = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
	for _, tc := range []struct {
		name, header string
		ok           bool
	}{
		{"canonical", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date, Signature=" + testSig, true},
		{"no spaces after commas", "AWS4-HMAC-SHA256 " + cred + ",SignedHeaders=host,Signature=" + testSig, true},
		{"fields in another order", "AWS4-HMAC-SHA256 Signature=" + testSig + ", SignedHeaders=host, " + cred, true},
		{"extra spaces", "AWS4-HMAC-SHA256   " + cred + " ,  SignedHeaders=host ,  Signature=" + testSig + "  ", true},
		{"algorithm only", "AWS4-HMAC-SHA256", false},
		{"no space after algorithm", "AWS4-HMAC-SHA256" + cred + ", SignedHeaders=host, Signature=" + testSig, false},
		{"other algorithm", "AWS4-HMAC-SHA512 " + cred + ", SignedHeaders=host, Signature=" + testSig, false},
		{"missing Credential", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + testSig, false},
		{"missing Signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host", false},
		{"duplicate SignedHeaders", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, SignedHeaders=host, Signature=" + testSig, false},
		{"empty value", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, Signature=" + testSig, false},
		{"field without equals", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders, Signature=" + testSig, false},
		{"empty field", "AWS4-HMAC-SHA256 " + cred + ",, SignedHeaders=host, Signature=" + testSig, false},
		{"lowercase field name", "AWS4-HMAC-SHA256 " + cred + ", signedheaders=host, Signature=" + testSig, false},
		{"uppercase signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + strings.ToUpper(testSig), false},
		{"short signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + testSig[:63], false},
		{"non-hex signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + testSig[:63] + "g", false},
		{"credential without scope", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, SignedHeaders=host, Signature=" + testSig, false},
		{"empty access key id", "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=" + testSig, false},
		{"access key id with markup", "AWS4-HMAC-SHA256 Credential=AKID<b>/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=" + testSig, false},
		{"scope with five parts", "AWS4-HMAC-SHA256 " + cred + "/x, SignedHeaders=host, Signature=" + testSig, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a authParams
			err := parseAuthorization(tc.header, &a)
			if tc.ok {
				if err != nil {
					t.Fatalf("parseAuthorization: %v", err)
				}
				if a.accessKeyID != "AKIDEXAMPLE" || a.scope != "20150830/us-east-1/service/aws4_request" ||
					a.signature != testSig || !strings.HasPrefix(a.signedHeaders, "host") {
					t.Fatalf("parsed %+v", a)
				}
				return
			}
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("parseAuthorization = %+v, %v; want ErrMalformedSignature", a, err)
			}
			if strings.Contains(err.Error(), testSig[:16]) || strings.Contains(err.Error(), strings.ToUpper(testSig[:16])) {
				t.Errorf("error quotes the signature: %v", err)
			}
		})
	}
}

func TestSplitSignedHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		list string
		want []string // nil: refused
	}{
		{"host", []string{"host"}},
		{"content-type;host;x-amz-date", []string{"content-type", "host", "x-amz-date"}},
		{"", nil},
		{"host;", nil},
		{";host", nil},
		{"host;host", nil},
		{"x-amz-date;host", nil},
		{"Host", nil},
		{"ho st", nil},
		{"host;x\u00e9", nil},
		{strings.Repeat("a;", maxSignedHeaders) + "b", nil},
	} {
		got, err := splitSignedHeaders(tc.list, nil)
		if tc.want == nil {
			if err == nil {
				t.Errorf("SignedHeaders %q accepted as %q", tc.list, got)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("SignedHeaders %q = %q, %v; want %q", tc.list, got, err, tc.want)
		}
	}
}

func TestParseAmzDate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"20150830T123600Z", true},
		{"20150830T123600", false},
		{"2015-08-30T12:36:00Z", false},
		{"20150830T1236000Z", false},
		{"20151330T123600Z", false},
		{"20150230T123600Z", false},
		{"20150830T243600Z", false},
		{"20150830T126000Z", false},
		{"20150830T123660Z", false},
		{"20150800T123600Z", false},
		{"20150830t123600z", false},
		{"2015083 T123600Z", false},
		{"20150830T 23600Z", false},
		{"", false},
	} {
		got, ok := parseAmzDate(tc.in)
		if ok != tc.ok || ok && !got.Equal(time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)) {
			t.Errorf("parseAmzDate(%q) = %v, %v; want ok %v", tc.in, got, ok, tc.ok)
		}
	}
}

func TestRequestTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, requestURI, url string
		path, query           string
		wantErr               bool
	}{
		{name: "origin-form", requestURI: "/a%20b/c?x=1&y", path: "/a%20b/c", query: "x=1&y"},
		{name: "raw utf-8 kept", requestURI: "/\u1234?k=\u1234", path: "/\u1234", query: "k=\u1234"},
		{name: "absolute-form", requestURI: "http://h.example:8080/p?q", path: "/p", query: "q"},
		{name: "absolute-form without path", requestURI: "http://h.example", path: "/"},
		{name: "absolute-form with query only", requestURI: "http://h.example?x", path: "/", query: "x"},
		{name: "built in process", url: "http://h.example/a%2Fb?z=1", path: "/a%2Fb", query: "z=1"},
		{name: "asterisk", requestURI: "*", wantErr: true},
		{name: "authority-form", requestURI: "h.example:443", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{RequestURI: tc.requestURI}
			if tc.url != "" {
				r.URL, _ = url.Parse(tc.url)
			}
			path, query, err := requestTarget(r)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("requestTarget = %q, %q; want an error", path, query)
				}
				return
			}
			if err != nil || path != tc.path || query != tc.query {
				t.Fatalf("requestTarget = %q, %q, %v; want %q, %q", path, query, err, tc.path, tc.query)
			}
		})
	}
}

func TestIsSigned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, auth, target string
		want               bool
	}{
		{"authorization header", "AWS4-HMAC-SHA256 Credential=x", "/", true},
		{"presigned", "", "/?a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256", true},
		{"presigned, encoded key", "", "/?X-Amz-%41lgorithm=x", true},
		{"bearer", "Bearer abc", "/", false},
		{"basic", "Basic eDp5", "/?x=X-Amz-Algorithm", false},
		{"lowercase parameter", "", "/?x-amz-algorithm=AWS4-HMAC-SHA256", false},
		// A presigned URL that lost X-Amz-Algorithm still claims a signature, so it is told what is missing.
		{"presigned without X-Amz-Algorithm", "", "/?X-Amz-Credential=ASIA%2Fx&X-Amz-Signature=ab", true},
		{"only X-Amz-Signature", "", "/?X-Amz-Signature=ab", true},
		{"only X-Amz-Credential", "", "/?X-Amz-Credential=ab", true},
		{"only X-Amz-Date and X-Amz-Expires", "", "/?X-Amz-Date=20260314T150926Z&X-Amz-Expires=300", false},
		{"nothing", "", "/", false},
	} {
		r := &http.Request{RequestURI: tc.target, Header: http.Header{}}
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := IsSigned(r); got != tc.want {
			t.Errorf("%s: IsSigned = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The signing key of AWS's documented example (IAM, us-east-1, 20150830).
func TestSigningKey(t *testing.T) {
	t.Parallel()
	k := signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
	if got, want := hex.EncodeToString(k[:]), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"; got != want {
		t.Fatalf("signing key = %s, want %s", got, want)
	}
}

// signBlock is HMAC-SHA256 without allocations; it must agree with crypto/hmac.
func TestSignBlock(t *testing.T) {
	t.Parallel()
	key := sha256.Sum256([]byte("key"))
	for _, msg := range []string{"", "a", strings.Repeat("x", 63), strings.Repeat("y", 64), strings.Repeat("z", 1000)} {
		block := append(make([]byte, 64), msg...)
		m := hmac.New(sha256.New, key[:])
		m.Write([]byte(msg))
		if got := signBlock(&key, block); !hmac.Equal(got[:], m.Sum(nil)) {
			t.Errorf("signBlock of %d bytes disagrees with crypto/hmac", len(msg))
		}
	}
}

func TestKeyCacheBounded(t *testing.T) {
	t.Parallel()
	c := newKeyCache(8)
	for i := range 100 {
		secret := fmt.Sprintf("secret-%d", i)
		got := c.get(secret, "20150830", "us-east-1", "service")
		if got != signingKey(secret, "20150830", "us-east-1", "service") {
			t.Fatalf("cached key for %s is wrong", secret)
		}
		if n := c.len(); n > 8 {
			t.Fatalf("cache holds %d keys, limit 8", n)
		}
	}
	// The same secret on another day is another key.
	if c.get("s", "20150830", "r", "s") == c.get("s", "20150831", "r", "s") {
		t.Fatal("keys of two days are equal")
	}
}

func TestNewVerifierOptions(t *testing.T) {
	t.Parallel()
	src := func(context.Context, string, string) (*Credential, error) { return nil, ErrUnknownCredential }
	for _, tc := range []struct {
		name string
		src  CredentialSource
		opts Options
		ok   bool
	}{
		{"defaults", src, Options{Region: "us-east-1"}, true},
		{"no source", nil, Options{Region: "us-east-1"}, false},
		{"no region", src, Options{}, false},
		{"region with a slash", src, Options{Region: "us-east-1/x"}, false},
		{"service with a space", src, Options{Region: "us-east-1", Service: "execute api"}, false},
		{"negative skew", src, Options{Region: "us-east-1", ClockSkew: -time.Second}, false},
		{"skew over the limit", src, Options{Region: "us-east-1", ClockSkew: MaxClockSkew + time.Second}, false},
		{"negative body limit", src, Options{Region: "us-east-1", MaxBodyBytes: -1}, false},
		{"negative cache size", src, Options{Region: "us-east-1", SigningKeyCacheSize: -1}, false},
	} {
		v, err := NewVerifier(tc.src, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: NewVerifier error = %v, want ok %v", tc.name, err, tc.ok)
			continue
		}
		if tc.ok && (v.opts.Service != DefaultService || v.opts.ClockSkew != DefaultClockSkew ||
			v.opts.MaxBodyBytes != DefaultMaxBodyBytes || v.opts.SigningKeyCacheSize != DefaultSigningKeyCacheSize || v.opts.Now == nil) {
			t.Errorf("%s: defaults not applied: %+v", tc.name, v.opts)
		}
	}
}

// A header sent under two spellings of its name (possible only in a hand-built request) is refused
// instead of being merged in map order.
func TestHeaderUnderTwoSpellings(t *testing.T) {
	t.Parallel()
	r := &http.Request{Host: "h", Header: http.Header{"X-Custom": {"a"}, "x-custom": {"b"}}}
	_, err := collectSignedHeaders(r, []string{"host", "x-custom"}, nil)
	if !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("collectSignedHeaders: %v, want ErrMalformedRequest", err)
	}
	// Unicode folding does not make a different name match (U+212A KELVIN SIGN folds to 'k').
	r = &http.Request{Host: "h", Header: http.Header{"X-Amz-\u212aey": {"a"}}}
	if _, err := collectSignedHeaders(r, []string{"host", "x-amz-key"}, nil); !errors.Is(err, ErrHeaderNotSigned) {
		t.Fatalf("collectSignedHeaders: %v, want ErrHeaderNotSigned", err)
	}
}

// Only Go's canonical keys of x-amz-content-sha256 and x-amz-security-token may go unsigned: the
// verifier reads them by those keys, so another spelling (a hand-built request) would go unchecked.
func TestUnsignedOnlyUnderCanonicalKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"x-amz-content-sha256", "X-AMZ-CONTENT-SHA256", "x-amz-security-token", "X-Amz-Security-token"} {
		r := &http.Request{Host: "h", Header: http.Header{key: {"v"}}}
		if _, err := collectSignedHeaders(r, []string{"host"}, nil); !errors.Is(err, ErrHeaderNotSigned) {
			t.Errorf("%s unsigned: %v, want ErrHeaderNotSigned", key, err)
		}
	}
	for _, key := range []string{"X-Amz-Content-Sha256", "X-Amz-Security-Token"} {
		r := &http.Request{Host: "h", Header: http.Header{key: {"v"}}}
		if _, err := collectSignedHeaders(r, []string{"host"}, nil); err != nil {
			t.Errorf("%s unsigned: %v, want accepted", key, err)
		}
	}
}

// TestKeyCacheStats checks the counts of the signing key cache: a key found (in either generation) is
// a hit, a key derived a miss, and a generation dropped evicts exactly the keys not used since.
func TestKeyCacheStats(t *testing.T) {
	t.Parallel()
	c := newKeyCache(4) // generations of 2
	get := func(secret string) { c.get(secret, "20150830", "us-east-1", "service") }
	get("a")
	get("b")
	get("a") // hit in cur
	get("c") // cur full: {a, b} becomes old
	get("a") // hit in old, promoted
	get("d") // cur {c, a} full: old {b} is dropped
	want := SigningKeyCacheStats{Entries: 3, Hits: 2, Misses: 4, Evictions: 1}
	if got := c.stats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}
