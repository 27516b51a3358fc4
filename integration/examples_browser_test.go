package integration

// The browser example (examples/browser), as a person would use it: the page, built with its own
// script, served by the example's Caddyfile as shipped, in headless Chromium (Debian's, driven by
// examples/browser/drive.js through playwright-core), against a real user pool (cognito-local). The
// page's origin is not the API's, so every call it makes to the identity pool and the API is a CORS
// call that the directives' `cors` must let through.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

// The identity pool and roles of examples/browser/Caddyfile (and policy.rego).
const (
	browserPoolID    = "us-east-1:c7809d65-7ce8-4ed1-a2b2-9c9cd4f32276"
	browserUserRole  = "arn:aws:iam::123456789012:role/browser-demo-user"
	browserAdminRole = "arn:aws:iam::123456789012:role/browser-demo-admin"
	browserGuestRole = "arn:aws:iam::123456789012:role/browser-demo-guest"
)

// browserScreenshot is where TestBrowserExample keeps its screenshot of the page, relative to the
// repository root (git-ignored).
const browserScreenshot = "integration/testdata/artifacts/browser-example.png"

// browserReport is what examples/browser/drive.js prints: the page after each step.
type browserReport struct {
	Steps          []browserStep                      `json:"steps"`
	PageErrors     []string                           `json:"pageErrors"`
	Console        []struct{ Type, Text, URL string } `json:"console"`
	FailedRequests []struct {
		Method, URL, Error, Step, Target string
		Status                           int
	} `json:"failedRequests"`
	ErrorResponses []browserResponse `json:"errorResponses"`
}

// browserResponse is a response of status 400 or more that the page got.
type browserResponse struct {
	Method, URL string
	Status      int
}

type browserStep struct {
	Name       string        `json:"name"`
	Caller     string        `json:"caller"`
	IdentityID string        `json:"identityId"` // of the credentials the page holds
	Error      string        `json:"error"`      // the page's error line
	Calls      []browserCall `json:"calls"`      // the table of API answers, oldest first
}

// browserCall is a row of the page's table: what the API answered, and the identity the upstream
// echoed (empty on a refusal).
type browserCall struct {
	Caller             string `json:"caller"`
	Request            string `json:"request"`
	Status             string `json:"status"`
	ErrorType          string `json:"error-type"`
	Message            string `json:"message"`
	IdentityID         string `json:"identity-id"`
	Role               string `json:"role"`
	AuthenticationType string `json:"authentication-type"`
}

