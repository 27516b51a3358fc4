package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// poolServer is Caddy running in this process with a site that serves an identity pool.
type poolServer struct {
	base string
	// dir is Caddy's storage; serverLog its default log (JSON lines), where handlers log.
	dir, serverLog string
}

// startPoolCaddy runs a Caddyfile site body in this process on a free loopback port, with Caddy's storage
// in dir and its default log in a file. The caller holds caddyMu. Caddy stops at the end of the test.
func startPoolCaddy(t testing.TB, dir, site string) poolServer {
	t.Helper()
	s, err := loadPoolCaddy(t, dir, "", site)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loadPoolCaddy is startPoolCaddy with global options (a block of lines for the Caddyfile's global
// block), returning the error of a configuration Caddy refuses.
func loadPoolCaddy(t testing.TB, dir, global, site string) (poolServer, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := poolServer{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, serverLog: filepath.Join(dir, "server.log")}
	caddyfile := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
		level INFO
	}
%s
}
http://127.0.0.1:%d {
%s
}
`, dir, s.serverLog, global, port, site)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return s, fmt.Errorf("adapting Caddyfile: %w\n%s", err, caddyfile)
	}
	if err := caddy.Load(cfg, true); err != nil {
		return s, fmt.Errorf("loading config: %w", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return s, nil
}

// runPoolCaddy is startPoolCaddy for a test that runs Caddy once, in a fresh storage directory.
func runPoolCaddy(t testing.TB, site string) poolServer {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	return startPoolCaddy(t, t.TempDir(), site)
}

// client is an aws-sdk-go-v2 Cognito Identity client of the pool at <base>/identity, anonymous, as apps
// call Amazon Cognito.
func (s poolServer) client() *cognitoidentity.Client {
	return cognitoidentity.New(cognitoidentity.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.base + "/identity"),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
	})
}

// openSession opens a session token with a key ring of its own on the server's storage, as a
// cognito_authorizer of another instance on the same storage would.
func (s poolServer) openSession(t testing.TB, token string) *identitypool.Session {
	t.Helper()
	keys, err := authorizer.NewPoolKeyRing(t.Context(), &certmagic.FileStorage{Path: s.dir}, testIdentityPoolID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	session, err := keys.OpenSessionToken(t.Context(), token)
	if err != nil {
		t.Fatalf("opening the session token with the pool's keys from storage: %v", err)
	}
	return session
}

// logText returns the server log once it holds want, or what it holds after a few seconds.
func (s poolServer) logText(want string) string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(s.serverLog)
		if bytes.Contains(b, []byte(want)) || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// poolSite is a site whose /identity* route serves the test pool with idp as a user-pool login
// provider (with extra subdirectives) and whose other paths go to upstream through cognito_authorizer,
// as the handler's documentation shows.
func poolSite(idp *testidp.IdP, upstream, extra string) string {
	return `	handle /identity* {
		cognito_identity_pool ` + testIdentityPoolID + ` {
			login ` + testUserPoolLogin + ` {
				client_id ` + idp.ClientID + `
				issuer ` + idp.Issuer + `
				jwks_url ` + idp.JWKSURL + `
			}
			authenticated_role ` + userRoleARN + `
			role_mapping ` + testUserPoolLogin + ` rules {
				rule cognito:groups contains admins ` + adminRoleARN + `
				ambiguous authenticated_role
			}
			principal_tag email email
			issuer https://api.example.com/identity
` + extra + `
		}
	}
	handle {
		cognito_authorizer {
			user_pool us-east-1_Test01 {
				client_id ` + idp.ClientID + `
				issuer ` + idp.Issuer + `
				jwks_url ` + idp.JWKSURL + `
			}
			identity_pool ` + testIdentityPoolID + `
			allow_any_role
			forward X-Cognito-Identity-Pool-Id X-Cognito-Role-Arn X-Cognito-Authentication-Type
		}
		reverse_proxy ` + upstream + `
	}`
}

func TestIdentityPoolGuestFlow(t *testing.T) {
	idp := testidp.New(t)
	s := runPoolCaddy(t, poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN))
	client, ctx := s.client(), t.Context()

	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*id.IdentityId, "us-east-1:") {
		t.Fatalf("identity id %s is not in the pool's region", *id.IdentityId)
	}
	out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || len(*c.AccessKeyId) != 20 || len(*c.SecretKey) != 40 {
		t.Fatalf("credentials %s / %d-character secret are not AWS-shaped", *c.AccessKeyId, len(*c.SecretKey))
	}
	if ttl := time.Until(*c.Expiration); ttl < 59*time.Minute || ttl > time.Hour {
		t.Fatalf("credentials expire in %s, want the default 1h", ttl)
	}
	session := s.openSession(t, *c.SessionToken)
	if session.RoleARN != guestRoleARN || session.IdentityID != *id.IdentityId || session.PoolID != testIdentityPoolID ||
		session.AccessKeyID != *c.AccessKeyId || session.SecretAccessKey != *c.SecretKey || len(session.LoginProviders) != 0 {
		t.Fatalf("session %v does not match the guest credentials", session)
	}

	tok, err := client.GetOpenIdToken(ctx, &cognitoidentity.GetOpenIdTokenInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatal(err)
	}
	if *tok.IdentityId != *id.IdentityId || strings.Count(*tok.Token, ".") != 2 {
		t.Fatalf("OpenID token answer %s / %q", *tok.IdentityId, *tok.Token)
	}

	// The rest of the site still wants credentials.
	if res := do(t, "GET", s.base+"/api/orders", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("the API without credentials answers %d: %s", res.status, res.body)
	}

	// A guest id the pool did not issue is refused, though well-formed.
	_, err = client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{
		IdentityId: aws.String("us-east-1:0f8fad5b-d9cb-469f-a165-70867728950e")})
	if notFound := (*types.ResourceNotFoundException)(nil); !errors.As(err, &notFound) {
		t.Fatalf("forged guest id: error %v, want ResourceNotFoundException", err)
	}
}

func TestIdentityPoolGuestsDisabled(t *testing.T) {
	idp := testidp.New(t)
	s := runPoolCaddy(t, poolSite(idp, newEcho(t).URL, ""))
	_, err := s.client().GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	var notAuthorized *types.NotAuthorizedException
	if !errors.As(err, &notAuthorized) || !strings.Contains(notAuthorized.ErrorMessage(), "Unauthenticated access is not supported") {
		t.Fatalf("GetId without logins: error %v, want NotAuthorizedException for unauthenticated access", err)
	}
	// The refusal is in the server log at info level, with its reason.
	log := s.logText("Unauthenticated access is not supported")
	if !strings.Contains(log, `"level":"info","ts"`) || !strings.Contains(log, `"msg":"identity pool request failed"`) ||
		!strings.Contains(log, "Unauthenticated access is not supported") {
		t.Fatalf("no info-level refusal in the server log:\n%s", log)
	}
}

func TestIdentityPoolAuthenticatedFlow(t *testing.T) {
	idp := testidp.New(t)
	s := runPoolCaddy(t, poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN))
	client, ctx := s.client(), t.Context()

	credentials := func(t *testing.T, token string) (string, *identitypool.Session) {
		t.Helper()
		logins := map[string]string{testUserPoolLogin: token}
		id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: logins})
		if err != nil {
			t.Fatal(err)
		}
		out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
		if err != nil {
			t.Fatal(err)
		}
		if *out.IdentityId != *id.IdentityId {
			t.Fatalf("credentials for %s, asked for %s", *out.IdentityId, *id.IdentityId)
		}
		return *id.IdentityId, s.openSession(t, *out.Credentials.SessionToken)
	}

	// Role mapping by group: a member of admins gets the admin role, another user the default role.
	adminID, admin := credentials(t, idp.IDToken(t, nil))
	otherSub := "3f2b6c1e-1111-4a5b-9c8d-000000000002"
	userID, user := credentials(t, idp.IDToken(t, map[string]any{"sub": otherSub, "email": "bob@example.com", "cognito:groups": []string{"ops", "superadmins"}}))
	cases := []struct {
		name, identityID, sub, email, role string
		session                            *identitypool.Session
	}{
		{"member of admins", adminID, testidp.Subject, "alice@example.com", adminRoleARN, admin},
		{"member of ops and superadmins", userID, otherSub, "bob@example.com", userRoleARN, user},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.session
			wantTags := map[string]string{"username": tc.sub, "client": idp.ClientID, "email": tc.email}
			if s.RoleARN != tc.role || s.IdentityID != tc.identityID || !slices.Equal(s.LoginProviders, []string{testUserPoolLogin}) ||
				!mapsEqual(s.PrincipalTags, wantTags) {
				t.Fatalf("session %v with tags %v, want role %s, tags %v", s, s.PrincipalTags, tc.role, wantTags)
			}
			if want := testUserPoolLogin + "," + testUserPoolLogin + ":CognitoSignIn:" + tc.sub; s.AuthenticationProvider != want {
				t.Errorf("authentication provider %q, want %q", s.AuthenticationProvider, want)
			}
		})
	}
	if adminID == userID {
		t.Fatal("two users got one identity id")
	}
	// The identity id is the login's: a new token of the same user maps to the same identity.
	if again, _ := credentials(t, idp.IDToken(t, map[string]any{"jti": "another"})); again != adminID {
		t.Fatalf("a second token of the same user got identity %s, first %s", again, adminID)
	}
	// The credentials carry what revokes them with their login: its sub, origin_jti and iat.
	iat := time.Now().Add(-time.Minute).Unix()
	_, revocable := credentials(t, idp.IDToken(t, map[string]any{"origin_jti": "refresh-of-alice", "iat": iat}))
	if revocable.LoginSubject != testidp.Subject || revocable.LoginOriginJTI != "refresh-of-alice" || revocable.LoginIssuedAt.Unix() != iat {
		t.Fatalf("session login: sub %q, origin_jti %q, iat %v", revocable.LoginSubject, revocable.LoginOriginJTI, revocable.LoginIssuedAt)
	}
	if guest := guestCredentials(t, s); guest == nil {
		t.Fatal("no guest credentials")
	} else if g := s.openSession(t, *guest.SessionToken); g.LoginSubject != "" || g.LoginOriginJTI != "" || !g.LoginIssuedAt.IsZero() {
		t.Fatalf("a guest's session carries a login: %+v", g)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Credentials from the pool sign requests that cognito_authorizer's identity_pool accepts: the two
// handlers share the pool's keys through Caddy's storage.
func TestIdentityPoolCredentialsSignAPIRequests(t *testing.T) {
	idp := testidp.New(t)
	s := runPoolCaddy(t, poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN))
	client, ctx := s.client(), t.Context()
	cases := []struct {
		name, role, authType string
		logins               map[string]string
	}{
		{"guest", guestRoleARN, "unauthenticated", nil},
		{"member of admins", adminRoleARN, "authenticated", map[string]string{testUserPoolLogin: idp.IDToken(t, nil)}},
		{"member of ops", userRoleARN, "authenticated", map[string]string{testUserPoolLogin: idp.IDToken(t, map[string]any{"cognito:groups": []string{"ops"}})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: tc.logins})
			if err != nil {
				t.Fatal(err)
			}
			out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: tc.logins})
			if err != nil {
				t.Fatal(err)
			}
			c := out.Credentials
			req, _ := http.NewRequest("GET", s.base+"/api/orders", nil)
			emptySum := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
			creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
			if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySum, "execute-api", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			res := doRequest(t, req)
			if res.status != http.StatusOK {
				t.Fatalf("signed request: status %d, %s", res.status, res.body)
			}
			h := res.echoed(t).Header
			for name, want := range map[string]string{
				"X-Cognito-Identity-Id": *id.IdentityId, "X-Cognito-Identity-Pool-Id": testIdentityPoolID,
				"X-Cognito-Role-Arn": tc.role, "X-Cognito-Authentication-Type": tc.authType,
			} {
				if got := h[name]; len(got) != 1 || got[0] != want {
					t.Errorf("upstream %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// Logins an attacker could present: each is refused with Cognito's error type, and no token reaches the
// log.
func TestIdentityPoolRefusesBadLogins(t *testing.T) {
	idp := testidp.New(t)
	s := runPoolCaddy(t, poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN))
	client, ctx := s.client(), t.Context()
	valid := idp.IDToken(t, nil)
	userID, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID),
		Logins: map[string]string{testUserPoolLogin: valid}})
	if err != nil {
		t.Fatal(err)
	}
	guestID, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	// Another IdP's key, with the same kid and the trusted issuer: a forged signature.
	forger := testidp.New(t)
	forged := forger.Sign(t, map[string]any{"sub": testidp.Subject, "iss": idp.Issuer, "aud": idp.ClientID, "token_use": "id",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "cognito:groups": []string{"admins"}})
	parts := strings.Split(valid, ".")
	cases := []struct {
		name       string
		identityID string // "" for GetId
		logins     map[string]string
		want       string // error type
	}{
		{"forged signature", "", map[string]string{testUserPoolLogin: forged}, "NotAuthorizedException"},
		{"claims swapped under a valid signature", "", map[string]string{testUserPoolLogin: parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]}, "NotAuthorizedException"},
		{"access token", "", map[string]string{testUserPoolLogin: idp.AccessToken(t, nil)}, "NotAuthorizedException"},
		{"token of another app client", "", map[string]string{testUserPoolLogin: idp.IDToken(t, map[string]any{"aud": "client-2"})}, "NotAuthorizedException"},
		{"expired token", "", map[string]string{testUserPoolLogin: idp.IDToken(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})}, "NotAuthorizedException"},
		{"alg none", "", map[string]string{testUserPoolLogin: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"test-key-1"}`)) + "." + parts[1] + "."}, "NotAuthorizedException"},
		{"unconfigured provider", "", map[string]string{"accounts.google.com": valid}, "NotAuthorizedException"},
		{"provider name in another case", "", map[string]string{strings.ToUpper(testUserPoolLogin): valid}, "NotAuthorizedException"},
		{"eleven logins", "", elevenLogins(valid), "InvalidParameterException"},
		{"user's identity without logins", *userID.IdentityId, nil, "NotAuthorizedException"},
		{"guest identity with a user's logins", *guestID.IdentityId, map[string]string{testUserPoolLogin: valid}, "NotAuthorizedException"},
		{"user's identity with another user's token", *userID.IdentityId, map[string]string{testUserPoolLogin: idp.IDToken(t, map[string]any{"sub": "someone-else"})}, "NotAuthorizedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.identityID == "" {
				_, err = client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: tc.logins})
			} else {
				_, err = client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(tc.identityID), Logins: tc.logins})
			}
			var apiErr interface{ ErrorCode() string }
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.want {
				t.Fatalf("error %v, want %s", err, tc.want)
			}
		})
	}
	log := s.logText("Invalid login token")
	for _, secret := range []string{valid, forged, parts[2], strings.Split(forged, ".")[2]} {
		if strings.Contains(log, secret) {
			t.Fatalf("the server log holds a token or a signature")
		}
	}
	if !strings.Contains(log, "invalid signature") || !strings.Contains(log, "token expired") {
		t.Errorf("the server log lacks the reasons of the refusals:\n%s", log)
	}
}

