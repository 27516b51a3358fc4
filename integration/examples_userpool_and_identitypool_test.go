package integration

// examples/userpool-and-identitypool: users of the user pool exchange their ID tokens at the identity
// pool for credentials that sign their requests.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

// readmeUserPool creates the user pool of examples/README.md in emu by running its commands (alice in
// group admins, bob in none, the password testPassword), and returns it.
func readmeUserPool(t *testing.T, emu *cognitoLocal) *userPool {
	t.Helper()
	script := readmeScript(t, examplePath("README.md")) + `printf '%s %s\n' "$COGNITO_USER_POOL_ID" "$COGNITO_CLIENT_ID"` + "\n"
	path := filepath.Join(t.TempDir(), "setup.sh")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	env := childEnv([]string{"AWS_", "COGNITO_"}, append(append([]string(nil), awsDefaults...),
		"COGNITO_IDP_ENDPOINT="+emu.URL, "COGNITO_PASSWORD="+testPassword)...)
	out := runClient(t, t.TempDir(), needForScript(t, script, env), "", "sh", "-eu", path).ok(t)
	fields := strings.Fields(out)
	if len(fields) != 2 || !strings.HasPrefix(fields[0], "local_") {
		t.Fatalf("the README's commands made pool and client %q, want local_<id> <client id>", out)
	}
	p := &userPool{ID: fields[0], ClientID: fields[1], client: emu.client(), groups: map[string]bool{"admins": true}}
	p.Issuer = emu.URL + "/" + p.ID
	p.JWKSURL = p.Issuer + "/.well-known/jwks.json"
	return p
}

