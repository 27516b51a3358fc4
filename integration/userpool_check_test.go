package integration

// check_user_pool against real cognito-local: GetUser with the caller's access token, remembered for
// the interval.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// TestCheckUserPoolRefusesDeletedUsers: AdminDeleteUser on cognito-local, and the deleted user's
// still-valid access token is refused (401) once the check interval has passed, while another user's
// token is still accepted and the deleted user's ID token too (ID tokens are not asked about); with the pool stopped, a token the gateway has not checked yet is refused
// with 503 (when_unavailable refuse, the default) or let through on a route that allows it.
func TestCheckUserPoolRefusesDeletedUsers(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	pool.AddUser(t, "alice@example.com")
	pool.AddUser(t, "bob@example.com")
	pool.AddUser(t, "carol@example.com")
	alice, bob := pool.SignIn(t, "alice@example.com"), pool.SignIn(t, "bob@example.com")
	carol := pool.SignIn(t, "carol@example.com")
	up := startUpstream(t)
	const interval = 2 * time.Second
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	handle /open/* {
		cognito_authorizer {
			%s
		}
		reverse_proxy %s
	}
	handle /any/* {
		cognito_authorizer {
			%s
		}
		reverse_proxy %s
	}
	handle {
		cognito_authorizer {
			%s
		}
		reverse_proxy %s
	}
}
`, pool.userPoolBlock("check_user_pool 2s {\n\t\twhen_unavailable allow\n\t}"), up.Addr,
		pool.userPoolBlock("token_use any", "check_user_pool 2s"), up.Addr,
		pool.userPoolBlock("check_user_pool 2s"), up.Addr))
	status := func(path, token string) int {
		t.Helper()
		resp := srv.get(t, path, http.Header{"Authorization": {"Bearer " + token}})
		return resp.StatusCode
	}
	for name, tok := range map[string]string{"alice": alice.Access, "bob": bob.Access} {
		if s := status("/orders", tok); s != http.StatusOK {
			t.Fatalf("%s before any deletion: %d, want 200", name, s)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := pool.client.AdminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(pool.ID), Username: aws.String("alice@example.com")}); err != nil {
		t.Fatalf("AdminDeleteUser: %v", err)
	}
	deleted := time.Now()
	// The token still verifies on its own: its signature and times are those of a valid token.
	// Within the interval the remembered answer stands; after it, the pool says the user is gone.
	var refusedAfter time.Duration
	for {
		resp := srv.get(t, "/orders", http.Header{"Authorization": {"Bearer " + alice.Access}})
		if resp.StatusCode == http.StatusUnauthorized {
			refusedAfter = time.Since(deleted)
			if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate %q, want the invalid_token challenge", got)
			}
			break
		}
		if resp.StatusCode != http.StatusOK || time.Since(deleted) > interval+2*time.Second {
			t.Fatalf("the deleted user's token: %d %s after the deletion, want 200 then 401 within the %v interval",
				resp.StatusCode, time.Since(deleted), interval)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the deleted user's token was refused %v after AdminDeleteUser (interval %v)", refusedAfter.Round(time.Millisecond), interval)
	if s := status("/orders", bob.Access); s != http.StatusOK {
		t.Errorf("bob, not deleted: %d, want 200", s)
	}
	// ID tokens are not asked about (GetUser takes access tokens only): on a route that accepts both,
	// the deleted user's ID token still passes on its signature, and the access token does not.
	if s := status("/any/orders", alice.ID); s != http.StatusOK {
		t.Errorf("the deleted user's ID token with token_use any: %d, want 200 (not checked)", s)
	}
	if s := status("/any/orders", alice.Access); s != http.StatusUnauthorized {
		t.Errorf("the deleted user's access token with token_use any: %d, want 401", s)
	}
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["msg"] == "request denied" && e["rule"] == "user_revoked" && e["status"] == float64(401) &&
			strings.Contains(fmt.Sprint(e["reason"]), "UserNotFoundException")
	})

	// The pool goes away. Carol's token was never checked: refused with 503, or let through on the
	// route that allows an unavailable pool.
	emu.proc.stop()
	if s := status("/orders", carol.Access); s != http.StatusServiceUnavailable {
		t.Errorf("an unchecked token with the pool down: %d, want 503", s)
	}
	if s := status("/open/orders", carol.Access); s != http.StatusOK {
		t.Errorf("an unchecked token with the pool down, when_unavailable allow: %d, want 200", s)
	}
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["msg"] == "request denied" && e["rule"] == "user_pool_unavailable" && e["status"] == float64(503)
	})
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return strings.HasPrefix(fmt.Sprint(e["msg"]), "user pool check failed: token accepted")
	})
	metrics := send(t, newRequest(t, http.MethodGet, srv.AdminURL+"/metrics", nil, nil))
	for _, want := range []string{
		`caddy_cognito_decisions_total{outcome="deny",reason="user_revoked"}`,
		`caddy_cognito_decisions_total{outcome="deny",reason="user_pool_unavailable"}`,
	} {
		if !strings.Contains(string(metrics.body), want) {
			t.Errorf("/metrics has no %s:\n%s", want, grepLines(string(metrics.body), "decisions_total"))
		}
	}
	srv.assertLogsExclude(t, alice.Access, bob.Access, carol.Access)
}
