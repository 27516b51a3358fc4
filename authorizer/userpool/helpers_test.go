package userpool

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

const (
	testIssuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123def"
	testClient = "7f3kd0example0client0id0a1"
)

// signingKey is a private key of the test identity provider with its public JWK.
type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// testKeys are generated once: RSA key generation is slow.
var testKeys = sync.OnceValue(func() map[string]*signingKey {
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa2, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaWeak, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]*signingKey{
		"rsa1":    {kid: "rsa-key-1", alg: "RS256", priv: rsa1},
		"rsa2":    {kid: "rsa-key-2", alg: "RS256", priv: rsa2},
		"weak":    {kid: "rsa-weak", alg: "RS256", priv: rsaWeak},
		"ec":      {kid: "ec-key-1", alg: "ES256", priv: ec},
		"ed25519": {kid: "ed-key-1", alg: "EdDSA", priv: ed},
	}
})

func key(name string) *signingKey { return testKeys()[name] }

// withKid returns a copy of k under another kid (the same key material).
func (k *signingKey) withKid(kid string) *signingKey {
	c := *k
	c.kid = kid
	return &c
}

// withAlg returns a copy of k that signs with, and is published for, alg.
func (k *signingKey) withAlg(alg string) *signingKey {
	c := *k
	c.alg = alg
	return &c
}

// jwk is the public JWK of k, written by hand so that the tests do not depend on the library under test.
func (k *signingKey) jwk() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": k.kid, "use": "sig"}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
		m["alg"] = k.alg
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes() // uncompressed point: 0x04 || X || Y
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(b[1:33]), b64(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	}
	return m
}

func jwksOf(keys ...*signingKey) []byte {
	set := make([]map[string]any, len(keys))
	for i, k := range keys {
		set[i] = k.jwk()
	}
	return mustJSON(map[string]any{"keys": set})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func b64json(v any) string { return base64.RawURLEncoding.EncodeToString(mustJSON(v)) }

// sign builds a compact JWS of claims with header fields hdr (alg and kid default to the key's),
// signing with alg from the merged header.
func (k *signingKey) sign(hdr map[string]any, claims any) string {
	h := map[string]any{"alg": k.alg, "kid": k.kid}
	for name, v := range hdr {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	input := b64json(h) + "." + b64json(claims)
	alg, _ := h["alg"].(string)
	return input + "." + base64.RawURLEncoding.EncodeToString(signWith(k.priv, alg, []byte(input)))
}

// signWith signs input with priv under alg, with the standard library only.
func signWith(priv crypto.Signer, alg string, input []byte) []byte {
	digest := func(h crypto.Hash) []byte {
		d := h.New()
		d.Write(input)
		return d.Sum(nil)
	}
	var sig []byte
	var err error
	switch alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, digest(crypto.SHA256))
	case "RS512":
		sig, err = rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA512, digest(crypto.SHA512))
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, digest(crypto.SHA256), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) // RFC 7518 3.5
	case "ES256":
		r, s, e := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), digest(crypto.SHA256))
		sig, err = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...), e
	case "EdDSA":
		sig = ed25519.Sign(priv.(ed25519.PrivateKey), input)
	default:
		panic("test signer: unsupported alg " + alg)
	}
	if err != nil {
		panic(err)
	}
	return sig
}

// hmacToken forges an HS256/HS512 token with secret as the MAC key (the alg-confusion attack).
func hmacToken(alg, kid string, secret []byte, claims any) string {
	input := b64json(map[string]any{"alg": alg, "kid": kid}) + "." + b64json(claims)
	h := sha256.New
	if alg == "HS512" {
		h = sha512.New
	}
	mac := hmac.New(h, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().Truncate(time.Second).UnixNano())
	return c
}

func (c *clock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)        { c.ns.Add(int64(d)) }
func (c *clock) unix(d time.Duration) int64 { return c.Now().Add(d).Unix() }

// idp is a JWKS endpoint whose answers the test sets, counting its requests.
type idp struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	h    http.HandlerFunc
}

func newIDP(t testing.TB, keys ...*signingKey) *idp {
	t.Helper()
	p := &idp{}
	p.serveKeys(keys...)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		h := p.h
		p.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) handle(h http.HandlerFunc) {
	p.mu.Lock()
	p.h = h
	p.mu.Unlock()
}

