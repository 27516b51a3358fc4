package identitypool

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// typicalSession is what a user-pool login with default tags and one custom tag gets.
func typicalSession(clock *testClock) *Session {
	return &Session{
		AccessKeyID:     newAccessKeyID(),
		SecretAccessKey: newSecretAccessKey(),
		IdentityID:      "us-east-1:3f2a1b4c-5d6e-8f70-8123-456789abcdef",
		PoolID:          testPoolID,
		RoleARN:         "arn:aws:iam::123456789012:role/cognito/OrdersReadWrite",
		PrincipalTags: map[string]string{
			"username": "7d8e9f10-1112-4131-8415-161718191a1b",
			"client":   "4nq9p1b2c3d4e5f6g7h8i9j0k1",
			"tenant":   "tenant-0042",
		},
		LoginProviders: []string{testUserPoolName},
		AuthenticationProvider: testUserPoolName + "," + testUserPoolName +
			":CognitoSignIn:7d8e9f10-1112-4131-8415-161718191a1b",
		Expires:        time.Unix(clock.Now().Add(time.Hour).Unix(), 0),
		LoginSubject:   "7d8e9f10-1112-4131-8415-161718191a1b",
		LoginOriginJTI: "5a1b2c3d-4e5f-4061-8273-8495a6b7c8d9",
		LoginIssuedAt:  time.Unix(clock.Now().Add(-time.Minute).Unix(), 0),
	}
}

// A payload sealed before the login was recorded (it ends after the providers) opens, with the login
// fields empty; one cut inside them is refused.
func TestDecodeSessionWithoutLogin(t *testing.T) {
	t.Parallel()
	s := typicalSession(newClock())
	s.LoginSubject, s.LoginOriginJTI, s.LoginIssuedAt = "", "", time.Time{}
	current, err := encodeSession(s)
	must(t, err)
	old := current[:len(current)-8-1-1] // the iat and two empty strings
	got, err := decodeSession(old)
	must(t, err)
	got.PoolID = s.PoolID
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("opened %+v\nwant   %+v", *got, *s)
	}
	if id := got.Identity(); id.Pool.LoginSubject != "" || id.OriginJTI != "" || !id.IssuedAt.IsZero() {
		t.Fatalf("an old session's identity has login fields %+v", id)
	}
	for cut := 1; cut < 8+1+1; cut++ {
		if _, err := decodeSession(current[:len(current)-cut]); err == nil {
			t.Fatalf("a payload cut %d bytes inside the login fields was accepted", cut)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, testPoolID, clock)
	guest := &Session{AccessKeyID: newAccessKeyID(), SecretAccessKey: newSecretAccessKey(), IdentityID: k.newGuestIdentityID(),
		PoolID: testPoolID, RoleARN: unauthRole, Expires: time.Unix(clock.Now().Add(15*time.Minute).Unix(), 0)}
	tests := []struct {
		name string
		s    *Session
	}{
		{"typical authenticated", typicalSession(clock)},
		{"guest", guest},
		{"unicode tag value", func() *Session { s := typicalSession(clock); s.PrincipalTags["name"] = "Zoë Ünal"; return s }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := k.SealSession(t.Context(), tt.s)
			must(t, err)
			if strings.Contains(tok, tt.s.SecretAccessKey) {
				t.Fatal("the secret is visible in the token")
			}
			got, err := k.OpenSessionToken(t.Context(), tok)
			must(t, err)
			if !reflect.DeepEqual(got, tt.s) {
				t.Fatalf("opened %+v\nwant   %+v", *got, *tt.s)
			}
		})
	}
}

func TestSessionTokenSize(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, testPoolID, clock)
	tok, err := k.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	if len(tok) >= 1024 {
		t.Fatalf("typical session token has %d bytes, want under 1 KiB", len(tok))
	}
	t.Logf("typical session token: %d bytes", len(tok))
}

