package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	"github.com/caddyserver/certmagic"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// The identity pool served by the real binary, with logins from real cognito-local sign-ins, and
// credentials obtained by real clients: aws-sdk-go-v2, the AWS CLI, and the JavaScript SDK's
// fromCognitoIdentityPool. Each set of credentials is opened with the pool's key ring, read from the
// same storage as the binary's, to show which role, identity and tags it carries.

const (
	e2ePoolID    = "us-east-1:5b0e2a4c-7d1f-4e8a-9c3b-2f6d8e1a0b4c"
	e2eGuestRole = "arn:aws:iam::123456789012:role/e2e-guest"
	e2eUserRole  = "arn:aws:iam::123456789012:role/e2e-user"
	e2eAdminRole = "arn:aws:iam::123456789012:role/e2e-admin"
)

// identityPoolSite is a running binary serving an identity pool whose logins come from a cognito-local
// user pool with two users: alice in group admins, bob in group readers.
type identityPoolSite struct {
	srv      *caddyServer
	emu      *cognitoLocal
	pool     *userPool
	provider string // the login provider name of the user pool, as clients key Logins
	endpoint string // the pool's endpoint: <site>/identity

	aliceSub, bobSub string
	alice, bob       tokens
	// secretKeys are the secret keys of the credentials checked so far: no log may hold one.
	secretKeys []string
}

// assertLogsExclude checks that the binary logged none of the users' tokens nor any secret key issued.
// (Session tokens are not in the list: reverse_proxy's debug log prints the X-Amz-Security-Token
// header of the signed requests, as it prints every request header but Authorization.)
func (s *identityPoolSite) assertLogsExclude(t *testing.T, more ...string) {
	t.Helper()
	s.srv.assertLogsExclude(t, append(append([]string{s.alice.ID, s.alice.Access, s.bob.ID,
		signatureOf(s.alice.ID), signatureOf(s.bob.ID)}, s.secretKeys...), more...)...)
}

