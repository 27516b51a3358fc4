package authorizer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// TestChallengeNamesWhatTheRouteAccepts checks, for each shape of route, that a refusal advertises only
// the credentials the route accepts: a Bearer challenge where bearer tokens are accepted, API Gateway's
// IAM answers (403, an x-amzn-ErrorType, no challenge) where only SigV4 is, and no challenge at all
// where only anonymous callers are.
func TestChallengeNamesWhatTheRouteAccepts(t *testing.T) {
	keys, verifier := poolVerifier(t)
	idp := testidp.New(t)
	builtin := engine(t, "")
	creds := poolCredentials(t, keys, "ASIAAAAAAAAAAAAAAAA1", time.Now().Add(time.Hour))
	token := idp.AccessToken(t, nil)

	bearerOnly := newAuthorizer(t, idp, Config{})
	sigv4Only := New(Config{Signatures: verifier})
	both := newAuthorizer(t, idp, Config{Signatures: verifier})
	anonymousOnly := New(Config{AllowAnonymous: true})
	// A route requiring a group: the built-in policy refuses anonymous callers with 401.
	sigv4OrAnonymous := New(Config{Signatures: verifier, AllowAnonymous: true, Policy: builtin, Rules: rules(t, []string{"admins"}, nil)})
	anonymousWithRule := New(Config{AllowAnonymous: true, Policy: builtin, Rules: rules(t, []string{"admins"}, nil)})

	header := func(values ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest("GET", "http://api.example.com/x", nil)
			r.Header["Authorization"] = values
			if len(values) == 0 {
				delete(r.Header, "Authorization")
			}
			return r
		}
	}
	signed := func() *http.Request { return signedRequest(t, creds, "GET", "/x", "") }
	// API Gateway's answer to an Authorization header that is not SigV4, on a route with IAM
	// authorization: it names the header by its hash, never by its value.
	notSigV4 := func(value string) string {
		sum := sha256.Sum256([]byte(value))
		return "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '" +
			base64.StdEncoding.EncodeToString(sum[:]) + "'."
	}

	cases := []struct {
		name      string
		authz     *Authorizer
		req       func() *http.Request
		status    int
		code      string
		challenge string
		message   string
	}{
		{"bearer only: nothing", bearerOnly, header(), 401, "", "Bearer", "Unauthorized"},
		{"bearer only: bad token", bearerOnly, header("Bearer nope"), 401, "invalid_token", `Bearer error="invalid_token"`, "Unauthorized"},
		{"bearer only: basic", bearerOnly, header("Basic YTpi"), 401, "", "Bearer", "Unauthorized"},
		{"bearer only: SigV4", bearerOnly, signed, 401, "", "Bearer", "Unauthorized"},
		{"bearer only: two headers", bearerOnly, header("Bearer a", "Bearer b"), 400, "invalid_request", `Bearer error="invalid_request"`, "Bad Request"},

		{"SigV4 only: nothing", sigv4Only, header(), 403, "MissingAuthenticationTokenException", "", "Missing Authentication Token"},
		{"SigV4 only: bearer token", sigv4Only, header("Bearer " + token), 403, "IncompleteSignatureException", "", notSigV4("Bearer " + token)},
		{"SigV4 only: basic", sigv4Only, header("Basic YTpi"), 403, "IncompleteSignatureException", "", notSigV4("Basic YTpi")},
		{"SigV4 only: two headers", sigv4Only, header("Bearer a", "Bearer b"), 400, "BadRequestException", "", "Bad Request"},

		{"both: nothing", both, header(), 401, "", "Bearer", "Unauthorized"},
		{"both: bad token", both, header("Bearer nope"), 401, "invalid_token", `Bearer error="invalid_token"`, "Unauthorized"},
		{"both: basic", both, header("Basic YTpi"), 401, "", "Bearer", "Unauthorized"},

		{"anonymous only: bearer token", anonymousOnly, header("Bearer " + token), 403, "", "", "Forbidden"},
		{"anonymous only: basic", anonymousOnly, header("Basic YTpi"), 403, "", "", "Forbidden"},
		{"anonymous only: SigV4", anonymousOnly, signed, 403, "IncompleteSignatureException", "", "Forbidden"},
		{"anonymous only: refused by the policy", anonymousWithRule, header(), 403, "", "", "Forbidden"},

		{"SigV4 or anonymous: bearer token", sigv4OrAnonymous, header("Bearer " + token), 403, "IncompleteSignatureException", "", notSigV4("Bearer " + token)},
		{"SigV4 or anonymous: refused by the policy", sigv4OrAnonymous, header(), 403, "MissingAuthenticationTokenException", "", "Missing Authentication Token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.authz.Authorize(context.Background(), Request{HTTP: tc.req()})
			if d.Allow || d.Status != tc.status || d.Code != tc.code || d.Challenge != tc.challenge || d.Message != tc.message {
				t.Fatalf("allow=%v status=%d code=%q challenge=%q message=%q (reason %v);\nwant status=%d code=%q challenge=%q message=%q",
					d.Allow, d.Status, d.Code, d.Challenge, d.Message, d.Reason, tc.status, tc.code, tc.challenge, tc.message)
			}
			if tc.code != "" && tc.code[0] >= 'A' && tc.code[0] <= 'Z' && d.Scheme != SchemeSigV4 {
				t.Errorf("an API Gateway error type without the SigV4 scheme: %+v", d)
			}
		})
	}
}
