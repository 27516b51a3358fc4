package caddymodule

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// userPool is the user_pool block trusting idp.
func userPool(idp *testidp.IdP) string {
	return `		user_pool us-east-1_Test01 {
			client_id client-1
			issuer ` + idp.Issuer + `
			jwks_url ` + idp.JWKSURL + `
		}
`
}

func TestPerRouteRules(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, `	cognito_authorizer /admin/* {
`+userPool(idp)+`		groups admins
	}
	cognito_authorizer /tenants/* {
`+userPool(idp)+`		claim custom:tenant_id segment 1
	}
	cognito_authorizer /orders/* {
`+userPool(idp)+`		scopes orders/delete
	}
	metrics /metrics
	reverse_proxy `+echo.URL)

	admin := idp.AccessToken(t, map[string]any{"custom:tenant_id": "t1"}) // in admins and ops
	plain := idp.AccessToken(t, map[string]any{"cognito:groups": []string{"ops"}, "custom:tenant_id": "t2"})
	cases := []struct {
		name, path, token string
		status            int
		challenge         string
	}{
		{"admin reaches /admin", "/admin/users", admin, 200, ""},
		{"non-admin refused at /admin", "/admin/users", plain, 403, ""},
		{"case does not dodge the rule", "/ADMIN/users", plain, 403, ""},
		{"own tenant", "/tenants/t2/orders", plain, 200, ""},
		{"other tenant", "/tenants/t1/orders", plain, 403, ""},
		{"missing scope", "/orders/42", admin, 403, `Bearer error="insufficient_scope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, "GET", base+tc.path, map[string]string{"Authorization": "Bearer " + tc.token})
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.status, tc.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if tc.status == 403 && refusal(t, res) != "Forbidden" {
				t.Errorf("body %s", res.body)
			}
		})
	}

	// Decisions are counted by outcome and reason in Caddy's metrics.
	metrics := do(t, "GET", base+"/metrics", nil)
	for _, want := range []string{
		`caddy_cognito_decisions_total{outcome="allow",reason="allowed"}`,
		`caddy_cognito_decisions_total{outcome="deny",reason="groups"}`,
		`caddy_cognito_decisions_total{outcome="deny",reason="claims"}`,
		`caddy_cognito_decisions_total{outcome="deny",reason="scopes"}`,
		`caddy_cognito_policy_evaluation_seconds_count`,
		`caddy_cognito_policy_memo_misses_total`,
	} {
		if !hasMetric(metrics.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func hasMetric(body []byte, prefix string) bool {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix+" ") && !strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

func TestShadowMode(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, `	cognito_authorizer {
`+userPool(idp)+`		groups billing
		shadow
	}
	reverse_proxy `+echo.URL+` {
		header_up X-Seen-Shadow "{cognito.shadow.decision} {cognito.shadow.status} {cognito.shadow.reason}"
	}`)
	cases := []struct {
		name, token, decision, status, seen string
		sub                                 bool
	}{
		{"refused by the policy", idp.AccessToken(t, nil), "deny", "403", "deny 403 groups", true},
		{"refused credentials", "garbage", "deny", "401", "deny 401 invalid_token", false},
		{"allowed", idp.AccessToken(t, map[string]any{"cognito:groups": []string{"billing"}}), "", "", "allow", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer " + tc.token, "X-Cognito-Shadow-Decision": "allow"})
			if res.status != 200 {
				t.Fatalf("shadow mode refused: %d %s", res.status, res.body)
			}
			h := res.echoed(t).Header
			if got := strings.Join(h["X-Cognito-Shadow-Decision"], ","); got != tc.decision {
				t.Errorf("X-Cognito-Shadow-Decision = %q, want %q", got, tc.decision)
			}
			if got := strings.Join(h["X-Cognito-Shadow-Status"], ","); got != tc.status {
				t.Errorf("X-Cognito-Shadow-Status = %q, want %q", got, tc.status)
			}
			if got := strings.Join(h["X-Seen-Shadow"], ","); got != tc.seen {
				t.Errorf("placeholders = %q, want %q", got, tc.seen)
			}
			if (h["X-Cognito-Sub"] != nil) != tc.sub {
				t.Errorf("X-Cognito-Sub = %q", h["X-Cognito-Sub"])
			}
		})
	}
	// Malformed requests are refused even in shadow mode.
	if res := do(t, "GET", base+"/a/%2e%2e/b", map[string]string{"Authorization": "Bearer x"}); res.status != 400 {
		t.Errorf("ambiguous path in shadow mode: %d", res.status)
	}
}

func TestPolicyHeadersReachTheUpstream(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	dir := t.TempDir()
	rego := `package cognito.authz

decision := {"allow": true, "headers": {
	"X-Tenant": input.identity.claims["custom:tenant_id"],
	"X-Cognito-Sub": "policy-cannot-override",
}}
`
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(rego), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := runCaddy(t, `	cognito_authorizer {
`+userPool(idp)+`		policy `+dir+`
	}
	reverse_proxy `+echo.URL)
	res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, map[string]any{"custom:tenant_id": "t7"}), "X-Tenant": "spoofed"})
	h := res.echoed(t).Header
	if got := h["X-Tenant"]; len(got) != 1 || got[0] != "t7" {
		t.Errorf("X-Tenant = %q", got)
	}
	if got := h["X-Cognito-Sub"]; len(got) != 1 || got[0] != testidp.Subject {
		t.Errorf("X-Cognito-Sub = %q: the identity headers must win over the policy's", got)
	}
}

func TestPolicyErrorFailsClosed(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte("package cognito.authz\n\ndecision := 1 / 0 if input.identity.subject != \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := runCaddy(t, `	cognito_authorizer {
`+userPool(idp)+`		policy `+dir+`
	}
	reverse_proxy `+echo.URL)
	res := do(t, "GET", base+"/x", map[string]string{"Authorization": "Bearer " + idp.AccessToken(t, nil)})
	if res.status != http.StatusInternalServerError || refusal(t, res) != "Internal Server Error" {
		t.Fatalf("got %d %s", res.status, res.body)
	}
}

// metricValue is the value of one series in a Prometheus text exposition, 0 when absent.
func metricValue(body []byte, series string) float64 {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