func TestBrowserExample(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	pool.AddUser(t, "alice@example.com", "admins")
	pool.AddUser(t, "bob@example.com")
	pageRoot := buildBrowserPage(t)
	apiSite := fmt.Sprintf("http://localhost:%d", freePort(t))
	srv := startExample(t, caddyBinary(t), examplePath("browser", "Caddyfile"),
		"API_SITE="+apiSite, fmt.Sprintf("ECHO_PORT=%d", freePort(t)), "PAGE_ROOT="+pageRoot,
		"POLICY="+examplePath("browser", "policy.rego"), "COGNITO_IDP_ENDPOINT="+emu.URL,
		"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID)
	pageOrigin := srv.BaseURL // http://127.0.0.1:<port>; the API is at localhost:<another port>
	screenshot := filepath.Join(harness.root, filepath.FromSlash(browserScreenshot))

	report := runBrowser(t, pageOrigin+"/", []map[string]string{
		{"name": "wrong password", "do": "signIn", "username": "alice@example.com", "password": "wrong-" + testPassword},
		{"name": "alice", "do": "signIn", "username": "alice@example.com", "password": testPassword},
		{"name": "alice reads the report", "do": "click", "button": "admin-button"},
		{"name": "alice's signature replayed", "do": "click", "button": "tamper-button"},
		{"name": "bob", "do": "signIn", "username": "bob@example.com", "password": testPassword},
		{"name": "bob reads the report", "do": "click", "button": "admin-button"},
		{"name": "guest", "do": "click", "button": "guest-button"},
		{"name": "guest reads the report", "do": "click", "button": "admin-button"},
		{"name": "screenshot", "do": "screenshot", "path": screenshot},
	})
	step := func(t *testing.T, name string) browserStep {
		t.Helper()
		for _, s := range report.Steps {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("drive.js reported no step %q", name)
		return browserStep{}
	}
	// lastCall is the API answer that the step added to the page's table.
	lastCall := func(t *testing.T, s browserStep, wantCalls int) browserCall {
		t.Helper()
		if len(s.Calls) != wantCalls {
			t.Fatalf("after %q the page shows %d API answers, want %d: %+v (error line %q)", s.Name, len(s.Calls), wantCalls, s.Calls, s.Error)
		}
		return s.Calls[wantCalls-1]
	}
	// The identity the identity pool gives alice, asked with the Go SDK: the page must show the same.
	aliceID := identityIDOf(t, apiSite, pool.SignIn(t, "alice@example.com").ID, "cognito-idp.us-east-1.amazonaws.com/"+pool.ID)

	t.Run("a wrong password is shown as the user pool's refusal", func(t *testing.T) {
		s := step(t, "wrong password")
		// Cognito says NotAuthorizedException; cognito-local 5.3.0 InvalidPasswordException.
		if !strings.Contains(s.Error, "signing in to the user pool") ||
			!strings.Contains(s.Error, "NotAuthorizedException") && !strings.Contains(s.Error, "InvalidPasswordException") {
			t.Errorf("error line %q, want the user pool's refusal of the sign-in", s.Error)
		}
		if s.Caller != "nobody yet" || s.IdentityID != "none" || len(s.Calls) != 0 {
			t.Errorf("after a refused sign-in the page shows caller %q, identity %q, %d calls; want nobody, none, none", s.Caller, s.IdentityID, len(s.Calls))
		}
		if strings.Contains(s.Error, testPassword) {
			t.Error("the error line shows the password")
		}
	})
	t.Run("alice signs in and the upstream sees her identity with the admin role", func(t *testing.T) {
		s := step(t, "alice")
		c := lastCall(t, s, 1)
		if s.Error != "" || s.Caller != "alice@example.com" || s.IdentityID != aliceID {
			t.Errorf("page shows caller %q, identity %q, error %q; want alice@example.com, %s, none", s.Caller, s.IdentityID, s.Error, aliceID)
		}
		want := browserCall{Caller: "alice@example.com", Request: "GET /whoami", Status: "200", IdentityID: aliceID,
			Role: browserAdminRole, AuthenticationType: "authenticated"}
		if c != want {
			t.Errorf("the page shows the answer %+v\nwant %+v", c, want)
		}
	})
	t.Run("the policy lets the admin role read the report", func(t *testing.T) {
		c := lastCall(t, step(t, "alice reads the report"), 2)
		if c.Status != "200" || c.Request != "GET /admin/report" || c.Role != browserAdminRole || c.IdentityID != aliceID {
			t.Errorf("the page shows %+v, want 200 for alice with the admin role", c)
		}
	})
	t.Run("a signature replayed on another path is refused, readably across origins", func(t *testing.T) {
		c := lastCall(t, step(t, "alice's signature replayed"), 3)
		if c.Status != "403" || c.ErrorType != "InvalidSignatureException" || c.Message == "" || c.IdentityID != "" || c.Role != "" {
			t.Errorf("the page shows %+v, want 403 InvalidSignatureException with the gateway's message and no identity", c)
		}
	})
	t.Run("bob, in no group, gets the user role, which may not read the report", func(t *testing.T) {
		s := step(t, "bob")
		c := lastCall(t, s, 4)
		if s.Error != "" || s.Caller != "bob@example.com" || !strings.HasPrefix(s.IdentityID, "us-east-1:") || s.IdentityID == aliceID {
			t.Errorf("page shows caller %q, identity %q, error %q; want bob, a us-east-1 identity other than alice's", s.Caller, s.IdentityID, s.Error)
		}
		want := browserCall{Caller: "bob@example.com", Request: "GET /whoami", Status: "200", IdentityID: s.IdentityID,
			Role: browserUserRole, AuthenticationType: "authenticated"}
		if c != want {
			t.Errorf("the page shows the answer %+v\nwant %+v", c, want)
		}
		c = lastCall(t, step(t, "bob reads the report"), 5)
		if c.Status != "403" || c.ErrorType != "AccessDeniedException" || c.Role != "" {
			t.Errorf("the page shows %+v, want 403 AccessDeniedException", c)
		}
	})
	t.Run("a guest gets the guest role and an identity of its own", func(t *testing.T) {
		s := step(t, "guest")
		c := lastCall(t, s, 6)
		bobID := step(t, "bob").IdentityID
		if s.Error != "" || s.Caller != "guest" || !strings.HasPrefix(s.IdentityID, "us-east-1:") || s.IdentityID == aliceID || s.IdentityID == bobID {
			t.Errorf("page shows caller %q, identity %q, error %q; want guest, a us-east-1 identity other than alice's and bob's", s.Caller, s.IdentityID, s.Error)
		}
		want := browserCall{Caller: "guest", Request: "GET /whoami", Status: "200", IdentityID: s.IdentityID,
			Role: browserGuestRole, AuthenticationType: "unauthenticated"}
		if c != want {
			t.Errorf("the page shows the answer %+v\nwant %+v", c, want)
		}
	})
	t.Run("the policy refuses the report to a guest", func(t *testing.T) {
		c := lastCall(t, step(t, "guest reads the report"), 7)
		if c.Status != "403" || c.ErrorType != "AccessDeniedException" || c.Role != "" {
			t.Errorf("the page shows %+v, want 403 AccessDeniedException", c)
		}
	})
	t.Run("refused requests never reached the upstream", func(t *testing.T) {
		// Three of the four requests for /admin/report were refused (alice's replayed signature, bob's,
		// the guest's): only alice's own reached the upstream; and no preflight did, the gateway answers
		// them.
		if n := upstreamRoundTrips(srv, "/admin/report"); n != 1 {
			t.Errorf("%d requests for /admin/report reached the upstream, want alice's only", n)
		}
		if n := upstreamRoundTrips(srv, "/whoami"); n != 3 {
			t.Errorf("%d requests for /whoami reached the upstream, want 3 (alice's, bob's, the guest's)", n)
		}
	})
	t.Run("a clean console: no script error, failed request or error answer but the refusals the steps make", func(t *testing.T) {
		if len(report.PageErrors) > 0 {
			t.Errorf("uncaught errors in the page: %q", report.PageErrors)
		}
		for _, r := range report.FailedRequests {
			// Chromium at times reports a fetch whose answer the page had read as aborted when the
			// renderer lets go of the body before the network side says it is complete: the answer
			// arrived (its status is checked below), nothing failed.
			if r.Status != 0 && r.Error == "net::ERR_ABORTED" {
				continue
			}
			t.Errorf("step %q: a request of the page failed: %s %s %s: %s (status %d)", r.Step, r.Method, r.URL, r.Target, r.Error, r.Status)
		}
		// What the steps ask for: the user pool refuses the wrong password (400), the API the report to
		// the replayed signature, to bob and to the guest (403). Anything else, a missing favicon
		// included, is a defect of the page or its Caddyfile.
		expected := func(r browserResponse) bool {
			return r.Status == http.StatusBadRequest && strings.HasPrefix(r.URL, emu.URL+"/") ||
				r.Status == http.StatusForbidden && r.URL == apiSite+"/admin/report"
		}
		refused := 0
		for _, r := range report.ErrorResponses {
			if !expected(r) {
				t.Errorf("the page got %d for %s %s", r.Status, r.Method, r.URL)
			}
			refused++
		}
		if refused != 4 {
			t.Errorf("the page got %d error answers, want 4 (the wrong password, three refusals of the report): %+v", refused, report.ErrorResponses)
		}
		for _, m := range report.Console {
			if m.Type != "error" && m.Type != "warning" {
				continue
			}
			// Chromium logs each error answer of a fetch as "Failed to load resource".
			var status int
			if _, err := fmt.Sscanf(m.Text, "Failed to load resource: the server responded with a status of %d", &status); err == nil &&
				expected(browserResponse{URL: m.URL, Status: status}) {
				continue
			}
			t.Errorf("console %s: %s (%s)", m.Type, m.Text, m.URL)
		}
	})
	t.Run("screenshot kept", func(t *testing.T) {
		png, err := os.ReadFile(screenshot)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10<<10 {
			t.Fatalf("screenshot %s: %v, %d bytes; want a PNG of the page", screenshot, err, len(png))
		}
		t.Logf("screenshot of the page after every step: %s", screenshot)
	})
	t.Run("CORS is for the page's origin only", func(t *testing.T) {
		tests := []struct {
			name, path, origin, method, headers, wantOrigin string
		}{
			{"API, the page", "/whoami", pageOrigin, "GET", "authorization,x-amz-date,x-amz-security-token,x-amz-content-sha256", pageOrigin},
			{"API, another origin", "/whoami", "http://evil.example", "GET", "authorization,x-amz-date", ""},
			{"API, the page's port on another host", "/whoami", strings.Replace(pageOrigin, "127.0.0.1", "localhost", 1), "GET", "authorization", ""},
			{"identity pool, the page", "/identity", pageOrigin, "POST", "content-type,x-amz-target,x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request", pageOrigin},
			{"identity pool, another origin", "/identity", "null", "POST", "content-type,x-amz-target", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, apiSite+tt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Origin", tt.origin)
				req.Header.Set("Access-Control-Request-Method", tt.method)
				req.Header.Set("Access-Control-Request-Headers", tt.headers)
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
					t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want %q", tt.origin, got, tt.wantOrigin)
				}
			})
		}
	})
}

