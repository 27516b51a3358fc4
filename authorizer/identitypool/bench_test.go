package identitypool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

func BenchmarkGetCredentials(b *testing.B) {
	e := newTestEnv(b, nil)
	// The user pool's verifier with its verified-token cache, as the Caddy module configures it.
	cached := newTestEnvCached(b, userpool.NewTokenCache(0), nil)
	body := func(v any) []byte {
		data, _ := json.Marshal(v)
		return data
	}
	guestID := e.mustOK(b, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"]
	logins := map[string]string{testUserPoolName: e.userPool.token(b, "user-1", map[string]any{"cognito:groups": []any{"users"}})}
	authID := e.mustOK(b, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})["IdentityId"]
	cachedID := cached.mustOK(b, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})["IdentityId"]
	cases := []struct {
		name string
		env  *testEnv
		body []byte
	}{
		{"guest", e, body(map[string]any{"IdentityId": guestID})},
		{"login RS256 verified", e, body(map[string]any{"IdentityId": authID, "Logins": logins})},
		{"login cached", cached, body(map[string]any{"IdentityId": cachedID, "Logins": logins})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(c.body))
				r.Header.Set("Content-Type", jsonContentType)
				r.Header.Set("X-Amz-Target", targetPrefix+"GetCredentialsForIdentity")
				w := httptest.NewRecorder()
				c.env.pool.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

func BenchmarkOpenSessionToken(b *testing.B) {
	clock := newClock()
	k := newTestRing(b, nil, testPoolID, clock)
	tok, err := k.SealSession(context.Background(), typicalSession(clock))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.OpenSessionToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSigV4SignReference signs a request with a 1 KiB body with aws-sdk-go-v2's SigV4 signer: the
// work a SigV4 verification repeats, measured in the same run, so BenchmarkOpenSessionToken can be read
// against it on a machine of any speed.
func BenchmarkSigV4SignReference(b *testing.B) {
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: "ASIAEXAMPLEEXAMPLE23", SecretAccessKey: strings.Repeat("s", 40), SessionToken: "t"}
	body := strings.Repeat("x", 1024)
	sum := sha256.Sum256([]byte(body))
	payloadHash := hex.EncodeToString(sum[:])
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest(http.MethodPost, "https://api.example.com/orders/42", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := signer.SignHTTP(context.Background(), creds, r, payloadHash, "execute-api", "us-east-1", now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealSession(b *testing.B) {
	clock := newClock()
	k := newTestRing(b, nil, testPoolID, clock)
	s := typicalSession(clock)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SealSession(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
