package integration

// Helpers of the hardening tests (confusion, faults, secrets, soak, replay): a site whose user pool is
// a test identity provider (internal/testidp: real RS256 tokens with any claims the test needs) and
// whose identity pool is served by the binary itself, and clients that get and use every kind of
// credential.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

const (
	// hardPoolID is the identity pool of the hardening sites.
	hardPoolID = "us-east-1:7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	// hardUserPoolID names the test IdP as a user pool (its issuer and JWKS URL are given explicitly).
	hardUserPoolID = "us-east-1_Hardening"
	hardGuestRole  = "arn:aws:iam::123456789012:role/hard-guest"
	hardUserRole   = "arn:aws:iam::123456789012:role/hard-user"
)

// hardProvider is the login provider name of the test IdP at the identity pool.
const hardProvider = "cognito-idp.us-east-1.amazonaws.com/" + hardUserPoolID

// idpBlocks are the Caddyfile blocks of a site trusting idp: the user_pool block of cognito_authorizer
// (access and ID tokens) and the cognito_identity_pool directive serving hardPoolID at /identity*.
type idpBlocks struct {
	UserPool, IdentityPool string
}

func blocksFor(idp *testidp.IdP) idpBlocks {
	return blocksForURLs(idp.Issuer, idp.JWKSURL, idp.ClientID)
}

func blocksForURLs(issuer, jwksURL, clientID string) idpBlocks {
	return idpBlocks{
		UserPool: fmt.Sprintf("user_pool %s {\n\t\t\tclient_id %s\n\t\t\ttoken_use any\n\t\t\tissuer %s\n\t\t\tjwks_url %s\n\t\t}",
			hardUserPoolID, clientID, issuer, jwksURL),
		IdentityPool: fmt.Sprintf(`cognito_identity_pool /identity* %s {
		login %s {
			client_id %s
			issuer %s
			jwks_url %s
		}
		authenticated_role %s
		unauthenticated_role %s
	}`, hardPoolID, hardProvider, clientID, issuer, jwksURL, hardUserRole, hardGuestRole),
	}
}

// fullSite is the Caddyfile of a site that serves the identity pool and accepts every kind of
// credential of idp in front of upstream, with extra lines put inside cognito_authorizer's
// identity_pool block and, before the authorizer, in the site.
func fullSite(idp *testidp.IdP, up *upstream, siteLines, identityPoolLines string) string {
	b := blocksFor(idp)
	return fmt.Sprintf(`{$SITE} {
	%s
	%s
	cognito_authorizer {
		%s
		identity_pool %s {
			%s
		}
		# These sites test the credentials, not what each role may do.
		allow_any_role
	}
	reverse_proxy %s
}
`, siteLines, b.IdentityPool, b.UserPool, hardPoolID, identityPoolLines, up.Addr)
}

// poolCredentials gets identity-pool credentials from the pool the binary serves at endpoint, with
// aws-sdk-go-v2's Cognito Identity client: a guest's when idToken is empty, else a user's.
func poolCredentials(t testing.TB, endpoint, idToken string) (string, aws.Credentials) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := cognitoidentity.New(cognitoidentity.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
		RetryMaxAttempts: 1,
	})
	var logins map[string]string
	if idToken != "" {
		logins = map[string]string{hardProvider: idToken}
	}
	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(hardPoolID), Logins: logins})
	if err != nil {
		t.Fatalf("GetId: %v", err)
	}
	out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
	if err != nil {
		t.Fatalf("GetCredentialsForIdentity: %v", err)
	}
	c := out.Credentials
	return *id.IdentityId, aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
}

// signedRequest is a request signed with creds in the Authorization header (aws-sdk-go-v2's signer),
// for execute-api in us-east-1.
func signedRequest(t testing.TB, creds aws.Credentials, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := signWith(creds, req, body); err != nil {
		t.Fatal(err)
	}
	return req
}

// signWith signs req, whose body is body, with creds (aws-sdk-go-v2's signer, execute-api, us-east-1).
func signWith(creds aws.Credentials, req *http.Request, body string) error {
	sum := sha256.Sum256([]byte(body))
	return v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now())
}

// presignedURL is url presigned with creds for method (X-Amz-Expires 300, body not signed: the
// verifier hashes an empty body).
func presignedURL(t testing.TB, creds aws.Credentials, method, url string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "300")
	req.URL.RawQuery = q.Encode()
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptyPayloadHash, "execute-api", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// signatureIn returns the 64-hex-digit signature of a signed request or presigned URL.
func signatureIn(t testing.TB, s string) string {
	t.Helper()
	for _, marker := range []string{"Signature=", "X-Amz-Signature="} {
		if i := strings.Index(s, marker); i >= 0 && len(s) >= i+len(marker)+64 {
			return s[i+len(marker) : i+len(marker)+64]
		}
	}
	t.Fatalf("no signature in %.80q", s)
	return ""
}

// exchange is one request and its answer, read whole (at most 4 MiB).
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// send sends req with a client of its own, failing the test on a transport error.
func send(t testing.TB, req *http.Request) exchange {
	t.Helper()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL.Path, err)
	}
	return exchange{status: resp.StatusCode, header: resp.Header, body: body}
}

// newRequest builds a request with header lines, failing the test on a bad URL.
func newRequest(t testing.TB, method, url string, header http.Header, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

// bearer is an Authorization header with a bearer token.
func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// statusOf is a short description of an exchange for failure messages.
func (e exchange) String() string {
	return strconv.Itoa(e.status) + " " + strings.TrimSpace(string(e.body[:min(len(e.body), 200)]))
}