func elevenLogins(token string) map[string]string {
	logins := map[string]string{}
	for i := range 11 {
		logins[fmt.Sprintf("idp%d.example.com", i)] = token
	}
	return logins
}

// The pool answers every request that reaches its route; nothing falls through to the upstream, and the
// rest of the site is untouched. With cognito_authorizer in the same route, the pool runs first.
func TestIdentityPoolRouting(t *testing.T) {
	idp := testidp.New(t)
	upstream := newEcho(t).URL
	s := runPoolCaddy(t, `	cognito_identity_pool /identity* `+testIdentityPoolID+` {
		unauthenticated_role `+guestRoleARN+`
	}
	cognito_authorizer {
		user_pool us-east-1_Test01 {
			client_id `+idp.ClientID+`
			issuer `+idp.Issuer+`
			jwks_url `+idp.JWKSURL+`
		}
	}
	reverse_proxy `+upstream)

	getID := `{"IdentityPoolId": "` + testIdentityPoolID + `"}`
	amzJSON := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityService.GetId"}
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		errorType, contains      string
	}{
		{"GetId at the endpoint path", "POST", "/identity", getID, amzJSON, 200, "", `"IdentityId":"us-east-1:`},
		{"GetId below it", "POST", "/identity/", getID, amzJSON, 200, "", `"IdentityId":"us-east-1:`},
		{"JWKS", "GET", "/identity/.well-known/jwks.json", "", nil, 200, "", `"kty":"EC"`},
		{"GET of the endpoint", "GET", "/identity", "", nil, 404, "", "not found"},
		{"GET of another path under it", "GET", "/identity/admin", "", nil, 404, "", "not found"},
		{"path sharing the prefix", "GET", "/identity-admin/users", "", nil, 404, "", "not found"},
		{"openid-configuration without issuer", "GET", "/identity/.well-known/openid-configuration", "", nil, 404, "", "not found"},
		{"DELETE", "DELETE", "/identity/x", "", nil, 405, "UnknownOperationException", "method DELETE not allowed"},
		{"unknown operation", "POST", "/identity", "{}", map[string]string{"Content-Type": "application/x-amz-json-1.1",
			"X-Amz-Target": "AWSCognitoIdentityService.ListIdentityPools"}, 400, "UnknownOperationException", "unknown operation"},
		{"wrong content type", "POST", "/identity", getID, map[string]string{"Content-Type": "application/json",
			"X-Amz-Target": "AWSCognitoIdentityService.GetId"}, 400, "SerializationException", "content type must be application/x-amz-json-1.1"},
		{"malformed JSON", "POST", "/identity", `{"IdentityPoolId": `, amzJSON, 400, "SerializationException", "malformed JSON"},
		{"body over the limit", "POST", "/identity", `{"IdentityPoolId": "` + strings.Repeat("a", 70<<10) + `"}`, amzJSON, 413, "InvalidParameterException", "exceeds"},
		{"the API without credentials", "GET", "/api/orders", "", nil, 401, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res := doRequest(t, req)
			if res.status != tc.status || res.header.Get("X-Amzn-ErrorType") != tc.errorType || !strings.Contains(string(res.body), tc.contains) {
				t.Fatalf("%s %s: status %d, error type %q, body %s; want %d, %q, %q", tc.method, tc.path, res.status,
					res.header.Get("X-Amzn-ErrorType"), res.body, tc.status, tc.errorType, tc.contains)
			}
			if json.Valid(res.body) && strings.Contains(string(res.body), `"method"`) {
				t.Fatalf("the request reached the upstream: %s", res.body)
			}
		})
	}
}

