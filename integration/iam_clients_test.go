package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The real-client matrix against the binary: aws-sdk-go-v2's signer, @smithy/signature-v4,
// aws4, botocore and curl --aws-sigv4 sign requests with guest credentials from the binary's own
// cognito_identity_pool (obtained with aws-sdk-go-v2), under a role policy. Every request each client
// signs verifies; the same request with one signed part changed is refused with API Gateway's error
// type.
//
// To change a request after a client signed it, the client first sends it to the echo upstream
// directly, which records it as it arrived; the test then replays it to the binary, byte for byte
// but for the one change. The unchanged replay, sent last, must pass: it shows that the replay is
// faithful, so each refusal is the change's doing.

const (
	matrixPoolID = "us-east-1:3e9d1c7b-5a2f-4c8e-9b6d-0f1e2d3c4b5a"
	matrixRole   = "arn:aws:iam::123456789012:role/matrix-guest"
)

// matrixSite is a binary with an identity pool for guests, and an API for them under a role policy:
// everything but /private/*. Presigned URLs go to /presigned/*, where UNSIGNED-PAYLOAD is accepted
// (botocore presigns with it, as S3 wants).
type matrixSite struct {
	srv        *caddyServer
	up         *upstream
	identityID string
	creds      aws.Credentials
}

func startMatrixSite(t *testing.T) *matrixSite {
	t.Helper()
	policy := writeRolePolicy(t, "matrix-guest.json", `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "API", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:signers/prod/*"},
		{"Sid": "NotPrivate", "Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:signers/prod/*/private/*"}
	]
}`)
	authorizer := func(options string) string {
		return fmt.Sprintf(`cognito_authorizer {
			identity_pool %s%s
			role_policy %s %s
			execute_api 123456789012 signers prod
		}`, matrixPoolID, options, matrixRole, policy)
	}
	s := &matrixSite{up: startUpstream(t)}
	s.srv = startCaddy(t, fmt.Sprintf(`{$SITE} {
	handle /identity* {
		cognito_identity_pool %s {
			unauthenticated_role %s
		}
	}
	handle /presigned/* {
		%s
		reverse_proxy %s
	}
	handle {
		%s
		reverse_proxy %s
	}
}
`, matrixPoolID, matrixRole, authorizer(" {\n\t\t\t\tunsigned_payload\n\t\t\t}"), s.up.Addr, authorizer(""), s.up.Addr))
	s.identityID, s.creds = identityCredentials(t, s.srv.BaseURL+"/identity", matrixPoolID, nil)
	return s
}

// matrixRequest is one request of the matrix, its target as the client is given it (encoded).
type matrixRequest struct {
	kind    string
	method  string
	target  string
	body    string
	presign bool
}

var matrixRequests = []matrixRequest{
	{kind: "GET", method: http.MethodGet, target: "/orders/42"},
	{kind: "GET with query", method: http.MethodGet, target: "/orders/42?b=2&a=1&a=0&q=a%20b%2Fc"},
	{kind: "POST with JSON body", method: http.MethodPost, target: "/orders", body: `{"item":"book","n":1}`},
	{kind: "unicode and reserved characters in the path", method: http.MethodGet,
		target: "/files/caf%C3%A9/%E6%9D%B1%E4%BA%AC/a%20b+c=d@e!f,g'(h)*i:j$k~l"},
	{kind: "presigned URL", method: http.MethodGet, target: "/presigned/orders/42?x=1", presign: true},
}

// matrixHeaders are sent with every header-signed request: each client signs them (an x-amz-* header
// must be signed).
var matrixHeaders = map[string]string{"content-type": "application/json", "x-amz-meta-trace": "matrix"}

// matrixClient sends req, signed with creds, to base+req.target; supports says which requests it can
// sign as AWS specifies.
type matrixClient struct {
	name     string
	supports func(matrixRequest) bool
	send     func(t *testing.T, creds aws.Credentials, base string, req matrixRequest)
}

func matrixClients() []matrixClient {
	all := func(matrixRequest) bool { return true }
	script := func(run func(t *testing.T, spec string) cmdResult, signer string) func(*testing.T, aws.Credentials, string, matrixRequest) {
		return func(t *testing.T, creds aws.Credentials, base string, req matrixRequest) {
			if req.presign && signer == "aws4" {
				// aws4 presigns for the X-Amz-Expires the URL has (for S3 only it adds one).
				req.target += "&X-Amz-Expires=300"
			}
			spec := map[string]any{
				"signer": signer, "method": req.method, "url": base + req.target, "body": req.body,
				"region": "us-east-1", "service": "execute-api", "presign": req.presign, "expiresIn": 300,
				"credentials": map[string]string{"accessKeyId": creds.AccessKeyID, "secretAccessKey": creds.SecretAccessKey, "sessionToken": creds.SessionToken},
			}
			if !req.presign {
				spec["headers"] = matrixHeaders
			}
			run(t, toJSON(spec)).ok(t)
		}
	}
	return []matrixClient{
		{name: "aws-sdk-go-v2", supports: all, send: sendWithGoSDK},
		{name: "@smithy/signature-v4", supports: all, send: script(func(t *testing.T, spec string) cmdResult { return runNode(t, spec, "signed-request.js") }, "smithy")},
		{name: "aws4", supports: all, send: script(func(t *testing.T, spec string) cmdResult { return runNode(t, spec, "signed-request.js") }, "aws4")},
		{name: "botocore", supports: all, send: script(func(t *testing.T, spec string) cmdResult { return runPython(t, spec, "signed_request.py") }, "")},
		// curl 7.88 neither sorts the query nor double-encodes the path, and does not presign.
		{name: "curl --aws-sigv4", supports: func(r matrixRequest) bool {
			return !r.presign && !strings.ContainsAny(r.target, "?%")
		}, send: sendWithCurl},
	}
}

