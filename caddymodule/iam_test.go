package caddymodule

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// writePolicy writes an IAM policy document into dir and returns its path.
func writePolicy(t *testing.T, dir, name, doc string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRolePolicyCaddyfile(t *testing.T) {
	cfg, err := adapt(t, block(`
		identity_pool `+testPoolID+`
		role_policy arn:aws:iam::123456789012:role/Guests guests.json
		role_policy arn:aws:iam::123456789012:role/Users users.json shared.json
		execute_api 123456789012 abc123 prod`))
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	raw, _ := findHandler(root, "cognito_authorizer", false)
	var h Handler
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	want := []RolePolicy{
		{RoleARN: "arn:aws:iam::123456789012:role/Guests", Files: []string{"guests.json"}},
		{RoleARN: "arn:aws:iam::123456789012:role/Users", Files: []string{"users.json", "shared.json"}},
	}
	if got, _ := json.Marshal(h.RolePolicies); string(got) != mustJSON(t, want) {
		t.Errorf("role_policies = %s, want %s", got, mustJSON(t, want))
	}
	if e := h.ExecuteAPI; e == nil || *e != (ExecuteAPI{Account: "123456789012", APIID: "abc123", Stage: "prod"}) {
		t.Errorf("execute_api = %+v", e)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"role_policy without a file", "role_policy arn:aws:iam::123456789012:role/Guests", "needs a role ARN and at least one policy file"},
		{"role_policy without a role", "role_policy guests.json users.json", `"guests.json" is not an IAM role ARN`},
		{"execute_api without arguments", "execute_api", "execute_api takes the account id"},
		{"execute_api with too many", "execute_api 123456789012 a b c", "execute_api takes the account id"},
		{"execute_api with a bad account", "execute_api 1234 abc123", `account "1234" is not a 12-digit`},
		{"execute_api twice", "execute_api 123456789012\nexecute_api 123456789012", "execute_api given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapt(t, block("identity_pool "+testPoolID+"\n"+tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A role policy that cannot be used is refused when Caddy provisions the configuration, naming the
// file and what is wrong.
func TestRolePolicyProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	good := writePolicy(t, dir, "good.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}}`)
	malformed := writePolicy(t, dir, "malformed.json", `{"Version": "2012-10-17", "Statement": [`)
	unknownKey := writePolicy(t, dir, "unknown.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principle": "*"}}`)
	numeric := writePolicy(t, dir, "numeric.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
		"Condition": {"NumericLessThan": {"aws:PrincipalTag/level": "3"}}}}`)
	large := writePolicy(t, dir, "large.json", `{"Id": "`+strings.Repeat("x", 70<<10)+`"}`)
	const guests = "arn:aws:iam::123456789012:role/Guests"
	cases := []struct{ name, body, want string }{
		{"no identity pool", "allow_anonymous\nrole_policy " + guests + " " + good, "configure an identity_pool"},
		{"missing file", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + filepath.Join(dir, "missing.json"), "missing.json"},
		{"malformed JSON", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + malformed, "malformed.json: malformed JSON"},
		{"unknown key", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + unknownKey, `unknown.json: statement 1: unknown key "Principle"`},
		{"unsupported operator", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + numeric, `numeric.json: statement 1: Condition: condition operator "NumericLessThan" is not supported`},
		{"file too large", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + large, "large.json: too large"},
		{"roles in two accounts", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + good + "\nrole_policy arn:aws:iam::210987654321:role/Other " + good, "give the account id"},
		{"bad stage", "identity_pool " + testPoolID + "\nrole_policy " + guests + " " + good + "\nexecute_api 123456789012 abc123 a/b", `stage "a/b"`},
		{"allow_any_role with role_policy", "identity_pool " + testPoolID + "\nallow_any_role\nrole_policy " + guests + " " + good, "allow_any_role and role_policy (or execute_api) contradict each other"},
		{"allow_any_role with execute_api", "identity_pool " + testPoolID + "\nallow_any_role\nexecute_api 123456789012", "contradict each other"},
		{"allow_any_role without identity pool", "allow_anonymous\nallow_any_role", "allow_any_role lets requests signed with identity-pool credentials through: configure an identity_pool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, block(tc.body)+"\n\trespond ok")
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var c caddy.Config
			if err := json.Unmarshal(cfg, &c); err != nil {
				t.Fatal(err)
			}
			err = caddy.Validate(&c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Role policies through Caddy: identity-pool callers decided by their role's IAM policy, on the path
// the upstream receives (after Caddy's rewrites); a deny answered as API Gateway answers it.
func TestRolePoliciesThroughCaddy(t *testing.T) {
	echo := newEcho(t)
	dir := t.TempDir()
	guests := writePolicy(t, dir, "guests.json", `{"Version": "2012-10-17", "Statement": [
		{"Sid": "ReadPublic", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:eu-west-1:123456789012:orders/prod/GET/public/*"},
		{"Sid": "TenantReports", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:eu-west-1:123456789012:orders/prod/GET/reports/${aws:PrincipalTag/tenant}/*"}]}`)
	users := writePolicy(t, dir, "users.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "execute-api:Invoke",
		"Resource": "arn:aws:execute-api:eu-west-1:123456789012:orders/prod/*/users/${cognito-identity.amazonaws.com:sub}/*",
		"Condition": {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}}`)
	base, accessLog := runCaddy(t, `	uri strip_prefix /api
	@api not path /metrics
	cognito_authorizer @api {
		identity_pool `+testPoolID+`
		role_policy arn:aws:iam::123456789012:role/service-role/Guests `+guests+`
		role_policy arn:aws:iam::123456789012:role/Users `+users+`
		execute_api 123456789012 orders prod
	}
	metrics /metrics
	reverse_proxy `+echo.URL)
	storageDir := filepath.Dir(accessLog)
	guest, user := mintCredentials(t, storageDir, false), mintCredentials(t, storageDir, true)
	const userID = "eu-west-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

	cases := []struct {
		name, method, path, body string
		caller                   string // guest or user
		allow                    bool
	}{
		{"guest reads public, decided on the rewritten path", "GET", "/api/public/items", "", "guest", true},
		{"guest reads a public unicode path", "GET", "/api/public/caf%C3%A9", "", "guest", true},
		{"guest may not write", "POST", "/api/public/items", `{"n":1}`, "guest", false},
		{"guest may not read private", "GET", "/api/private/items", "", "guest", false},
		{"the path before the rewrite is not the resource", "GET", "/api/api/public/items", "", "guest", false},
		{"guest reads its tenant's reports", "GET", "/api/reports/t1/q1", "", "guest", true},
		{"guest does not read another tenant's", "GET", "/api/reports/t2/q1", "", "guest", false},
		{"user reaches its own prefix", "PUT", "/api/users/" + userID + "/cart", "{}", "user", true},
		{"user does not reach another's", "PUT", "/api/users/eu-west-1:00000000-0000-4000-8000-000000000000/cart", "{}", "user", false},
		{"user has no public access: its role's policy does not grant it", "GET", "/api/public/items", "", "user", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := guest
			if tc.caller == "user" {
				creds = user
			}
			res := doRequest(t, sign(t, creds, tc.method, base+tc.path, tc.body))
			if !tc.allow {
				if res.status != http.StatusForbidden || res.header.Get("X-Amzn-ErrorType") != "AccessDeniedException" ||
					refusal(t, res) != "User is not authorized to access this resource" {
					t.Fatalf("got %d %q %s, want API Gateway's 403 AccessDeniedException", res.status, res.header.Get("X-Amzn-ErrorType"), res.body)
				}
				return
			}
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if e := res.echoed(t); e.Path != strings.TrimPrefix(mustUnescape(t, tc.path), "/api") {
				t.Errorf("upstream saw %s", e.Path)
			}
		})
	}

	metrics := do(t, "GET", base+"/metrics", nil)
	if !hasMetric(metrics.body, `caddy_cognito_decisions_total{outcome="deny",reason="iam"}`) {
		t.Errorf("metrics lack the iam denials:\n%s", metrics.body)
	}
}

func mustUnescape(t *testing.T, p string) string {
	t.Helper()
	r, err := http.NewRequest("GET", "http://x"+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.URL.Path
}
