package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

var (
	testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	// The secret and token hold characters that need encoding, to catch a leak in any form.
	testCreds = aws.Credentials{
		AccessKeyID:     "ASIAEXAMPLE0000001",
		SecretAccessKey: "s3cr3t/Example+Key=0123456789abcdefABCDEF",
		SessionToken:    "SeSsIoNtOkEn+/=0123456789",
	}
	staticCreds = aws.Credentials{AccessKeyID: "AKIAEXAMPLE0000002", SecretAccessKey: "another/secret+key"}
	// otherCreds are another identity's temporary credentials.
	otherCreds = aws.Credentials{AccessKeyID: "ASIAEXAMPLE0000003", SecretAccessKey: "other/secret+key", SessionToken: "OtHeRsEsSiOnToKeN+/=9876543210"}
)

// credentialStore is a CredentialSource over fixed credentials; expires is each key's expiry.
type credentialStore struct {
	expires map[string]time.Time
	fail    error // returned for every key, when set
}

func (s *credentialStore) source(_ context.Context, id, token string) (*sigv4.Credential, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	for _, c := range []aws.Credentials{testCreds, staticCreds, otherCreds} {
		if c.AccessKeyID != id {
			continue
		}
		if token != c.SessionToken {
			return nil, errors.New("session token does not belong to the access key")
		}
		return &sigv4.Credential{
			SecretAccessKey: c.SecretAccessKey,
			Expires:         s.expires[id],
			Identity: &identity.Identity{Kind: identity.KindIdentityPool, Pool: &identity.PoolCredentials{
				IdentityID:  "us-east-1:" + id,
				AccessKeyID: id,
			}},
		}, nil
	}
	return nil, fmt.Errorf("no such access key: %w", sigv4.ErrUnknownCredential)
}

// outcome is what the server-side handler saw.
type outcome struct {
	res  *sigv4.Result
	err  error
	body []byte // r.Body read after Verify: what the upstream would get
}

