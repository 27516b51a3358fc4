package policy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

const (
	testAccount   = "123456789012"
	testGuestRole = "arn:aws:iam::123456789012:role/guest"
	testUserRole  = "arn:aws:iam::123456789012:role/user"
	testProvider  = "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
)

var testAPI = policy.ExecuteAPI{Region: "us-east-1", Account: testAccount, APIID: "abc123", Stage: "prod"}

// guestPolicy lets guests read /public/* and nothing else; they may never reach /public/admin.
const guestPolicy = `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "PublicRead", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/public/*"},
		{"Sid": "NoAdmin", "Effect": "Deny", "Action": "execute-api:*",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/*/*/public/admin*"}
	]
}`

// userPolicy is the policy of signed-in users: each reaches only their own prefix, from the office
// network or over TLS, and tenants only their tenant's reports.
const userPolicy = `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "OwnData", "Effect": "Allow", "Action": ["execute-api:Invoke"],
		 "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/users/${cognito-identity.amazonaws.com:sub}/*"],
		 "Condition": {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}},
		{"Sid": "TenantReports", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/reports/*",
		 "Condition": {"StringEquals": {"aws:PrincipalTag/Tenant": ["t1", "t2"]}, "Bool": {"aws:SecureTransport": true}}},
		{"Sid": "NoDeleteOutsideOffice", "Effect": "Deny", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/DELETE/*",
		 "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}}
	]
}`

func mustDocument(t testing.TB, name, src string) *policy.PolicyDocument {
	t.Helper()
	d, err := policy.ParsePolicyDocument(name, []byte(src))
	if err != nil {
		t.Fatalf("ParsePolicyDocument: %v", err)
	}
	return d
}

func identityPoolCaller(role, identityID string, authenticated bool, tags map[string]string) *identity.Identity {
	id := &identity.Identity{
		Kind: identity.KindIdentityPool, Authenticated: authenticated,
		Subject: identityID, Pool: &identity.PoolCredentials{
			IdentityID:     identityID,
			IdentityPoolID: "us-east-1:99999999-9999-9999-9999-999999999999",
			RoleARN:        role,
			PrincipalTags:  tags,
			AccessKeyID:    "ASIAEXAMPLEEXAMPLE00",
		},
	}
	if authenticated {
		id.Pool.LoginProviders = []string{testProvider}
		id.Pool.AuthenticationProvider = testProvider + "," + testProvider + ":CognitoSignIn:user-pool-sub"
	}
	return id
}

