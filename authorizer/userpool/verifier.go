// Package userpool verifies the JWTs of Amazon Cognito user pools and of generic OpenID Connect
// issuers, locally, against the issuers' published keys (JWKS).
//
// A Verifier trusts a fixed list of issuers and picks one by the token's exact iss; it never fetches a
// URL named by a token (jku, x5u and jwk headers are ignored) and refuses crit headers, JWE and any
// serialization but a 3-part compact JWS. Each issuer has an allow-list of public-key algorithms ("none"
// and HMAC are never accepted), accepted app clients (client_id of access tokens, aud of ID and OIDC
// tokens) and, for user pools, the accepted token_use. exp is required; nbf and iat are checked with a
// clock skew. Keys come from a KeySet that fetches and refreshes a JWKS in the background, and verified
// tokens may be remembered in a bounded TokenCache until they expire.
//
// CognitoIssuer and OIDCIssuer derive an issuer's defaults (its iss, JWKS URL or discovery, algorithms,
// token use) in one place, for every directive that trusts one; CheckURL is the one rule for a
// configured issuer or JWKS URL.
//
// The package keeps the name userpool although it verifies any OIDC issuer: a Cognito user pool is the
// issuer this gateway is built around, every Cognito-specific rule (token_use, client_id of access
// tokens, the pool-id form of the issuer) lives here, and "user pool" is the name AWS gives the
// JWT half of Cognito, next to the identity pool (package identitypool) that issues the SigV4
// credentials. A generic OIDC issuer is verified as a user pool without those rules.
package userpool

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Defaults and limits of Options.
const (
	DefaultClockSkew     = 60 * time.Second
	MaxClockSkew         = 10 * time.Minute
	DefaultMaxTokenBytes = 16 << 10
)

