package sigv4_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// rewindBody is a request body the benchmark rewinds between iterations without allocating.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// serverRequest signs a request with aws-sdk-go-v2, writes it to the wire format and reads it back
// with http.ReadRequest, so it looks as Go's server presents it (RequestURI, Host, Content-Length).
func serverRequest(b *testing.B, method, target string, body []byte, presign bool) *http.Request {
	b.Helper()
	r, err := http.NewRequest(method, "https://api.example.com"+target, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7")
	r = signing{presign: presign}.sign(b, r, string(body))
	var wire bytes.Buffer
	if err := r.Write(&wire); err != nil {
		b.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		b.Fatal(err)
	}
	return sr
}

func benchmarkVerify(b *testing.B, method, target string, body []byte, presign bool) {
	store := &credentialStore{}
	v, err := sigv4.NewVerifier(store.source, sigv4.Options{Region: "us-east-1", Now: func() time.Time { return testNow }})
	if err != nil {
		b.Fatal(err)
	}
	r := serverRequest(b, method, target, body, presign)
	rb := &rewindBody{}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rb.Reset(body)
		r.Body = rb
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySigV4 is the authorizer's SigV4 hot path: a header-signed POST with a session
// token and a 1 KiB JSON body (read, hashed and put back), signing key cached.
func BenchmarkVerifySigV4(b *testing.B) {
	body := []byte(`{"items":[` + strings.Repeat(`{"id":12345,"sku":"ABC-123"},`, 34) + `{"id":0}]}`)[:1024]
	benchmarkVerify(b, "POST", "/prod/orders/42?expand=items&limit=10", body, false)
}

// BenchmarkVerifySigV4Presigned is a presigned GET without a body.
func BenchmarkVerifySigV4Presigned(b *testing.B) {
	benchmarkVerify(b, "GET", "/prod/reports/2026-03.pdf?download=1", nil, true)
}
