package integration

// examples/userpool: user-pool tokens as bearer tokens.

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExampleUserPool(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	sub := pool.AddUser(t, "alice@example.com", "admins")
	otherClient := pool.AddClient(t, "not-accepted")
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("userpool", "Caddyfile"),
		"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_IDP_ENDPOINT="+emu.URL,
		"UPSTREAM="+up.Addr)
	client := func(t *testing.T, clientID string, extra ...string) cmdResult {
		t.Helper()
		return runGoClient(t, append([]string{"-flow", "jwt", "-api", srv.BaseURL + "/orders/42", "-client-id", clientID,
			"-username", "alice@example.com", "-user-pool-endpoint", emu.URL}, extra...)...)
	}

	t.Run("go client with an access token", func(t *testing.T) {
		e := decodeEcho(t, client(t, pool.ClientID).ok(t))
		// The default: the subject and the groups, nothing more.
		wantHeaders(t, e, map[string]string{"X-Cognito-Sub": sub, "X-Cognito-Groups": "admins", "X-Cognito-Client-Id": "", "X-Cognito-Context": ""})
	})
	t.Run("README commands", func(t *testing.T) {
		out := runReadme(t, examplePath("userpool", "README.md"), srv.BaseURL,
			"COGNITO_IDP_ENDPOINT="+emu.URL, "COGNITO_CLIENT_ID="+pool.ClientID).ok(t)
		// What the README says the upstream gets: the subject and the groups, and not the username.
		wantHeaders(t, decodeEcho(t, out), map[string]string{"X-Cognito-Sub": sub, "X-Cognito-Groups": "admins", "X-Cognito-Username": ""})
	})
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		wantRefused(t, client(t, pool.ClientID, "-token", "id"), up, before, "401") // token_use access
		wantRefused(t, client(t, otherClient), up, before, "401")
		resp := srv.get(t, "/orders/42", nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no token: %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// A refused token is not logged, nor the signature that would replay it.
		foreign := pool.SignInWith(t, otherClient, "alice@example.com").Access
		if resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + foreign}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token of another app client: %d, want 401", resp.StatusCode)
		}
		if up.Count() != before {
			t.Errorf("a refused request reached the upstream")
		}
		srv.assertLogsExclude(t, foreign, signatureOf(foreign))
	})
	t.Run("the lines its comments show, uncommented: only the group is let in, and the named headers are sent", func(t *testing.T) {
		text, err := os.ReadFile(examplePath("userpool", "Caddyfile"))
		if err != nil {
			t.Fatal(err)
		}
		caddyfile := string(text)
		for _, line := range []string{"groups admins", "forward X-Cognito-Username X-Cognito-Client-Id"} {
			commented := "\t\t# " + line + "\n"
			if !strings.Contains(caddyfile, commented) {
				t.Fatalf("examples/userpool/Caddyfile has no line %q", commented)
			}
			caddyfile = strings.Replace(caddyfile, commented, "\t\t"+line+"\n", 1)
		}
		path := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		pool.AddUser(t, "bob@example.com")
		srv := startExample(t, caddyBinary(t), path,
			"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_IDP_ENDPOINT="+emu.URL,
			"UPSTREAM="+up.Addr)
		for user, want := range map[string]int{"alice@example.com": http.StatusOK, "bob@example.com": http.StatusForbidden} {
			resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + pool.SignIn(t, user).Access}})
			if resp.StatusCode != want {
				t.Errorf("%s (admins: %v): %d, want %d", user, want == http.StatusOK, resp.StatusCode, want)
			}
			if resp.StatusCode != http.StatusOK {
				continue
			}
			e := readEcho(t, resp)
			wantHeaders(t, e, map[string]string{"X-Cognito-Sub": sub, "X-Cognito-Client-Id": pool.ClientID, "X-Cognito-Context": ""})
			if e.Header.Get("X-Cognito-Username") == "" {
				t.Error("the upstream got no X-Cognito-Username, which the forward line names")
			}
		}
	})
}