// exchange sends the request built by build (against the test server's base URL) through a real
// HTTP round trip, and verifies it in the server's handler, as the authorizer will.
func exchange(t *testing.T, v *sigv4.Verifier, build func(base string) *http.Request) outcome {
	t.Helper()
	got := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o outcome
		o.res, o.err = v.Verify(r)
		o.body, _ = io.ReadAll(r.Body)
		got <- o
	}))
	defer srv.Close()
	resp, err := srv.Client().Do(build(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return <-got
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// request is a request to sign: method, path and raw query (as they go on the wire), headers, body.
type request struct {
	method, target string
	header         map[string]string
	add            [][2]string // headers added in order (repeated names allowed)
	body           string
	chunked        bool // send the body without a Content-Length
	url            func(base string) string
}

func (q request) build(t *testing.T, base string) *http.Request {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
		if q.chunked {
			body = io.MultiReader(body) // hides the length from http.NewRequest
		}
	}
	u := base + q.target
	if q.url != nil {
		u = q.url(base)
	}
	r, err := http.NewRequest(cmp(q.method, http.MethodGet), u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	for _, kv := range q.add {
		r.Header.Add(kv[0], kv[1])
	}
	return r
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type signing struct {
	creds            aws.Credentials
	region, service  string
	at               time.Time
	payloadHash      string // default: SHA-256 of the body
	disableEscaping  bool
	presign          bool
	presignExpires   int // X-Amz-Expires, presign only
	presignNoExpires bool
}

// sign signs r with aws-sdk-go-v2's signer, header form or presigned.
func (s signing) sign(t testing.TB, r *http.Request, body string) *http.Request {
	t.Helper()
	creds := s.creds
	if creds.AccessKeyID == "" {
		creds = testCreds
	}
	hash := s.payloadHash
	if hash == "" {
		hash = sha256Hex([]byte(body))
	}
	at := s.at
	if at.IsZero() {
		at = testNow
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = s.disableEscaping })
	region, service := cmp(s.region, "us-east-1"), cmp(s.service, "execute-api")
	if !s.presign {
		if err := signer.SignHTTP(context.Background(), creds, r, hash, service, region, at); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if !s.presignNoExpires {
		q := r.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(cmpInt(s.presignExpires, 300)))
		r.URL.RawQuery = q.Encode()
	}
	signed, hdr, err := signer.PresignHTTP(context.Background(), creds, r, hash, service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(r.Method, signed, r.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.ContentLength = r.ContentLength
	for k, vv := range hdr {
		if k != "Host" {
			out.Header[k] = vv
		}
	}
	return out
}

func cmpInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

type sdkCase struct {
	name    string
	req     request
	sig     signing
	opts    func(*sigv4.Options)
	store   credentialStore
	tamper  func(r *http.Request) // applied after signing, before sending
	wantErr error                 // nil: must verify
	status  int                   // expected Error.Status; default 403
	errType string                // expected Error.Type
}

func run(t *testing.T, cases []sdkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := sigv4.Options{Region: "us-east-1", Now: func() time.Time { return testNow }, MaxBodyBytes: 4096}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			v, err := sigv4.NewVerifier(tc.store.source, opts)
			if err != nil {
				t.Fatal(err)
			}
			var signature string
			o := exchange(t, v, func(base string) *http.Request {
				r := tc.sig.sign(t, tc.req.build(t, base), tc.req.body)
				signature = signatureOf(r)
				if tc.tamper != nil {
					tc.tamper(r)
				}
				return r
			})
			if tc.wantErr == nil {
				if o.err != nil {
					t.Fatalf("Verify: %v", o.err)
				}
				creds := cmp(tc.sig.creds.AccessKeyID, testCreds.AccessKeyID)
				if o.res.AccessKeyID != creds || o.res.Credential.Identity.Pool.IdentityID != "us-east-1:"+creds ||
					o.res.Presigned != tc.sig.presign || o.res.Signature != signature {
					t.Errorf("Result = %+v", o.res)
				}
				if string(o.body) != tc.req.body {
					t.Errorf("upstream reads body %q, want %q", o.body, tc.req.body)
				}
				return
			}
			var e *sigv4.Error
			if !errors.As(o.err, &e) {
				t.Fatalf("Verify: got %v, want *Error wrapping %v", o.err, tc.wantErr)
			}
			if !errors.Is(o.err, tc.wantErr) {
				t.Errorf("Verify: got %v, want %v", o.err, tc.wantErr)
			}
			if e.Type != tc.errType || e.Status != cmpInt(tc.status, 403) || e.Message == "" {
				t.Errorf("Error = {Type: %s, Status: %d, Message: %q}, want {%s, %d}", e.Type, e.Status, e.Message, tc.errType, cmpInt(tc.status, 403))
			}
			for _, secret := range []string{testCreds.SecretAccessKey, testCreds.SessionToken, staticCreds.SecretAccessKey,
				url.QueryEscape(testCreds.SessionToken), otherCreds.SecretAccessKey, otherCreds.SessionToken, signature} {
				if secret != "" && (strings.Contains(e.Error(), secret) || strings.Contains(e.Message, secret)) {
					t.Errorf("error text leaks a secret: %q / %q", e.Error(), e.Message)
				}
			}
		})
	}
}

// signatureOf returns the signature a signed request carries.
func signatureOf(r *http.Request) string {
	if s := r.URL.Query().Get("X-Amz-Signature"); s != "" {
		return s
	}
	_, s, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
	return s
}

// editAuthorization rewrites the Authorization header after signing.
func editAuthorization(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}

func TestVerifySignedBySDK(t *testing.T) {
	t.Parallel()
	const rawQuery = "z=last&b=2&a=1&a=0&a=&empty=&flag&sp=a+b&pct=a%20b&lit=a%2bb&lower=%e2%9c%93&upper=%E2%9C%93" +
		"&raw=!$'()*,:@/?&star=*&tilde=%7E&%c3%a9t%c3%a9=summer&uni=ü&&trail="
	jsonBody := `{"order":{"id":42,"items":["a","b"]},"note":"ünïcødé & <tags>"}`
	run(t, []sdkCase{
		{name: "GET with query: reserved, unicode, repeated keys, empty values", req: request{
			target: "/items?b=2&a=1&a=0&empty=&flag&sp=a%20b&plus=a+b&lit=a%2Bb&res=%21%2A%27%28%29%3B%3A%40%26%3D%24%2C%2F%3F%23%5B%5D" +
				"&uni=%E2%9C%93&lower=%e2%9c%93&star=*&tilde=~&raw=!$'()*,:@/?&%C3%A9t%C3%A9=summer"}},
		// The signer rewrites the query into its canonical form; put back the form the client wrote
		// (lowercase escapes, '+' for space, raw reserved characters, unsorted, repeated keys), so
		// the verifier canonicalizes it from the raw query on its own.
		{name: "GET with the query as the client wrote it", req: request{target: "/items?" + rawQuery},
			tamper: func(r *http.Request) { r.URL.RawQuery = rawQuery }},
		{name: "POST with a JSON body", req: request{method: "POST", target: "/orders",
			header: map[string]string{"Content-Type": "application/json"}, body: jsonBody}},
		{name: "PUT with a chunked body", req: request{method: "PUT", target: "/orders/42", body: jsonBody, chunked: true}},
		{name: "signed x-amz-content-sha256", req: request{method: "POST", target: "/orders",
			header: map[string]string{"X-Amz-Content-Sha256": sha256Hex([]byte(jsonBody))}, body: jsonBody}},
		{name: "unicode and reserved characters in the path", req: request{
			target: "/pets/%C3%BCn%C3%AFc%C3%B8de/a%20b/c+d/(x)!$&'*,;=:@/~tilde/%2F/%25"}},
		{name: "unicode path from URL.Path", req: request{url: func(base string) string { return base + "/ünï/a b/€" }}},
		{name: "custom signed headers, repeated and padded", req: request{target: "/h",
			header: map[string]string{"X-Custom": "  a   b  ", "X-Amz-Meta-Tag": "t1"},
			add:    [][2]string{{"X-Multi", "one"}, {"X-Multi", " two  words "}, {"X-Multi", "three"}}}},
		{name: "static credentials without session token", sig: signing{creds: staticCreds}, req: request{target: "/static"}},
		{name: "presigned URL", sig: signing{presign: true}, req: request{target: "/download?file=report.pdf&v=2"}},
		{name: "presigned URL, static credentials", sig: signing{presign: true, creds: staticCreds}, req: request{target: "/download"}},
		{name: "presigned URL with UNSIGNED-PAYLOAD, allowed", sig: signing{presign: true, payloadHash: "UNSIGNED-PAYLOAD"},
			opts: func(o *sigv4.Options) { o.AllowUnsignedPayload = true }, req: request{target: "/upload", method: "PUT", body: "data"}},
		{name: "UNSIGNED-PAYLOAD header, allowed", sig: signing{payloadHash: "UNSIGNED-PAYLOAD"},
			opts: func(o *sigv4.Options) { o.AllowUnsignedPayload = true },
			req:  request{method: "PUT", target: "/upload", body: "data", header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}}},
		{name: "S3 canonical URI", sig: signing{service: "s3", disableEscaping: true},
			opts: func(o *sigv4.Options) { o.S3, o.Service = true, "s3" },
			req:  request{target: "/bucket/my%20key/%C3%A9t%C3%A9.txt"}},
		{name: "body exactly at the limit", req: request{method: "POST", target: "/b", body: strings.Repeat("x", 4096)}},
		{name: "credential expiring after now", store: credentialStore{expires: map[string]time.Time{testCreds.AccessKeyID: testNow.Add(time.Second)}},
			req: request{target: "/"}},
	})
}