// Options tune a Verifier. Zero values take the defaults.
type Options struct {
	// ClockSkew is the tolerance on exp, nbf and iat; default 60s, at most 10m.
	ClockSkew time.Duration
	// MaxTokenBytes is the longest token accepted, checked before any parsing; default 16 KiB.
	MaxTokenBytes int
	// Cache, if set, remembers verified tokens; it may be shared with other verifiers.
	Cache *TokenCache
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier verifies tokens of a fixed set of issuers. It is safe for concurrent use.
type Verifier struct {
	issuers       map[string]*trustedIssuer
	skew          time.Duration
	maxTokenBytes int
	cache         *TokenCache
	now           func() time.Time
	lists         listTable // the groups and scopes its tokens share
}

// trustedIssuer is an Issuer as validated by NewVerifier.
type trustedIssuer struct {
	kind     identity.Kind
	issuer   string
	clients  []string
	tokenUse string
	algs     []string
	keys     *KeySet
	users    *UserCheck
}

// NewVerifier validates the issuers and options and returns a verifier for them.
func NewVerifier(issuers []Issuer, opts Options) (*Verifier, error) {
	if len(issuers) == 0 {
		return nil, errors.New("no issuer configured")
	}
	v := &Verifier{
		issuers:       make(map[string]*trustedIssuer, len(issuers)),
		skew:          opts.ClockSkew,
		maxTokenBytes: opts.MaxTokenBytes,
		cache:         opts.Cache,
		now:           opts.Now,
	}
	switch {
	case v.skew < 0 || v.skew > MaxClockSkew:
		return nil, fmt.Errorf("clock skew %v is outside 0..%v", v.skew, MaxClockSkew)
	case v.skew == 0:
		v.skew = DefaultClockSkew
	}
	switch {
	case v.maxTokenBytes < 0:
		return nil, fmt.Errorf("maximum token size %d is negative", v.maxTokenBytes)
	case v.maxTokenBytes == 0:
		v.maxTokenBytes = DefaultMaxTokenBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	for i, iss := range issuers {
		ti, err := trustIssuer(iss)
		if err != nil {
			return nil, fmt.Errorf("issuer %d (%s): %w", i, quote(iss.Issuer), err)
		}
		if _, dup := v.issuers[ti.issuer]; dup {
			return nil, fmt.Errorf("issuer %d (%s): configured twice", i, quote(iss.Issuer))
		}
		v.issuers[ti.issuer] = ti
	}
	return v, nil
}

func trustIssuer(iss Issuer) (*trustedIssuer, error) {
	if iss.Issuer == "" || strings.ContainsFunc(iss.Issuer, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("the issuer must be a non-empty string without spaces or control characters")
	}
	if iss.Keys == nil {
		return nil, errors.New("no key set")
	}
	if len(iss.ClientIDs) == 0 || slices.Contains(iss.ClientIDs, "") {
		return nil, errors.New("at least one client id (audience) is required, and none may be empty")
	}
	ti := &trustedIssuer{
		kind:     iss.Kind,
		issuer:   iss.Issuer,
		clients:  slices.Clone(iss.ClientIDs),
		tokenUse: iss.TokenUse,
		algs:     slices.Clone(iss.Algorithms),
		keys:     iss.Keys,
		users:    iss.UserCheck,
	}
	switch iss.Kind {
	case identity.KindUserPool:
		switch ti.tokenUse {
		case "":
			ti.tokenUse = TokenUseAccess
		case TokenUseAccess, TokenUseID, TokenUseAny:
		default:
			return nil, fmt.Errorf("token use %s is not access, id or any", quote(ti.tokenUse))
		}
	case identity.KindOIDC:
		if ti.tokenUse != "" {
			return nil, errors.New("token use applies to user pools only")
		}
		if ti.users != nil {
			return nil, errors.New("the user pool check applies to user pools only")
		}
	default:
		return nil, fmt.Errorf("kind %s is neither %s nor %s", quote(string(iss.Kind)), identity.KindUserPool, identity.KindOIDC)
	}
	if len(ti.algs) == 0 {
		ti.algs = []string{"RS256"}
	}
	if err := checkAlgorithms(ti.algs); err != nil {
		return nil, err
	}
	return ti, nil
}

// Verify checks token and returns the identity it proves. The identity may be shared with other
// callers and must not be modified. Errors wrap one of the package's sentinel errors; ErrKeysUnavailable
// and ErrUserPoolUnavailable mean the token could not be judged (answer 503), every other error that
// it is not acceptable (401).
// ctx bounds the wait for a JWKS refetch that an unknown kid triggers.
func (v *Verifier) Verify(ctx context.Context, token string) (*identity.Identity, error) {
	if len(token) > v.maxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrTooLarge, len(token), v.maxTokenBytes)
	}
	var sum [32]byte
	if v.cache != nil {
		sum = tokenHash(token)
		if t := v.cache.get(&sum); t != nil {
			if ti := v.issuers[t.id.Issuer]; ti != nil && t.verifiedFor(ti) {
				if err := v.accept(ti, t); err != nil {
					return nil, err
				}
				return v.askPool(ctx, ti, t, token, &sum)
			}
		}
	}
	t, ti, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	err = v.accept(ti, t)
	// A token whose signature verified is cached even when this verifier refuses it (another client,
	// another token use): the checks run again on every hit, and a repeated refusal costs no signature
	// verification. Expired tokens stay out: no verifier would take them.
	if v.cache != nil && !errors.Is(err, ErrExpired) {
		v.cache.put(&sum, t)
	}
	if err != nil {
		return nil, err
	}
	if v.cache == nil {
		return v.askPool(ctx, ti, t, token, nil)
	}
	return v.askPool(ctx, ti, t, token, &sum)
}

// askPool returns t's identity once ti's user pool check, if any, accepts the token: access tokens
// only, GetUser taking nothing else. sum is the token's hash when Verify computed it, else nil.
func (v *Verifier) askPool(ctx context.Context, ti *trustedIssuer, t *verifiedToken, token string, sum *[32]byte) (*identity.Identity, error) {
	if ti.users == nil || t.tokenUse() != TokenUseAccess {
		return &t.id, nil
	}
	if sum == nil {
		h := tokenHash(token)
		sum = &h
	}
	if err := ti.users.check(ctx, *sum, token, t.notAfter()); err != nil {
		return nil, err
	}
	return &t.id, nil
}