// The pool's keys live in Caddy's storage: after a restart on the same storage, identities and guest ids
// are the same, and credentials issued before still open.
func TestIdentityPoolKeysSurviveRestart(t *testing.T) {
	idp := testidp.New(t)
	site := poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN)
	caddyMu.Lock()
	defer caddyMu.Unlock()
	dir := t.TempDir()
	ctx := t.Context()
	logins := map[string]string{testUserPoolLogin: idp.IDToken(t, nil)}

	s := startPoolCaddy(t, dir, site)
	client := s.client()
	userID, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	guestID, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	before, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: guestID.IdentityId})
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}

	s = startPoolCaddy(t, dir, site)
	client = s.client()
	again, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	if *again.IdentityId != *userID.IdentityId {
		t.Fatalf("after a restart the user is identity %s, before %s", *again.IdentityId, *userID.IdentityId)
	}
	if _, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: guestID.IdentityId}); err != nil {
		t.Fatalf("a guest id issued before the restart is refused: %v", err)
	}
	if session := s.openSession(t, *before.Credentials.SessionToken); session.IdentityID != *guestID.IdentityId {
		t.Fatalf("credentials issued before the restart open to %v", session)
	}
}

// The identity pool and cognito_authorizer fetch a JWKS they both trust once, and give it back when
// Caddy stops.
func TestIdentityPoolSharesKeySetsWithAuthorizer(t *testing.T) {
	idp := testidp.New(t)
	key := "jwks|" + idp.JWKSURL + "||RS256"
	runPoolCaddy(t, poolSite(idp, newEcho(t).URL, ""))
	if n, ok := shared.References(key); !ok || n != 2 {
		t.Fatalf("key set %s has %d references (present %v), want 2: one for each handler", key, n, ok)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if n, ok := shared.References(key); ok {
		t.Fatalf("key set still held (%d references) after Caddy stopped", n)
	}
}

// BenchmarkIdentityPoolGetCredentials is a guest's GetCredentialsForIdentity through Caddy over loopback
// HTTP: the handler's cost within the whole request.
func BenchmarkIdentityPoolGetCredentials(b *testing.B) {
	idp := testidp.New(b)
	s := runPoolCaddy(b, poolSite(idp, "127.0.0.1:9", "unauthenticated_role "+guestRoleARN))
	client := s.client()
	id, err := client.GetId(b.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"IdentityId": "` + *id.IdentityId + `"}`)
	httpClient := &http.Client{Timeout: 10 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", s.base+"/identity", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityService.GetCredentialsForIdentity")
		res, err := httpClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct{ Credentials struct{ SessionToken string } }
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || out.Credentials.SessionToken == "" {
			b.Fatalf("status %d, %v", res.StatusCode, err)
		}
	}
}

// cognito_identity_pool issues nothing to what is revoked, as Cognito refuses a disabled identity or a
// revoked token: a login token whose origin_jti is revoked gets no identity id and no credentials, a
// revoked identity id no credentials; another token of the same user is unaffected.
func TestIdentityPoolRefusesRevoked(t *testing.T) {
	idp := testidp.New(t)
	s := runPoolCaddy(t, poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN))
	client, ctx := s.client(), t.Context()
	revocations, release, err := acquireRevocations() // the process's set, the admin API's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	revoke := func(kind fleet.Kind, value string) {
		t.Helper()
		if err := revocations.Add(fleet.Entry{Kind: kind, Value: value, Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { revocations.Expire(kind, value) })
	}
	notAuthorized := func(t *testing.T, err error, want string) {
		t.Helper()
		var e *types.NotAuthorizedException
		if !errors.As(err, &e) || !strings.Contains(aws.ToString(e.Message), want) {
			t.Errorf("%v, want NotAuthorizedException %q", err, want)
		}
	}

	revokedToken := idp.IDToken(t, map[string]any{"origin_jti": "pool-refresh-revoked"})
	logins := map[string]string{testUserPoolLogin: revokedToken}
	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	revoke(fleet.OriginJTI, "pool-refresh-revoked")
	_, err = client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID), Logins: logins})
	notAuthorized(t, err, "has been revoked")
	_, err = client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
	notAuthorized(t, err, "has been revoked")
	// The same user with another refresh token's tokens.
	fresh := map[string]string{testUserPoolLogin: idp.IDToken(t, map[string]any{"origin_jti": "pool-refresh-kept"})}
	if _, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: fresh}); err != nil {
		t.Errorf("another token of the user: %v", err)
	}

	guest, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	revoke(fleet.IdentityID, *guest.IdentityId)
	_, err = client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: guest.IdentityId})
	notAuthorized(t, err, "Access to Identity '"+*guest.IdentityId+"' is forbidden.")
	// Another guest still gets credentials.
	if other, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)}); err != nil {
		t.Fatal(err)
	} else if _, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: other.IdentityId}); err != nil {
		t.Errorf("another guest: %v", err)
	}
}
