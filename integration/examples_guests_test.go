package integration

// examples/guests: identity-pool guests, their requests signed with SigV4.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
)

func TestExampleGuests(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("guests", "Caddyfile"), "UPSTREAM="+up.Addr)
	guest := map[string]string{
		"X-Cognito-Identity-Pool-Id": guestsPoolID, "X-Cognito-Role-Arn": guestsRole,
		"X-Cognito-Authentication-Type": "unauthenticated",
	}

	t.Run("go client", func(t *testing.T) {
		e := decodeEcho(t, runGoClient(t, "-flow", "guest", "-api", srv.BaseURL+"/catalog/items", "-method", "POST",
			"-data", `{"q": "tea"}`, "-identity-pool-id", guestsPoolID).ok(t))
		wantHeaders(t, e, guest)
		if e.Method != "POST" || e.Body != `{"q": "tea"}` || !strings.HasPrefix(e.Header.Get("X-Cognito-Identity-Id"), "us-east-1:") {
			t.Errorf("upstream saw %s %q from identity %q, want the signed POST of a guest", e.Method, e.Body, e.Header.Get("X-Cognito-Identity-Id"))
		}
	})
	t.Run("js client", func(t *testing.T) {
		out := runJSClient(t, "guest", "API="+srv.BaseURL+"/catalog/items", "IDENTITY_POOL_ID="+guestsPoolID).ok(t)
		wantHeaders(t, decodeEcho(t, out), guest)
	})
	t.Run("README commands", func(t *testing.T) {
		wantHeaders(t, decodeEcho(t, runReadme(t, examplePath("guests", "README.md"), srv.BaseURL).ok(t)), guest)
	})
	creds := guestCredentials(t, srv.BaseURL+"/identity", guestsPoolID)
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		tests := []struct {
			name   string
			sign   bool
			alter  func(r *http.Request)
			status int
		}{
			{"unsigned", false, nil, http.StatusForbidden}, // MissingAuthenticationTokenException, as API Gateway
			{"body changed after signing", true, func(r *http.Request) {
				r.Body, r.ContentLength = http.NoBody, 0
			}, http.StatusForbidden},
			{"path changed after signing", true, func(r *http.Request) { r.URL.Path = "/admin/items" }, http.StatusForbidden},
			{"session token of another identity", true, func(r *http.Request) {
				r.Header.Set("X-Amz-Security-Token", guestCredentials(t, srv.BaseURL+"/identity", guestsPoolID).SessionToken)
			}, http.StatusForbidden},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.BaseURL+"/catalog/items", strings.NewReader(`{"q": "tea"}`))
				if err != nil {
					t.Fatal(err)
				}
				if tt.sign {
					signBody(t, req, `{"q": "tea"}`, creds)
				}
				if tt.alter != nil {
					tt.alter(req)
				}
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
			})
		}
		// What the guest role's policy does not allow: another method, and paths that a pattern with
		// wildcards for the API and stage (*/*/GET/catalog/*) would let through, since IAM's * also
		// matches slashes.
		for _, tt := range []struct{ method, path string }{
			{http.MethodDelete, "/catalog/items"},
			{http.MethodDelete, "/admin/GET/catalog/items"},
			{http.MethodGet, "/admin/GET/catalog/items"},
		} {
			t.Run("signed "+tt.method+" "+tt.path, func(t *testing.T) {
				wantAccessDenied(t, signedDo(t, tt.method, srv.BaseURL+tt.path, "", creds))
			})
		}
		if up.Count() != before {
			t.Errorf("a refused request reached the upstream")
		}
		t.Run("forged guest identity id", func(t *testing.T) {
			_, err := identityClient(srv.BaseURL+"/identity").GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{
				IdentityId: aws.String("us-east-1:3f2b8a4c-1d6e-4f7a-9b0c-5e8d2a1f6c3b"),
			})
			if err == nil {
				t.Error("credentials for an identity id the pool never issued")
			}
		})
	})
	srv.assertLogsExclude(t, creds.SecretAccessKey)
}