// buildBrowserPage builds the page with examples/browser/build.js into a temporary directory and
// returns it.
func buildBrowserPage(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	env := childEnv([]string{"NODE_"})
	runClient(t, needNPM(t, "examples/browser"), env, "", need(t, "node"), "build.js", out).ok(t)
	for _, f := range []string{"index.html", "style.css", "favicon.svg", "app.js"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("build.js made no %s: %v", f, err)
		}
	}
	return out
}

// runBrowser runs examples/browser/drive.js: one launch of Chromium that opens page and goes through
// steps. The screenshot's directory is created first.
func runBrowser(t *testing.T, page string, steps []map[string]string) browserReport {
	t.Helper()
	for _, s := range steps {
		if s["do"] == "screenshot" {
			if err := os.MkdirAll(filepath.Dir(s["path"]), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	spec, err := json.Marshal(map[string]any{"page": page, "chromium": need(t, "chromium"), "timeoutMs": 20000, "steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	// HOME is Chromium's too: a temporary one keeps the machine's profile and caches out.
	env := childEnv([]string{"NODE_", "HOME=", "XDG_", "DEBUG=", "PLAYWRIGHT_"}, "HOME="+t.TempDir())
	out := runClient(t, needNPM(t, "examples/browser"), env, string(spec), need(t, "node"), "drive.js").ok(t)
	var report browserReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("decoding drive.js's report: %v\n%s", err, out)
	}
	if len(report.Steps) != len(steps) {
		t.Fatalf("drive.js reported %d steps of %d:\n%s", len(report.Steps), len(steps), out)
	}
	return report
}

// identityIDOf asks the identity pool served at baseURL/identity for the identity id of a user-pool ID
// token (aws-sdk-go-v2, independent of the page).
func identityIDOf(t *testing.T, baseURL, idToken, provider string) string {
	t.Helper()
	out, err := identityClient(baseURL+"/identity").GetId(t.Context(), &cognitoidentity.GetIdInput{
		IdentityPoolId: aws.String(browserPoolID),
		Logins:         map[string]string{provider: idToken},
	})
	if err != nil {
		t.Fatalf("GetId with alice's ID token: %v", err)
	}
	return aws.ToString(out.IdentityId)
}

// upstreamRoundTrips counts the requests for path, of any method, that reverse_proxy sent to the
// upstream, from Caddy's debug log.
func upstreamRoundTrips(srv *caddyServer, path string) int {
	n := 0
	for _, e := range srv.Logs() {
		if e["logger"] != "http.handlers.reverse_proxy" || e["msg"] != "upstream roundtrip" {
			continue
		}
		if req, ok := e["request"].(map[string]any); ok && req["uri"] == path {
			n++
		}
	}
	return n
}
