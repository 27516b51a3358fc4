package authorizer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

const testPoolID = "us-east-1:11111111-2222-3333-4444-555555555555"

// poolCredentials seals a session for a guest of testPoolID with the ring, as GetCredentialsForIdentity
// would, and returns the credentials a client receives.
func poolCredentials(t *testing.T, keys *identitypool.KeyRing, accessKeyID string, expires time.Time) aws.Credentials {
	t.Helper()
	secret := strings.Repeat("s", 40)
	token, err := keys.SealSession(context.Background(), &identitypool.Session{
		AccessKeyID: accessKeyID, SecretAccessKey: secret, IdentityID: "us-east-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
		PoolID: testPoolID, RoleARN: "arn:aws:iam::123456789012:role/Guest", Expires: expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secret, SessionToken: token}
}

// clock is the time of the key ring, the verifier and the signer in these tests.
var clock = time.Now()

func signedRequest(t *testing.T, creds aws.Credentials, method, target, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, "http://api.example.com"+target, strings.NewReader(body))
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", clock); err != nil {
		t.Fatal(err)
	}
	return r
}

// poolVerifier is a SigV4 verifier of testPoolID's credentials, on the test clock.
func poolVerifier(t *testing.T) (*identitypool.KeyRing, *sigv4.Verifier) {
	t.Helper()
	now := func() time.Time { return clock }
	keys, err := identitypool.NewKeyRing(context.Background(), keyring.NewMemoryStorage(), testPoolID, keyring.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigv4.NewVerifier(SessionCredentials(keys), sigv4.Options{Region: "us-east-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return keys, verifier
}

func TestAuthorizeSigV4(t *testing.T) {
	keys, verifier := poolVerifier(t)
	idp := testidp.New(t)
	withTokens := newAuthorizer(t, idp, Config{Signatures: verifier})
	onlySigV4 := New(Config{Signatures: verifier})
	onlyTokens := newAuthorizer(t, idp, Config{})
	withQueryToken := newAuthorizer(t, idp, Config{Signatures: verifier, TokenQuery: "access_token"})

	creds := poolCredentials(t, keys, "ASIAAAAAAAAAAAAAAAA1", time.Now().Add(time.Hour))
	other := poolCredentials(t, keys, "ASIAAAAAAAAAAAAAAAA2", time.Now().Add(time.Hour))
	expiring := poolCredentials(t, keys, "ASIAAAAAAAAAAAAAAAA3", clock.Add(time.Minute))

	t.Run("signed POST is allowed and the body still reaches the upstream", func(t *testing.T) {
		r := signedRequest(t, creds, "POST", "/orders?x=1", `{"item":42}`)
		d := withTokens.Authorize(context.Background(), Request{HTTP: r})
		if !d.Allow || d.Scheme != SchemeSigV4 {
			t.Fatalf("decision %+v", d)
		}
		if id := d.Identity; id.Kind != identity.KindIdentityPool || id.Pool.IdentityPoolID != testPoolID || id.Pool.AccessKeyID != creds.AccessKeyID || id.Authenticated {
			t.Errorf("identity %+v", id)
		}
		body, _ := io.ReadAll(r.Body)
		if string(body) != `{"item":42}` {
			t.Errorf("upstream body = %q", body)
		}
	})
	t.Run("one identity per set of credentials, refused once they expire", func(t *testing.T) {
		short := poolCredentials(t, keys, "ASIAAAAAAAAAAAAAAAA7", clock.Add(time.Minute))
		first := withTokens.Authorize(context.Background(), Request{HTTP: signedRequest(t, short, "GET", "/a", "")})
		second := withTokens.Authorize(context.Background(), Request{HTTP: signedRequest(t, short, "GET", "/b", "")})
		if !first.Allow || !second.Allow || first.Identity != second.Identity {
			t.Fatalf("two requests of one credential: allow %v/%v, same identity %v", first.Allow, second.Allow, first.Identity == second.Identity)
		}
		clock = clock.Add(2 * time.Minute)
		defer func() { clock = clock.Add(-2 * time.Minute) }()
		d := withTokens.Authorize(context.Background(), Request{HTTP: signedRequest(t, short, "GET", "/c", "")})
		if d.Allow || d.Code != "ExpiredTokenException" {
			t.Fatalf("remembered credential after its expiry: allow=%v code=%q", d.Allow, d.Code)
		}
	})
	t.Run("checked against the request as sent, decided on the rewritten path", func(t *testing.T) {
		sent := signedRequest(t, creds, "GET", "/api/orders", "")
		r := sent.Clone(context.Background())
		r.URL.Path, r.RequestURI = "/orders", "/orders"
		d := withTokens.Authorize(context.Background(), Request{HTTP: r, Sent: sent})
		if !d.Allow || d.Path != "/orders" {
			t.Fatalf("allow=%v path=%q reason=%v", d.Allow, d.Path, d.Reason)
		}
		if d := withTokens.Authorize(context.Background(), Request{HTTP: r}); d.Allow {
			t.Fatal("a signature over /api/orders verified for /orders")
		}
	})

	cases := []struct {
		name   string
		authz  *Authorizer
		req    func() *http.Request
		status int
		code   string
		reason error
	}{
		{"another credential's token", withTokens, func() *http.Request {
			mixed := creds
			mixed.SessionToken = other.SessionToken
			return signedRequest(t, mixed, "GET", "/x", "")
		}, 403, "UnrecognizedClientException", sigv4.ErrUnknownCredential},
		{"no session token", withTokens, func() *http.Request {
			bare := creds
			bare.SessionToken = ""
			return signedRequest(t, bare, "GET", "/x", "")
		}, 403, "UnrecognizedClientException", sigv4.ErrUnknownCredential},
		{"forged session token", withTokens, func() *http.Request {
			forged := creds
			forged.SessionToken = creds.SessionToken[:len(creds.SessionToken)-2] + "AA"
			return signedRequest(t, forged, "GET", "/x", "")
		}, 403, "UnrecognizedClientException", sigv4.ErrUnknownCredential},
		{"expired credentials", withTokens, func() *http.Request {
			clock = clock.Add(2 * time.Minute)
			t.Cleanup(func() { clock = clock.Add(-2 * time.Minute) })
			return signedRequest(t, expiring, "GET", "/x", "")
		}, 403, "ExpiredTokenException", sigv4.ErrExpiredCredential},
		{"tampered body", withTokens, func() *http.Request {
			r := signedRequest(t, creds, "POST", "/x", "a")
			r.Body = io.NopCloser(bytes.NewReader([]byte("b")))
			return r
		}, 403, "InvalidSignatureException", sigv4.ErrSignatureMismatch},
		{"signature and a query token", withQueryToken, func() *http.Request {
			return signedRequest(t, creds, "GET", "/x?access_token="+idp.AccessToken(t, nil), "")
		}, 400, "invalid_request", ErrAmbiguousCredentials},
		{"SigV4 where only tokens are accepted", onlyTokens, func() *http.Request { return signedRequest(t, creds, "GET", "/x", "") },
			401, "", nil},
		{"nothing where only SigV4 is accepted", onlySigV4, func() *http.Request { return httptest.NewRequest("GET", "/x", nil) },
			403, "MissingAuthenticationTokenException", ErrNoCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.authz.Authorize(context.Background(), Request{HTTP: tc.req()})
			if d.Allow || d.Status != tc.status || d.Code != tc.code {
				t.Fatalf("allow=%v status=%d code=%q reason=%v; want %d %q", d.Allow, d.Status, d.Code, d.Reason, tc.status, tc.code)
			}
			if tc.reason != nil && !errors.Is(d.Reason, tc.reason) {
				t.Errorf("reason %v, want %v", d.Reason, tc.reason)
			}
			if d.Reason != nil && strings.Contains(d.Reason.Error(), creds.SessionToken[:40]) {
				t.Errorf("reason holds the session token")
			}
		})
	}

	t.Run("presigned URL", func(t *testing.T) {
		r := httptest.NewRequest("GET", "http://api.example.com/report", nil)
		q := r.URL.Query()
		q.Set("X-Amz-Expires", "300")
		r.URL.RawQuery = q.Encode()
		url, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r,
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "execute-api", "us-east-1", clock)
		if err != nil {
			t.Fatal(err)
		}
		pr := httptest.NewRequest("GET", url, nil)
		if d := withTokens.Authorize(context.Background(), Request{HTTP: pr}); !d.Allow {
			t.Fatalf("presigned: %+v", d)
		}
		pr.Header.Set("Authorization", "Bearer "+idp.AccessToken(t, nil))
		if d := withTokens.Authorize(context.Background(), Request{HTTP: pr}); d.Allow || d.Status != 400 || !errors.Is(d.Reason, ErrAmbiguousCredentials) {
			t.Fatalf("presigned URL with a bearer token: allow=%v status=%d reason=%v", d.Allow, d.Status, d.Reason)
		}
	})
}
