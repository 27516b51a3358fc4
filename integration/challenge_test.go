package integration

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// TestChallengeNamesWhatTheRouteAccepts sends credentials a route does not accept, through the built
// binary, to a route of each shape: only a route that accepts bearer tokens challenges for one; a
// route that accepts only SigV4 answers a bearer token as API Gateway's IAM authorization does (403
// IncompleteSignatureException, a {"message"} body naming the header by its hash, no challenge); a
// route that accepts only anonymous callers advertises nothing.
func TestChallengeNamesWhatTheRouteAccepts(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	up := startUpstream(t)
	b := blocksFor(idp)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	%[1]s
	handle /sigv4/* {
		cognito_authorizer {
			identity_pool %[3]s
		}
		reverse_proxy %[4]s
	}
	handle /anonymous/* {
		cognito_authorizer {
			allow_anonymous
		}
		reverse_proxy %[4]s
	}
	handle /bearer/* {
		cognito_authorizer {
			%[2]s
		}
		reverse_proxy %[4]s
	}
	handle {
		cognito_authorizer {
			%[2]s
			identity_pool %[3]s
		}
		reverse_proxy %[4]s
	}
}
`, b.IdentityPool, b.UserPool, hardPoolID, up.Addr))
	token := idp.AccessToken(t, nil)
	hash := sha256.Sum256([]byte("Bearer " + token))
	notSigV4 := "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '" +
		base64.StdEncoding.EncodeToString(hash[:]) + "'."

	cases := []struct {
		name, path, authorization string
		status                    int
		challenge, errorType      string
		message                   string
	}{
		{"SigV4 only, bearer token", "/sigv4/x", "Bearer " + token, 403, "", "IncompleteSignatureException", notSigV4},
		{"SigV4 only, nothing", "/sigv4/x", "", 403, "", "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"anonymous only, bearer token", "/anonymous/x", "Bearer " + token, 403, "", "", "Forbidden"},
		{"bearer only, nothing", "/bearer/x", "", 401, "Bearer", "", "Unauthorized"},
		{"bearer only, bad token", "/bearer/x", "Bearer nope", 401, `Bearer error="invalid_token"`, "", "Unauthorized"},
		{"both, nothing", "/x", "", 401, "Bearer", "", "Unauthorized"},
		{"both, bad token", "/x", "Bearer nope", 401, `Bearer error="invalid_token"`, "", "Unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{}
			if tc.authorization != "" {
				header.Set("Authorization", tc.authorization)
			}
			e := send(t, newRequest(t, http.MethodGet, srv.BaseURL+tc.path, header, nil))
			var body struct{ Message string }
			if err := json.Unmarshal(e.body, &body); err != nil || e.status != tc.status || body.Message != tc.message {
				t.Fatalf("got %s; want %d with message %q", e, tc.status, tc.message)
			}
			if got := e.header.Values("WWW-Authenticate"); tc.challenge == "" && len(got) != 0 || tc.challenge != "" && (len(got) != 1 || got[0] != tc.challenge) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if got := e.header.Get("X-Amzn-ErrorType"); got != tc.errorType {
				t.Errorf("X-Amzn-ErrorType = %q, want %q", got, tc.errorType)
			}
		})
	}
}