func TestSealRefuses(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, testPoolID, clock)
	tests := []struct {
		name string
		edit func(*Session)
	}{
		{"other pool", func(s *Session) { s.PoolID = otherPoolID }},
		{"expired", func(s *Session) { s.Expires = clock.Now().Add(-time.Second) }},
		{"longer than the maximum TTL", func(s *Session) { s.Expires = clock.Now().Add(12*time.Hour + time.Minute) }},
		{"short secret", func(s *Session) { s.SecretAccessKey = "abc" }},
		{"51 tags", func(s *Session) {
			for i := range 48 {
				s.PrincipalTags[fmt.Sprint("t", i)] = "v"
			}
		}},
		{"huge role", func(s *Session) { s.RoleARN = strings.Repeat("r", 3000) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := typicalSession(clock)
			tt.edit(s)
			if tok, err := k.SealSession(t.Context(), s); err == nil {
				t.Fatalf("sealed: %s", tok)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, testPoolID, clock)
	s := typicalSession(clock)
	tok, err := k.SealSession(t.Context(), s)
	must(t, err)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	must(t, err)
	reencode := func(edit func([]byte)) string {
		b := append([]byte(nil), raw...)
		edit(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	otherRing := newTestRing(t, nil, testPoolID, clock)
	fromOther, err := otherRing.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformedSessionToken},
		{"short", tok[:20], ErrMalformedSessionToken},
		{"huge", strings.Repeat("A", maxSessionTokenLen+1), ErrMalformedSessionToken},
		{"not base64url", strings.Repeat("*", len(tok)), ErrMalformedSessionToken},
		{"standard base64 padding", tok + "==", ErrMalformedSessionToken},
		{"unknown version", reencode(func(b []byte) { b[0] = 2 }), ErrMalformedSessionToken},
		{"unknown key id", reencode(func(b []byte) { b[1] ^= 1 }), ErrUnknownSessionKey},
		{"flipped nonce", reencode(func(b []byte) { b[sessionHeaderSize] ^= 1 }), ErrInvalidSessionToken},
		{"flipped ciphertext", reencode(func(b []byte) { b[len(b)/2] ^= 0x80 }), ErrInvalidSessionToken},
		{"flipped tag", reencode(func(b []byte) { b[len(b)-1] ^= 1 }), ErrInvalidSessionToken},
		{"truncated", base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), ErrInvalidSessionToken},
		{"sealed under other keys for the same pool id", fromOther, ErrUnknownSessionKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.OpenSessionToken(t.Context(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("open = %v, %v; want %v", got, err, tt.want)
			}
			if tt.token != "" && len(tt.token) > 16 && strings.Contains(err.Error(), tt.token[:16]) {
				t.Fatalf("error %q contains the token", err)
			}
		})
	}
}

// TestOpenEveryByteTampered changes each byte of a sealed token: nothing but the original opens.
func TestOpenEveryByteTampered(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, testPoolID, clock)
	tok, err := k.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		if s, err := k.OpenSessionToken(t.Context(), base64.RawURLEncoding.EncodeToString(b)); err == nil {
			t.Fatalf("byte %d changed: opened %v", i, s)
		}
	}
}

func TestOpenWrongPool(t *testing.T) {
	t.Parallel()
	// A storage document copied from one pool to another gives both the same keys; their tokens still
	// fail authentication in the other pool, whose id is part of the sealed data.
	clock := newClock()
	storage := keyring.NewMemoryStorage()
	k := newTestRing(t, storage, testPoolID, clock)
	const storageKey = "caddy-cognito/identity-pools/us-east-1_1cf667a2-49a6-454b-9e45-23199d2c39c4/keys.json"
	data, err := storage.Load(t.Context(), storageKey)
	must(t, err)
	var doc map[string]any
	must(t, json.Unmarshal(data, &doc))
	doc["pool_id"] = otherPoolID
	copied := keyring.NewMemoryStorage()
	otherKey := strings.ReplaceAll(storageKey, "1cf667a2-49a6-454b-9e45-23199d2c39c4", "00000000-1111-2222-3333-444444444444")
	data, _ = json.Marshal(doc)
	must(t, copied.Store(t.Context(), otherKey, data))
	other := newTestRing(t, copied, otherPoolID, clock)
	if !bytes.Equal(other.ring.JWKS(t.Context()), k.ring.JWKS(t.Context())) {
		t.Fatal("the copied document was not used")
	}
	tok, err := k.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	if _, err := other.OpenSessionToken(t.Context(), tok); !errors.Is(err, ErrInvalidSessionToken) {
		t.Fatalf("open by another pool = %v, want ErrInvalidSessionToken", err)
	}
}

