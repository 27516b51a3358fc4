package integration

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

// sendWithAWSRequestsAuth sends req with requests, signed by aws-requests-auth. The library signs no
// header but host, x-amz-date and x-amz-security-token, so none other of matrixHeaders is x-amz-*:
// an unsigned x-amz-* header is refused.
func sendWithAWSRequestsAuth(t *testing.T, creds aws.Credentials, base string, req matrixRequest) {
	t.Helper()
	runAWSRequestsAuth(t, creds, req.method, base+req.target, req.body)
}

// runAWSRequestsAuth sends one request signed by aws-requests-auth (py/requests_auth_request.py),
// with a content-type header, and returns the answer.
func runAWSRequestsAuth(t *testing.T, creds aws.Credentials, method, url, body string) signedResult {
	t.Helper()
	python := need(t, "python3-aws-requests-auth")
	spec := map[string]any{
		"method": method, "url": url, "body": body,
		"headers": map[string]string{"content-type": "application/json"},
		"region":  "us-east-1", "service": "execute-api",
		"credentials": map[string]string{"accessKeyId": creds.AccessKeyID, "secretAccessKey": creds.SecretAccessKey, "sessionToken": creds.SessionToken},
	}
	dir := filepath.Join(harness.root, "integration", "py")
	env := childEnv([]string{"AWS_", "PYTHON", "REQUESTS_CA_BUNDLE=", "CURL_CA_BUNDLE="}, "PYTHONDONTWRITEBYTECODE=1")
	out := runClient(t, dir, env, toJSON(spec), python, "requests_auth_request.py").ok(t)
	var res signedResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decoding requests_auth_request.py's output: %v\n%s", err, out)
	}
	return res
}

// Credentials of every caller of the identity pool (a guest, and users whose groups map to different
// roles), obtained from the binary with aws-sdk-go-v2, sign requests with aws-requests-auth: a GET and
// a POST with a body, each with its x-amz-content-sha256 unsigned, reach the upstream as that caller.
func TestIdentityPoolWithAWSRequestsAuth(t *testing.T) {
	t.Parallel()
	need(t, "python3-aws-requests-auth")
	s := startIdentityPoolSite(t)
	client := s.sdkClient()
	for _, tt := range s.callers() {
		t.Run(tt.name, func(t *testing.T) {
			id, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(e2ePoolID), Logins: tt.logins})
			if err != nil {
				t.Fatalf("GetId: %v", err)
			}
			out, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: tt.logins})
			if err != nil {
				t.Fatalf("GetCredentialsForIdentity: %v", err)
			}
			c := out.Credentials
			s.secretKeys = append(s.secretKeys, *c.SecretKey)
			creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
			for _, req := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPost, `{"item":"book","n":1}`}} {
				t.Run(req.method, func(t *testing.T) {
					res := runAWSRequestsAuth(t, creds, req.method, s.srv.BaseURL+apiPath, req.body)
					var e echoedRequest
					if res.Response.Status != http.StatusOK || json.Unmarshal([]byte(res.Response.Body), &e) != nil {
						t.Fatalf("status %d: %s", res.Response.Status, res.Response.Body)
					}
					checkUpstream(t, e, *id.IdentityId, tt.want)
					if e.Method != req.method || e.Body != req.body {
						t.Errorf("upstream saw %s with body %q, want %s with %q", e.Method, e.Body, req.method, req.body)
					}
					// What makes this client differ from the others: the content hash is sent, unsigned.
					_, signed, _ := strings.Cut(e.Header.Get("Authorization"), "SignedHeaders=")
					signed, _, _ = strings.Cut(signed, ",")
					if e.Header.Get("X-Amz-Content-Sha256") != sha256Hex(req.body) || strings.Contains(signed, "x-amz-content-sha256") {
						t.Errorf("x-amz-content-sha256 %q with SignedHeaders %q: want the body's hash, unsigned",
							e.Header.Get("X-Amz-Content-Sha256"), signed)
					}
				})
			}
		})
	}
	s.assertLogsExclude(t)
}