func TestVerifyRefusesTampering(t *testing.T) {
	t.Parallel()
	post := request{method: "POST", target: "/orders?x=1", body: `{"id":42}`,
		header: map[string]string{"Content-Type": "application/json", "X-Custom": "v"}}
	sha := post
	sha.header = map[string]string{"X-Amz-Content-Sha256": sha256Hex([]byte(post.body))}
	const mismatch, incomplete = "InvalidSignatureException", "IncompleteSignatureException"
	run(t, []sdkCase{
		{name: "method", req: post, tamper: func(r *http.Request) { r.Method = "PUT" },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "path", req: post, tamper: func(r *http.Request) { r.URL.Path = "/orderz" },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "path encoding", req: request{target: "/a%20b"}, tamper: func(r *http.Request) { r.URL.RawPath = "/a%20%62" },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "query value", req: post, tamper: func(r *http.Request) { r.URL.RawQuery = "x=2" },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "query parameter added", req: post, tamper: func(r *http.Request) { r.URL.RawQuery += "&admin=true" },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "signed header", req: post, tamper: func(r *http.Request) { r.Header.Set("X-Custom", "w") },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "signed header removed", req: post, tamper: func(r *http.Request) { r.Header.Del("X-Custom") },
			wantErr: sigv4.ErrMalformedRequest, errType: mismatch},
		{name: "host", req: post, tamper: func(r *http.Request) { r.Host = "evil.example" },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "body", req: post, tamper: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"id":43}`)) },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "body under a signed x-amz-content-sha256", req: sha,
			tamper:  func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"id":43}`)) },
			wantErr: sigv4.ErrPayloadHashMismatch, errType: mismatch},
		{name: "date", req: post, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20260314T150927Z") },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "scope region", req: post, tamper: editAuthorization("/us-east-1/", "/us-west-2/"),
			wantErr: sigv4.ErrScopeMismatch, errType: mismatch},
		{name: "scope date", req: post, tamper: editAuthorization("/20260314/", "/20260313/"),
			wantErr: sigv4.ErrScopeMismatch, errType: mismatch},
		{name: "signature", req: post, tamper: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", a[len(a)-1])+1)%16]))
		}, wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "signature in uppercase", req: post, tamper: func(r *http.Request) {
			a, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
			r.Header.Set("Authorization", a+"Signature="+strings.ToUpper(sig))
		}, wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "session token", req: post, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "SeSsIoNtOkEn+/=0123456780") },
			wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "session token removed", req: post, tamper: func(r *http.Request) { r.Header.Del("X-Amz-Security-Token") },
			wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "access key id", req: post, tamper: editAuthorization("ASIAEXAMPLE0000001", "ASIAEXAMPLE0000009"),
			wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "presigned query parameter", sig: signing{presign: true}, req: request{target: "/download?file=a.pdf"},
			tamper:  func(r *http.Request) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "file=a.pdf", "file=b.pdf", 1) },
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "presigned expiry extended", sig: signing{presign: true}, req: request{target: "/download"},
			tamper: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=300", "X-Amz-Expires=3600", 1)
			},
			wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "presigned session token", sig: signing{presign: true}, req: request{target: "/download"},
			tamper: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "0123456789", "0123456780", 1)
			}, wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "presigned signature", sig: signing{presign: true}, req: request{target: "/download"},
			tamper: func(r *http.Request) {
				sig := r.URL.Query().Get("X-Amz-Signature")
				other := "0"
				if sig[0] == '0' {
					other = "1"
				}
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, sig, other+sig[1:], 1)
			}, wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
	})
}

