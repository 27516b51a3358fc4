package caddymodule

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

const (
	fleetSecretA = "q7Vx2mKp9LwR4tYz8NcB3hJd6FgS1aQe"
	fleetSecretB = "Zr5Tn8Wq2Xc7Vb4Mk9Lp3Hs6Jd1Gf0Ay"
)

// keySecretOption is the cognito global option with the key secret read from the environment
// variable env.
func keySecretOption(env string) string {
	return "\tcognito {\n\t\tkey_secret {env." + env + "}\n\t}"
}

// guestCredentials gets a guest's credentials from the pool s serves, through GetId and
// GetCredentialsForIdentity.
func guestCredentials(t *testing.T, s poolServer) *types.Credentials {
	t.Helper()
	client, ctx := s.client(), t.Context()
	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testIdentityPoolID)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatal(err)
	}
	return out.Credentials
}

// signedStatus is the status of a GET of path on s signed with c.
func signedStatus(t *testing.T, s poolServer, c *types.Credentials) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/api/orders", nil)
	emptySum := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, emptySum, "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return doRequest(t, req).status
}

// Two instances with their own storage and one key_secret verify each other's credentials; with
// another secret, or none, they do not. The secret reaches no log.
func TestKeySecretSharesPoolKeysWithoutStorage(t *testing.T) {
	t.Setenv("TEST_COGNITO_SECRET_A", fleetSecretA)
	t.Setenv("TEST_COGNITO_SECRET_B", fleetSecretB)
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	idp := testidp.New(t)
	site := poolSite(idp, newEcho(t).URL, "unauthenticated_role "+guestRoleARN)

	start := func(global string) poolServer {
		t.Helper()
		s, err := loadPoolCaddy(t, t.TempDir(), global, site)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	issuer := start(keySecretOption("TEST_COGNITO_SECRET_A"))
	creds := guestCredentials(t, issuer)
	if status := signedStatus(t, issuer, creds); status != http.StatusOK {
		t.Fatalf("the issuing instance answers %d to its own credentials", status)
	}
	logs := []string{issuer.logText("")}
	if keys := storedKeys(t, issuer.dir); len(keys) > 0 {
		t.Fatalf("with a key secret, the pool stored keys: %v", keys)
	}

	cases := []struct {
		name, global string
		want         int
	}{
		{"same secret, other storage", keySecretOption("TEST_COGNITO_SECRET_A"), http.StatusOK},
		{"other secret", keySecretOption("TEST_COGNITO_SECRET_B"), http.StatusForbidden},
		{"no secret, other storage", "", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			verifier := start(tc.global)
			status := signedStatus(t, verifier, creds)
			logs = append(logs, verifier.logText(""))
			if status != tc.want && !(tc.want == http.StatusForbidden && status == http.StatusUnauthorized) {
				t.Fatalf("status %d, want %d", status, tc.want)
			}
		})
	}
	for _, log := range logs {
		if strings.Contains(log, fleetSecretA) || strings.Contains(log, fleetSecretB) {
			t.Fatal("a server log holds the key secret")
		}
	}
}

