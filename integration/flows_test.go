package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

// The three flows of DESIGN.md, end to end through the binary, with real tokens from cognito-local and
// real credentials from the binary's own cognito_identity_pool, obtained with aws-sdk-go-v2.

const (
	flowsAccount  = "123456789012"
	flowsGuest    = "arn:aws:iam::123456789012:role/flows-guest"
	flowsCustomer = "arn:aws:iam::123456789012:role/flows-customer"
	flowsAdmin    = "arn:aws:iam::123456789012:role/flows-admin"
	flowsUser     = "arn:aws:iam::123456789012:role/flows-user" // the default authenticated role: no policy
)

// writeRolePolicy writes an IAM policy document for the binary to read and returns its path.
func writeRolePolicy(t *testing.T, name, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flowsARN is a resource of the flows' API (execute_api 123456789012 shop prod, region us-east-1).
func flowsARN(rest string) string {
	return "arn:aws:execute-api:us-east-1:" + flowsAccount + ":shop/prod/" + rest
}

// sendSigned signs a request to the site with aws-sdk-go-v2's signer and sends it.
func sendSigned(t *testing.T, creds aws.Credentials, method, url, body string) *http.Response {
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
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// wantAPIGatewayDeny checks a response is API Gateway's answer to a request its IAM authorization
// refused, or to a signature error of the given type.
func wantAPIGatewayDeny(t *testing.T, resp *http.Response, errorType string) {
	t.Helper()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var msg struct{ Message string }
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != errorType ||
		json.Unmarshal(body, &msg) != nil || msg.Message == "" {
		t.Errorf("got %d %q %s; want 403 %s with a JSON message", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, errorType)
	}
}

// identityCredentials gets credentials from the identity pool at endpoint, with logins (nil: a guest),
// and the identity id they were issued for.
func identityCredentials(t *testing.T, endpoint, poolID string, logins map[string]string) (string, aws.Credentials) {
	t.Helper()
	client := identityClient(endpoint)
	id, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(poolID), Logins: logins})
	if err != nil {
		t.Fatalf("GetId: %v", err)
	}
	out, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
	if err != nil {
		t.Fatalf("GetCredentialsForIdentity: %v", err)
	}
	c := out.Credentials
	return aws.ToString(id.IdentityId), aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretKey), SessionToken: aws.ToString(c.SessionToken)}
}