func startIdentityPoolSite(t *testing.T) *identityPoolSite {
	t.Helper()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	s := &identityPoolSite{emu: emu, pool: pool, provider: "cognito-idp.us-east-1.amazonaws.com/" + pool.ID}
	s.aliceSub = pool.AddUser(t, "alice@example.com", "admins")
	s.bobSub = pool.AddUser(t, "bob@example.com", "readers")
	s.alice, s.bob = pool.SignIn(t, "alice@example.com"), pool.SignIn(t, "bob@example.com")
	up := startUpstream(t)
	s.srv = startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_identity_pool /identity* %[1]s {
		login %[2]s {
			client_id %[3]s
			issuer %[4]s
			jwks_url %[5]s
		}
		authenticated_role %[6]s
		unauthenticated_role %[7]s
		role_mapping %[2]s rules {
			rule cognito:groups contains admins %[8]s
			ambiguous authenticated_role
		}
		principal_tag email email
	}
	cognito_authorizer {
		%[9]s
		identity_pool %[1]s
		allow_any_role
		forward all
	}
	reverse_proxy %[10]s
}
`, e2ePoolID, s.provider, pool.ClientID, pool.Issuer, pool.JWKSURL, e2eUserRole, e2eGuestRole, e2eAdminRole,
		pool.userPoolBlock(), up.Addr))
	s.endpoint = s.srv.BaseURL + "/identity"
	return s
}

// openSession opens a session token with a key ring on the binary's storage, as a verifier of another
// instance on the same storage would.
func (s *identityPoolSite) openSession(t *testing.T, token string) *identitypool.Session {
	t.Helper()
	storage := &certmagic.FileStorage{Path: filepath.Join(s.srv.dir, "storage")}
	keys, err := identitypool.NewKeyRing(t.Context(), storage, e2ePoolID, keyring.Options{Retention: 12 * time.Hour})
	if err != nil {
		t.Fatalf("loading the pool's keys from the binary's storage: %v", err)
	}
	session, err := keys.OpenSessionToken(t.Context(), token)
	if err != nil {
		t.Fatalf("opening the session token with the pool's keys: %v", err)
	}
	return session
}

// want is what credentials of one caller must carry.
type wantSession struct {
	role   string
	sub    string // "" for a guest
	email  string
	client string
}

// check opens the credentials' session token and compares it with the credentials and with want.
func (s *identityPoolSite) check(t *testing.T, identityID, accessKeyID, secret, token string, expires time.Time, want wantSession) {
	t.Helper()
	s.secretKeys = append(s.secretKeys, secret)
	session := s.openSession(t, token)
	if session.IdentityID != identityID || session.PoolID != e2ePoolID || session.AccessKeyID != accessKeyID ||
		session.SecretAccessKey != secret || !session.Expires.Equal(expires) {
		t.Errorf("session %v does not match the credentials of %s (%s, expiring %s)", session, identityID, accessKeyID, expires)
	}
	if !strings.HasPrefix(accessKeyID, "ASIA") || len(accessKeyID) != 20 || len(secret) != 40 {
		t.Errorf("credentials %s with a %d-character secret are not AWS-shaped", accessKeyID, len(secret))
	}
	if d := time.Until(expires); d < 55*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("credentials expire in %s, want 1h", d)
	}
	if session.RoleARN != want.role {
		t.Errorf("role %s, want %s", session.RoleARN, want.role)
	}
	if want.sub == "" {
		if len(session.LoginProviders) != 0 || len(session.PrincipalTags) != 0 {
			t.Errorf("guest session with logins %v and tags %v", session.LoginProviders, session.PrincipalTags)
		}
		return
	}
	wantTags := map[string]string{"username": want.sub, "client": s.pool.ClientID, "email": want.email}
	if !slices.Equal(session.LoginProviders, []string{s.provider}) || !maps.Equal(session.PrincipalTags, wantTags) {
		t.Errorf("session logins %v tags %v, want [%s] and %v", session.LoginProviders, session.PrincipalTags, s.provider, wantTags)
	}
}

// apiPath is a path of the API behind cognito_authorizer, which the tests call signed with the
// credentials they got.
const apiPath = "/orders/42"

// emptyPayloadHash is the SHA-256 of an empty body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// checkUpstream checks what the upstream learned of a request signed with the credentials of identityID.
func checkUpstream(t *testing.T, e echoedRequest, identityID string, want wantSession) {
	t.Helper()
	authType := "authenticated"
	if want.sub == "" {
		authType = "unauthenticated"
	}
	for name, v := range map[string]string{
		"X-Cognito-Identity-Id": identityID, "X-Cognito-Identity-Pool-Id": e2ePoolID,
		"X-Cognito-Role-Arn": want.role, "X-Cognito-Authentication-Type": authType,
	} {
		if got := e.Header.Get(name); got != v {
			t.Errorf("upstream saw %s %q, want %q", name, got, v)
		}
	}
}

// caller is who asks the identity pool for credentials, with the session it must get.
type caller struct {
	name   string
	logins map[string]string
	want   wantSession
}

// callers are the callers every client of the identity pool is tested with: a guest, and two users of
// the pool whose groups map to different roles.
func (s *identityPoolSite) callers() []caller {
	return []caller{
		{"guest", nil, wantSession{role: e2eGuestRole}},
		{"alice, in group admins", map[string]string{s.provider: s.alice.ID}, wantSession{role: e2eAdminRole, sub: s.aliceSub, email: "alice@example.com"}},
		{"bob, in group readers", map[string]string{s.provider: s.bob.ID}, wantSession{role: e2eUserRole, sub: s.bobSub, email: "bob@example.com"}},
	}
}

func (s *identityPoolSite) sdkClient() *cognitoidentity.Client {
	return cognitoidentity.New(cognitoidentity.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.endpoint),
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
		RetryMaxAttempts: 1,
	})
}

func TestIdentityPoolWithGoSDK(t *testing.T) {
	t.Parallel()
	s := startIdentityPoolSite(t)
	client := s.sdkClient()

	credentials := func(t *testing.T, logins map[string]string) (string, *cognitoidentity.GetCredentialsForIdentityOutput) {
		t.Helper()
		id, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(e2ePoolID), Logins: logins})
		if err != nil {
			t.Fatalf("GetId: %v", err)
		}
		out, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
		if err != nil {
			t.Fatalf("GetCredentialsForIdentity: %v", err)
		}
		return *id.IdentityId, out
	}
	identities := map[string]string{}
	for _, tt := range s.callers() {
		t.Run(tt.name, func(t *testing.T) {
			id, out := credentials(t, tt.logins)
			c := out.Credentials
			s.check(t, id, *c.AccessKeyId, *c.SecretKey, *c.SessionToken, *c.Expiration, tt.want)
			identities[tt.name] = id

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.BaseURL+apiPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
			if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, emptyPayloadHash, "execute-api", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			checkUpstream(t, readEcho(t, resp), id, tt.want)
		})
	}
	if len(identities) == 3 && (identities["guest"] == identities["alice, in group admins"] ||
		identities["alice, in group admins"] == identities["bob, in group readers"]) {
		t.Errorf("callers share an identity: %v", identities)
	}

	t.Run("a new sign-in keeps the identity", func(t *testing.T) {
		again := s.pool.SignIn(t, "alice@example.com")
		id, _ := credentials(t, map[string]string{s.provider: again.ID})
		if id != identities["alice, in group admins"] {
			t.Errorf("alice's second sign-in got identity %s, the first %s", id, identities["alice, in group admins"])
		}
	})

	t.Run("refused logins", func(t *testing.T) {
		// cognito-local signs every pool's tokens with one key: a token of another pool has a valid
		// signature and must be refused for its issuer alone.
		other := newUserPool(t, s.emu)
		other.AddUser(t, "mallory@example.com", "admins")
		foreign := other.SignIn(t, "mallory@example.com")
		otherClient := s.pool.SignInWith(t, s.pool.AddClient(t, "not-accepted"), "alice@example.com")
		tests := []struct {
			name   string
			logins map[string]string
		}{
			{"access token", map[string]string{s.provider: s.alice.Access}},
			{"ID token of an app client not accepted", map[string]string{s.provider: otherClient.ID}},
			{"ID token of another pool under this pool's name", map[string]string{s.provider: foreign.ID}},
			{"ID token under another provider name", map[string]string{"cognito-idp.us-east-1.amazonaws.com/" + other.ID: foreign.ID}},
			{"tampered ID token", map[string]string{s.provider: tamperGroups(t, s.bob.ID)}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(e2ePoolID), Logins: tt.logins})
				var apiErr interface{ ErrorCode() string }
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotAuthorizedException" {
					t.Errorf("GetId: %v, want NotAuthorizedException", err)
				}
			})
		}
		s.assertLogsExclude(t, foreign.ID, otherClient.ID, signatureOf(foreign.ID))
	})

	// The pool's refusals are logged with their reason (and never a token).
	s.srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["logger"] == "http.handlers.cognito_identity_pool" && e["level"] == "info" &&
			strings.Contains(toJSON(e), "Invalid login token")
	})
	s.assertLogsExclude(t)
}

// tamperGroups returns the token with the user put in group admins and the signature kept.
func tamperGroups(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload := decodeSegment(t, parts[1])
	forged := strings.Replace(payload, `"cognito:groups":["readers"]`, `"cognito:groups":["admins"]`, 1)
	if forged == payload {
		t.Fatalf("the payload has no cognito:groups claim to tamper with: %s", payload)
	}
	return parts[0] + "." + encodeSegment(forged) + "." + parts[2]
}

// awsIdentityCredentials is the JSON the AWS CLI prints for get-credentials-for-identity.
type awsIdentityCredentials struct {
	IdentityID  string `json:"IdentityId"`
	Credentials struct {
		AccessKeyID  string `json:"AccessKeyId"`
		SecretKey    string
		SessionToken string
		// Expiration is epoch seconds (AWS CLI v1) or an ISO 8601 time (v2).
		Expiration json.RawMessage
	}
}

// expires decodes Expiration in either form.
func (c awsIdentityCredentials) expires(t *testing.T) time.Time {
	t.Helper()
	var epoch float64
	if err := json.Unmarshal(c.Credentials.Expiration, &epoch); err == nil {
		return time.Unix(int64(epoch), 0)
	}
	var text string
	if err := json.Unmarshal(c.Credentials.Expiration, &text); err != nil {
		t.Fatalf("expiration %s is neither a number nor a string", c.Credentials.Expiration)
	}
	expires, err := time.Parse(time.RFC3339, text)
	if err != nil {
		t.Fatalf("expiration %q: %v", text, err)
	}
	return expires
}

func TestIdentityPoolWithAWSCLI(t *testing.T) {
	t.Parallel()
	s := startIdentityPoolSite(t)
	// Inputs go through --cli-input-json files, so that no token is on a command line.
	input := func(t *testing.T, v any) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "input.json")
		data, _ := json.Marshal(v)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return "file://" + path
	}
	aws := func(t *testing.T, op string, in any) cmdResult {
		t.Helper()
		return runAWS(t, nil, "cognito-identity", op, "--endpoint-url", s.endpoint, "--no-sign-request",
			"--region", "us-east-1", "--output", "json", "--cli-input-json", input(t, in))
	}
	for _, tt := range s.callers() {
		t.Run(tt.name, func(t *testing.T) {
			getID := map[string]any{"IdentityPoolId": e2ePoolID}
			getCredentials := map[string]any{}
			if tt.logins != nil {
				getID["Logins"], getCredentials["Logins"] = tt.logins, tt.logins
			}
			var id struct{ IdentityId string }
			if err := json.Unmarshal([]byte(aws(t, "get-id", getID).ok(t)), &id); err != nil || id.IdentityId == "" {
				t.Fatalf("get-id printed no identity id: %v", err)
			}
			getCredentials["IdentityId"] = id.IdentityId
			var out awsIdentityCredentials
			if err := json.Unmarshal([]byte(aws(t, "get-credentials-for-identity", getCredentials).ok(t)), &out); err != nil {
				t.Fatalf("decoding get-credentials-for-identity: %v", err)
			}
			expires := out.expires(t)
			if out.IdentityID != id.IdentityId {
				t.Errorf("credentials for %s, asked for %s", out.IdentityID, id.IdentityId)
			}
			c := out.Credentials
			s.check(t, id.IdentityId, c.AccessKeyID, c.SecretKey, c.SessionToken, expires, tt.want)

			// curl signs an API request with them, as a shell script would.
			echo := runCurl(t, "--fail", "--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", c.AccessKeyID+":"+c.SecretKey,
				"-H", "x-amz-security-token: "+c.SessionToken, s.srv.BaseURL+apiPath).ok(t)
			var e echoedRequest
			if err := json.Unmarshal([]byte(echo), &e); err != nil {
				t.Fatalf("the API's answer is not the upstream's echo: %v", err)
			}
			checkUpstream(t, e, id.IdentityId, tt.want)
		})
	}
	t.Run("a guest id with logins of a user is refused", func(t *testing.T) {
		var guest struct{ IdentityId string }
		if err := json.Unmarshal([]byte(aws(t, "get-id", map[string]any{"IdentityPoolId": e2ePoolID}).ok(t)), &guest); err != nil {
			t.Fatal(err)
		}
		r := aws(t, "get-credentials-for-identity", map[string]any{"IdentityId": guest.IdentityId, "Logins": map[string]string{s.provider: s.bob.ID}})
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException") {
			t.Errorf("get-credentials-for-identity: err %v, stderr %q; want NotAuthorizedException", r.Err, r.Stderr)
		}
	})
	t.Run("an unknown pool is not found", func(t *testing.T) {
		r := aws(t, "get-id", map[string]any{"IdentityPoolId": "us-east-1:00000000-0000-4000-8000-000000000000"})
		if r.Err == nil || !strings.Contains(r.Stderr, "ResourceNotFoundException") {
			t.Errorf("get-id: err %v, stderr %q; want ResourceNotFoundException", r.Err, r.Stderr)
		}
	})
	s.assertLogsExclude(t)
}

// jsCredentials is the output of js/cognito-identity-credentials.js.
type jsCredentials struct {
	IdentityID      string `json:"identityId"`
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	SessionToken    string `json:"sessionToken"`
	Expiration      int64  `json:"expiration"`
}

func TestIdentityPoolWithJSCredentialProvider(t *testing.T) {
	t.Parallel()
	s := startIdentityPoolSite(t)
	run := func(t *testing.T, logins map[string]string) cmdResult {
		t.Helper()
		spec, _ := json.Marshal(map[string]any{"endpoint": s.endpoint, "region": "us-east-1", "identityPoolId": e2ePoolID, "logins": logins})
		return runNode(t, string(spec), "cognito-identity-credentials.js")
	}
	for _, tt := range s.callers() {
		t.Run(tt.name, func(t *testing.T) {
			var c jsCredentials
			if err := json.Unmarshal([]byte(run(t, tt.logins).ok(t)), &c); err != nil {
				t.Fatalf("decoding the credentials: %v", err)
			}
			s.check(t, c.IdentityID, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, time.Unix(c.Expiration, 0), tt.want)

			// @smithy/signature-v4 signs an API request with them, as the SDK's clients do.
			spec, _ := json.Marshal(map[string]any{
				"signer": "smithy", "method": "GET", "url": s.srv.BaseURL + apiPath, "region": "us-east-1", "service": "execute-api",
				"credentials": map[string]string{"accessKeyId": c.AccessKeyID, "secretAccessKey": c.SecretAccessKey, "sessionToken": c.SessionToken},
			})
			var res signedResult
			if err := json.Unmarshal([]byte(runNode(t, string(spec), "signed-request.js").ok(t)), &res); err != nil {
				t.Fatalf("decoding signed-request.js's output: %v", err)
			}
			var e echoedRequest
			if res.Response.Status != http.StatusOK || json.Unmarshal([]byte(res.Response.Body), &e) != nil {
				t.Fatalf("signed request: status %d, %s", res.Response.Status, res.Response.Body)
			}
			checkUpstream(t, e, c.IdentityID, tt.want)
		})
	}
	t.Run("a tampered token is refused", func(t *testing.T) {
		r := run(t, map[string]string{s.provider: tamperGroups(t, s.bob.ID)})
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException: Invalid login token") {
			t.Errorf("err %v, stderr %q; want NotAuthorizedException", r.Err, r.Stderr)
		}
	})
	s.assertLogsExclude(t)
}
