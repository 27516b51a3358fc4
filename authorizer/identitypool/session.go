package identitypool

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// Session is what a set of identity-pool credentials stands for. It travels sealed in the credentials'
// session token, so verifying a SigV4 request signed with them needs neither storage nor network.
type Session struct {
	// AccessKeyID is the credentials' access key id (`ASIA` and 16 characters).
	AccessKeyID string
	// SecretAccessKey is the credentials' secret, which the SigV4 verifier needs to check a signature.
	SecretAccessKey string
	// IdentityID is the identity the credentials were issued to, e.g. `us-east-1:0a1b...`.
	IdentityID string
	// PoolID is the identity pool that issued them.
	PoolID string
	// RoleARN is the role they were issued for.
	RoleARN string
	// PrincipalTags are the session tags (`aws:PrincipalTag/<key>`).
	PrincipalTags map[string]string
	// LoginProviders are the providers whose logins were presented; empty for guests.
	LoginProviders []string
	// AuthenticationProvider is API Gateway's `cognitoAuthenticationProvider` for the identity.
	AuthenticationProvider string
	// Expires is when the credentials expire (whole seconds).
	Expires time.Time

	// What revokes the credentials with the login they were issued for (see fleet.Revocations): the
	// login token's sub, origin_jti and iat (whole seconds). Empty for guests, and for tokens sealed
	// before they were recorded, which then only an identity id revocation refuses.
	LoginSubject   string
	LoginOriginJTI string
	LoginIssuedAt  time.Time
}

// Identity returns the caller identity the session stands for.
func (s *Session) Identity() *identity.Identity {
	return &identity.Identity{
		Kind:          identity.KindIdentityPool,
		Authenticated: len(s.LoginProviders) > 0,
		Subject:       s.IdentityID,
		Pool: &identity.PoolCredentials{
			IdentityID:             s.IdentityID,
			IdentityPoolID:         s.PoolID,
			RoleARN:                s.RoleARN,
			PrincipalTags:          s.PrincipalTags,
			LoginProviders:         s.LoginProviders,
			AuthenticationProvider: s.AuthenticationProvider,
			AccessKeyID:            s.AccessKeyID,
			LoginSubject:           s.LoginSubject,
		},
		ExpiresAt: s.Expires,
		OriginJTI: s.LoginOriginJTI,
		IssuedAt:  s.LoginIssuedAt,
	}
}

// String describes the session without its secret, so printing one cannot leak it.
func (s *Session) String() string {
	return fmt.Sprintf("identity-pool session %s for %s in %s as %s until %s", s.AccessKeyID, s.IdentityID,
		s.PoolID, s.RoleARN, s.Expires.UTC().Format(time.RFC3339))
}

// MarshalLogObject logs the session without its secret.
func (s *Session) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("access_key_id", s.AccessKeyID)
	enc.AddString("identity_id", s.IdentityID)
	enc.AddString("identity_pool_id", s.PoolID)
	enc.AddString("role_arn", s.RoleARN)
	enc.AddTime("expires", s.Expires)
	return nil
}

// Errors of OpenSessionToken and SealSession, comparable with errors.Is.
var (
	// ErrMalformedSessionToken means the token is not one this package seals (wrong encoding, size or version).
	ErrMalformedSessionToken = errors.New("malformed session token")
	// ErrInvalidSessionToken means the token fails authentication: tampered with, forged, or sealed for
	// another pool.
	ErrInvalidSessionToken = errors.New("invalid session token")
	// ErrUnknownSessionKey means the token names a key this pool does not have, even after asking storage.
	ErrUnknownSessionKey = errors.New("session token sealed with an unknown key")
	// ErrExpiredSessionToken means the credentials have expired.
	ErrExpiredSessionToken = errors.New("session token expired")
)

// Session token layout: base64url (no padding) of
//
//	version (1) | key id (8) | nonce (12) | AES-256-GCM(payload) | tag (16)
//
// with version, key id and the pool id authenticated as additional data (the pool id is not in the token:
// a token of another pool fails authentication). The payload is
//
//	expires (8, unix seconds, big-endian) | access key id | secret | identity id | role ARN |
//	auth provider | tag count | (key | value)... | login count | provider... |
//	login iat (8, unix seconds, big-endian) | login sub | login origin_jti
//
// where every string is a uvarint length and its bytes. The last three fields came later: a payload
// that ends after the providers (sealed by an earlier version) opens with them empty.
const (
	sessionVersion    = 1
	sessionHeaderSize = 1 + keyring.KeyIDSize
	// maxSessionTokenLen bounds the token read from a request before any decoding.
	maxSessionTokenLen = 8192
	maxSessionString   = 2048
	maxPrincipalTags   = 50
	maxLogins          = 10
)

