package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// runCaddyLogged runs a Caddyfile site body as runCaddy does, with Caddy's own log (JSON) written
// to a file. It returns the base URL, the storage directory and the log's path.
func runCaddyLogged(t *testing.T, site string) (base, storageDir, logPath string) {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	port := freePort(t)
	storageDir = t.TempDir()
	logPath = filepath.Join(storageDir, "caddy.log")
	text := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
	}
}
http://127.0.0.1:%d {
%s
}
`, storageDir, logPath, port, site)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": "Caddyfile.test"})
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, text)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return fmt.Sprintf("http://127.0.0.1:%d", port), storageDir, logPath
}

// A route that accepts identity-pool credentials but has no role policy denies every signed request,
// as IAM denies a role that no policy allows anything, and says so when it starts; allow_any_role
// lets every role through; a policy of one's own decides for itself.
func TestIdentityPoolCallersNeedARolePolicy(t *testing.T) {
	echo := newEcho(t)
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "authz.rego")
	if err := os.WriteFile(policyFile, []byte("package cognito.authz\n\ndecision := {\"allow\": input.request.method == \"GET\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, storageDir, logPath := runCaddyLogged(t, `	handle /none/* {
		cognito_authorizer {
			identity_pool `+testPoolID+`
		}
		reverse_proxy `+echo.URL+`
	}
	handle /any/* {
		cognito_authorizer {
			identity_pool `+testPoolID+`
			allow_any_role
		}
		reverse_proxy `+echo.URL+`
	}
	handle /own/* {
		cognito_authorizer {
			identity_pool `+testPoolID+`
			policy `+policyFile+`
		}
		reverse_proxy `+echo.URL+`
	}`)
	guest := mintCredentials(t, storageDir, false)

	for _, tc := range []struct {
		name, method, path string
		allow              bool
	}{
		{"no role policy: a guest's GET is denied", "GET", "/none/items", false},
		{"no role policy: a guest's DELETE is denied", "DELETE", "/none/everything", false},
		{"allow_any_role: a guest's DELETE goes through", "DELETE", "/any/everything", true},
		{"own policy: it allows a GET", "GET", "/own/items", true},
		{"own policy: it denies a DELETE", "DELETE", "/own/items", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := doRequest(t, sign(t, guest, tc.method, base+tc.path, ""))
			if tc.allow {
				if res.status != http.StatusOK {
					t.Fatalf("status %d %s, want 200", res.status, res.body)
				}
				return
			}
			if res.status != http.StatusForbidden || res.header.Get("X-Amzn-ErrorType") != "AccessDeniedException" ||
				refusal(t, res) != "User is not authorized to access this resource" {
				t.Fatalf("got %d %q %s, want API Gateway's 403 AccessDeniedException", res.status, res.header.Get("X-Amzn-ErrorType"), res.body)
			}
		})
	}

	var warnings []map[string]any
	for _, line := range readLog(t, logPath, 1) {
		if line["level"] == "warn" && strings.Contains(fmt.Sprint(line["msg"]), "role_policy") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("%d warnings about routes without role policies, want 1 (the /none route's): %v", len(warnings), warnings)
	}
	w := warnings[0]
	// The /none route's directive is on line 12 of the Caddyfile (after the global options).
	if w["route"] != "Caddyfile.test:12" || w["identity_pool"] != testPoolID ||
		!strings.Contains(fmt.Sprint(w["msg"]), "the route at Caddyfile.test:12") ||
		!strings.Contains(fmt.Sprint(w["msg"]), "allow_any_role") {
		t.Errorf("warning %v, want it to name the route, the pool and allow_any_role", w)
	}
	denied := 0
	for _, line := range readLog(t, logPath, 1) {
		if line["msg"] == "request denied" && line["rule"] == "iam" && line["route"] == "Caddyfile.test:12" {
			denied++
			// The line names the role whose (missing) policy was evaluated.
			if role, _ := line["role"].(string); !strings.HasPrefix(role, "arn:aws:iam::") || !strings.Contains(role, ":role/") {
				t.Errorf("denial line role %q, want the guest's role ARN", line["role"])
			}
		}
	}
	if denied != 2 {
		t.Errorf("%d denials of the /none route logged with rule iam and its route, want 2", denied)
	}
}

func TestAllowAnyRoleCaddyfile(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cognito_authorizer {\n\tidentity_pool " + testPoolID + "\n\tallow_any_role\n}")); err != nil {
		t.Fatal(err)
	}
	if !h.AllowAnyRole || h.Route != "Testfile:1" {
		t.Errorf("allow_any_role %v, route %q; want true, Testfile:1", h.AllowAnyRole, h.Route)
	}
	b, _ := json.Marshal(h.Config)
	if !strings.Contains(string(b), `"allow_any_role":true`) {
		t.Errorf("JSON %s lacks allow_any_role", b)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"twice", "allow_any_role\nallow_any_role", "allow_any_role given twice"},
		{"with an argument", "allow_any_role yes", "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapt(t, block("identity_pool "+testPoolID+"\n"+tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