func TestOpenExpired(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, testPoolID, clock)
	s := typicalSession(clock)
	tok, err := k.SealSession(t.Context(), s)
	must(t, err)
	tests := []struct {
		name    string
		advance time.Duration
		want    error
	}{
		{"one second before expiry", time.Hour - time.Second, nil},
		{"at expiry", time.Second, ErrExpiredSessionToken},
		{"long after", 5 * time.Hour, ErrExpiredSessionToken},
	}
	for _, tt := range tests { // sequential: they share the clock
		clock.Advance(tt.advance)
		if _, err := k.OpenSessionToken(t.Context(), tok); !errors.Is(err, tt.want) {
			t.Fatalf("%s: open = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestDecodeSessionGarbage(t *testing.T) {
	t.Parallel()
	// Authenticated garbage cannot happen without the key, but the decoder must still refuse it cleanly.
	clock := newClock()
	good, err := encodeSession(typicalSession(clock))
	must(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var b []byte
		switch i % 3 {
		case 0:
			b = make([]byte, rng.IntN(200))
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
		case 1:
			b = good[:rng.IntN(len(good))]
		case 2:
			b = append([]byte(nil), good...)
			b[8+rng.IntN(len(b)-8)] = 0xff
		}
		decodeSession(b) // must not panic
	}
	if _, err := decodeSession(append(good, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := decodeSession(good[:len(good)-1]); err == nil {
		t.Fatal("truncated payload accepted")
	}
}

func TestSessionNeverPrintsSecret(t *testing.T) {
	t.Parallel()
	s := typicalSession(newClock())
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("issued", zap.Object("session", s), zap.Stringer("s", s))
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %s", s, s, s), fmt.Sprint(logs.All()[0].ContextMap())} {
		if strings.Contains(out, s.SecretAccessKey) {
			t.Fatalf("secret printed: %s", out)
		}
		if !strings.Contains(out, s.AccessKeyID) {
			t.Fatalf("access key id missing from %s", out)
		}
	}
}

func TestSessionIdentity(t *testing.T) {
	t.Parallel()
	clock := newClock()
	s := typicalSession(clock)
	id := s.Identity()
	if id.Kind != identity.KindIdentityPool || !id.Authenticated || id.Pool.IdentityID != s.IdentityID ||
		id.Subject != s.IdentityID || id.UserID() != s.IdentityID || id.Pool.RoleARN != s.RoleARN ||
		id.Pool.IdentityPoolID != testPoolID || id.Pool.AccessKeyID != s.AccessKeyID || !id.ExpiresAt.Equal(s.Expires) ||
		id.Pool.PrincipalTags["tenant"] != "tenant-0042" || id.Pool.AuthenticationProvider != s.AuthenticationProvider {
		t.Fatalf("identity %+v does not reflect session %v", id, s)
	}
	s.LoginProviders = nil
	if s.Identity().Authenticated {
		t.Fatal("a guest session is authenticated")
	}
}

// TestOpenSessionTokenDoesNotTouchStorageForKnownKeys: verification needs no storage.
func TestOpenSessionTokenDoesNotTouchStorageForKnownKeys(t *testing.T) {
	t.Parallel()
	clock := newClock()
	fs := &flakyStorage{Storage: keyring.NewMemoryStorage()}
	k := newTestRing(t, fs, testPoolID, clock)
	tok, err := k.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	fs.fail.Store(true)
	loads := fs.loads.Load()
	clock.Advance(time.Minute)
	if _, err := k.OpenSessionToken(context.Background(), tok); err != nil {
		t.Fatalf("open with storage down: %v", err)
	}
	if n := fs.loads.Load() - loads; n != 0 {
		t.Fatalf("%d storage loads while opening a token of a known key", n)
	}
}
