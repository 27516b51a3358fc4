// Package testidp is an identity provider for tests: an RSA key, its JWKS served over HTTP on
// loopback, and a token signer written from the JWS specification, independent of the JWT library
// the verifier uses.
package testidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Subject is the `sub` of the tokens AccessToken and IDToken make.
const Subject = "3f2b6c1e-1111-4a5b-9c8d-000000000001"

// IdP is a test identity provider.
type IdP struct {
	// Server serves the JWKS at JWKSURL. Close it to simulate an outage.
	Server *httptest.Server
	// Issuer is the `iss` of its tokens; JWKSURL where its keys are.
	Issuer, JWKSURL string
	// ClientID is the app client its tokens are issued to.
	ClientID string
	// KID is the key id of its signing key.
	KID string

	key *rsa.PrivateKey
}

// New starts an IdP whose server stops at the end of the test.
func New(t testing.TB) *IdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{key: key, KID: "test-key-1", ClientID: "client-1"}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pool/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": p.KID, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(p.Server.Close)
	p.Issuer = p.Server.URL + "/pool"
	p.JWKSURL = p.Issuer + "/.well-known/jwks.json"
	return p
}

// AccessToken is a Cognito-shaped access token for ClientID, valid for an hour, with extra claims
// merged in (a nil value deletes a claim).
func (p *IdP) AccessToken(t testing.TB, extra map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	return p.Sign(t, merge(map[string]any{
		"sub": Subject, "iss": p.Issuer, "client_id": p.ClientID, "token_use": "access",
		"scope": "orders/read orders/write", "auth_time": now, "iat": now, "exp": now + 3600, "jti": "jti-1",
		"username": "alice@example.com", "cognito:groups": []string{"admins", "ops"},
	}, extra))
}

// IDToken is a Cognito-shaped ID token for ClientID, valid for an hour, with extra claims merged in.
func (p *IdP) IDToken(t testing.TB, extra map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	return p.Sign(t, merge(map[string]any{
		"sub": Subject, "iss": p.Issuer, "aud": p.ClientID, "token_use": "id", "auth_time": now,
		"iat": now, "exp": now + 3600, "cognito:username": "alice@example.com", "email": "alice@example.com",
		"email_verified": true, "cognito:groups": []string{"admins", "ops"},
	}, extra))
}

// Sign signs claims with the IdP's key under the header {"alg":"RS256","kid":KID}.
func (p *IdP) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return p.SignWithHeader(t, map[string]any{"alg": "RS256", "kid": p.KID}, claims)
}

// SignWithHeader signs claims with the IdP's RSA key (RS256), whatever the header says.
func (p *IdP) SignWithHeader(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func merge(base, extra map[string]any) map[string]any {
	for k, v := range extra {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return base
}