func (p *idp) serveKeys(keys ...*signingKey) { p.serveBody(http.StatusOK, jwksOf(keys...)) }

func (p *idp) serveBody(status int, body []byte) {
	p.handle(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})
}

// fixture is a verifier of one user pool served by an idp.
type fixture struct {
	idp      *idp
	keys     *KeySet
	verifier *Verifier
	clock    *clock
	logs     *observer.ObservedLogs
}

type fixtureConfig struct {
	keys     []*signingKey // served by the JWKS; default rsa1
	issuer   Issuer        // Keys filled in; Kind, Issuer and ClientIDs default to the test user pool
	keySet   KeySetConfig  // JWKSURL, Logger and Now filled in
	options  Options       // Now filled in
	noWait   bool          // do not wait for the first fetch
	clock    *clock
	setupIDP func(*idp)
}

func newFixture(t testing.TB, fc fixtureConfig) *fixture {
	t.Helper()
	if fc.keys == nil {
		fc.keys = []*signingKey{key("rsa1")}
	}
	f := &fixture{idp: newIDP(t, fc.keys...), clock: fc.clock}
	if f.clock == nil {
		f.clock = newClock()
	}
	if fc.setupIDP != nil {
		fc.setupIDP(f.idp)
	}
	core, logs := observer.New(zap.DebugLevel)
	f.logs = logs
	ksc := fc.keySet
	if ksc.JWKSURL == "" && ksc.Discovery == "" {
		ksc.JWKSURL = f.idp.URL + "/.well-known/jwks.json"
	}
	ksc.Logger, ksc.Now = zap.New(core), f.clock.Now
	ks, err := NewKeySet(ksc)
	if err != nil {
		t.Fatalf("NewKeySet: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	f.keys = ks
	iss := fc.issuer
	if iss.Kind == "" {
		iss.Kind = identity.KindUserPool
	}
	if iss.Issuer == "" {
		iss.Issuer = testIssuer
	}
	if iss.ClientIDs == nil {
		iss.ClientIDs = []string{testClient}
	}
	iss.Keys = ks
	opts := fc.options
	opts.Now = f.clock.Now
	if f.verifier, err = NewVerifier([]Issuer{iss}, opts); err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if !fc.noWait {
		waitFor(t, "the first JWKS fetch", ks.Ready)
	}
	return f
}

// waitFor polls cond until it holds, failing the test after 5s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// accessClaims are the claims of a Cognito access token, as Cognito issues them, valid at now.
func accessClaims(now time.Time) map[string]any {
	return map[string]any{
		"sub":            "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60",
		"cognito:groups": []any{"admins", "orders"},
		"iss":            testIssuer,
		"version":        2,
		"client_id":      testClient,
		"origin_jti":     "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
		"event_id":       "9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9",
		"token_use":      "access",
		"scope":          "aws.cognito.signin.user.admin openid orders/read",
		"auth_time":      now.Add(-5 * time.Minute).Unix(),
		"exp":            now.Add(55 * time.Minute).Unix(),
		"iat":            now.Add(-5 * time.Minute).Unix(),
		"jti":            "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6",
		"username":       "alice",
	}
}

// idClaims are the claims of a Cognito ID token, valid at now.
func idClaims(now time.Time) map[string]any {
	return map[string]any{
		"sub":              "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60",
		"cognito:groups":   []any{"admins"},
		"email_verified":   true,
		"iss":              testIssuer,
		"cognito:username": "alice",
		"origin_jti":       "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
		"aud":              testClient,
		"event_id":         "9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9",
		"token_use":        "id",
		"auth_time":        now.Add(-5 * time.Minute).Unix(),
		"exp":              now.Add(55 * time.Minute).Unix(),
		"iat":              now.Add(-5 * time.Minute).Unix(),
		"jti":              "2b3c4d5e-6f70-4b8c-9d0e-f1a2b3c4d5e6",
		"email":            "alice@example.com",
	}
}

// with returns a copy of claims with changes applied; a nil value deletes the claim.
func with(claims map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func verifyCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint("unexpected error: ", err))
	}
	return v
}