func sendWithGoSDK(t *testing.T, creds aws.Credentials, base string, req matrixRequest) {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), req.method, base+req.target, strings.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	if req.presign {
		// As the SDK's own presigners do: the signer signs the X-Amz-Expires the URL has.
		q := r.URL.Query()
		q.Set("X-Amz-Expires", "300")
		r.URL.RawQuery = q.Encode()
		signed, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, r, emptyPayloadHash, "execute-api", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r, err = http.NewRequestWithContext(t.Context(), req.method, signed, nil); err != nil {
			t.Fatal(err)
		}
	} else {
		for k, v := range matrixHeaders {
			r.Header.Set(k, v)
		}
		signBody(t, r, req.body, creds)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func sendWithCurl(t *testing.T, creds aws.Credentials, base string, req matrixRequest) {
	t.Helper()
	args := []string{"-o", "/dev/null", "--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", creds.AccessKeyID + ":" + creds.SecretAccessKey,
		"-H", "x-amz-security-token: " + creds.SessionToken, "-X", req.method}
	for k, v := range matrixHeaders {
		args = append(args, "-H", k+": "+v)
	}
	if req.body != "" {
		args = append(args, "--data-binary", req.body)
	}
	runCurl(t, append(args, base+req.target)...).ok(t)
}

// tamper is one change to a signed request and the error type it must get.
type tamper struct {
	name      string
	errorType string
	applies   func(matrixRequest) bool
	change    func(t *testing.T, r *replayRequest)
}

var tampers = []tamper{
	{name: "method", errorType: "InvalidSignatureException", change: func(t *testing.T, r *replayRequest) { r.method = http.MethodPatch }},
	{name: "path", errorType: "InvalidSignatureException", change: func(t *testing.T, r *replayRequest) { r.path += "x" }},
	{name: "query", errorType: "InvalidSignatureException", change: func(t *testing.T, r *replayRequest) {
		if r.rawQuery == "" {
			r.rawQuery = "added=1"
			return
		}
		// The first parameter that is not the signature's own.
		pairs := strings.Split(r.rawQuery, "&")
		for i, p := range pairs {
			if !strings.HasPrefix(strings.ToLower(p), "x-amz-") {
				pairs[i] = p + "0"
				break
			}
		}
		r.rawQuery = strings.Join(pairs, "&")
	}},
	{name: "header", errorType: "InvalidSignatureException", applies: signedInHeaders, change: func(t *testing.T, r *replayRequest) {
		r.header.Set("X-Amz-Meta-Trace", "tampered")
	}},
	{name: "unsigned x-amz header", errorType: "IncompleteSignatureException", applies: presigned, change: func(t *testing.T, r *replayRequest) {
		r.header.Set("X-Amz-Meta-Trace", "added")
	}},
	{name: "body", errorType: "InvalidSignatureException", applies: func(m matrixRequest) bool { return m.body != "" }, change: func(t *testing.T, r *replayRequest) {
		r.body = strings.Replace(r.body, "book", "bomb", 1)
	}},
	{name: "date", errorType: "InvalidSignatureException", change: func(t *testing.T, r *replayRequest) {
		r.edit(t, "X-Amz-Date", func(v string) string {
			d, err := time.Parse("20060102T150405Z", v)
			if err != nil {
				t.Fatalf("X-Amz-Date %q: %v", v, err)
			}
			return d.Add(time.Second).Format("20060102T150405Z")
		})
	}},
	{name: "scope", errorType: "InvalidSignatureException", change: func(t *testing.T, r *replayRequest) {
		if r.presigned {
			r.edit(t, "X-Amz-Credential", func(v string) string { return strings.Replace(v, "us-east-1", "us-west-2", 1) })
			return
		}
		r.edit(t, "Authorization", func(v string) string { return strings.Replace(v, "/us-east-1/", "/us-west-2/", 1) })
	}},
	{name: "token", errorType: "UnrecognizedClientException", change: func(t *testing.T, r *replayRequest) {
		r.edit(t, "X-Amz-Security-Token", flipAlphanumeric)
	}},
}

func presigned(m matrixRequest) bool       { return m.presign }
func signedInHeaders(m matrixRequest) bool { return !m.presign }

// flipAlphanumeric changes one letter or digit in the middle of s.
func flipAlphanumeric(s string) string {
	b := []byte(s)
	for i := len(b) / 2; i < len(b); i++ {
		switch c := b[i]; {
		case 'a' <= c && c <= 'y', 'A' <= c && c <= 'Y', '0' <= c && c <= '8':
			b[i] = c + 1
			return string(b)
		}
	}
	return s + "x"
}

// replayRequest is a request recorded by the upstream, to send again to the binary.
type replayRequest struct {
	method, host, path, rawQuery, body string
	header                             http.Header
	presigned                          bool
}

func replayOf(e echoedRequest) *replayRequest {
	path, query, _ := strings.Cut(e.RequestURI, "?")
	r := &replayRequest{method: e.Method, host: e.Host, path: path, rawQuery: query, body: e.Body, header: e.Header.Clone()}
	r.header.Del("Content-Length") // the transport writes it for the body
	r.presigned = strings.Contains(query, "X-Amz-Signature=")
	return r
}

// edit changes a signature part: a query parameter of a presigned request, else a header.
func (r *replayRequest) edit(t *testing.T, name string, change func(string) string) {
	t.Helper()
	if !r.presigned {
		if r.header.Get(name) == "" {
			t.Fatalf("the request has no %s header", name)
		}
		r.header.Set(name, change(r.header.Get(name)))
		return
	}
	pairs := strings.Split(r.rawQuery, "&")
	for i, p := range pairs {
		if k, v, ok := strings.Cut(p, "="); ok && k == name {
			pairs[i] = k + "=" + change(v)
			r.rawQuery = strings.Join(pairs, "&")
			return
		}
	}
	t.Fatalf("the presigned query has no %s", name)
}

// send sends the request to base exactly as recorded: method, request target, Host, headers, body.
func (r *replayRequest) send(t *testing.T, base string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), r.method, base+"/", strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.URL.Opaque, req.URL.RawQuery = r.path, r.rawQuery
	req.Host = r.host
	req.Header = r.header.Clone()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := (&http.Client{}).Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

func TestRealClientsThroughRolePolicies(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)
	s := startMatrixSite(t)
	for _, client := range matrixClients() {
		t.Run(client.name, func(t *testing.T) {
			for _, req := range matrixRequests {
				if !client.supports(req) {
					continue
				}
				t.Run(req.kind, func(t *testing.T) {
					s.checkRequest(t, client, req)
				})
			}
		})
	}
	s.srv.assertLogsExclude(t, s.creds.SecretAccessKey)
}