func TestVerifyRefusesBadRequests(t *testing.T) {
	t.Parallel()
	get := request{target: "/r"}
	const mismatch, incomplete = "InvalidSignatureException", "IncompleteSignatureException"
	setAuth := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }
	validAuth := "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE0000001/20260314/us-east-1/execute-api/aws4_request, " +
		"SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=" + strings.Repeat("ab", 32)
	run(t, []sdkCase{
		// Not signed, or signed in two places.
		{name: "not signed", req: get, sig: signing{}, tamper: func(r *http.Request) { r.Header.Del("Authorization") },
			wantErr: sigv4.ErrNotSigned, errType: "MissingAuthenticationTokenException"},
		{name: "Bearer token is not SigV4", req: get, tamper: setAuth("Bearer abc.def.ghi"),
			wantErr: sigv4.ErrNotSigned, errType: "MissingAuthenticationTokenException"},
		{name: "two Authorization headers", req: get, tamper: func(r *http.Request) { r.Header.Add("Authorization", "Basic eDp5") },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "header and query signature", req: get, tamper: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "session token in the query of a header-signed request", req: get,
			tamper:  func(r *http.Request) { r.URL.RawQuery = "X-Amz-Security-Token=x" },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},

		// Garbled Authorization fields.
		{name: "duplicate Signature field", req: get, tamper: setAuth(validAuth + ", Signature=" + strings.Repeat("cd", 32)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "duplicate Credential field", req: get,
			tamper:  setAuth(strings.Replace(validAuth, "SignedHeaders", "Credential=ASIAEXAMPLE0000001/20260314/us-east-1/execute-api/aws4_request, SignedHeaders", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "missing SignedHeaders", req: get, tamper: setAuth(strings.Replace(validAuth, "SignedHeaders=host;x-amz-date;x-amz-security-token, ", "", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "unknown field", req: get, tamper: setAuth(validAuth + ", Extra=1"),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "other algorithm", req: get, tamper: setAuth(strings.Replace(validAuth, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "credential with four parts", req: get, tamper: setAuth(strings.Replace(validAuth, "/us-east-1", "", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "short signature", req: get, tamper: setAuth(validAuth[:len(validAuth)-2]),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "SignedHeaders unsorted", req: get, tamper: setAuth(strings.Replace(validAuth, "host;x-amz-date", "x-amz-date;host", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "SignedHeaders with a duplicate", req: get, tamper: setAuth(strings.Replace(validAuth, "host;x-amz-date", "host;host;x-amz-date", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "SignedHeaders in uppercase", req: get, tamper: setAuth(strings.Replace(validAuth, "host;", "Host;", 1)),
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "X-Amz-Date not ISO 8601 basic", req: get, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-03-14T15:09:26Z") },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "X-Amz-Date missing", req: get, tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "X-Amz-Date twice", req: get, tamper: func(r *http.Request) { r.Header.Add("X-Amz-Date", "20260314T150926Z") },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},

		// What must be signed.
		{name: "unsigned x-amz-* header", req: get, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Target", "Admin.DeleteAll") },
			wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},
		{name: "host not in SignedHeaders", req: get, tamper: editAuthorization("SignedHeaders=host;", "SignedHeaders="),
			wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},
		{name: "x-amz-date not in SignedHeaders", req: get, tamper: editAuthorization(";x-amz-date;", ";"),
			wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},

		// Scope.
		{name: "signed for another region", req: get, sig: signing{region: "eu-west-1"},
			wantErr: sigv4.ErrScopeMismatch, errType: mismatch},
		{name: "signed for another service", req: get, sig: signing{service: "s3"},
			wantErr: sigv4.ErrScopeMismatch, errType: mismatch},
		{name: "bad scope terminator", req: get, tamper: editAuthorization("/aws4_request", "/aws5_request"),
			wantErr: sigv4.ErrScopeMismatch, errType: mismatch},

		// Clock skew edges (default 5 minutes).
		{name: "signed 5m ago", req: get, sig: signing{at: testNow.Add(-5 * time.Minute)}},
		{name: "signed 5m1s ago", req: get, sig: signing{at: testNow.Add(-5*time.Minute - time.Second)},
			wantErr: sigv4.ErrSignatureExpired, errType: mismatch},
		{name: "signed 5m ahead", req: get, sig: signing{at: testNow.Add(5 * time.Minute)}},
		{name: "signed 5m1s ahead", req: get, sig: signing{at: testNow.Add(5*time.Minute + time.Second)},
			wantErr: sigv4.ErrSignatureNotYetCurrent, errType: mismatch},
		{name: "custom skew 30s", req: get, sig: signing{at: testNow.Add(-31 * time.Second)},
			opts: func(o *sigv4.Options) { o.ClockSkew = 30 * time.Second }, wantErr: sigv4.ErrSignatureExpired, errType: mismatch},

		// X-Amz-Expires.
		{name: "presigned for 7 days, used after 6", req: get, sig: signing{presign: true, presignExpires: 604800, at: testNow.Add(-6 * 24 * time.Hour)}},
		{name: "presigned for 7 days and 1s", req: get, sig: signing{presign: true, presignExpires: 604801},
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "presigned for 300s, used at 300s", req: get, sig: signing{presign: true, presignExpires: 300, at: testNow.Add(-300 * time.Second)}},
		{name: "presigned for 300s, used at 301s", req: get, sig: signing{presign: true, presignExpires: 300, at: testNow.Add(-301 * time.Second)},
			wantErr: sigv4.ErrSignatureExpired, errType: mismatch},
		{name: "presigned 5m1s in the future", req: get, sig: signing{presign: true, at: testNow.Add(5*time.Minute + time.Second)},
			wantErr: sigv4.ErrSignatureNotYetCurrent, errType: mismatch},
		{name: "presigned without X-Amz-Expires", req: get, sig: signing{presign: true, presignNoExpires: true},
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "presigned with X-Amz-Expires not a number", req: get, sig: signing{presign: true},
			tamper: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=300", "X-Amz-Expires=-300", 1)
			},
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "presigned with a repeated parameter", req: get, sig: signing{presign: true},
			tamper:  func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Date=20260314T150926Z" },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "presigned with the token also in a header", req: get, sig: signing{presign: true},
			tamper:  func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", testCreds.SessionToken) },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "presigned with UNSIGNED-PAYLOAD, not allowed", sig: signing{presign: true, payloadHash: "UNSIGNED-PAYLOAD"},
			req: get, wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "presigned past the credential's expiry", sig: signing{presign: true, presignExpires: 3600, at: testNow.Add(-time.Minute)},
			store: credentialStore{expires: map[string]time.Time{testCreds.AccessKeyID: testNow.Add(-time.Second)}},
			req:   get, wantErr: sigv4.ErrExpiredCredential, errType: "ExpiredTokenException"},

		// Credentials.
		{name: "expired credential", req: get,
			store:   credentialStore{expires: map[string]time.Time{testCreds.AccessKeyID: testNow}},
			wantErr: sigv4.ErrExpiredCredential, errType: "ExpiredTokenException"},
		{name: "source says expired", req: get, store: credentialStore{fail: fmt.Errorf("token: %w", sigv4.ErrExpiredCredential)},
			wantErr: sigv4.ErrExpiredCredential, errType: "ExpiredTokenException"},
		{name: "source unavailable", req: get, store: credentialStore{fail: fmt.Errorf("storage: %w", sigv4.ErrCredentialSourceUnavailable)},
			wantErr: sigv4.ErrCredentialSourceUnavailable, errType: "InternalServerErrorException", status: 500},
		{name: "source timed out", req: get, store: credentialStore{fail: fmt.Errorf("storage: %w", context.DeadlineExceeded)},
			wantErr: sigv4.ErrCredentialSourceUnavailable, errType: "InternalServerErrorException", status: 500},

		// Payload.
		{name: "body over the limit", req: request{method: "POST", target: "/b", body: strings.Repeat("x", 4097)},
			wantErr: sigv4.ErrBodyTooLarge, errType: "RequestTooLargeException", status: 413},
		{name: "chunked body over the limit", req: request{method: "POST", target: "/b", body: strings.Repeat("x", 4097), chunked: true},
			wantErr: sigv4.ErrBodyTooLarge, errType: "RequestTooLargeException", status: 413},
		{name: "UNSIGNED-PAYLOAD header, not allowed", sig: signing{payloadHash: "UNSIGNED-PAYLOAD"},
			req:     request{method: "PUT", target: "/u", body: "data", header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}},
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},
		{name: "streaming payload", sig: signing{payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
			req:     request{method: "PUT", target: "/u", body: "data", header: map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}},
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},
		{name: "x-amz-content-sha256 not hex", sig: signing{payloadHash: "zz"},
			req:     request{method: "PUT", target: "/u", body: "data", header: map[string]string{"X-Amz-Content-Sha256": "zz"}},
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},

		// Canonicalization.
		{name: "malformed percent-escape in the query", req: request{target: "/q?a=1"},
			tamper:  func(r *http.Request) { r.URL.RawQuery = "a=%zz" },
			wantErr: sigv4.ErrMalformedRequest, errType: mismatch},
		{name: "too many query parameters", req: request{target: "/q"},
			tamper:  func(r *http.Request) { r.URL.RawQuery = strings.Repeat("a=1&", 1001) },
			wantErr: sigv4.ErrMalformedRequest, errType: mismatch},
	})
}

// A body that fails mid-read is refused as a bad request, never verified on what was read.
func TestVerifyBodyReadError(t *testing.T) {
	t.Parallel()
	v, err := sigv4.NewVerifier((&credentialStore{}).source, sigv4.Options{Region: "us-east-1", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "http://api.example/p", nil)
	r = signing{}.sign(t, r, "")
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader("partial"), errReader{}))
	r.ContentLength = -1
	_, err = v.Verify(r)
	var e *sigv4.Error
	if !errors.As(err, &e) || !errors.Is(err, sigv4.ErrBodyRead) || e.Status != 400 {
		t.Fatalf("Verify: %v, want ErrBodyRead with status 400", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// Verifying twice (the authorizer may retry a route) reads the buffered body, not an empty one.
func TestVerifyTwiceKeepsBody(t *testing.T) {
	t.Parallel()
	v, err := sigv4.NewVerifier((&credentialStore{}).source, sigv4.Options{Region: "us-east-1", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"k":"v"}`
	r := httptest.NewRequest("POST", "http://api.example/p", strings.NewReader(body))
	r = signing{}.sign(t, r, body)
	for i := range 2 {
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("Verify #%d: %v", i+1, err)
		}
	}
	if got, _ := io.ReadAll(r.Body); !bytes.Equal(got, []byte(body)) {
		t.Fatalf("body = %q, want %q", got, body)
	}
}

// withoutToken are testCreds without their session token: a request signed with them has no
// x-amz-security-token in SignedHeaders, and the test adds the token after signing, unsigned.
var withoutToken = aws.Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey}

// setHeader sets a header after signing, so that it is not in SignedHeaders.
func setHeader(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// x-amz-content-sha256 and x-amz-security-token may be sent unsigned, as AWS accepts outside S3
// (aws-requests-auth sends the content hash unsigned). Neither may then change what is authenticated:
// the body is hashed all the same and the unsigned hash must be its hash; the token must be the one
// issued with the access key that signed. Every other x-amz-* header must still be signed.
func TestVerifyUnsignedContentHashAndToken(t *testing.T) {
	t.Parallel()
	const body, other = `{"id":42}`, `{"id":43}`
	post := request{method: "POST", target: "/orders", body: body}
	const mismatch, incomplete = "InvalidSignatureException", "IncompleteSignatureException"
	run(t, []sdkCase{
		// Accepted.
		{name: "unsigned x-amz-content-sha256 of the body", req: post, tamper: setHeader("X-Amz-Content-Sha256", sha256Hex([]byte(body)))},
		{name: "unsigned x-amz-content-sha256 of an empty GET", req: request{target: "/orders/42"},
			tamper: setHeader("X-Amz-Content-Sha256", sha256Hex(nil))},
		{name: "unsigned x-amz-content-sha256 in uppercase hex", req: post,
			tamper: setHeader("X-Amz-Content-Sha256", strings.ToUpper(sha256Hex([]byte(body))))},
		{name: "unsigned x-amz-content-sha256 spelled in lowercase on the wire", req: post, tamper: func(r *http.Request) {
			r.Header["x-amz-content-sha256"] = []string{sha256Hex([]byte(body))} // Go's client sends the key as written
		}},
		{name: "unsigned x-amz-security-token", req: post, sig: signing{creds: withoutToken},
			tamper: setHeader("X-Amz-Security-Token", testCreds.SessionToken)},
		{name: "both unsigned", req: post, sig: signing{creds: withoutToken}, tamper: func(r *http.Request) {
			r.Header["x-amz-security-token"] = []string{testCreds.SessionToken}
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte(body)))
		}},
		{name: "presigned, unsigned x-amz-content-sha256 of the body", sig: signing{presign: true}, req: post,
			tamper: setHeader("X-Amz-Content-Sha256", sha256Hex([]byte(body)))},

		// The unsigned hash cannot choose the body: it must be the body's, and the signature covers the body.
		{name: "unsigned x-amz-content-sha256 of another body", req: post, tamper: setHeader("X-Amz-Content-Sha256", sha256Hex([]byte(other))),
			wantErr: sigv4.ErrPayloadHashMismatch, errType: mismatch},
		{name: "body changed with an unsigned x-amz-content-sha256 of the new body", req: post, tamper: func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(other)), int64(len(other))
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte(other)))
		}, wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "signed over a claimed hash, body and unsigned header disagreeing", req: post, sig: signing{payloadHash: sha256Hex([]byte(other))},
			tamper: setHeader("X-Amz-Content-Sha256", sha256Hex([]byte(other))), wantErr: sigv4.ErrPayloadHashMismatch, errType: mismatch},
		{name: "signed over a claimed hash, with the unsigned header of the body", req: post, sig: signing{payloadHash: sha256Hex([]byte(other))},
			tamper: setHeader("X-Amz-Content-Sha256", sha256Hex([]byte(body))), wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		// UNSIGNED-PAYLOAD unsigned would let an unauthenticated header take the body out of the signature.
		{name: "unsigned UNSIGNED-PAYLOAD", req: post, tamper: setHeader("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},
		{name: "unsigned UNSIGNED-PAYLOAD, even where UNSIGNED-PAYLOAD is allowed", req: post, sig: signing{payloadHash: "UNSIGNED-PAYLOAD"},
			opts: func(o *sigv4.Options) { o.AllowUnsignedPayload = true }, tamper: setHeader("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},
		{name: "presigned with UNSIGNED-PAYLOAD allowed, and an unsigned hash of the body", sig: signing{presign: true, payloadHash: "UNSIGNED-PAYLOAD"},
			opts: func(o *sigv4.Options) { o.AllowUnsignedPayload = true }, req: post,
			tamper: setHeader("X-Amz-Content-Sha256", sha256Hex([]byte(body))), wantErr: sigv4.ErrSignatureMismatch, errType: mismatch},
		{name: "unsigned streaming payload", req: post, tamper: setHeader("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},
		{name: "unsigned x-amz-content-sha256 not hex", req: post, tamper: setHeader("X-Amz-Content-Sha256", strings.Repeat("z", 64)),
			wantErr: sigv4.ErrUnsupportedPayload, errType: mismatch},
		{name: "unsigned x-amz-content-sha256 twice", req: post, tamper: func(r *http.Request) {
			r.Header.Add("X-Amz-Content-Sha256", sha256Hex([]byte(body)))
			r.Header.Add("X-Amz-Content-Sha256", sha256Hex([]byte(body)))
		}, wantErr: sigv4.ErrMalformedSignature, errType: incomplete},

		// The unsigned token must be the one issued with the access key that signed.
		{name: "unsigned token of another identity", req: post, sig: signing{creds: withoutToken},
			tamper: setHeader("X-Amz-Security-Token", otherCreds.SessionToken), wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "unsigned token changed", req: post, sig: signing{creds: withoutToken},
			tamper: setHeader("X-Amz-Security-Token", "SeSsIoNtOkEn+/=0123456780"), wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "signed by another identity's key with this token unsigned", req: post,
			sig:    signing{creds: aws.Credentials{AccessKeyID: otherCreds.AccessKeyID, SecretAccessKey: otherCreds.SecretAccessKey}},
			tamper: setHeader("X-Amz-Security-Token", testCreds.SessionToken), wantErr: sigv4.ErrUnknownCredential, errType: "UnrecognizedClientException"},
		{name: "unsigned token twice", req: post, sig: signing{creds: withoutToken}, tamper: func(r *http.Request) {
			r.Header.Add("X-Amz-Security-Token", testCreds.SessionToken)
			r.Header.Add("X-Amz-Security-Token", testCreds.SessionToken)
		}, wantErr: sigv4.ErrMalformedSignature, errType: incomplete},
		{name: "signed token and a second one unsigned", req: post,
			tamper:  func(r *http.Request) { r.Header.Add("X-Amz-Security-Token", otherCreds.SessionToken) },
			wantErr: sigv4.ErrMalformedSignature, errType: incomplete},

		// Only these two exact names.
		{name: "unsigned x-amz-content-sha256 and another unsigned x-amz-* header", req: post, tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte(body)))
			r.Header.Set("X-Amz-Target", "Admin.DeleteAll")
		}, wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},
		{name: "unsigned x-amz-content-sha512", req: post, tamper: setHeader("X-Amz-Content-Sha512", "x"),
			wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},
		{name: "unsigned x-amz-security-token-2", req: post, tamper: setHeader("X-Amz-Security-Token-2", "x"),
			wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},
		{name: "unsigned x-amz-content", req: post, tamper: setHeader("X-Amz-Content", "x"),
			wantErr: sigv4.ErrHeaderNotSigned, errType: incomplete},
	})
}

// The client is told which header disagrees with the body.
func TestVerifyUnsignedContentHashMismatchMessage(t *testing.T) {
	t.Parallel()
	v, err := sigv4.NewVerifier((&credentialStore{}).source, sigv4.Options{Region: "us-east-1", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "http://api.example/p", strings.NewReader("body"))
	r = signing{}.sign(t, r, "body")
	r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other")))
	_, err = v.Verify(r)
	var e *sigv4.Error
	if !errors.As(err, &e) || !errors.Is(err, sigv4.ErrPayloadHashMismatch) {
		t.Fatalf("Verify: %v, want ErrPayloadHashMismatch", err)
	}
	if e.Status != 403 || e.Type != "InvalidSignatureException" || !strings.Contains(e.Message, "'x-amz-content-sha256'") {
		t.Errorf("Error = {%d %s %q}, want 403 InvalidSignatureException naming x-amz-content-sha256", e.Status, e.Type, e.Message)
	}
}

// A presigned request needs six query parameters; one without some of them is told which.
func TestVerifyPresignedNamesMissingParameters(t *testing.T) {
	t.Parallel()
	all := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"}
	cases := [][]string{{"X-Amz-Credential", "X-Amz-Signature"}, {"X-Amz-Algorithm", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"}}
	for _, name := range all {
		cases = append(cases, []string{name})
	}
	v, err := sigv4.NewVerifier((&credentialStore{}).source, sigv4.Options{Region: "us-east-1", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for _, missing := range cases {
		t.Run(strings.Join(missing, ","), func(t *testing.T) {
			t.Parallel()
			o := exchange(t, v, func(base string) *http.Request {
				r := signing{presign: true}.sign(t, request{target: "/download?file=a.pdf"}.build(t, base), "")
				var kept []string
				for p := range strings.SplitSeq(r.URL.RawQuery, "&") {
					if k, _, _ := strings.Cut(p, "="); !slices.Contains(missing, k) {
						kept = append(kept, p)
					}
				}
				r.URL.RawQuery = strings.Join(kept, "&")
				return r
			})
			var e *sigv4.Error
			if !errors.As(o.err, &e) || !errors.Is(o.err, sigv4.ErrMalformedSignature) {
				t.Fatalf("Verify: %v, want ErrMalformedSignature", o.err)
			}
			if e.Type != "IncompleteSignatureException" || e.Status != 403 {
				t.Errorf("Error = {%s %d}, want {IncompleteSignatureException 403}", e.Type, e.Status)
			}
			for _, name := range all {
				if named := strings.Contains(e.Message, "'"+name+"'"); named != slices.Contains(missing, name) {
					t.Errorf("message %q: names %s: %v, want %v", e.Message, name, named, !named)
				}
			}
		})
	}
}