var minSessionTokenLen = base64.RawURLEncoding.EncodedLen(1 + keyring.Overhead + 8)

// SealSession seals the session into a session token with the active key generation, rotating first if
// one is due. The session must belong to the ring's pool, have a 20-character access key id and a
// 40-character secret, and expire within the ring's Retention.
func (k *KeyRing) SealSession(ctx context.Context, s *Session) (string, error) {
	now := k.now()
	switch {
	case s.PoolID != k.poolID:
		return "", fmt.Errorf("sealing session: pool %q is not the key ring's %q", s.PoolID, k.poolID)
	case !s.Expires.After(now):
		return "", errors.New("sealing session: it has already expired")
	case s.Expires.Sub(now) > k.ring.Retention():
		return "", fmt.Errorf("sealing session: lifetime %s exceeds the key ring's maximum %s", s.Expires.Sub(now).Round(time.Second), k.ring.Retention())
	case len(s.SecretAccessKey) != 40 || len(s.AccessKeyID) != 20:
		return "", errors.New("sealing session: access key id must have 20 characters and secret 40")
	case len(s.PrincipalTags) > maxPrincipalTags:
		return "", fmt.Errorf("sealing session: %d principal tags, at most %d", len(s.PrincipalTags), maxPrincipalTags)
	case len(s.LoginProviders) > maxLogins:
		return "", fmt.Errorf("sealing session: %d login providers, at most %d", len(s.LoginProviders), maxLogins)
	}
	payload, err := encodeSession(s)
	if err != nil {
		return "", fmt.Errorf("sealing session: %w", err)
	}
	sealed, err := k.ring.Seal(ctx, []byte{sessionVersion}, payload, k.poolIDBytes)
	if err != nil {
		return "", fmt.Errorf("sealing session: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// OpenSessionToken opens a session token sealed by any instance sharing the pool's storage, and checks
// that it belongs to the pool and has not expired. A key id this instance does not know is looked up in
// storage again, at most once per RefetchInterval. Errors match ErrMalformedSessionToken,
// ErrInvalidSessionToken, ErrUnknownSessionKey or ErrExpiredSessionToken, and never contain the token.
func (k *KeyRing) OpenSessionToken(ctx context.Context, token string) (*Session, error) {
	if len(token) < minSessionTokenLen || len(token) > maxSessionTokenLen {
		return nil, fmt.Errorf("%w: %d characters", ErrMalformedSessionToken, len(token))
	}
	// Decode into a pooled buffer: decodeSession copies what it keeps.
	bp := k.tokenBufs.Get().(*[]byte)
	defer k.tokenBufs.Put(bp)
	buf := (*bp)[:base64.RawURLEncoding.DecodedLen(len(token))]
	n, err := base64.RawURLEncoding.Decode(buf, []byte(token))
	if err != nil || n != len(buf) {
		// A decoder skips CR and LF: a token with them decodes to fewer bytes than its length says,
		// maybe fewer than a sealed session has, and is not one this package sealed.
		return nil, fmt.Errorf("%w: not base64url", ErrMalformedSessionToken)
	}
	if buf[0] != sessionVersion {
		return nil, fmt.Errorf("%w: version %d", ErrMalformedSessionToken, buf[0])
	}
	payload, retires, err := k.ring.Open(ctx, buf, 1, k.poolIDBytes)
	switch {
	case errors.Is(err, keyring.ErrMalformed):
		return nil, fmt.Errorf("%w: too short", ErrMalformedSessionToken)
	case errors.Is(err, keyring.ErrUnknownKey):
		return nil, fmt.Errorf("%w: %s", ErrUnknownSessionKey, base64.RawURLEncoding.EncodeToString(buf[1:sessionHeaderSize]))
	case err != nil:
		return nil, fmt.Errorf("%w: authentication failed", ErrInvalidSessionToken)
	}
	s, err := decodeSession(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSessionToken, err)
	}
	s.PoolID = k.poolID
	if s.Expires.After(retires) {
		// Authentic, yet outlives its key: never sealed by this code.
		return nil, fmt.Errorf("%w: expiry beyond its key's lifetime", ErrInvalidSessionToken)
	}
	if !k.now().Before(s.Expires) {
		return nil, fmt.Errorf("%w at %s", ErrExpiredSessionToken, s.Expires.UTC().Format(time.RFC3339))
	}
	return s, nil
}

func encodeSession(s *Session) ([]byte, error) {
	strs := []string{s.AccessKeyID, s.SecretAccessKey, s.IdentityID, s.RoleARN, s.AuthenticationProvider}
	size := 8 + 2*binary.MaxVarintLen16
	for _, v := range strs {
		size += binary.MaxVarintLen16 + len(v)
	}
	for key, v := range s.PrincipalTags {
		size += 2*binary.MaxVarintLen16 + len(key) + len(v)
	}
	for _, p := range s.LoginProviders {
		size += binary.MaxVarintLen16 + len(p)
	}
	size += 8 + 2*binary.MaxVarintLen16 + len(s.LoginSubject) + len(s.LoginOriginJTI)
	b := make([]byte, 8, size)
	binary.BigEndian.PutUint64(b, uint64(s.Expires.Unix()))
	var err error
	put := func(v string) {
		if len(v) > maxSessionString && err == nil {
			err = fmt.Errorf("a session field has %d bytes, at most %d", len(v), maxSessionString)
		}
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	for _, v := range strs {
		put(v)
	}
	b = binary.AppendUvarint(b, uint64(len(s.PrincipalTags)))
	// Sorted, so equal sessions seal equal payloads.
	for _, key := range sortedKeys(s.PrincipalTags) {
		put(key)
		put(s.PrincipalTags[key])
	}
	b = binary.AppendUvarint(b, uint64(len(s.LoginProviders)))
	for _, p := range s.LoginProviders {
		put(p)
	}
	var iat int64
	if !s.LoginIssuedAt.IsZero() {
		iat = s.LoginIssuedAt.Unix()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(iat))
	put(s.LoginSubject)
	put(s.LoginOriginJTI)
	return b, err
}

// sessionReader reads the payload's fields out of one string, so every field is a substring of a single
// allocation.
type sessionReader struct {
	s   string
	err error
}

func (r *sessionReader) uvarint(limit int) int {
	if r.err != nil {
		return 0
	}
	n, size := 0, 0
	for shift := 0; ; shift += 7 {
		if size == len(r.s) || shift > 21 {
			r.err = errors.New("truncated or oversized length")
			return 0
		}
		c := r.s[size]
		size++
		n |= int(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if n > limit {
		r.err = fmt.Errorf("length %d exceeds %d", n, limit)
		return 0
	}
	r.s = r.s[size:]
	return n
}

func (r *sessionReader) string() string {
	n := r.uvarint(maxSessionString)
	if r.err != nil {
		return ""
	}
	if n > len(r.s) {
		r.err = errors.New("truncated field")
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

func decodeSession(payload []byte) (*Session, error) {
	if len(payload) < 8 {
		return nil, errors.New("truncated expiry")
	}
	expires := int64(binary.BigEndian.Uint64(payload))
	r := &sessionReader{s: string(payload[8:])}
	s := &Session{
		Expires:                time.Unix(expires, 0),
		AccessKeyID:            r.string(),
		SecretAccessKey:        r.string(),
		IdentityID:             r.string(),
		RoleARN:                r.string(),
		AuthenticationProvider: r.string(),
	}
	if n := r.uvarint(maxPrincipalTags); n > 0 {
		s.PrincipalTags = make(map[string]string, n)
		for range n {
			key := r.string()
			s.PrincipalTags[key] = r.string()
		}
	}
	if n := r.uvarint(maxLogins); n > 0 {
		s.LoginProviders = make([]string, n)
		for i := range s.LoginProviders {
			s.LoginProviders[i] = r.string()
		}
	}
	if r.err == nil && r.s != "" {
		// Sealed by a version that records the login.
		if len(r.s) < 8 {
			return nil, errors.New("truncated login iat")
		}
		if iat := int64(binary.BigEndian.Uint64([]byte(r.s[:8]))); iat != 0 {
			s.LoginIssuedAt = time.Unix(iat, 0)
		}
		r.s = r.s[8:]
		s.LoginSubject = r.string()
		s.LoginOriginJTI = r.string()
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.s != "" {
		return nil, errors.New("trailing bytes")
	}
	return s, nil
}
