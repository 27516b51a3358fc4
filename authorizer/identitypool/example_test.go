package identitypool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// A guest-only identity pool served over HTTP: GetId, then GetCredentialsForIdentity, as an AWS SDK
// calls them; the session token opens with the pool's key ring, as the SigV4 verifier does.
func ExampleNew() {
	ctx := context.Background()
	const poolID = "us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4"
	keys, err := identitypool.NewKeyRing(ctx, keyring.NewMemoryStorage(), poolID, keyring.Options{})
	if err != nil {
		panic(err)
	}
	pool, err := identitypool.New(identitypool.Config{
		PoolID:              poolID,
		UnauthenticatedRole: "arn:aws:iam::123456789012:role/Guest",
		Keys:                keys,
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(pool)
	defer srv.Close()

	call := func(op, body string, out any) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityService."+op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(out)
	}
	var id struct{ IdentityId string }
	call("GetId", `{"IdentityPoolId":"`+poolID+`"}`, &id)
	var creds struct {
		Credentials struct{ AccessKeyId, SessionToken string }
	}
	call("GetCredentialsForIdentity", `{"IdentityId":"`+id.IdentityId+`"}`, &creds)

	session, err := keys.OpenSessionToken(ctx, creds.Credentials.SessionToken)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(id.IdentityId, "us-east-1:"), session.IdentityID == id.IdentityId)
	fmt.Println(session.RoleARN, session.Identity().Authenticated)
	// Output:
	// true true
	// arn:aws:iam::123456789012:role/Guest false
}

// Sealing and opening a session directly, as a test of a SigV4 verifier might.
func ExampleKeyRing_OpenSessionToken() {
	ctx := context.Background()
	const poolID = "eu-west-1:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	keys, err := identitypool.NewKeyRing(ctx, keyring.NewMemoryStorage(), poolID, keyring.Options{})
	if err != nil {
		panic(err)
	}
	token, err := keys.SealSession(ctx, &identitypool.Session{
		AccessKeyID:     "ASIAEXAMPLEEXAMPLE23",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		IdentityID:      "eu-west-1:4f2a1b4c-5d6e-4f70-8123-456789abcdef",
		PoolID:          poolID,
		RoleARN:         "arn:aws:iam::123456789012:role/Reader",
		PrincipalTags:   map[string]string{"tenant": "t1"},
		LoginProviders:  []string{"accounts.google.com"},
		Expires:         time.Now().Add(time.Hour),
	})
	if err != nil {
		panic(err)
	}
	session, err := keys.OpenSessionToken(ctx, token)
	if err != nil {
		panic(err)
	}
	id := session.Identity()
	fmt.Println(id.Kind, id.Authenticated, id.Pool.RoleARN, id.Pool.PrincipalTags["tenant"])
	fmt.Println(strings.Contains(fmt.Sprint(session), session.SecretAccessKey)) // printing never shows the secret

	i, repl := len(token)/2, "A"
	if token[i] == 'A' {
		repl = "B"
	}
	_, err = keys.OpenSessionToken(ctx, token[:i]+repl+token[i+1:]) // tampered
	fmt.Println(err)
	// Output:
	// identity_pool true arn:aws:iam::123456789012:role/Reader t1
	// false
	// invalid session token: authentication failed
}