// A key secret Caddy would derive weak keys from is refused at start, with an error that names the
// option and not the secret.
func TestKeySecretRefusesWeakSecrets(t *testing.T) {
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	idp := testidp.New(t)
	site := poolSite(idp, newEcho(t).URL, "")
	t.Setenv("TEST_COGNITO_SECRET_A", fleetSecretA)
	cases := []struct {
		name, global, secret, want string
	}{
		{"short", "\tcognito {\n\t\tkey_secret s3cr3t-but-short-Xq9\n\t}", "s3cr3t-but-short-Xq9", "key_secret: key secret is too weak: 20 bytes, want at least 32"},
		{"repeated", "\tcognito {\n\t\tkey_secret abcdefgh1234abcdefgh1234abcdefgh1234\n\t}", "abcdefgh1234abcdefgh1234abcdefgh1234", "key_secret: key secret is too weak: it repeats a pattern"},
		{"unset variable", keySecretOption("TEST_COGNITO_SECRET_UNSET"), "",
			"key_secret is empty: {env.TEST_COGNITO_SECRET_UNSET} resolved to nothing (an unset variable, or a file that cannot be read)"},
		{"missing file", "\tcognito {\n\t\tkey_secret {file./nonexistent/cognito_key_secret}\n\t}", "",
			"key_secret is empty: {file./nonexistent/cognito_key_secret} resolved to nothing"},
		{"empty identity secret", "\tcognito {\n\t\tkey_secret {env.TEST_COGNITO_SECRET_A}\n\t\tidentity_secret {env.TEST_COGNITO_SECRET_UNSET}\n\t}", "",
			"identity_secret is empty: {env.TEST_COGNITO_SECRET_UNSET} resolved to nothing"},
		{"weak previous", "\tcognito {\n\t\tkey_secret {env.TEST_COGNITO_SECRET_A} s3cr3t-but-short-Xq9\n\t}", "s3cr3t-but-short-Xq9", "key_secret (previous): key secret is too weak"},
		{"rotation without an identity secret", "\tcognito {\n\t\tkey_secret {env.TEST_COGNITO_SECRET_A} " + fleetSecretB + "\n\t}", fleetSecretB, "a previous key secret is set without an identity secret"},
		{"identity secret alone", "\tcognito {\n\t\tidentity_secret {env.TEST_COGNITO_SECRET_A}\n\t}", "", "identity_secret is set without key_secret"},
		{"weak identity secret", "\tcognito {\n\t\tkey_secret {env.TEST_COGNITO_SECRET_A}\n\t\tidentity_secret s3cr3t-but-short-Xq9\n\t}", "s3cr3t-but-short-Xq9", "identity_secret: key secret is too weak"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := loadPoolCaddy(t, dir, tc.global, site)
			if err == nil {
				t.Fatal("Caddy started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			log, _ := os.ReadFile(s.serverLog)
			for _, text := range []string{err.Error(), string(log)} {
				if strings.Contains(text, fleetSecretA) || (tc.secret != "" && strings.Contains(text, tc.secret)) {
					t.Fatalf("the error or the log holds the secret: %s", text)
				}
			}
		})
	}
}

func TestCognitoGlobalOptionAdapts(t *testing.T) {
	adaptGlobal := func(global string) (map[string]json.RawMessage, error) {
		cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n"+global+"\n}\n:8080 {\n\trespond ok\n}\n"), nil)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Apps map[string]json.RawMessage `json:"apps"`
		}
		if err := json.Unmarshal(cfg, &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Apps, nil
	}
	apps, err := adaptGlobal("\tcognito {\n\t\tkey_secret {env.KEY} {env.KEY_PREVIOUS}\n\t\tidentity_secret {env.IDENTITY}\n\t}")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(apps["cognito"]), `{"key_secret":["{env.KEY}","{env.KEY_PREVIOUS}"],"identity_secret":"{env.IDENTITY}"}`; got != want {
		t.Fatalf("cognito app %s, want %s", got, want)
	}
	if apps, err := adaptGlobal("\tadmin off"); err != nil || apps["cognito"] != nil {
		t.Fatalf("without the option: cognito app %s, error %v", apps["cognito"], err)
	}

	refused := []struct{ name, global, want string }{
		{"three secrets", "\tcognito {\n\t\tkey_secret one two three-secret-text\n\t}", "key_secret takes a current secret and optionally a previous one"},
		{"no secret", "\tcognito {\n\t\tkey_secret\n\t}", "key_secret takes a current secret"},
		{"two identity secrets", "\tcognito {\n\t\tidentity_secret one three-secret-text\n\t}", "identity_secret takes one secret"},
		{"unknown option", "\tcognito {\n\t\tredis_url x\n\t}", `unrecognized cognito option "redis_url"`},
		{"argument", "\tcognito three-secret-text", "cognito takes no arguments, only a block"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptGlobal(tc.global)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "three-secret-text") {
				t.Fatalf("the error %q holds a secret", err)
			}
		})
	}
}

// storedKeys lists the key rings kept in the storage directory dir (under caddy-cognito/).
func storedKeys(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(filepath.Join(dir, "caddy-cognito"), func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && !e.IsDir() {
			keys = append(keys, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// With a key secret, instances on their own storage publish the same assertion keys, and store none.
func TestKeySecretSharesAssertionKeys(t *testing.T) {
	t.Setenv("TEST_COGNITO_SECRET_A", fleetSecretA)
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	site := `	cognito_authorizer {
		allow_anonymous
		assertion
	}
	respond ok`
	jwks := func(global string) (string, []string) {
		t.Helper()
		dir := t.TempDir()
		s, err := loadPoolCaddy(t, dir, global, site)
		if err != nil {
			t.Fatal(err)
		}
		res := do(t, "GET", s.base+"/.well-known/cognito-assertion/jwks.json", nil)
		if res.status != http.StatusOK || !strings.Contains(string(res.body), `"kty"`) {
			t.Fatalf("JWKS: status %d, %s", res.status, res.body)
		}
		return string(res.body), storedKeys(t, dir)
	}
	a, storedA := jwks(keySecretOption("TEST_COGNITO_SECRET_A"))
	b, storedB := jwks(keySecretOption("TEST_COGNITO_SECRET_A"))
	if a != b {
		t.Fatalf("two instances with one key secret publish different assertion keys:\n%s\n%s", a, b)
	}
	if len(storedA)+len(storedB) > 0 {
		t.Fatalf("with a key secret, assertion keys were stored: %v %v", storedA, storedB)
	}
	if c, stored := jwks(""); c == a || len(stored) == 0 {
		t.Fatalf("without a key secret, the assertion keys are the derived ones or not stored (%v)", stored)
	}
}
