package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// Assertion configures the signed identity assertion: a short-lived ES256 JWT of the caller's identity
// that the gateway adds to every allowed request, so an upstream can check that the identity came from
// the gateway rather than trust a header any client on its network could send. Its keys are kept in
// Caddy's storage and rotated daily, so every instance on shared storage signs with keys every instance
// publishes (with the `cognito` app's key_secret, they are derived from the secret instead, shared by
// every instance that shares it); the JWKS is served by the handler at JWKSPath.
//
// Claims: `iss`, `aud` (when configured), `iat`, `nbf`, `exp`, and the identity (upstream.Claims):
// `sub` (the user id), `kind`, `authenticated`, `username`, `groups`, `scopes`, `client_id`,
// `token_use`, `token_iss`, `identity_id`, `identity_pool_id`, `role_arn`, `principal_tags`,
// `login_providers`. Requests allowed anonymously carry no assertion.
type Assertion struct {
	// Header is the request header that carries the assertion upstream. Default: X-Cognito-Assertion.
	Header string `json:"header,omitempty"`

	// Issuer is the `iss` of assertions. Default: caddy-cognito.
	Issuer string `json:"issuer,omitempty"`

	// Audience, when set, is the `aud` of assertions: the upstream it is meant for.
	Audience string `json:"audience,omitempty"`

	// TTL is how long an assertion is valid (never past the caller's own credentials). Default: 60s; at
	// most 1h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// JWKSPath is the path at which the handler serves the assertion keys (a JWKS), without
	// authentication. Default: /.well-known/cognito-assertion/jwks.json.
	JWKSPath string `json:"jwks_path,omitempty"`
}

const (
	defaultAssertionHeader   = "X-Cognito-Assertion"
	defaultAssertionIssuer   = "caddy-cognito"
	defaultAssertionTTL      = time.Minute
	defaultAssertionJWKSPath = "/.well-known/cognito-assertion/jwks.json"
	maxAssertionTTL          = time.Hour
)

func (a *Assertion) validate() error {
	if a.Header != "" && !strings.HasPrefix(strings.ToLower(a.Header), "x-cognito-") {
		// Only X-Cognito-* headers are stripped from client requests: any other name could be spoofed.
		return fmt.Errorf("assertion header %q must start with X-Cognito-, the namespace removed from client requests", a.Header)
	}
	if a.TTL < 0 || time.Duration(a.TTL) > maxAssertionTTL {
		return fmt.Errorf("assertion ttl must be between 1s and 1h, not %s", time.Duration(a.TTL))
	}
	if a.JWKSPath != "" && !strings.HasPrefix(a.JWKSPath, "/") {
		return fmt.Errorf("assertion jwks_path %q must start with /", a.JWKSPath)
	}
	return nil
}

// assertionSigner signs assertions and serves their keys.
type assertionSigner struct {
	header, issuer, audience, jwksPath string
	ttl                                time.Duration
	keys                               *keyring.Ring
	now                                func() time.Time
	// generation tells this signer's assertions from those of the signers before it (see assertion).
	generation uint64
	// slot is the signer's assertionKey, boxed once: boxing it per request would allocate.
	slot any
}

// signerGenerations numbers signers as they are built.
var signerGenerations atomic.Uint64

// assertionKey is where a cached identity keeps its assertion: by what the claims depend on, not by
// signer. The identity cache outlives a reload, so a key per signer would add an entry to every cached
// identity on every reload, each holding its old signer and key ring alive.
type assertionKey struct {
	issuer, audience string
	ttl              time.Duration
}

func newAssertionSigner(ctx caddy.Context, a *Assertion) (*assertionSigner, error) {
	s := &assertionSigner{
		header: a.Header, issuer: a.Issuer, audience: a.Audience, jwksPath: a.JWKSPath,
		ttl: time.Duration(a.TTL), now: time.Now, generation: signerGenerations.Add(1),
	}
	if s.header == "" {
		s.header = defaultAssertionHeader
	}
	s.header = http.CanonicalHeaderKey(s.header)
	if s.issuer == "" {
		s.issuer = defaultAssertionIssuer
	}
	if s.ttl == 0 {
		s.ttl = defaultAssertionTTL
	}
	if s.jwksPath == "" {
		s.jwksPath = defaultAssertionJWKSPath
	}
	s.slot = assertionKey{s.issuer, s.audience, s.ttl}
	secret, err := keySecret(ctx)
	if err != nil {
		return nil, err
	}
	opts := keyring.Options{Retention: max(15*time.Minute, s.ttl), Logger: ctx.Logger()}
	var keys *keyring.Ring
	if secret != nil {
		keys, err = keyring.NewFromSecret("assertion", *secret, opts)
	} else {
		keys, err = keyring.New(ctx, ctx.Storage(), "assertion", opts)
	}
	if err != nil {
		return nil, fmt.Errorf("assertion keys: %w", err)
	}
	s.keys = keys
	return s, nil
}

// signed is one assertion, reused for the identity until refreshAt by the signer of generation.
type signed struct {
	token      string
	refreshAt  time.Time
	generation uint64
}

// assertion returns the assertion for id. Signing costs an ECDSA signature, so an assertion is reused
// for the same identity for half its lifetime, by the signer that signed it: after a reload (whose key
// secret may have changed) the new signer signs afresh.
func (s *assertionSigner) assertion(ctx context.Context, id *identity.Identity) (string, error) {
	key := s.slot
	if key == nil {
		key = assertionKey{s.issuer, s.audience, s.ttl}
	}
	slot := id.Memo(key, func() any { return new(atomic.Pointer[signed]) }).(*atomic.Pointer[signed])
	now := s.now()
	if cur := slot.Load(); cur != nil && cur.generation == s.generation && now.Before(cur.refreshAt) {
		return cur.token, nil
	}
	exp := now.Add(s.ttl)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(exp) {
		exp = id.ExpiresAt
	}
	if !exp.After(now) {
		return "", errors.New("signing an identity assertion: the credentials have expired")
	}
	b := jwt.NewBuilder().Issuer(s.issuer).IssuedAt(now).NotBefore(now).Expiration(exp)
	if s.audience != "" {
		b = b.Audience([]string{s.audience})
	}
	for name, v := range upstream.Claims(id) {
		b = b.Claim(name, v)
	}
	t, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("building an identity assertion: %w", err)
	}
	t.Options().Enable(jwt.FlattenAudience)
	token, err := s.keys.SignJWT(ctx, t)
	if err != nil {
		return "", fmt.Errorf("signing an identity assertion: %w", err)
	}
	slot.Store(&signed{token: token, refreshAt: now.Add(exp.Sub(now) / 2), generation: s.generation})
	return token, nil
}

// serveJWKS answers requests for the assertion keys; it reports whether r was one.
func (s *assertionSigner) serveJWKS(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != s.jwksPath || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.keys.JWKS(r.Context()))
	}
	return true
}