func TestParsePolicyDocument(t *testing.T) {
	t.Parallel()
	statement := func(s string) string {
		return `{"Version": "2012-10-17", "Statement": ` + s + `}`
	}
	allow := func(extra string) string {
		return statement(`{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"` + extra + `}`)
	}
	condition := func(c string) string { return allow(`, "Condition": ` + c) }
	tests := []struct {
		name, src, errHas string
	}{
		{name: "one statement as an object", src: allow("")},
		{name: "statements in a list", src: statement(`[{"Effect": "Deny", "NotAction": ["s3:*"], "NotResource": ["arn:aws:s3:::b/*"]}]`)},
		{name: "every supported operator", src: condition(`{
			"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:x"},
			"StringNotEqualsIfExists": {"aws:PrincipalTag/team": ["red", 7, true]},
			"StringEqualsIgnoreCase": {"aws:principaltag/Tenant": "T1"},
			"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/x": "y"},
			"StringLike": {"cognito-identity.amazonaws.com:sub": "us-east-1:*"},
			"StringNotLike": {"aws:PrincipalTag/y": "${aws:PrincipalTag/z, 'none'}*"},
			"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
			"ForAllValues:StringEquals": {"cognito-identity.amazonaws.com:amr": ["authenticated", "unauthenticated"]},
			"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]},
			"NotIpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"},
			"Bool": {"aws:SecureTransport": "true"},
			"Null": {"aws:PrincipalTag/team": false}}`)},
		{name: "variables and escapes", src: statement(`{"Effect": "Allow", "Action": "execute-api:Invoke",
			"Resource": "arn:aws:execute-api:*:*:api/*/GET/${cognito-identity.amazonaws.com:sub}/${aws:PrincipalTag/team, 'x,y}'}/${*}${?}${$}"}`)},

		{name: "malformed JSON", src: `{"Version": "2012-10-17", "Statement": [`, errHas: "malformed JSON"},
		{name: "trailing data", src: allow("") + `{}`, errHas: "data after the document"},
		{name: "duplicate key", src: `{"Version": "2012-10-17", "Version": "2008-10-17", "Statement": []}`, errHas: `key "Version" given twice`},
		{name: "duplicate key in a statement", src: statement(`{"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}`), errHas: `key "Effect" given twice`},
		{name: "not UTF-8", src: "{\"Version\": \"2012-10-17\xff\"}", errHas: "not valid UTF-8"},
		{name: "not an object", src: `[]`, errHas: "not a JSON object"},
		{name: "too deep", src: strings.Repeat("[", 40) + strings.Repeat("]", 40), errHas: "nested deeper"},
		{name: "too large", src: `{"Id": "` + strings.Repeat("x", 70<<10) + `"}`, errHas: "larger than"},
		{name: "unknown top-level key", src: `{"Version": "2012-10-17", "Statements": []}`, errHas: `unknown key "Statements"`},
		{name: "no version", src: `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`, errHas: `no "Version"`},
		{name: "old version", src: `{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`, errHas: `"Version" 2008-10-17`},
		{name: "no statement", src: `{"Version": "2012-10-17"}`, errHas: `no "Statement"`},
		{name: "empty statement list", src: statement(`[]`), errHas: "1 to 100 statements"},
		{name: "statement not an object", src: statement(`["Allow"]`), errHas: "statement 1: not an object"},
		{name: "unknown statement key", src: allow(`, "Conditions": {}`), errHas: `statement 1: unknown key "Conditions"`},
		{name: "lowercase key", src: statement(`{"effect": "Allow", "Action": "*", "Resource": "*"}`), errHas: `unknown key "effect"`},
		{name: "principal", src: allow(`, "Principal": "*"`), errHas: "names no principal"},
		{name: "effect in lowercase", src: statement(`{"Effect": "allow", "Action": "*", "Resource": "*"}`), errHas: `"Effect" allow: want Allow or Deny`},
		{name: "no effect", src: statement(`{"Action": "*", "Resource": "*"}`), errHas: `no "Effect"`},
		{name: "action and not action", src: statement(`{"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}`), errHas: `both "Action" and "NotAction"`},
		{name: "no action", src: statement(`{"Effect": "Allow", "Resource": "*"}`), errHas: `no "Action"`},
		{name: "empty action list", src: statement(`{"Effect": "Allow", "Action": [], "Resource": "*"}`), errHas: `"Action" must hold 1 to 100 values`},
		{name: "action not a string", src: statement(`{"Effect": "Allow", "Action": [1], "Resource": "*"}`), errHas: `"Action" must hold strings`},
		{name: "action without service", src: statement(`{"Effect": "Allow", "Action": "Invoke", "Resource": "*"}`), errHas: "is not an action"},
		{name: "variable in an action", src: statement(`{"Effect": "Allow", "Action": "execute-api:${aws:PrincipalTag/a}", "Resource": "*"}`), errHas: "is not an action"},
		{name: "resource neither * nor ARN", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "execute-api:/*"}`), errHas: "want * or an ARN"},
		{name: "resource and not resource", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"}`), errHas: `both "Resource" and "NotResource"`},
		{name: "unterminated variable", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:*:*:a/${aws:PrincipalTag/x"}`), errHas: "unterminated policy variable"},
		{name: "unknown variable", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:*:*:a/${aws:username}"}`), errHas: `unknown condition key "aws:username"`},
		{name: "multivalued variable", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:*:*:a/${cognito-identity.amazonaws.com:amr}"}`), errHas: "multivalued key cannot be a variable"},
		{name: "default without quotes", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:*:*:a/${aws:PrincipalTag/x, none}"}`), errHas: "want ${aws:principaltag/x, 'default value'}"},
		{name: "too many wildcards", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:*:*:` + strings.Repeat("*a", 20) + `"}`), errHas: "more than 16 wildcards"},
		{name: "control character", src: statement(`{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:*:*:a/\nb"}`), errHas: "control character"},
		{name: "duplicate sid", src: statement(`[{"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"}, {"Sid": "A", "Effect": "Deny", "Action": "*", "Resource": "*"}]`), errHas: `Sid "A" is used twice`},
		{name: "unknown operator", src: condition(`{"StringMatches": {"aws:PrincipalTag/a": "b"}}`), errHas: `condition operator "StringMatches" is not supported`},
		{name: "numeric operator", src: condition(`{"NumericEquals": {"aws:PrincipalTag/a": "1"}}`), errHas: `"NumericEquals" is not supported`},
		{name: "operator in the wrong case", src: condition(`{"stringequals": {"aws:PrincipalTag/a": "b"}}`), errHas: "is not supported"},
		{name: "unknown key", src: condition(`{"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}`), errHas: `unknown condition key "aws:RequestedRegion"`},
		{name: "empty tag name", src: condition(`{"StringEquals": {"aws:PrincipalTag/": "x"}}`), errHas: "a tag name has 1 to 128 characters"},
		{name: "amr without a set operator", src: condition(`{"StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}`), errHas: "multivalued: use ForAnyValue:StringLike or ForAllValues:StringLike"},
		{name: "set operator on IP addresses", src: condition(`{"ForAnyValue:IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}`), errHas: "applies to the String operators only"},
		{name: "IP operator on a tag", src: condition(`{"IpAddress": {"aws:PrincipalTag/a": "192.0.2.0/24"}}`), errHas: "is a string key: IpAddress compares ip values"},
		{name: "string operator on the source IP", src: condition(`{"StringNotEquals": {"aws:SourceIp": "x"}}`), errHas: "is a ip key"},
		{name: "bad CIDR", src: condition(`{"IpAddress": {"aws:SourceIp": "203.0.113.0/33"}}`), errHas: "neither an IP address nor a CIDR"},
		{name: "bad boolean", src: condition(`{"Bool": {"aws:SecureTransport": "yes"}}`), errHas: `"yes" is not true or false`},
		{name: "null with IfExists", src: condition(`{"NullIfExists": {"aws:PrincipalTag/a": "true"}}`), errHas: "is not supported"},
		{name: "empty operator block", src: condition(`{"StringEquals": {}}`), errHas: "non-empty object of condition keys"},
		{name: "no values", src: condition(`{"StringEquals": {"aws:PrincipalTag/a": []}}`), errHas: "1 to 100 values, not 0"},
		{name: "object value", src: condition(`{"StringEquals": {"aws:PrincipalTag/a": {"b": "c"}}}`), errHas: "values must be strings, numbers or booleans"},
		{name: "variable in an IP value", src: condition(`{"IpAddress": {"aws:SourceIp": "${aws:PrincipalTag/net}"}}`), errHas: "neither an IP address nor a CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := policy.ParsePolicyDocument("roles/guest.json", []byte(tt.src))
			if tt.errHas == "" {
				if err != nil || d.Name() != "roles/guest.json" {
					t.Fatalf("ParsePolicyDocument: %v", err)
				}
				if _, err := (*policy.Rules)(nil).WithRolePolicies(testAPI, []policy.RolePolicy{{RoleARN: testGuestRole, Documents: []*policy.PolicyDocument{d}}}); err != nil {
					t.Fatalf("WithRolePolicies refuses a parsed document: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("got %v; want an error saying %q", err, tt.errHas)
			}
			if !errors.Is(err, policy.ErrInvalidPolicyDocument) || !strings.Contains(err.Error(), "roles/guest.json") {
				t.Errorf("error %q does not wrap ErrInvalidPolicyDocument or does not name the file", err)
			}
		})
	}
}

func TestWithRolePoliciesRefuses(t *testing.T) {
	t.Parallel()
	doc := mustDocument(t, "guest.json", guestPolicy)
	headerVariable := mustDocument(t, "variable.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*",
		"Resource": "arn:aws:execute-api:us-east-1:${aws:PrincipalTag/account}:abc123/*"}}`)
	role := func(arn string, docs ...*policy.PolicyDocument) policy.RolePolicy {
		return policy.RolePolicy{RoleARN: arn, Documents: docs}
	}
	many := make([]*policy.PolicyDocument, 101)
	for i := range many {
		many[i] = doc
	}
	tests := []struct {
		name   string
		api    policy.ExecuteAPI
		roles  []policy.RolePolicy
		errHas string
	}{
		{name: "no region", api: policy.ExecuteAPI{Account: testAccount}, roles: []policy.RolePolicy{role(testGuestRole, doc)}, errHas: "is not an AWS region"},
		{name: "bad account", api: policy.ExecuteAPI{Region: "us-east-1", Account: "1234"}, roles: []policy.RolePolicy{role(testGuestRole, doc)}, errHas: "not a 12-digit account id"},
		{name: "roles in two accounts, no account", api: policy.ExecuteAPI{Region: "us-east-1"},
			roles: []policy.RolePolicy{role(testGuestRole, doc), role("arn:aws:iam::210987654321:role/other", doc)}, errHas: "the roles are in 2 accounts"},
		{name: "API id with a slash", api: policy.ExecuteAPI{Region: "us-east-1", Account: testAccount, APIID: "a/b"}, roles: []policy.RolePolicy{role(testGuestRole, doc)}, errHas: "API id"},
		{name: "stage with a colon", api: policy.ExecuteAPI{Region: "us-east-1", Account: testAccount, Stage: "a:b"}, roles: []policy.RolePolicy{role(testGuestRole, doc)}, errHas: "stage"},
		{name: "not a role ARN", api: testAPI, roles: []policy.RolePolicy{role("arn:aws:iam::123456789012:user/alice", doc)}, errHas: "is not an IAM role ARN"},
		{name: "role without documents", api: testAPI, roles: []policy.RolePolicy{role(testGuestRole)}, errHas: "no policy document"},
		{name: "variable in the account", api: testAPI, roles: []policy.RolePolicy{role(testGuestRole, headerVariable)}, errHas: "only appear after the account"},
		{name: "too many statements", api: testAPI, roles: []policy.RolePolicy{role(testGuestRole, many...)}, errHas: "202 statements, at most 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := (*policy.Rules)(nil).WithRolePolicies(tt.api, tt.roles)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("got %v; want an error saying %q", err, tt.errHas)
			}
		})
	}
	t.Run("a variable in the account names the document", func(t *testing.T) {
		_, err := (*policy.Rules)(nil).WithRolePolicies(testAPI, []policy.RolePolicy{role(testGuestRole, headerVariable)})
		if !errors.Is(err, policy.ErrInvalidPolicyDocument) || !strings.Contains(err.Error(), "variable.json: statement 1:") {
			t.Fatalf("got %v; want ErrInvalidPolicyDocument naming variable.json, statement 1", err)
		}
	})
}

// iamRequest is one request of TestRolePolicyDecisions.
type iamRequest struct {
	name          string
	caller        *identity.Identity
	method, path  string
	remoteIP      string
	plainHTTP     bool
	allow         bool
	reasonHas     string
	wantBadReqest bool
}

func decideIAM(t *testing.T, e *policy.Engine, rules *policy.Rules, tt iamRequest) {
	t.Helper()
	scheme := "https"
	if tt.plainHTTP {
		scheme = "http"
	}
	r := httptest.NewRequest(tt.method, scheme+"://api.example.com/", nil)
	remote := tt.remoteIP
	if remote == "" {
		remote = "203.0.113.9"
	}
	d, err := e.Decide(context.Background(), policy.Input{Request: r, Path: tt.path, RemoteIP: remote, Identity: tt.caller, Rules: rules})
	if tt.wantBadReqest {
		if !errors.Is(err, policy.ErrBadRequest) {
			t.Fatalf("got %+v, %v; want ErrBadRequest", d, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if d.Allow != tt.allow {
		t.Fatalf("allow = %v (%s %q), want %v", d.Allow, d.Rule, d.Reason, tt.allow)
	}
	if !tt.allow && (d.Status != http.StatusForbidden || !strings.Contains(d.Reason, tt.reasonHas)) {
		t.Errorf("deny %d rule %q reason %q; want 403 saying %q", d.Status, d.Rule, d.Reason, tt.reasonHas)
	}
}

// TestRolePolicyDecisions decides requests with real IAM documents through the engine and the
// built-in policy: what each role reaches, and every way around it that must fail.
func TestRolePolicyDecisions(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	base := mustRules(t, []string{"admins"}, nil)
	rules, err := base.WithRolePolicies(testAPI, []policy.RolePolicy{
		{RoleARN: testGuestRole, Documents: []*policy.PolicyDocument{mustDocument(t, "guest.json", guestPolicy)}},
		{RoleARN: testUserRole, Documents: []*policy.PolicyDocument{mustDocument(t, "user.json", userPolicy)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	guest := identityPoolCaller(testGuestRole, "us-east-1:11111111-1111-1111-1111-111111111111", false, nil)
	alice := identityPoolCaller(testUserRole, "us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", true, map[string]string{"Tenant": "t1"})
	bob := identityPoolCaller(testUserRole, "us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", true, map[string]string{"Tenant": "t9"})
	starry := identityPoolCaller(testUserRole, "us-east-1:*", true, nil)
	stranger := identityPoolCaller("arn:aws:iam::123456789012:role/other", "us-east-1:cccccccc-cccc-cccc-cccc-cccccccccccc", true, nil)
	admin := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "root", Groups: []string{"admins"}}
	reader := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "reader", Groups: []string{"readers"}}

	tests := []iamRequest{
		{name: "guest reads public", caller: guest, method: "GET", path: "/public/items/1", allow: true},
		{name: "guest may not write public", caller: guest, method: "POST", path: "/public/items", reasonHas: "no statement allows execute-api:Invoke on arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/public/items"},
		{name: "guest may not read private", caller: guest, method: "GET", path: "/private/x", reasonHas: "no statement allows"},
		{name: "explicit deny wins", caller: guest, method: "GET", path: "/public/admin/users", reasonHas: "explicitly denied by guest.json statement 2 (NoAdmin)"},
		{name: "resources are case-sensitive", caller: guest, method: "GET", path: "/Public/items", reasonHas: "no statement allows"},
		{name: "a lowercase method is read as its upper case: denies still apply", caller: guest, method: "get", path: "/public/admin/x", reasonHas: "explicitly denied by guest.json statement 2 (NoAdmin)"},
		{name: "dot segments are refused before the policy", caller: guest, method: "GET", path: "/public/../private/x", wantBadReqest: true},
		{name: "encoded dot segments too", caller: guest, method: "GET", path: "/public/%2e%2e/private/x", wantBadReqest: true},

		{name: "alice reaches her prefix", caller: alice, method: "PUT", path: "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/orders/1", allow: true},
		{name: "alice does not reach bob's", caller: alice, method: "GET", path: "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/orders/1", reasonHas: "no statement allows"},
		{name: "bob reaches his", caller: bob, method: "GET", path: "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/orders", allow: true},
		{name: "an identity id with a star is literal", caller: starry, method: "GET", path: "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/orders", reasonHas: "no statement allows"},
		{name: "an identity id with a star reaches its own literal prefix", caller: starry, method: "GET", path: "/users/us-east-1:*/orders", allow: true},
		{name: "tag condition, tag key in another case", caller: alice, method: "GET", path: "/reports/q1", allow: true},
		{name: "tag condition fails for another tenant", caller: bob, method: "GET", path: "/reports/q1", reasonHas: "no statement allows"},
		{name: "Bool condition fails without TLS", caller: alice, method: "GET", path: "/reports/q1", plainHTTP: true, reasonHas: "no statement allows"},
		{name: "delete from the office", caller: alice, method: "DELETE", path: "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/orders/1", allow: true},
		{name: "delete from an IPv6 office address", caller: alice, method: "DELETE", path: "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/x", remoteIP: "2001:db8::7", allow: true},
		{name: "no delete from elsewhere", caller: alice, method: "DELETE", path: "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/orders/1", remoteIP: "192.0.2.1", reasonHas: "explicitly denied by user.json statement 3 (NoDeleteOutsideOffice)"},
		{name: "a guest with the user role's name in its path gets nothing", caller: guest, method: "GET", path: "/users/us-east-1:11111111-1111-1111-1111-111111111111/x", reasonHas: "no statement allows"},
		{name: "role without policy", caller: stranger, method: "GET", path: "/public/items", reasonHas: "role arn:aws:iam::123456789012:role/other has no role policy: implicit deny"},

		{name: "token callers keep the groups rule", caller: admin, method: "DELETE", path: "/anything", allow: true},
		{name: "token callers without the group", caller: reader, method: "GET", path: "/public/items", reasonHas: "none of the required groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			decideIAM(t, e, rules, tt)
		})
	}
	t.Run("a deny names the rule iam", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/public/items", nil)
		d, err := e.Decide(context.Background(), policy.Input{Request: r, Path: r.URL.Path, Identity: guest, Rules: rules})
		if err != nil || d.Rule != policy.RuleIAM {
			t.Fatalf("got %+v, %v; want rule iam", d, err)
		}
	})
	t.Run("routes without role policies deny identity-pool callers", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/public/items", nil)
		for _, rules := range []*policy.Rules{nil, base} {
			d, err := e.Decide(context.Background(), policy.Input{Request: r, Path: r.URL.Path, Identity: guest, Rules: rules})
			if err != nil || d.Allow || d.Status != 403 || d.Rule != policy.RuleIAM {
				t.Fatalf("got %+v, %v; want an implicit deny, rule iam", d, err)
			}
		}
	})
	t.Run("routes with any role decide identity-pool callers like token callers", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/public/items", nil)
		d, err := e.Decide(context.Background(), policy.Input{Request: r, Path: r.URL.Path, Identity: guest, Rules: anyRole(t, base)})
		if err != nil || d.Allow || d.Rule != policy.RuleGroups {
			t.Fatalf("got %+v, %v; want the groups rule to refuse an identity-pool caller", d, err)
		}
		d, err = e.Decide(context.Background(), policy.Input{Request: r, Path: r.URL.Path, Identity: guest, Rules: anyRole(t, nil)})
		if err != nil || !d.Allow {
			t.Fatalf("got %+v, %v; want a route without requirements to admit every caller", d, err)
		}
	})
	t.Run("any role and role policies contradict each other", func(t *testing.T) {
		if _, err := rules.WithAnyRole(); err == nil {
			t.Error("WithAnyRole on rules with role policies: no error")
		}
		if _, err := anyRole(t, base).WithRolePolicies(policy.ExecuteAPI{Region: "us-east-1", Account: "123456789012"}, nil); err == nil {
			t.Error("WithRolePolicies on rules with any role: no error")
		}
	})
}

// TestResourceARNSegments checks how resource patterns meet the route's ARN: the header segments
// (partition, service, region, account) one by one, the API part with IAM's wildcards.
func TestResourceARNSegments(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	caller := identityPoolCaller(testGuestRole, "us-east-1:11111111-1111-1111-1111-111111111111", false, nil)
	tests := []struct {
		name, resource string
		api            policy.ExecuteAPI
		method, path   string
		allow          bool
	}{
		{name: "star", resource: "*", method: "DELETE", path: "/x", allow: true},
		{name: "service only", resource: "arn:aws:execute-api:*", method: "GET", path: "/x", allow: true},
		{name: "region only", resource: "arn:aws:execute-api:us-east-1:*", method: "GET", path: "/x", allow: true},
		{name: "another region", resource: "arn:aws:execute-api:us-west-2:*", method: "GET", path: "/x"},
		{name: "wildcard region and account", resource: "arn:aws:execute-api:*:*:abc123/prod/GET/x", method: "GET", path: "/x", allow: true},
		{name: "region with ?", resource: "arn:aws:execute-api:us-east-?:123456789012:abc123/prod/GET/x", method: "GET", path: "/x", allow: true},
		{name: "another service", resource: "arn:aws:s3:::abc123/*", method: "GET", path: "/x"},
		{name: "another partition", resource: "arn:aws-cn:execute-api:*:*:*", method: "GET", path: "/x"},
		{name: "another account", resource: "arn:aws:execute-api:us-east-1:999999999999:*", method: "GET", path: "/x"},
		{name: "a path cannot forge another account", resource: "arn:aws:execute-api:*:999999999999:abc123/prod/GET/x",
			method: "GET", path: "/y:999999999999:abc123/prod/GET/x"},
		{name: "a region wildcard does not cross into the account", resource: "arn:aws:execute-api:*:abc123/prod/GET/x", method: "GET", path: "/x"},
		{name: "another API", resource: "arn:aws:execute-api:us-east-1:123456789012:xyz789/*", method: "GET", path: "/x"},
		{name: "any stage, exact method", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/x", method: "GET", path: "/x", allow: true},
		{name: "star spans the method, as in IAM", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/x", method: "POST", path: "/y/GET/x", allow: true},
		{name: "star spans colons in the path", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/a*z", method: "GET", path: "/a:b/c:z", allow: true},
		{name: "root path", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/", method: "GET", path: "/", allow: true},
		{name: "escaped star is literal", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/${*}", method: "GET", path: "/x"},
		{name: "escaped dollar", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/${$}x", method: "GET", path: "/$x", allow: true},
		{name: "unicode path", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/caf?/*", method: "GET", path: "/café/menü", allow: true},
		{name: "regex syntax in a resource is literal", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/a.c(d|e)+", method: "GET", path: "/abcd"},
		{name: "defaults: api and $default stage", api: policy.ExecuteAPI{Region: "us-east-1"},
			resource: "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/x", method: "GET", path: "/x", allow: true},
		{name: "China partition", api: policy.ExecuteAPI{Region: "cn-north-1"}, resource: "arn:aws-cn:execute-api:cn-north-1:*", method: "GET", path: "/x", allow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := mustDocument(t, "doc.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "`+tt.resource+`"}}`)
			api := tt.api
			if api.Region == "" {
				api = testAPI
			}
			rules, err := (*policy.Rules)(nil).WithRolePolicies(api, []policy.RolePolicy{{RoleARN: testGuestRole, Documents: []*policy.PolicyDocument{doc}}})
			if err != nil {
				t.Fatal(err)
			}
			decideIAM(t, e, rules, iamRequest{caller: caller, method: tt.method, path: tt.path, allow: tt.allow, reasonHas: "no statement allows"})
		})
	}
}

