package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// runReloadableCaddy runs a site as runCaddy does, with Caddy's own log (JSON, info and above) in a
// file and /metrics served before the site, and returns a function that loads the same Caddyfile
// again, as `caddy reload` does.
func runReloadableCaddy(t *testing.T, site string) (base, serverLog string, reload func()) {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	port := freePort(t)
	dir := t.TempDir()
	serverLog = filepath.Join(dir, "server.log")
	caddyfile := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
	}
}
http://127.0.0.1:%d {
	handle /metrics {
		metrics
	}
	handle {
%s
	}
}
`, dir, serverLog, port, site)
	load := func() {
		t.Helper()
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
		if err != nil {
			t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
		}
		if err := caddy.Load(cfg, true); err != nil {
			t.Fatalf("loading config: %v", err)
		}
	}
	load()
	t.Cleanup(func() { _ = caddy.Stop() })
	return fmt.Sprintf("http://127.0.0.1:%d", port), serverLog, func() {
		load()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	}
}

// TestPolicyChangeOnReload checks that a memoized decision does not outlive its policy: requests
// allowed (and memoized) under one policy are denied on the first request after a reload with a
// policy that denies them.
func TestPolicyChangeOnReload(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "authz.rego")
	write := func(rego string) {
		t.Helper()
		if err := os.WriteFile(policyFile, []byte("package cognito.authz\n\n"+rego), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`decision := {"allow": input.request.method == "GET"}`)
	base, _, reload := runReloadableCaddy(t, `		cognito_authorizer {
`+userPool(idp)+`			policy `+dir+`
		}
		reverse_proxy `+echo.URL)
	token := idp.AccessToken(t, nil)
	request := func() *http.Request {
		req, err := http.NewRequest("GET", base+"/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return req
	}
	hits := func() float64 { return scrapeMetrics(t, base).value("caddy_cognito_policy_memo_hits_total") }
	before := hits()
	for i := range 3 {
		if res := doRequest(t, request()); res.status != http.StatusOK {
			t.Fatalf("request %d under the allowing policy: %d %s", i, res.status, res.body)
		}
	}
	if got := hits() - before; got != 2 {
		t.Fatalf("%v memo hits under the allowing policy, want 2", got)
	}

	write(`decision := {"allow": false, "status": 403, "reason": "closed", "rule": "closed"}`)
	reload()
	if res := doAfterReload(t, request); res.status != http.StatusForbidden {
		t.Fatalf("first request after the reload: %d %s, want 403 from the new policy", res.status, res.body)
	}
	if res := doRequest(t, request()); res.status != http.StatusForbidden {
		t.Fatalf("second request after the reload: %d %s, want 403", res.status, res.body)
	}
}

// TestShadowModeReportsMemoizedDecisions checks that in shadow mode every request a memoized deny
// answers is still reported: the upstream sees the would-be decision, the server logs it and the
// decision metrics count it, each time.
func TestShadowModeReportsMemoizedDecisions(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, serverLog, _ := runReloadableCaddy(t, `		cognito_authorizer {
`+userPool(idp)+`			groups billing
			shadow
		}
		reverse_proxy `+echo.URL+` {
			header_up X-Seen-Shadow "{cognito.shadow.decision} {cognito.shadow.status} {cognito.shadow.reason}"
		}`)
	token := idp.AccessToken(t, nil)
	scrape := scrapeMetrics(t, base)
	hitsBefore := scrape.value("caddy_cognito_policy_memo_hits_total")
	shadowBefore := scrape.value(`caddy_cognito_decisions_total{outcome="shadow_deny",reason="groups"}`)
	const n = 4
	for i := range n {
		res := do(t, "GET", base+fmt.Sprint("/x/", i), map[string]string{"Authorization": "Bearer " + token})
		if res.status != http.StatusOK {
			t.Fatalf("request %d: shadow mode refused: %d %s", i, res.status, res.body)
		}
		h := res.echoed(t).Header
		if got := strings.Join(h["X-Cognito-Shadow-Decision"], ","); got != "deny" {
			t.Errorf("request %d: X-Cognito-Shadow-Decision = %q, want deny", i, got)
		}
		if got := strings.Join(h["X-Seen-Shadow"], ","); got != "deny 403 groups" {
			t.Errorf("request %d: placeholders = %q, want \"deny 403 groups\"", i, got)
		}
	}
	scrape = scrapeMetrics(t, base)
	if got := scrape.value("caddy_cognito_policy_memo_hits_total") - hitsBefore; got != n-1 {
		t.Fatalf("%v memo hits, want %d: the test needs memoized decisions", got, n-1)
	}
	if got := scrape.value(`caddy_cognito_decisions_total{outcome="shadow_deny",reason="groups"}`) - shadowBefore; got != n {
		t.Errorf("%v shadow denies counted, want %d", got, n)
	}
	// One log line per request, each naming its own path.
	waitFor(t, fmt.Sprint(n, " shadow denies in the server log"), func() bool {
		paths := map[any]bool{}
		for _, line := range readLog(t, serverLog, 1) {
			if line["msg"] == "request would be denied (shadow mode: let through)" && line["rule"] == "groups" {
				paths[line["path"]] = true
			}
		}
		return len(paths) == n
	})
}
