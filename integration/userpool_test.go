package integration

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A real user pool (cognito-local), real tokens, the real binary: what reaches the upstream on allow,
// and that nothing does on deny.
func TestUserPoolTokensEndToEnd(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	sub := pool.AddUser(t, "alice@example.com", "admins", "readers")
	tok := pool.SignIn(t, "alice@example.com")
	otherClient := pool.SignInWith(t, pool.AddClient(t, "not-accepted"), "alice@example.com")
	// cognito-local signs every pool's tokens with the same key: a token of another pool has a valid
	// signature and must be refused for its issuer alone.
	otherPool := newUserPool(t, emu)
	otherPool.AddUser(t, "mallory@example.com", "admins")
	foreign := otherPool.SignIn(t, "mallory@example.com")

	up := startUpstream(t)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	handle /access-only/* {
		cognito_authorizer {
			%s
			forward X-Cognito-Username X-Cognito-Client-Id
		}
		reverse_proxy %s
	}
	handle {
		cognito_authorizer {
			%s
			forward X-Cognito-Username X-Cognito-Client-Id
		}
		reverse_proxy %s
	}
}
`, pool.userPoolBlock(), up.Addr, pool.userPoolBlock("token_use any"), up.Addr))

	pub := rsaPublicKey(t, fetchJWKS(t, pool.JWKSURL)[0])
	_, accessClaims := verifyRS256(t, tok.Access, pub)
	_, idClaims := verifyRS256(t, tok.ID, pub)

	t.Run("allowed", func(t *testing.T) {
		tests := []struct {
			name, path, token, username string
		}{
			{name: "access token", path: "/orders/42", token: tok.Access, username: accessClaims["username"].(string)},
			{name: "id token", path: "/orders/42", token: tok.ID, username: idClaims["cognito:username"].(string)},
			{name: "access token where only access tokens are accepted", path: "/access-only/x", token: tok.Access, username: accessClaims["username"].(string)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := readEcho(t, srv.get(t, tt.path, http.Header{
					"Authorization":    {"Bearer " + tt.token},
					"X-Cognito-Sub":    {"spoofed-by-the-client"},
					"X_Cognito_Groups": {"spoofed-admins"},
				}))
				groups := strings.Split(e.Header.Get("X-Cognito-Groups"), ",")
				slices.Sort(groups)
				want := map[string]string{
					"X-Cognito-Sub":       sub,
					"X-Cognito-Username":  tt.username,
					"X-Cognito-Client-Id": pool.ClientID,
				}
				for h, v := range want {
					if got := e.Header.Get(h); got != v || v == "" {
						t.Errorf("upstream saw %s %q, want %q", h, got, v)
					}
				}
				if !slices.Equal(groups, []string{"admins", "readers"}) {
					t.Errorf("upstream saw X-Cognito-Groups %q, want admins and readers", e.Header.Get("X-Cognito-Groups"))
				}
				if _, ok := e.Header["X_cognito_groups"]; ok {
					t.Errorf("the client's X_Cognito_Groups reached the upstream")
				}
			})
		}
	})

	t.Run("denied", func(t *testing.T) {
		tampered := tamperPayload(t, tok.Access)
		tests := []struct {
			name, path, authorization, wantChallenge string
		}{
			{name: "no credentials", path: "/orders/42", wantChallenge: "Bearer"},
			{name: "not a JWT", path: "/orders/42", authorization: "Bearer not-a-jwt", wantChallenge: `Bearer error="invalid_token"`},
			{name: "tampered payload", path: "/orders/42", authorization: "Bearer " + tampered, wantChallenge: `Bearer error="invalid_token"`},
			{name: "token of an app client not accepted", path: "/orders/42", authorization: "Bearer " + otherClient.Access, wantChallenge: `Bearer error="invalid_token"`},
			{name: "token of another pool, same signing key", path: "/orders/42", authorization: "Bearer " + foreign.Access, wantChallenge: `Bearer error="invalid_token"`},
			{name: "id token where only access tokens are accepted", path: "/access-only/x", authorization: "Bearer " + tok.ID, wantChallenge: `Bearer error="invalid_token"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := up.Count()
				header := http.Header{}
				if tt.authorization != "" {
					header.Set("Authorization", tt.authorization)
				}
				resp := srv.get(t, tt.path, header)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", resp.StatusCode)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantChallenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, tt.wantChallenge)
				}
				if up.Count() != before {
					t.Errorf("a denied request reached the upstream")
				}
			})
		}
	})

	srv.assertLogsExclude(t, tok.Access, tok.ID, tok.Refresh, otherClient.Access, foreign.Access,
		signatureOf(tok.Access), signatureOf(foreign.Access))
}

// tamperPayload returns the token with one claim changed and the signature kept.
func tamperPayload(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload := decodeSegment(t, parts[1])
	forged := strings.Replace(payload, `"token_use":"access"`, `"token_use":"access","cognito:groups":["root"]`, 1)
	if forged == payload {
		t.Fatalf("the payload has no token_use claim to tamper with: %s", payload)
	}
	return parts[0] + "." + encodeSegment(forged) + "." + parts[2]
}

// signatureOf is the third part of a JWT: a secret too, as the logs must not hold a replayable part.
func signatureOf(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }
