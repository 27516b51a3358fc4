package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signingCredentials are what the client programs sign with in these tests: dummy, but shaped like
// identity-pool credentials (a secret with '/' and '+', a session token).
var signingCredentials = aws.Credentials{
	AccessKeyID:     "ASIAINTEGRATIONTEST1",
	SecretAccessKey: "integration/Secret+Key/0123456789abcdefABCDEF",
	SessionToken:    "integration-session-token",
}

// signSpec is the input of js/signed-request.js and py/signed_request.py.
func signSpec(t *testing.T, signer, method, url, body string, headers map[string]string) string {
	t.Helper()
	spec, err := json.Marshal(map[string]any{
		"signer": signer, "method": method, "url": url, "body": body, "headers": headers,
		"region": "us-east-1", "service": "execute-api",
		"credentials": map[string]string{
			"accessKeyId":     signingCredentials.AccessKeyID,
			"secretAccessKey": signingCredentials.SecretAccessKey,
			"sessionToken":    signingCredentials.SessionToken,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(spec)
}

// signedResult is the output of the signing scripts.
type signedResult struct {
	Response struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	} `json:"response"`
}

// The real signers the end-to-end tests send SigV4 requests with, each checked against aws-sdk-go-v2's
// signer on the request as the upstream received it: the client scripts sign correctly, and what
// arrives carries everything a verifier needs.
func TestRealClientsSignLikeTheSDK(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)
	up := startUpstream(t)
	const body = `{"item":"book","n":1}`
	jsonHeaders := map[string]string{"content-type": "application/json", "x-amz-meta-trace": "integration"}
	viaScript := func(run func(t *testing.T, spec string) cmdResult, signer, target string) func(t *testing.T) {
		return func(t *testing.T) {
			var res signedResult
			out := run(t, signSpec(t, signer, http.MethodPost, up.URL+target, body, jsonHeaders)).ok(t)
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("decoding the script's output: %v\n%s", err, out)
			}
			if res.Response.Status != http.StatusOK {
				t.Fatalf("status %d from the upstream: %s", res.Response.Status, res.Response.Body)
			}
		}
	}
	node := func(t *testing.T, spec string) cmdResult { return runNode(t, spec, "signed-request.js") }
	python := func(t *testing.T, spec string) cmdResult { return runPython(t, spec, "signed_request.py") }

	tests := []struct {
		name, target string
		send         func(t *testing.T)
	}{
		{name: "smithy signature-v4", target: "/orders/42?b=2&a=1&a=0", send: viaScript(node, "smithy", "/orders/42?b=2&a=1&a=0")},
		{name: "aws4", target: "/orders/42?b=2&a=1", send: viaScript(node, "aws4", "/orders/42?b=2&a=1")},
		{name: "botocore", target: "/orders/42?b=2&a=1", send: viaScript(python, "", "/orders/42?b=2&a=1")},
		// curl neither sorts the query nor double-encodes the path: a plain path, no query.
		{name: "curl --aws-sigv4", target: "/orders/42", send: func(t *testing.T) {
			runCurl(t, "--fail", "-o", "/dev/null", "--aws-sigv4", "aws:amz:us-east-1:execute-api",
				"--user", signingCredentials.AccessKeyID+":"+signingCredentials.SecretAccessKey,
				"-H", "x-amz-security-token: "+signingCredentials.SessionToken,
				"-H", "content-type: application/json", "-H", "x-amz-meta-trace: integration",
				"--data-binary", body, up.URL+"/orders/42").ok(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count()
			tt.send(t)
			received := up.Received()
			if up.Count() != before+1 {
				t.Fatalf("the upstream received %d requests, want 1", up.Count()-before)
			}
			e := received[len(received)-1]
			if e.RequestURI != tt.target || e.Body != body {
				t.Errorf("upstream saw %s with body %q, want %s with %q", e.RequestURI, e.Body, tt.target, body)
			}
			got, want, signed := referenceSignature(t, e)
			for _, h := range []string{"host", "x-amz-date", "x-amz-security-token", "x-amz-meta-trace"} {
				if !strings.Contains(";"+signed+";", ";"+h+";") {
					t.Errorf("SignedHeaders %q lack %s", signed, h)
				}
			}
			if got != want {
				t.Errorf("signature %s, aws-sdk-go-v2 computes %s for the same request", got, want)
			}
		})
	}
}

// referenceSignature parses the header-form SigV4 Authorization of a received request and computes
// the signature aws-sdk-go-v2's signer gives the same request (its signed headers, body and date), with
// signingCredentials. It returns the request's signature, the SDK's, and the signed header list.
func referenceSignature(t *testing.T, e echoedRequest) (got, want, signedHeaders string) {
	t.Helper()
	fields := parseAuthorization(t, e.Header.Get("Authorization"))
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != signingCredentials.AccessKeyID || scope[4] != "aws4_request" {
		t.Fatalf("Credential = %q, want %s/<date>/<region>/<service>/aws4_request", fields["Credential"], signingCredentials.AccessKeyID)
	}
	signingTime, err := time.Parse("20060102T150405Z", e.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date: %v", err)
	}
	req, err := http.NewRequest(e.Method, "http://"+e.Host+e.RequestURI, nil)
	if err != nil {
		t.Fatal(err)
	}
	signedHeaders = fields["SignedHeaders"]
	for _, h := range strings.Split(signedHeaders, ";") {
		switch h {
		case "host":
			req.Host = e.Host
		case "content-length":
			req.ContentLength, _ = strconv.ParseInt(e.Header.Get(h), 10, 64)
		default:
			req.Header[http.CanonicalHeaderKey(h)] = e.Header.Values(h)
		}
	}
	sum := sha256.Sum256([]byte(e.Body))
	if err := v4.NewSigner().SignHTTP(t.Context(), signingCredentials, req, hex.EncodeToString(sum[:]),
		scope[3], scope[2], signingTime); err != nil {
		t.Fatalf("signing with aws-sdk-go-v2: %v", err)
	}
	ref := parseAuthorization(t, req.Header.Get("Authorization"))
	if ref["SignedHeaders"] != signedHeaders {
		t.Fatalf("aws-sdk-go-v2 signed %q, the client %q", ref["SignedHeaders"], signedHeaders)
	}
	return fields["Signature"], ref["Signature"], signedHeaders
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(t *testing.T, auth string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		t.Fatalf("Authorization %.40q is not AWS4-HMAC-SHA256", auth)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	return fields
}
