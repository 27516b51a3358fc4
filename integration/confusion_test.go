package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// confusionPolicy allows /public/ and /legacy/ to anyone (anonymous callers included) and /admin/ to
// group admins, and tells the upstream which path it decided on (X-Policy-Path), so a test can compare
// it with the path the upstream received.
const confusionPolicy = `package cognito.authz

import rego.v1

decision := {"allow": true, "headers": {"X-Policy-Path": input.request.path}} if {
	some prefix in ["/public/", "/legacy/"]
	startswith(input.request.path, prefix)
} else := {"allow": true, "headers": {"X-Policy-Path": input.request.path}} if {
	startswith(input.request.path, "/admin/")
	"admins" in input.identity.groups
} else := {"allow": false, "status": 403, "reason": "path not allowed"}
`

// confusionSite serves the identity pool and four API routes, all deciding with confusionPolicy:
//   - /strip/*: `uri strip_prefix /strip` and the authorizer in a handle block, where Caddy's directive
//     order runs the rewrite first (the safe placement);
//   - /mounted/*: handle_path, which strips the prefix before the block's handlers (safe too);
//   - /legacy/*: a route that rewrites /legacy/ to /admin/ after the authorizer (the unsafe placement);
//   - everything else: the authorizer alone.
type confusionSite struct {
	srv    *caddyServer
	up     *upstream
	idp    *testidp.IdP
	reader string // an access token of group readers
	admin  string // an access token of group admins
}