// checkRequest sends req signed by client to the binary (it must verify and pass the role policy),
// then checks every tamper of it.
func (s *matrixSite) checkRequest(t *testing.T, client matrixClient, req matrixRequest) {
	t.Helper()
	wantPath := mustDecodePath(t, req.target)

	before := s.up.Count()
	client.send(t, s.creds, s.srv.BaseURL, req)
	received := s.up.Received()
	if s.up.Count() != before+1 {
		t.Fatalf("the signed request did not verify: the upstream got %d requests (caddy log has the reason)", s.up.Count()-before)
	}
	got := received[len(received)-1]
	if got.Header.Get("X-Cognito-Identity-Id") != s.identityID || got.Method != req.method || got.Path != wantPath || got.Body != req.body {
		t.Errorf("upstream saw %s %s %q as %q, want %s %s %q as the guest %s", got.Method, got.Path, got.Body,
			got.Header.Get("X-Cognito-Identity-Id"), req.method, wantPath, req.body, s.identityID)
	}
	if got.Header.Get("X-Amz-Security-Token") != "" {
		t.Errorf("the session token header reached the upstream")
	}

	// The same request, signed for the upstream and sent there, to replay.
	client.send(t, s.creds, s.up.URL, req)
	received = s.up.Received()
	captured := received[len(received)-1]
	before = s.up.Count()
	for _, tm := range tampers {
		if tm.applies != nil && !tm.applies(req) {
			continue
		}
		t.Run("tampered "+tm.name, func(t *testing.T) {
			r := replayOf(captured)
			tm.change(t, r)
			resp := r.send(t, s.srv.BaseURL)
			wantAPIGatewayDeny(t, resp, tm.errorType)
		})
	}
	if s.up.Count() != before {
		t.Errorf("a tampered request reached the upstream")
	}
	t.Run("replayed unchanged", func(t *testing.T) {
		resp := replayOf(captured).send(t, s.srv.BaseURL)
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d %q %s: the replay is not faithful, and the tampers above prove nothing", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
		}
	})
}

func mustDecodePath(t *testing.T, target string) string {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, "http://example.com"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.URL.Path
}

// A valid signature is not a permission: the role policy still decides.
func TestValidSignatureDeniedByRolePolicy(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)
	s := startMatrixSite(t)
	before := s.up.Count()
	for _, client := range matrixClients() {
		t.Run(client.name, func(t *testing.T) {
			client.send(t, s.creds, s.up.URL, matrixRequest{method: http.MethodGet, target: "/private/orders"})
			received := s.up.Received()
			before = s.up.Count()
			wantAPIGatewayDeny(t, replayOf(received[len(received)-1]).send(t, s.srv.BaseURL), "AccessDeniedException")
			if s.up.Count() != before {
				t.Errorf("the denied request reached the upstream")
			}
		})
	}
}
