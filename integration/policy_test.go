package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyRulesWithARealUserPool: a user in group admins reaches /admin/*, one without it is refused;
// a tenant rule admits only the caller's own tenant (a custom attribute of the user pool, in ID tokens);
// the built-in policy decides both, per route.
func TestPolicyRulesWithARealUserPool(t *testing.T) {
	t.Parallel()
	pool := newUserPool(t, startCognitoLocal(t))
	pool.AddUser(t, "alice@example.com", "admins")
	pool.AddUser(t, "bob@example.com")
	pool.SetAttributes(t, "alice@example.com", map[string]string{"custom:tenant_id": "t1"})
	pool.SetAttributes(t, "bob@example.com", map[string]string{"custom:tenant_id": "t2"})
	up := startUpstream(t)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_authorizer /admin/* {
		%s
		groups admins
	}
	cognito_authorizer /tenants/* {
		%s
		claim custom:tenant_id segment 1
	}
	reverse_proxy %s
}`, pool.userPoolBlock(), pool.userPoolBlock("token_use id"), up.Addr))

	alice, bob := pool.SignIn(t, "alice@example.com"), pool.SignIn(t, "bob@example.com")
	cases := []struct {
		name, path, token string
		status            int
	}{
		{"alice, in admins, reaches /admin", "/admin/report", alice.Access, 200},
		{"bob is refused /admin", "/admin/report", bob.Access, 403},
		{"alice reaches her tenant", "/tenants/t1/orders", alice.ID, 200},
		{"alice is refused another tenant", "/tenants/t2/orders", alice.ID, 403},
		{"bob reaches his tenant", "/tenants/t2/orders", bob.ID, 200},
		{"an access token (no custom attributes) is refused where ID tokens are expected", "/tenants/t1/orders", alice.Access, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Count()
			res := srv.get(t, tc.path, http.Header{"Authorization": {"Bearer " + tc.token}})
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if reached := up.Count() > before; reached != (tc.status == 200) {
				t.Errorf("upstream reached: %v", reached)
			}
		})
	}
	srv.assertLogsExclude(t, alice.Access, alice.ID, bob.Access, bob.ID)
}

// TestBadPolicyIsRefusedOnReload: a policy that does not compile is refused by `caddy reload` with
// OPA's error, and the configuration running keeps serving with its policy.
func TestBadPolicyIsRefusedOnReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "authz.rego")
	write := func(src string) {
		if err := os.WriteFile(policy, []byte("package cognito.authz\n\n"+src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`decision := {"allow": true} if input.request.method == "GET" else := {"allow": false, "status": 405}` + "\n")
	up := startUpstream(t)
	config := fmt.Sprintf(`{$SITE} {
	cognito_authorizer {
		allow_anonymous
		policy %s
	}
	reverse_proxy %s
}`, policy, up.Addr)
	srv := startCaddy(t, config)
	if res := srv.get(t, "/x", nil); res.StatusCode != 200 {
		t.Fatalf("before the reload: %d", res.StatusCode)
	}

	write("decision := true if {\n\tinput.x ==\n}\n")
	err := srv.tryReload(t, config)
	if err == nil || !strings.Contains(err.Error(), "authz.rego:5") || !strings.Contains(err.Error(), "rego_parse_error") {
		t.Fatalf("reload with a broken policy: %v", err)
	}
	// The old configuration, with the policy it compiled, still decides.
	if res := srv.get(t, "/x", nil); res.StatusCode != 200 {
		t.Errorf("after the refused reload: %d", res.StatusCode)
	}
	req, _ := http.NewRequest("POST", srv.BaseURL+"/x", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 405 {
		t.Errorf("POST after the refused reload: %v %v", res, err)
	}
}
