package integration

// The examples are safe as shipped: what their roles' policies let through, and nothing more.

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// signedDo sends a request signed (SigV4, execute-api, us-east-1) with creds and returns the response,
// its body read.
func signedDo(t *testing.T, method, url, body string, creds aws.Credentials) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	signBody(t, req, body, creds)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// wantAccessDenied fails the test unless resp is API Gateway's answer to an IAM deny.
func wantAccessDenied(t *testing.T, resp *http.Response) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var refusal struct{ Message, RequestID string }
	_ = json.Unmarshal(body, &refusal)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "AccessDeniedException" ||
		refusal.Message != "User is not authorized to access this resource" ||
		refusal.RequestID == "" || refusal.RequestID != resp.Header.Get("X-Amzn-RequestId") {
		t.Errorf("%s %s: %d %q %s, want 403 AccessDeniedException", resp.Request.Method, resp.Request.URL.Path,
			resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}
}

// wantAllowed fails the test unless resp is the upstream's 200, and returns what it saw.
func wantAllowed(t *testing.T, resp *http.Response) echoedRequest {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var e echoedRequest
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s %s: %d %s, want 200 from the upstream", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
		return e
	}
	if resp.Request.Method != http.MethodHead {
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("%s %s: the answer is not the upstream's echo: %v\n%s", resp.Request.Method, resp.Request.URL.Path, err, body)
		}
	}
	return e
}

// TestRootCaddyfileExample runs Caddyfile.example with its guest role's policy file
// (guest-policy.example.json, named relative to the repository root as the README runs it), on a free
// port instead of :8080 and with the test's upstream instead of the demo one: a guest may GET and HEAD
// /public/*, nothing else.
func TestRootCaddyfileExample(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)
	text, err := os.ReadFile(filepath.Join(harness.root, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t)
	caddyfile := string(text)
	for _, r := range []struct{ old, new string }{
		{"{\n\tauto_https off\n}\n", ""}, // the harness sets it
		{"\n:8080 {", "\n{$SITE} {"},
		{"reverse_proxy 127.0.0.1:9080", "reverse_proxy " + up.Addr},
		{" guest-policy.example.json\n", " " + filepath.Join(harness.root, "guest-policy.example.json") + "\n"},
	} {
		if !strings.Contains(caddyfile, r.old) {
			t.Fatalf("Caddyfile.example has no %q: update this test", r.old)
		}
		caddyfile = strings.Replace(caddyfile, r.old, r.new, 1)
	}
	// The demo upstream goes: the test's stands for it.
	demo := strings.Index(caddyfile, "\n# The demo upstream")
	if demo < 0 {
		t.Fatal("Caddyfile.example has no demo upstream: update this test")
	}
	srv := startCaddy(t, caddyfile[:demo]+"\n")
	creds := guestCredentials(t, srv.BaseURL+"/identity", "us-east-1:7b0c5d9e-3f4a-4b8c-9d2e-1a6f0e5c4b3d")

	e := wantAllowed(t, signedDo(t, http.MethodGet, srv.BaseURL+"/public/hello", "", creds))
	if e.Path != "/public/hello" || e.Header.Get("X-Cognito-Authentication-Type") != "unauthenticated" {
		t.Errorf("upstream saw %s as %q, want /public/hello from a guest", e.Path, e.Header.Get("X-Cognito-Authentication-Type"))
	}
	wantAllowed(t, signedDo(t, http.MethodHead, srv.BaseURL+"/public/hello", "", creds))

	before := up.Count()
	wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/public/hello", "", creds))
	wantAccessDenied(t, signedDo(t, http.MethodPost, srv.BaseURL+"/public/hello", `{"x": 1}`, creds))
	if resp := signedDo(t, http.MethodGet, srv.BaseURL+"/private/hello", "", creds); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /private/hello: %d, want the 404 of the routes outside /public", resp.StatusCode)
	}
	if up.Count() != before {
		t.Error("a refused request reached the upstream")
	}
	if strings.Contains(srv.LogText(), "has no role_policy") {
		t.Error("Caddyfile.example starts with a warning about a route without role policies")
	}
}