func TestExampleUserPoolAndIdentityPool(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := readmeUserPool(t, emu)
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("userpool-and-identitypool", "Caddyfile"),
		"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_IDP_ENDPOINT="+emu.URL,
		"UPSTREAM="+up.Addr)
	provider := "cognito-idp.us-east-1.amazonaws.com/" + pool.ID
	signedIn := func(role string) map[string]string {
		return map[string]string{"X-Cognito-Identity-Pool-Id": bothPoolID, "X-Cognito-Role-Arn": role,
			"X-Cognito-Authentication-Type": "authenticated"}
	}
	goClient := func(t *testing.T, flow, username string) cmdResult {
		t.Helper()
		return runGoClient(t, "-flow", flow, "-api", srv.BaseURL+"/orders/42", "-user-pool-id", pool.ID,
			"-client-id", pool.ClientID, "-username", username, "-user-pool-endpoint", emu.URL, "-identity-pool-id", bothPoolID)
	}
	identities := map[string]string{}

	tests := []struct {
		name, username, role string
	}{
		{"alice, in group admins", "alice@example.com", bothAdminRole},
		{"bob, in no group", "bob@example.com", bothUserRole},
	}
	for _, tt := range tests {
		t.Run("go client/"+tt.name, func(t *testing.T) {
			e := decodeEcho(t, goClient(t, "user", tt.username).ok(t))
			wantHeaders(t, e, signedIn(tt.role))
			if !strings.Contains(e.Header.Get("X-Cognito-Authentication-Provider"), provider) {
				t.Errorf("upstream saw X-Cognito-Authentication-Provider %q, want the user pool %s",
					e.Header.Get("X-Cognito-Authentication-Provider"), provider)
			}
			identities[tt.username] = e.Header.Get("X-Cognito-Identity-Id")
		})
		t.Run("js client/"+tt.name, func(t *testing.T) {
			out := runJSClient(t, "user", "API="+srv.BaseURL+"/orders/42", "IDENTITY_POOL_ID="+bothPoolID,
				"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_USERNAME="+tt.username,
				"COGNITO_IDP_ENDPOINT="+emu.URL, "METHOD=PUT", `BODY={"status": "shipped"}`).ok(t)
			e := decodeEcho(t, out)
			wantHeaders(t, e, signedIn(tt.role))
			if e.Method != "PUT" || e.Body != `{"status": "shipped"}` {
				t.Errorf("upstream saw %s %q, want the signed PUT", e.Method, e.Body)
			}
			if id := identities[tt.username]; id != "" && e.Header.Get("X-Cognito-Identity-Id") != id {
				t.Errorf("the JS client got identity %s, the Go client %s: one user, one identity", e.Header.Get("X-Cognito-Identity-Id"), id)
			}
		})
	}
	t.Run("README commands", func(t *testing.T) {
		out := runReadme(t, examplePath("userpool-and-identitypool", "README.md"), srv.BaseURL,
			"COGNITO_IDP_ENDPOINT="+emu.URL, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_USER_POOL_ID="+pool.ID).ok(t)
		e := decodeEcho(t, out)
		wantHeaders(t, e, signedIn(bothAdminRole))
		// What the README says `forward all` and `context_header on` add: the provider, and the identity
		// as API Gateway's requestContext.identity.
		id := e.Header.Get("X-Cognito-Identity-Id")
		if !strings.HasPrefix(id, "us-east-1:") || !strings.Contains(e.Header.Get("X-Cognito-Authentication-Provider"), provider) {
			t.Errorf("upstream saw X-Cognito-Identity-Id %q and X-Cognito-Authentication-Provider %q, want alice's identity and the user pool %s",
				id, e.Header.Get("X-Cognito-Authentication-Provider"), provider)
		}
		var ctx struct {
			Identity struct {
				ID   string `json:"cognitoIdentityId"`
				Pool string `json:"cognitoIdentityPoolId"`
				Type string `json:"cognitoAuthenticationType"`
			} `json:"identity"`
		}
		raw, err := base64.RawURLEncoding.DecodeString(e.Header.Get("X-Cognito-Context"))
		if err == nil {
			err = json.Unmarshal(raw, &ctx)
		}
		if err != nil || ctx.Identity.ID != id || ctx.Identity.Pool != bothPoolID || ctx.Identity.Type != "authenticated" {
			t.Errorf("upstream saw X-Cognito-Context %q (%v, %+v), want alice's requestContext.identity", e.Header.Get("X-Cognito-Context"), err, ctx.Identity)
		}
	})
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		// No unauthenticated_role: no guests.
		r := goClient(t, "guest", "")
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException") {
			t.Errorf("guest: err %v, stderr %q; want NotAuthorizedException", r.Err, r.Stderr)
		}
		r = runJSClient(t, "guest", "API="+srv.BaseURL+"/orders/42", "IDENTITY_POOL_ID="+bothPoolID)
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException") {
			t.Errorf("js guest: err %v, stderr %q; want NotAuthorizedException", r.Err, r.Stderr)
		}
		// The API takes SigV4 only: a user-pool token is no credential here (API Gateway's 403).
		wantRefused(t, goClient(t, "jwt", "alice@example.com"), up, before, "403")
		// An access token or a tampered ID token gets no credentials.
		tok := pool.SignIn(t, "bob@example.com")
		for name, login := range map[string]string{"access token": tok.Access, "ID token made admin": tamperIDToken(t, tok.ID)} {
			_, err := identityClient(srv.BaseURL+"/identity").GetId(t.Context(), &cognitoidentity.GetIdInput{
				IdentityPoolId: aws.String(bothPoolID), Logins: map[string]string{provider: login},
			})
			var apiErr interface{ ErrorCode() string }
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotAuthorizedException" {
				t.Errorf("GetId with an %s: %v, want NotAuthorizedException", name, err)
			}
		}
		// The roles' policies spell the API and stage out: a method in the middle of a path is no way
		// around them (IAM's * also matches /, so */*/GET/orders/* would let these through).
		_, bob := identityCredentials(t, srv.BaseURL+"/identity", bothPoolID, map[string]string{provider: tok.ID})
		_, alice := identityCredentials(t, srv.BaseURL+"/identity", bothPoolID,
			map[string]string{provider: pool.SignIn(t, "alice@example.com").ID})
		wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/admin/GET/orders/42", "", bob))
		wantAccessDenied(t, signedDo(t, http.MethodGet, srv.BaseURL+"/admin/PUT/orders/42", "", bob))
		wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/admin/orders/42", "", alice))
		wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/orders/archive/2025", "", alice))
		if up.Count() != before {
			t.Errorf("a refused request reached the upstream")
		}
		srv.assertLogsExclude(t, tok.Access, tok.ID, signatureOf(tok.ID))
		wantAllowed(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/orders/42", "", alice))
	})
}

// tamperIDToken returns the ID token with the user put in group admins and the signature kept.
func tamperIDToken(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload := decodeSegment(t, parts[1])
	forged := strings.Replace(payload, `"token_use":"id"`, `"token_use":"id","cognito:groups":["admins"]`, 1)
	if forged == payload {
		t.Fatalf("the payload has no token_use claim to tamper with: %s", payload)
	}
	return parts[0] + "." + encodeSegment(forged) + "." + parts[2]
}