// verifiedFor reports whether a cached token's verification holds for ti: same kind of issuer, same
// KeySet, and the key that verified it still in that KeySet.
func (t *verifiedToken) verifiedFor(ti *trustedIssuer) bool {
	if t.keys != ti.keys || t.id.Kind != ti.kind {
		return false
	}
	key, err := ti.keys.lookup(t.key.kid)
	return err == nil && key == t.key
}

// verify parses the token, picks its issuer and key, and verifies the signature.
func (v *Verifier) verify(ctx context.Context, token string) (*verifiedToken, *trustedIssuer, error) {
	header, payload, err := splitCompact(token)
	if err != nil {
		return nil, nil, err
	}
	hdr := jwsbb.HeaderParseCompact([]byte(header))
	alg, err := jwsbb.HeaderGetString(hdr, "alg")
	if err != nil {
		return nil, nil, headerError("alg", err)
	}
	kid, err := jwsbb.HeaderGetString(hdr, "kid")
	if err != nil {
		return nil, nil, headerError("kid", err)
	}
	if kid == "" {
		return nil, nil, fmt.Errorf("%w: header kid is empty", ErrMalformed)
	}
	for _, name := range []string{"crit", "b64"} {
		if jwsbb.HeaderHas(hdr, name) {
			return nil, nil, fmt.Errorf("%w: header %s is not supported", ErrMalformed, name)
		}
	}
	decoded, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	claims, err := decodeClaims(decoded)
	if err != nil {
		return nil, nil, err
	}
	iss, ok := claims["iss"].(string)
	if !ok {
		return nil, nil, fmt.Errorf("%w: iss claim missing or not a string", ErrMalformed)
	}
	ti := v.issuers[iss]
	if ti == nil {
		return nil, nil, fmt.Errorf("%w: %s is not a configured issuer", ErrUnknownIssuer, quote(iss))
	}
	jalg, kind, ok := signatureAlgorithm(alg)
	if !ok || !slices.Contains(ti.algs, alg) {
		return nil, nil, fmt.Errorf("%w: alg %s is not allowed for issuer %s", ErrAlgorithm, quote(alg), quote(iss))
	}
	key, err := ti.keys.key(ctx, kid)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer %s: %w", quote(iss), err)
	}
	if !key.allows(alg, kind) {
		return nil, nil, fmt.Errorf("%w: alg %s does not fit key %s of issuer %s", ErrAlgorithm, quote(alg), quote(kid), quote(iss))
	}
	if _, err := jws.VerifyCompactFast(key.raw, []byte(token), jalg); err != nil {
		return nil, nil, fmt.Errorf("%w: key %s of issuer %s", ErrSignature, quote(kid), quote(iss))
	}
	t, err := newVerifiedToken(ti.kind, claims, &v.lists)
	if err != nil {
		return nil, nil, err
	}
	t.keys, t.key = ti.keys, key
	t.setAlgorithm(alg)
	return t, ti, nil
}