func startConfusionSite(t *testing.T) *confusionSite {
	t.Helper()
	idp := testidp.New(t)
	up := startUpstream(t)
	policyFile := filepath.Join(t.TempDir(), "policy.rego")
	if err := os.WriteFile(policyFile, []byte(confusionPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	b := blocksFor(idp)
	authorizer := fmt.Sprintf(`cognito_authorizer {
			%s
			identity_pool %s
			allow_anonymous
			policy %s
			forward all
			context_header on
		}`, b.UserPool, hardPoolID, policyFile)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	%[1]s
	handle /strip/* {
		%[2]s
		uri strip_prefix /strip
		reverse_proxy %[3]s
	}
	handle_path /mounted/* {
		%[2]s
		reverse_proxy %[3]s
	}
	handle /legacy/* {
		route {
			%[2]s
			uri replace /legacy/ /admin/ 1
			reverse_proxy %[3]s
		}
	}
	handle {
		%[2]s
		reverse_proxy %[3]s {
			header_up X-Seen-Email {cognito.claims.email}
		}
	}
}
`, b.IdentityPool, authorizer, up.Addr))
	return &confusionSite{srv: srv, up: up, idp: idp,
		reader: idp.AccessToken(t, map[string]any{"cognito:groups": []string{"readers"}}),
		admin:  idp.AccessToken(t, map[string]any{"cognito:groups": []string{"admins"}})}
}

// rawRequest sends a request written byte for byte (Go's client would normalize some of these
// targets) and returns the status.
func rawRequest(t *testing.T, base, target string, header http.Header) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", target, strings.TrimPrefix(base, "http://"))
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The policy decides on the path the upstream receives: every target that a server could read as
// another path is refused before the policy runs, and every request that reaches the upstream carries
// the path the policy decided on.
func TestPathConfusion(t *testing.T) {
	t.Parallel()
	s := startConfusionSite(t)
	tests := []struct {
		name, target string
		token        string // "" for an anonymous caller
		want         int
		wantPath     string // on 200: the decoded path the upstream must receive
	}{
		{name: "public, anonymous", target: "/public/x", want: 200, wantPath: "/public/x"},
		{name: "admin, anonymous", target: "/admin/secret", want: 403},
		{name: "admin, reader", target: "/admin/secret", token: "reader", want: 403},
		{name: "admin, admin", target: "/admin/secret", token: "admin", want: 200, wantPath: "/admin/secret"},
		{name: "dot-dot out of admin", target: "/admin/../public/x", want: 400},
		{name: "dot-dot into admin", target: "/public/../admin/secret", want: 400},
		{name: "dot-dot into admin, reader", target: "/public/../admin/secret", token: "reader", want: 400},
		{name: "single dot", target: "/public/./x", want: 400},
		{name: "encoded dot-dot", target: "/public/%2e%2e/admin/secret", want: 400},
		{name: "encoded dot-dot, mixed case", target: "/public/%2E%2e/admin/secret", want: 400},
		{name: "half-encoded dot-dot", target: "/public/.%2e/admin/secret", want: 400},
		{name: "dot-dot with a path parameter (Tomcat, Jetty)", target: "/public/..;/admin/secret", want: 400},
		{name: "dot-dot with an encoded path parameter", target: "/public/%2e%2e%3b/admin/secret", want: 400},
		{name: "dot with a path parameter", target: "/public/.;x=1/x", want: 400},
		{name: "double-encoded dot-dot", target: "/public/%252e%252e/admin/secret", want: 400},
		{name: "double-encoded slash", target: "/public%252fadmin/secret", want: 400},
		{name: "encoded slash in a segment", target: "/public%2F..%2Fadmin/secret", want: 400},
		{name: "encoded slash, lower case", target: "/public%2fx", want: 400},
		{name: "encoded backslash", target: "/public/..%5Cadmin/secret", want: 400},
		{name: "backslash", target: `/public\..\admin\secret`, want: 400},
		{name: "empty first segment", target: "//admin/secret", want: 400},
		{name: "empty segment inside", target: "/public//x", want: 400},
		{name: "encoded NUL", target: "/public/x%00.json", want: 400},
		{name: "encoded CRLF", target: "/public/x%0d%0aX-Injected:%201", want: 400},
		{name: "trailing slash on public", target: "/public/x/", want: 200, wantPath: "/public/x/"},
		{name: "trailing slash on admin, reader", target: "/admin/secret/", token: "reader", want: 403},
		{name: "upper-case ADMIN, reader", target: "/ADMIN/secret", token: "reader", want: 403},
		{name: "upper-case PUBLIC, anonymous", target: "/PUBLIC/x", want: 403},
		{name: "percent-encoded letters", target: "/%70ublic/x", want: 200, wantPath: "/public/x"},
		{name: "percent-encoded admin, reader", target: "/%61dmin/secret", token: "reader", want: 403},
		{name: "fragment-like segment", target: "/public/x%23/../../admin/secret", want: 400},
		// A rewrite before the authorizer (Caddy's directive order puts uri and rewrite first): the
		// policy decides on the rewritten path, which is what the upstream receives.
		{name: "strip_prefix before, into admin, reader", target: "/strip/admin/secret", token: "reader", want: 403},
		{name: "strip_prefix before, public", target: "/strip/public/x", want: 200, wantPath: "/public/x"},
		// Caddy's rewrite resolves the dot segments itself: the policy and the upstream see the result.
		{name: "strip_prefix before, dot-dot, reader", target: "/strip/public/../admin/secret", token: "reader", want: 403},
		{name: "strip_prefix before, dot-dot, admin", target: "/strip/public/../admin/secret", token: "admin", want: 200, wantPath: "/admin/secret"},
		{name: "handle_path, into admin, reader", target: "/mounted/admin/secret", token: "reader", want: 403},
		{name: "handle_path, public", target: "/mounted/public/x", want: 200, wantPath: "/public/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.up.Count()
			header := http.Header{}
			switch tt.token {
			case "reader":
				header.Set("Authorization", "Bearer "+s.reader)
			case "admin":
				header.Set("Authorization", "Bearer "+s.admin)
			}
			if got := rawRequest(t, s.srv.BaseURL, tt.target, header); got != tt.want {
				t.Fatalf("GET %s: status %d, want %d", tt.target, got, tt.want)
			}
			if tt.want != 200 {
				if s.up.Count() != before {
					t.Fatalf("a refused request reached the upstream")
				}
				return
			}
			got := s.up.Received()
			e := got[len(got)-1]
			if e.Path != tt.wantPath || e.Header.Get("X-Policy-Path") != e.Path {
				t.Errorf("the upstream received %s (raw %s); the policy decided on %q; want %s",
					e.Path, e.RequestURI, e.Header.Get("X-Policy-Path"), tt.wantPath)
			}
			// Whatever the upstream's own path handling, it resolves to the same resource.
			if clean := path.Clean(e.Path); !strings.HasPrefix(clean+"/", path.Clean(tt.wantPath)) {
				t.Errorf("the upstream's path %s resolves to %s", e.Path, clean)
			}
		})
	}
}

// A SigV4 request is verified against the request as the client sent it, and decided on the path
// the upstream receives: both hold through a rewrite placed before the authorizer.
func TestSigV4ThroughARewrite(t *testing.T) {
	t.Parallel()
	s := startConfusionSite(t)
	_, guest := poolCredentials(t, s.srv.BaseURL+"/identity", "")
	tests := []struct {
		name, target string
		want         int
		wantPath     string
	}{
		{name: "public through strip_prefix", target: "/strip/public/orders", want: 200, wantPath: "/public/orders"},
		{name: "admin through strip_prefix", target: "/strip/admin/orders", want: 403},
		{name: "public through handle_path", target: "/mounted/public/orders", want: 200, wantPath: "/public/orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := send(t, signedRequest(t, guest, http.MethodPost, s.srv.BaseURL+tt.target, `{"n":1}`))
			if e.status != tt.want {
				t.Fatalf("status %s, want %d", e, tt.want)
			}
			if tt.want == 200 {
				got := s.up.Received()
				if last := got[len(got)-1]; last.Path != tt.wantPath || last.Header.Get("X-Policy-Path") != tt.wantPath || last.Body != `{"n":1}` {
					t.Errorf("the upstream received %s %q (policy path %q)", last.Path, last.Body, last.Header.Get("X-Policy-Path"))
				}
			}
		})
	}
}

// A rewrite placed after the authorizer (a literal `route` order) changes the path after the decision:
// the upstream receives a path the policy never saw. The authorizer cannot stop a later handler, but it
// sees the change when the request comes back and warns (once), naming both paths.
func TestRewriteAfterTheAuthorizerIsLogged(t *testing.T) {
	t.Parallel()
	s := startConfusionSite(t)
	e := readEcho(t, s.srv.get(t, "/legacy/report", nil))
	if e.Path != "/admin/report" || e.Header.Get("X-Policy-Path") != "/legacy/report" {
		t.Fatalf("the upstream received %s, decided on %s: the unsafe placement no longer rewrites after the decision",
			e.Path, e.Header.Get("X-Policy-Path"))
	}
	entry := s.srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["logger"] == "http.handlers.cognito_authorizer" && strings.Contains(fmt.Sprint(e["msg"]), "rewritten after")
	})
	if entry["level"] != "warn" || entry["decided_path"] != "/legacy/report" || entry["forwarded_path"] != "/admin/report" {
		t.Errorf("log entry %v: want a warning naming the decided and the forwarded paths", entry)
	}
}

// Client-sent identity headers never reach the upstream, in any spelling a backend could read as one
// of the gateway's, for every kind of caller; a claim with CR, LF or NUL cannot add a header line.
func TestHeaderConfusion(t *testing.T) {
	t.Parallel()
	s := startConfusionSite(t)
	base := s.srv.BaseURL
	_, guest := poolCredentials(t, base+"/identity", "")
	spoofed := http.Header{
		"X-Cognito-Sub":              {"spoofed"},
		"X_Cognito_Sub":              {"spoofed"},
		"X-Cognito-Groups":           {"admins"},
		"X_cognito_groups":           {"admins"},
		"X-Cognito-Role-Arn":         {"arn:aws:iam::123456789012:role/admin"},
		"X-Cognito-Identity-Id":      {"us-east-1:spoofed"},
		"X-Cognito-Shadow-Decision":  {"allow"},
		"X-Cognito-Context":          {"eyJzcG9vZmVkIjp0cnVlfQ"},
		"X-Cognito-Authentication-T": {"authenticated"},
	}
	lowercase := "x-cognito-username: spoofed\r\nx_cognito_client_id: spoofed\r\nX-COGNITO-SUB: spoofed"

	requests := []struct {
		name string
		req  func() *http.Request
	}{
		{"anonymous", func() *http.Request { return newRequest(t, http.MethodGet, base+"/public/x", nil, nil) }},
		{"bearer", func() *http.Request { return newRequest(t, http.MethodGet, base+"/public/x", bearer(s.reader), nil) }},
		{"sigv4", func() *http.Request {
			return signedRequest(t, guest, http.MethodGet, base+"/public/x", "")
		}},
	}
	for _, tt := range requests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			for k, v := range spoofed {
				req.Header[k] = v
			}
			e := readEcho(t, mustDo(t, req))
			for name, values := range e.Header {
				n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
				if !strings.HasPrefix(n, "x-cognito-") {
					continue
				}
				for _, v := range values {
					if strings.Contains(v, "spoofed") || v == "admins" || v == "allow" || v == "eyJzcG9vZmVkIjp0cnVlfQ" ||
						n == "x-cognito-role-arn" && strings.HasSuffix(v, "role/admin") {
						t.Errorf("the client's %s: %s reached the upstream", name, v)
					}
				}
			}
		})
	}
	t.Run("raw header spellings", func(t *testing.T) {
		before := s.up.Count()
		// Written by hand: Go's client would canonicalize the names.
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /public/x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n\r\n", strings.TrimPrefix(base, "http://"), lowercase)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || s.up.Count() != before+1 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		got := s.up.Received()
		for name, values := range got[len(got)-1].Header {
			if strings.Contains(strings.Join(values, ","), "spoofed") {
				t.Errorf("the client's %s reached the upstream", name)
			}
		}
	})

	t.Run("control characters in claims", func(t *testing.T) {
		token := s.idp.AccessToken(t, map[string]any{
			"sub":            "user\r\nX-Injected-Sub: 1",
			"username":       "alice\nX-Injected-Username: 1",
			"cognito:groups": []string{"admins\r\nX-Injected-Group: 1", "ops\x00"},
			"scope":          "orders/read\rX-Injected-Scope: 1",
		})
		e := readEcho(t, s.srv.get(t, "/public/x", bearer(token)))
		for name := range e.Header {
			if strings.Contains(strings.ToLower(name), "injected") {
				t.Errorf("a claim injected the header %s", name)
			}
		}
		for name, want := range map[string]string{
			"X-Cognito-Sub":      "user%0D%0AX-Injected-Sub: 1",
			"X-Cognito-Username": "alice%0AX-Injected-Username: 1",
			"X-Cognito-Groups":   "admins%0D%0AX-Injected-Group: 1,ops%00",
			// scope is split on white space, CR included (RFC 6749 3.3): three scopes, none with a CR.
			"X-Cognito-Scopes": "orders/read X-Injected-Scope: 1",
		} {
			if got := e.Header.Get(name); got != want {
				t.Errorf("%s = %q, want the claim percent-encoded: %q", name, got, want)
			}
		}
	})
	t.Run("control characters in a claim placeholder", func(t *testing.T) {
		// header_up X-Seen-Email {cognito.claims.email}: placeholders are encoded as the X-Cognito-*
		// headers are, so the request reaches the upstream with the claim percent-encoded and no
		// injected line (it used to fail with a 502).
		token := s.idp.AccessToken(t, map[string]any{"email": "alice@example.com\r\nX-Injected-Email: 1"})
		e := readEcho(t, s.srv.get(t, "/public/x", bearer(token)))
		if got, want := e.Header.Get("X-Seen-Email"), "alice@example.com%0D%0AX-Injected-Email: 1"; got != want {
			t.Errorf("X-Seen-Email = %q, want %q", got, want)
		}
		if got := e.Header.Values("X-Injected-Email"); len(got) != 0 {
			t.Errorf("the claim injected a header: %q", got)
		}
	})
}

// Two credentials in one request are refused, never resolved by precedence.
func TestCredentialConfusion(t *testing.T) {
	t.Parallel()
	s := startConfusionSite(t)
	base := s.srv.BaseURL
	_, guest := poolCredentials(t, base+"/identity", "")
	signed := func() *http.Request { return signedRequest(t, guest, http.MethodGet, base+"/admin/x", "") }
	tests := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"two bearer tokens", func() *http.Request {
			r := newRequest(t, http.MethodGet, base+"/admin/x", nil, nil)
			r.Header["Authorization"] = []string{"Bearer " + s.reader, "Bearer " + s.admin}
			return r
		}, 400},
		{"the same bearer token twice", func() *http.Request {
			r := newRequest(t, http.MethodGet, base+"/admin/x", nil, nil)
			r.Header["Authorization"] = []string{"Bearer " + s.admin, "Bearer " + s.admin}
			return r
		}, 400},
		{"a bearer token and a SigV4 signature", func() *http.Request {
			r := signed()
			r.Header.Add("Authorization", "Bearer "+s.admin)
			return r
		}, 400},
		{"a SigV4 signature and a bearer token first", func() *http.Request {
			r := signed()
			r.Header["Authorization"] = append([]string{"Bearer " + s.admin}, r.Header["Authorization"]...)
			return r
		}, 400},
		{"a bearer token and a presigned URL", func() *http.Request {
			r := newRequest(t, http.MethodGet, presignedURL(t, guest, http.MethodGet, base+"/admin/x"), bearer(s.admin), nil)
			return r
		}, 400},
		{"a SigV4 header and a presigned URL", func() *http.Request {
			r := signed()
			r.URL.RawQuery = strings.SplitN(presignedURL(t, guest, http.MethodGet, base+"/admin/x"), "?", 2)[1]
			return r
		}, 403},
		{"an unknown scheme", func() *http.Request {
			return newRequest(t, http.MethodGet, base+"/admin/x", http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}, nil)
		}, 401},
		{"bearer in lower case", func() *http.Request {
			return newRequest(t, http.MethodGet, base+"/admin/x", http.Header{"Authorization": {"bearer " + s.admin}}, nil)
		}, 200},
		{"bearer with an empty token", func() *http.Request {
			return newRequest(t, http.MethodGet, base+"/admin/x", http.Header{"Authorization": {"Bearer "}}, nil)
		}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.up.Count()
			e := send(t, tt.req())
			if e.status != tt.want {
				t.Fatalf("status %s, want %d", e, tt.want)
			}
			if tt.want != 200 && s.up.Count() != before {
				t.Errorf("a refused request reached the upstream")
			}
		})
	}
}

// mustDo sends req and returns the response, closed at the end of the test.
func mustDo(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