// Flow 1: user pool only. Users sign in to the user pool and send their access token; a groups rule
// decides.
func TestFlowUserPoolOnly(t *testing.T) {
	t.Parallel()
	pool := newUserPool(t, startCognitoLocal(t))
	aliceSub := pool.AddUser(t, "alice@example.com", "admins")
	pool.AddUser(t, "bob@example.com", "readers")
	alice, bob := pool.SignIn(t, "alice@example.com"), pool.SignIn(t, "bob@example.com")
	up := startUpstream(t)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_authorizer {
		%s
		groups admins
	}
	reverse_proxy %s
}
`, pool.userPoolBlock(), up.Addr))

	e := readEcho(t, srv.get(t, "/admin/reports", http.Header{"Authorization": {"Bearer " + alice.Access}}))
	if e.Header.Get("X-Cognito-Sub") != aliceSub || e.Header.Get("X-Cognito-Groups") != "admins" {
		t.Errorf("upstream saw sub %q groups %q, want alice in admins", e.Header.Get("X-Cognito-Sub"), e.Header.Get("X-Cognito-Groups"))
	}
	// The default forwards the subject and the groups, nothing more.
	for _, name := range []string{"X-Cognito-Username", "X-Cognito-Client-Id", "X-Cognito-Scopes", "X-Cognito-Context"} {
		if got := e.Header.Get(name); got != "" {
			t.Errorf("upstream saw %s %q, which the route does not forward", name, got)
		}
	}
	before := up.Count()
	for name, tc := range map[string]struct {
		header    http.Header
		status    int
		challenge string
	}{
		"bob, not in admins": {http.Header{"Authorization": {"Bearer " + bob.Access}}, http.StatusForbidden, ""},
		"no token":           {nil, http.StatusUnauthorized, "Bearer"},
		"bob's token made admin": {http.Header{"Authorization": {"Bearer " + tamperPayload(t, bob.Access)}},
			http.StatusUnauthorized, `Bearer error="invalid_token"`},
	} {
		t.Run(name, func(t *testing.T) {
			resp := srv.get(t, "/admin/reports", tc.header)
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
	if up.Count() != before {
		t.Errorf("a refused request reached the upstream")
	}
	srv.assertLogsExclude(t, alice.Access, bob.Access, signatureOf(alice.Access), signatureOf(bob.Access))
}

// Flow 2: identity pool only. Guests get credentials for the unauthenticated role with GetId and
// GetCredentialsForIdentity, and its IAM policy limits them to reading /public/*.
func TestFlowGuestsOnly(t *testing.T) {
	t.Parallel()
	const poolID = "us-east-1:0c5e7a2d-4b1f-4f3a-8e6d-9a2b1c0d3e4f"
	guestPolicy := writeRolePolicy(t, "guest.json", `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "ReadPublic", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "`+flowsARN("GET/public/*")+`"}
	]
}`)
	up := startUpstream(t)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_identity_pool /identity* %[1]s {
		unauthenticated_role %[2]s
	}
	cognito_authorizer {
		identity_pool %[1]s
		role_policy %[2]s %[3]s
		execute_api %[4]s shop prod
		forward X-Cognito-Identity-Pool-Id X-Cognito-Role-Arn X-Cognito-Authentication-Type
	}
	reverse_proxy %[5]s
}
`, poolID, flowsGuest, guestPolicy, flowsAccount, up.Addr))
	identityID, creds := identityCredentials(t, srv.BaseURL+"/identity", poolID, nil)

	e := readEcho(t, sendSigned(t, creds, http.MethodGet, srv.BaseURL+"/public/catalog/tea", ""))
	for name, v := range map[string]string{
		"X-Cognito-Identity-Id": identityID, "X-Cognito-Identity-Pool-Id": poolID,
		"X-Cognito-Role-Arn": flowsGuest, "X-Cognito-Authentication-Type": "unauthenticated",
	} {
		if got := e.Header.Get(name); got != v {
			t.Errorf("upstream saw %s %q, want %q", name, got, v)
		}
	}

	before := up.Count()
	tests := []struct{ name, method, path, body string }{
		{"a write to /public", http.MethodPost, "/public/catalog/tea", `{"rating": 5}`},
		{"a read of /private", http.MethodGet, "/private/orders", ""},
		{"a read of /public without the trailing part", http.MethodGet, "/public", ""},
		{"a read of /PUBLIC: resources are case-sensitive", http.MethodGet, "/PUBLIC/catalog", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIGatewayDeny(t, sendSigned(t, creds, tt.method, srv.BaseURL+tt.path, tt.body), "AccessDeniedException")
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		wantAPIGatewayDeny(t, srv.get(t, "/public/catalog/tea", nil), "MissingAuthenticationTokenException")
	})
	if up.Count() != before {
		t.Errorf("a refused request reached the upstream")
	}
	// The denial is logged with the rule and the resource, never with a credential.
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		s := toJSON(e)
		return strings.Contains(s, "no statement allows execute-api:Invoke on "+flowsARN("POST/public/catalog/tea"))
	})
	srv.assertLogsExclude(t, creds.SecretAccessKey)
}

// Flow 3: both. Users sign in to the user pool, exchange their ID token at the identity pool, and
// sign their requests with credentials for the role their group maps to. The customers' role lets
// each user reach only /users/${cognito-identity.amazonaws.com:sub}/*.
func TestFlowUserPoolAndIdentityPool(t *testing.T) {
	t.Parallel()
	const poolID = "us-east-1:7d3a9c1e-2b4f-4e6a-8c0d-1f2e3a4b5c6d"
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	provider := "cognito-idp.us-east-1.amazonaws.com/" + pool.ID
	pool.AddUser(t, "alice@example.com", "customers")
	pool.AddUser(t, "bob@example.com", "customers")
	pool.AddUser(t, "carol@example.com", "admins")
	pool.AddUser(t, "dave@example.com")
	customerPolicy := writeRolePolicy(t, "customer.json", `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "OwnData", "Effect": "Allow", "Action": "execute-api:Invoke",
		 "Resource": "`+flowsARN("*/users/${cognito-identity.amazonaws.com:sub}/*")+`",
		 "Condition": {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}
	]
}`)
	adminPolicy := writeRolePolicy(t, "admin.json", `{
	"Version": "2012-10-17",
	"Statement": [
		{"Sid": "ReadAll", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "`+flowsARN("GET/*")+`"},
		{"Sid": "NoDeletes", "Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "`+flowsARN("DELETE/*")+`"}
	]
}`)
	up := startUpstream(t)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_identity_pool /identity* %[1]s {
		login %[2]s {
			client_id %[3]s
			issuer %[4]s
			jwks_url %[5]s
		}
		authenticated_role %[6]s
		role_mapping %[2]s rules {
			rule cognito:groups contains customers %[7]s
			rule cognito:groups contains admins %[8]s
			ambiguous authenticated_role
		}
	}
	cognito_authorizer {
		identity_pool %[1]s
		role_policy %[7]s %[9]s
		role_policy %[8]s %[10]s
		execute_api %[11]s shop prod
		forward X-Cognito-Role-Arn X-Cognito-Authentication-Type X-Cognito-Authentication-Provider
	}
	reverse_proxy %[12]s
}
`, poolID, provider, pool.ClientID, pool.Issuer, pool.JWKSURL, flowsUser, flowsCustomer, flowsAdmin,
		customerPolicy, adminPolicy, flowsAccount, up.Addr))
	endpoint := srv.BaseURL + "/identity"
	signIn := func(email string) (string, aws.Credentials) {
		return identityCredentials(t, endpoint, poolID, map[string]string{provider: pool.SignIn(t, email).ID})
	}
	aliceID, alice := signIn("alice@example.com")
	bobID, bob := signIn("bob@example.com")
	_, carol := signIn("carol@example.com")
	_, dave := signIn("dave@example.com")
	if aliceID == bobID {
		t.Fatalf("alice and bob share identity %s", aliceID)
	}

	tests := []struct {
		name   string
		creds  aws.Credentials
		method string
		path   string
		role   string // "": refused
	}{
		{"alice reaches hers", alice, http.MethodPut, "/users/" + aliceID + "/cart", flowsCustomer},
		{"alice does not reach bob's", alice, http.MethodGet, "/users/" + bobID + "/cart", ""},
		{"bob reaches his", bob, http.MethodGet, "/users/" + bobID + "/orders/7", flowsCustomer},
		{"bob does not reach alice's", bob, http.MethodDelete, "/users/" + aliceID + "/cart", ""},
		{"bob's own prefix, but not under it", bob, http.MethodGet, "/users/" + bobID, ""},
		{"a customer does not reach the rest", alice, http.MethodGet, "/reports/q1", ""},
		{"carol, an admin, reads everything", carol, http.MethodGet, "/users/" + aliceID + "/cart", flowsAdmin},
		{"carol may not delete", carol, http.MethodDelete, "/users/" + aliceID + "/cart", ""},
		{"dave's role has no policy", dave, http.MethodGet, "/users/x/cart", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := sendSigned(t, tt.creds, tt.method, srv.BaseURL+tt.path, "")
			if tt.role == "" {
				wantAPIGatewayDeny(t, resp, "AccessDeniedException")
				return
			}
			e := readEcho(t, resp)
			if e.Header.Get("X-Cognito-Role-Arn") != tt.role || e.Header.Get("X-Cognito-Authentication-Type") != "authenticated" ||
				!strings.Contains(e.Header.Get("X-Cognito-Authentication-Provider"), provider) {
				t.Errorf("upstream saw role %q, type %q, provider %q", e.Header.Get("X-Cognito-Role-Arn"),
					e.Header.Get("X-Cognito-Authentication-Type"), e.Header.Get("X-Cognito-Authentication-Provider"))
			}
		})
	}
	// A user-pool token is no credential on this API (SigV4 only): refused as API Gateway's IAM
	// authorization refuses it, without a Bearer challenge.
	resp := srv.get(t, "/users/"+aliceID+"/cart", http.Header{"Authorization": {"Bearer " + pool.SignIn(t, "alice@example.com").Access}})
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 0 {
		t.Errorf("a bearer token on a SigV4-only API is challenged with %q", got)
	}
	wantAPIGatewayDeny(t, resp, "IncompleteSignatureException")
	srv.assertLogsExclude(t, alice.SecretAccessKey, bob.SecretAccessKey, carol.SecretAccessKey, dave.SecretAccessKey)
}