// accept runs the checks that depend on the verifier's configuration and the time. They run on every
// use of a token, cached or not.
func (v *Verifier) accept(ti *trustedIssuer, t *verifiedToken) error {
	if !slices.Contains(ti.algs, t.algorithm()) {
		return fmt.Errorf("%w: alg %s is not allowed for issuer %s", ErrAlgorithm, quote(t.algorithm()), quote(ti.issuer))
	}
	switch ti.kind {
	case identity.KindUserPool:
		tokenUse := t.tokenUse()
		switch tokenUse {
		case TokenUseAccess, TokenUseID:
		case "":
			return fmt.Errorf("%w: token_use claim missing", ErrTokenUse)
		default:
			return fmt.Errorf("%w: token_use %s is neither access nor id", ErrTokenUse, quote(tokenUse))
		}
		if ti.tokenUse != TokenUseAny && tokenUse != ti.tokenUse {
			return fmt.Errorf("%w: %s token where %s tokens are required", ErrTokenUse, tokenUse, ti.tokenUse)
		}
		if tokenUse == TokenUseAccess {
			if !slices.Contains(ti.clients, t.clientID()) {
				return fmt.Errorf("%w: client_id %s is not an accepted client of issuer %s", ErrAudience, quote(t.clientID()), quote(ti.issuer))
			}
		} else if !containsAny(ti.clients, t.audience()) {
			return fmt.Errorf("%w: aud is not an accepted client of issuer %s", ErrAudience, quote(ti.issuer))
		}
	default:
		if !containsAny(ti.clients, t.audience()) {
			return fmt.Errorf("%w: aud is not an accepted audience of issuer %s", ErrAudience, quote(ti.issuer))
		}
	}
	now := v.now()
	if notAfter := t.notAfter(); !now.Before(notAfter.Add(v.skew)) {
		return fmt.Errorf("%w: exp %s is past (clock skew %v)", ErrExpired, notAfter.UTC().Format(time.RFC3339), v.skew)
	}
	if notBefore := t.notBefore(); !notBefore.IsZero() && now.Add(v.skew).Before(notBefore) {
		return fmt.Errorf("%w: nbf %s is ahead (clock skew %v)", ErrNotYetValid, notBefore.UTC().Format(time.RFC3339), v.skew)
	}
	if issuedAt := t.issuedAt(); !issuedAt.IsZero() && issuedAt.After(now.Add(v.skew)) {
		return fmt.Errorf("%w: iat %s is in the future (clock skew %v)", ErrNotYetValid, issuedAt.UTC().Format(time.RFC3339), v.skew)
	}
	return nil
}

// tokenHash is the cache key of a token: its SHA-256. The token's bytes are hashed in place (Sum256
// only reads them), sparing a copy of the token on every cached request.
func tokenHash(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

func containsAny(accepted, values []string) bool {
	for _, s := range values {
		if slices.Contains(accepted, s) {
			return true
		}
	}
	return false
}

// splitCompact checks that token is a compact JWS (three non-empty base64url segments) and returns its
// header and payload segments.
func splitCompact(token string) (header, payload string, err error) {
	if token == "" {
		return "", "", fmt.Errorf("%w: empty token", ErrMalformed)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return "", "", fmt.Errorf("%w: byte %d is not base64url", ErrMalformed, i)
		}
	}
	if dots != 2 {
		if dots == 4 {
			return "", "", fmt.Errorf("%w: 5 segments (an encrypted JWE), want a 3-segment signed JWS", ErrMalformed)
		}
		return "", "", fmt.Errorf("%w: %d segments, want 3", ErrMalformed, dots+1)
	}
	header, rest, _ := strings.Cut(token, ".")
	payload, signature, _ := strings.Cut(rest, ".")
	if header == "" || payload == "" || signature == "" {
		return "", "", fmt.Errorf("%w: empty segment", ErrMalformed)
	}
	for _, seg := range [...]struct{ name, s string }{{"header", header}, {"payload", payload}, {"signature", signature}} {
		if !canonicalBase64URL(seg.s) {
			return "", "", fmt.Errorf("%w: the %s is not canonical base64url", ErrMalformed, seg.name)
		}
	}
	return header, payload, nil
}

// canonicalBase64URL reports whether s, made of base64url characters without padding, is the one
// encoding of its bytes: a length that leaves no lone character, and zero padding bits in the last
// character. Decoders (Go's without Strict, jwx's) ignore those bits, so without this check each token
// has other spellings that verify alike, which defeats anything keyed on the token's text (caches,
// replay and revocation lists).
func canonicalBase64URL(s string) bool {
	var unused byte // the padding bits of the last character
	switch len(s) % 4 {
	case 0:
		return true
	case 1:
		return false
	case 2:
		unused = 0x0f
	case 3:
		unused = 0x03
	}
	return base64URLValue(s[len(s)-1])&unused == 0
}

// base64URLValue is the 6-bit value of a base64url character (splitCompact has checked the alphabet).
func base64URLValue(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	default: // '_'
		return 63
	}
}

func headerError(name string, err error) error {
	if errors.Is(err, jwsbb.ErrHeaderNotFound()) {
		return fmt.Errorf("%w: header %s missing", ErrMalformed, name)
	}
	return fmt.Errorf("%w: header is not base64url JSON with a string %s", ErrMalformed, name)
}
