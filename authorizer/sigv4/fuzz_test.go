package sigv4

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The fuzz targets run their seeds (f.Add and testdata/fuzz/<Target>/) in every `go test`; run
// `go test -fuzz=FuzzX -fuzztime=30s ./authorizer/sigv4/` to search further.

var (
	hex64           = regexp.MustCompile(`[0-9a-fA-F]{64}`)
	canonicalOutput = regexp.MustCompile(`^(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*$`)
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + testSig)
	f.Add("AWS4-HMAC-SHA256 Credential=A/1/2/3/4,SignedHeaders=a,Signature=" + testSig + ",Signature=" + testSig)
	f.Add("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date Signature=" + testSig)
	f.Add("AWS4-HMAC-SHA256")
	f.Fuzz(func(t *testing.T, h string) {
		var a authParams
		err := parseAuthorization(h, &a)
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("error %v does not wrap ErrMalformedSignature", err)
			}
			// A signature-looking value in the header's fields never reaches the log. (The algorithm,
			// the first word, may be quoted, up to 32 characters of [-_A-Za-z0-9]: it is not a field
			// and cannot hold a signature, though a fuzzer can make it look like the start of one.)
			alg, fields, _ := strings.Cut(h, " ")
			msg := strings.Replace(err.Error(), fmt.Sprintf("%q", printable(alg)), "", 1)
			for _, sig := range hex64.FindAllString(fields, -1) {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(sig[:16])) {
					t.Fatalf("error %q quotes a signature from the header", err)
				}
			}
			return
		}
		if len(a.signature) != 64 || checkSignatureSyntax(a.signature) != nil || a.accessKeyID == "" ||
			!isAlnum(a.accessKeyID) || strings.Count(a.scope, "/") != 3 || a.signedHeaders == "" {
			t.Fatalf("accepted an invalid header: %+v", a)
		}
		// What was parsed, written back canonically, parses to the same thing.
		var b authParams
		again := algorithm + " Credential=" + a.accessKeyID + "/" + a.scope + ", SignedHeaders=" + a.signedHeaders + ", Signature=" + a.signature
		if err := parseAuthorization(again, &b); err != nil || a != b {
			t.Fatalf("round trip: %+v != %+v (%v)", a, b, err)
		}
	})
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/a/./b/../c//", "/%2E%2E/%zz", "/example space/\u1234", "//..//.", "/a%2Fb%2"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, path string, s3 bool) {
		got, ok := appendCanonicalPath(nil, path, s3)
		if !ok {
			if !s3 {
				t.Fatalf("non-S3 canonicalization refused %q", path)
			}
			return
		}
		out := string(got)
		if !strings.HasPrefix(out, "/") || !canonicalOutput.MatchString(out) {
			t.Fatalf("canonical path of %q = %q: not an encoded absolute path", path, out)
		}
		if s3 {
			// S3's form is a fixed point: encoding it again changes nothing.
			if again, _ := appendCanonicalPath(nil, out, true); string(again) != out {
				t.Fatalf("S3 canonical path not stable: %q -> %q -> %q", path, out, again)
			}
			return
		}
		// Normalized: no empty, "." or ".." segment is left.
		for i, seg := range strings.Split(out[1:], "/") {
			last := i == strings.Count(out[1:], "/")
			if seg == "." || seg == ".." || seg == "" && !last && out != "/" {
				t.Fatalf("canonical path of %q = %q keeps segment %q", path, out, seg)
			}
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"", "b=2&a=1&a=", "a+b=%e2%9c%93&&flag", "x=%zz", "X-Amz-Signature=1&X-Amz-Signature=2", "=&=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := canonicalQueryOf(raw, false)
		if err != nil {
			if !errors.Is(err, ErrMalformedRequest) {
				t.Fatalf("error %v does not wrap ErrMalformedRequest", err)
			}
			return
		}
		// Canonical form is a fixed point, and sorted.
		again, err := canonicalQueryOf(out, false)
		if err != nil || again != out {
			t.Fatalf("canonical query not stable: %q -> %q -> %q (%v)", raw, out, again, err)
		}
		var q query
		_ = parseQuery(out, &q)
		for i := 1; i < len(q.params); i++ {
			p, c := q.params[i-1], q.params[i]
			if p.key > c.key || p.key == c.key && p.value > c.value {
				t.Fatalf("canonical query %q is not sorted", out)
			}
		}
	})
}

// FuzzVerify feeds whole requests to a Verifier: it must never panic, and every refusal is an
// *Error with a type, a message and a status, whose text holds neither the secret nor the
// request's signature nor its session token.
func FuzzVerify(f *testing.F) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	const token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
	for _, c := range loadSuite(f) {
		for _, form := range []string{"header", "query"} {
			f.Add(c.file(f, form+"-signed-request.txt"))
		}
	}
	f.Add("GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request" +
		"&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=99999999&X-Amz-Signature=" + testSig + " HTTP/1.1\nHost: h\n\n")
	v, err := NewVerifier(func(_ context.Context, id, tok string) (*Credential, error) {
		if id != "AKIDEXAMPLE" {
			return nil, ErrUnknownCredential
		}
		return &Credential{SecretAccessKey: secret}, nil
	}, Options{Region: "us-east-1", Service: "service", MaxBodyBytes: 1 << 10,
		Now: func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		_, err = v.Verify(r)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Type == "" || e.Message == "" || e.Err == nil ||
			(e.Status != 400 && e.Status != 403 && e.Status != 413 && e.Status != 500) {
			t.Fatalf("refusal is not a complete *Error: %#v", err)
		}
		for _, s := range append([]string{secret, token}, hex64.FindAllString(raw, -1)...) {
			if strings.Contains(e.Error(), s) || strings.Contains(e.Message, s) {
				t.Fatalf("error %q / %q leaks %q", e.Error(), e.Message, s)
			}
		}
	})
}