// TestActionsCompareCaseInsensitively: an action in any case names execute-api:Invoke.
func TestActionsCompareCaseInsensitively(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	caller := identityPoolCaller(testGuestRole, "us-east-1:11111111-1111-1111-1111-111111111111", false, nil)
	for action, allow := range map[string]bool{
		"execute-api:Invoke": true, "EXECUTE-API:INVOKE": true, "Execute-Api:*": true, "*": true, "execute-api:Inv?ke": true,
		"execute-api:InvalidateCache": false, "execute-api:ManageConnections": false, "s3:*": false, "execute-api:Invoke*x": false,
	} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			doc := mustDocument(t, "doc.json", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "`+action+`", "Resource": "*"}}`)
			rules, err := (*policy.Rules)(nil).WithRolePolicies(testAPI, []policy.RolePolicy{{RoleARN: testGuestRole, Documents: []*policy.PolicyDocument{doc}}})
			if err != nil {
				t.Fatal(err)
			}
			decideIAM(t, e, rules, iamRequest{caller: caller, method: "GET", path: "/x", allow: allow, reasonHas: "no statement allows"})
		})
	}
}

// TestPolicyVariables: variables in resources and condition values, defaults, missing values.
func TestPolicyVariables(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	doc := mustDocument(t, "vars.json", `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Team", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/teams/${aws:PrincipalTag/team, 'everyone'}/*"},
		{"Sid": "Pool", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pools/${cognito-identity.amazonaws.com:aud}"},
		{"Sid": "Owner", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/devices/*",
		 "Condition": {"StringLike": {"aws:PrincipalTag/device": "${cognito-identity.amazonaws.com:sub}/*"}}},
		{"Sid": "Blocked", "Effect": "Deny", "Action": "execute-api:Invoke",
		 "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/blocked/${aws:PrincipalTag/blocked}"}
	]}`)
	rules, err := (*policy.Rules)(nil).WithRolePolicies(testAPI, []policy.RolePolicy{{RoleARN: testUserRole, Documents: []*policy.PolicyDocument{doc}}})
	if err != nil {
		t.Fatal(err)
	}
	const id = "us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
	withTags := func(tags map[string]string) *identity.Identity {
		return identityPoolCaller(testUserRole, id, true, tags)
	}
	blockedNone := map[string]string{"blocked": "none"}
	tests := []iamRequest{
		{name: "tag value", caller: withTags(map[string]string{"team": "red", "blocked": "none"}), method: "GET", path: "/teams/red/x", allow: true},
		{name: "tag value, not another team", caller: withTags(map[string]string{"team": "red", "blocked": "none"}), method: "GET", path: "/teams/blue/x", reasonHas: "no statement allows"},
		{name: "missing tag takes the default", caller: withTags(blockedNone), method: "GET", path: "/teams/everyone/x", allow: true},
		{name: "missing tag: not the placeholder", caller: withTags(blockedNone), method: "GET", path: "/teams/${aws:PrincipalTag/team, 'everyone'}/x", reasonHas: "no statement allows"},
		{name: "aud", caller: withTags(blockedNone), method: "GET", path: "/pools/us-east-1:99999999-9999-9999-9999-999999999999", allow: true},
		{name: "variable in a condition value", caller: withTags(map[string]string{"device": id + "/phone", "blocked": "none"}), method: "GET", path: "/devices/phone", allow: true},
		{name: "variable in a condition value, another identity's device", caller: withTags(map[string]string{"device": "us-east-1:bbbb/phone", "blocked": "none"}), method: "GET", path: "/devices/phone", reasonHas: "no statement allows"},
		{name: "a deny whose variable has no value denies", caller: withTags(map[string]string{"team": "red"}), method: "GET", path: "/teams/red/x", reasonHas: "explicitly denied by vars.json statement 4 (Blocked)"},
		{name: "a deny with its variable applies where it matches", caller: withTags(map[string]string{"team": "red", "blocked": "x"}), method: "GET", path: "/blocked/x", reasonHas: "explicitly denied"},
		{name: "and not elsewhere", caller: withTags(map[string]string{"team": "red", "blocked": "x"}), method: "GET", path: "/teams/red/x", allow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			decideIAM(t, e, rules, tt)
		})
	}
}

// TestLiteralPercentSigns: a % in a resource is literal, in plain statements (expressions) and in
// statements with variables (sprintf formats) alike.
func TestLiteralPercentSigns(t *testing.T) {
	t.Parallel()
	e := newEngine(t, policy.Config{})
	caller := identityPoolCaller(testUserRole, "us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", true, nil)
	tests := []struct {
		name, resource, path string
		allow                bool
	}{
		{name: "plain", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/100%", path: "/100%", allow: true},
		{name: "plain, not doubled", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/100%", path: "/100%%"},
		{name: "format verb is literal", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/%s%d", path: "/%s%d", allow: true},
		{name: "with a variable", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/100%/${cognito-identity.amazonaws.com:sub}",
			path: "/100%/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", allow: true},
		{name: "with a variable, not doubled", resource: "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/100%/${cognito-identity.amazonaws.com:sub}",
			path: "/100%%/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := mustDocument(t, "doc.json", `{"Version": "2012-10-17", "Statement": [
				{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "`+tt.resource+`"},
				{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/PUT/%",
				 "Condition": {"StringLike": {"aws:PrincipalTag/x": "%${cognito-identity.amazonaws.com:sub}"}}}]}`)
			rules, err := (*policy.Rules)(nil).WithRolePolicies(testAPI, []policy.RolePolicy{{RoleARN: testUserRole, Documents: []*policy.PolicyDocument{doc}}})
			if err != nil {
				t.Fatal(err)
			}
			decideIAM(t, e, rules, iamRequest{caller: caller, method: "GET", path: tt.path, allow: tt.allow, reasonHas: "no statement allows"})
		})
	}
}

// TestIdentityContext checks the IAM condition keys of an identity-pool caller in the input.
func TestIdentityContext(t *testing.T) {
	t.Parallel()
	e := policyEngine(t, echoPolicy)
	tests := []struct {
		name string
		id   *identity.Identity
		want map[string]any
	}{
		{name: "guest", id: identityPoolCaller(testGuestRole, "us-east-1:1", false, nil), want: map[string]any{
			"cognito-identity.amazonaws.com:sub": "us-east-1:1",
			"cognito-identity.amazonaws.com:aud": "us-east-1:99999999-9999-9999-9999-999999999999",
			"cognito-identity.amazonaws.com:amr": []any{"unauthenticated"},
		}},
		{name: "signed in through a user pool", id: identityPoolCaller(testUserRole, "us-east-1:2", true, map[string]string{"Tenant": "t1", "email": "a@example.com"}), want: map[string]any{
			"cognito-identity.amazonaws.com:sub": "us-east-1:2",
			"cognito-identity.amazonaws.com:aud": "us-east-1:99999999-9999-9999-9999-999999999999",
			"cognito-identity.amazonaws.com:amr": []any{"authenticated", testProvider, testProvider + ":CognitoSignIn:user-pool-sub"},
			"aws:principaltag/tenant":            "t1",
			"aws:principaltag/email":             "a@example.com",
		}},
		{name: "tags differing only in case are left out", id: identityPoolCaller(testUserRole, "us-east-1:3", true, map[string]string{"Team": "a", "TEAM": "b", "team": "c", "x": "y"}), want: map[string]any{
			"cognito-identity.amazonaws.com:sub": "us-east-1:3",
			"cognito-identity.amazonaws.com:aud": "us-east-1:99999999-9999-9999-9999-999999999999",
			"cognito-identity.amazonaws.com:amr": []any{"authenticated", testProvider, testProvider + ":CognitoSignIn:user-pool-sub"},
			"aws:principaltag/x":                 "y",
		}},
		{name: "token callers have none", id: alice(), want: map[string]any{}},
		{name: "anonymous callers have none", id: identity.Anonymous(), want: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := echo(t, e, get("/x", tt.id))
			got := doc["identity"].(map[string]any)["context"]
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("context = %v\nwant      %v", got, tt.want)
			}
		})
	}
}
