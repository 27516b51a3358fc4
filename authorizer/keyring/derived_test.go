package keyring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

var (
	secretA = []byte("k3J9vQ2xLp7Rt0Wm5Zc8Hn4Yb1Ud6Fg-Sa")
	secretB = []byte("Qz8Lw2Nr5Tp0Xv7Km3Hc9Jd1Fb6Ys4Ug_Ea")
)

func newSecretRing(t testing.TB, secret Secret, clock *testClock) *Ring {
	t.Helper()
	k, err := NewFromSecret(testPoolID, secret, poolOpts(clock))
	must(t, err)
	return k
}

func TestSecretRingsInteroperate(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := newSecretRing(t, Secret{Current: secretA}, clock)
	b := newSecretRing(t, Secret{Current: secretA}, clock)
	sealed := seal(t, a, "credentials")
	if err := open(b, sealed); err != nil {
		t.Fatalf("a replica with the same secret cannot open: %v", err)
	}
	if !bytes.Equal(a.DeriveKey("identity"), b.DeriveKey("identity")) {
		t.Error("replicas with the same secret derive different root keys")
	}
	if !bytes.Equal(a.JWKS(t.Context()), b.JWKS(t.Context())) {
		t.Error("replicas with the same secret publish different JWKS")
	}
	token, err := jwt.NewBuilder().Subject("s").Build()
	must(t, err)
	signed, err := a.SignJWT(t.Context(), token)
	must(t, err)
	set, err := jwk.Parse(b.JWKS(t.Context()))
	must(t, err)
	if _, err := jwt.Parse([]byte(signed), jwt.WithKeySet(set)); err != nil {
		t.Errorf("a replica's JWKS does not verify what the other signed: %v", err)
	}

	other := newSecretRing(t, Secret{Current: secretB}, clock)
	if err := open(other, sealed); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a ring with another secret opened: %v, want ErrUnknownKey", err)
	}
	if bytes.Equal(a.DeriveKey("identity"), other.DeriveKey("identity")) {
		t.Error("different secrets derive the same root key")
	}
	// Another pool with the same secret has other keys.
	p, err := NewFromSecret(otherPoolID, Secret{Current: secretA}, poolOpts(clock))
	must(t, err)
	if err := open(p, sealed); !errors.Is(err, ErrInvalid) {
		t.Errorf("another pool's ring opened: %v, want ErrInvalid", err)
	}
}

func TestSecretRingKeyIDNamesEpochAndFingerprint(t *testing.T) {
	t.Parallel()
	clock := newClock()
	a := newSecretRing(t, Secret{Current: secretA}, clock)
	g := sealedWith(a, seal(t, a, "x"))
	fp := fingerprint(secretA)
	if !bytes.Equal(g.id[:4], fp[:]) {
		t.Errorf("key id %x does not start with the fingerprint %x", g.id, fp)
	}
	if want := testT0.Unix() / int64(24*time.Hour/time.Second); int64(uint32(g.id[4])<<24|uint32(g.id[5])<<16|uint32(g.id[6])<<8|uint32(g.id[7])) != want {
		t.Errorf("key id %x does not end with epoch %d", g.id, want)
	}
	if bytes.Contains(g.id[:], secretA[:4]) {
		t.Error("the key id contains secret bytes")
	}
}

func TestSecretRingRotation(t *testing.T) {
	t.Parallel()
	clock := newClock()
	old := newSecretRing(t, Secret{Current: secretA}, clock)
	sealedOld := seal(t, old, "before")

	// The fleet moves to secretB, keeping secretA as the previous secret and the identity secret.
	rotated := newSecretRing(t, Secret{Current: secretB, Previous: secretA, IdentitySecret: secretA}, clock)
	if err := open(rotated, sealedOld); err != nil {
		t.Fatalf("the previous secret no longer opens: %v", err)
	}
	sealedNew := seal(t, rotated, "after")
	if fp := fingerprint(secretB); !bytes.Equal(sealedWith(rotated, sealedNew).id[:4], fp[:]) {
		t.Error("a rotated ring seals with the previous secret")
	}
	if err := open(old, sealedNew); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a ring without the new secret opened: %v", err)
	}

	// Epoch rollover: what was sealed stays open for the retention window, then is refused.
	clock.Advance(25 * time.Hour)
	if err := open(rotated, sealedNew); err != nil {
		t.Errorf("after an epoch rollover: %v", err)
	}
	rolled := seal(t, rotated, "next epoch")
	if sealedWith(rotated, rolled).id == sealedWith(rotated, sealedNew).id {
		t.Error("the next epoch seals with the same key")
	}
	// The epoch of sealedNew began at midnight; it sealed for two epochs and is kept 12h (Retention)
	// and retentionSkew longer: until 12:05 two days later. The clock is at 13:00 the next day.
	clock.Advance(24 * time.Hour)
	// Sealing moves the ring to the epoch of now, dropping what has expired.
	seal(t, rotated, "later")
	if err := open(rotated, sealedNew); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("an envelope older than its retention opened: %v", err)
	}
	if err := open(rotated, rolled); err != nil {
		t.Errorf("a younger envelope: %v", err)
	}
}

// Identity ids come from the root key: a routine rotation of the key secret must not change it.
func TestSecretRingIdentitySecretAcrossRotation(t *testing.T) {
	t.Parallel()
	clock := newClock()
	before := newSecretRing(t, Secret{Current: secretA}, clock).DeriveKey("identity")
	secretC := []byte("Mv4Rb8Xe1Wq6Tn3Lj0Pz7Kd2Gs9Ah5Cy-Fo")
	for _, tc := range []struct {
		name   string
		secret Secret
		same   bool
	}{
		{"first rotation keeps the ids", Secret{Current: secretB, Previous: secretA, IdentitySecret: secretA}, true},
		{"rotation done, previous dropped", Secret{Current: secretB, IdentitySecret: secretA}, true},
		{"second rotation", Secret{Current: secretC, Previous: secretB, IdentitySecret: secretA}, true},
		{"identity secret named explicitly from the start", Secret{Current: secretA, IdentitySecret: secretA}, true},
		{"changed on purpose after a compromise", Secret{Current: secretB, Previous: secretA, IdentitySecret: secretB}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := newSecretRing(t, tc.secret, clock).DeriveKey("identity")
			if bytes.Equal(got, before) != tc.same {
				t.Errorf("root key unchanged = %v, want %v", !tc.same, tc.same)
			}
		})
	}
	_, err := NewFromSecret(testPoolID, Secret{Current: secretB, Previous: secretA}, poolOpts(clock))
	if !errors.Is(err, ErrIdentitySecretNeeded) {
		t.Errorf("rotating an identity pool's secret with no identity secret: %v, want ErrIdentitySecretNeeded", err)
	}
	if _, err := NewFromSecret(testPoolID, Secret{Current: secretA, IdentitySecret: []byte("short")}, poolOpts(clock)); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("a weak identity secret: %v, want ErrWeakSecret", err)
	}
}

func TestSecretRingReplicaClockAhead(t *testing.T) {
	t.Parallel()
	clock := newClock()
	ahead := newClock()
	// The replica that is ahead has moved to the next epoch already.
	ahead.Advance(24*time.Hour - testT0.Sub(testT0.Truncate(24*time.Hour)) + time.Second)
	a := newSecretRing(t, Secret{Current: secretA}, ahead)
	b := newSecretRing(t, Secret{Current: secretA}, clock)
	if err := open(b, seal(t, a, "x")); err != nil {
		t.Errorf("a replica one epoch behind cannot open: %v", err)
	}
}

func TestValidateSecret(t *testing.T) {
	t.Parallel()
	for name, secret := range map[string]string{
		"short":         "k3J9vQ2xLp7Rt0Wm5Zc8Hn4Yb1Ud6",
		"same bytes":    strings.Repeat("a", 40),
		"repeated":      strings.Repeat("k3J9vQ2x", 5),
		"few distinct":  "0101010101230123012301230101010123",
		"placeholder":   "{env.COGNITO_KEY_SECRET}-k3J9vQ2xLp7",
		"documentation": "changeme-k3J9vQ2xLp7Rt0Wm5Zc8Hn4Yb1",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := ValidateSecret([]byte(secret))
			if !errors.Is(err, ErrWeakSecret) {
				t.Fatalf("ValidateSecret = %v, want ErrWeakSecret", err)
			}
			_, nerr := NewFromSecret(testPoolID, Secret{Current: secretA, Previous: []byte(secret)}, Options{Purpose: IdentityPool})
			if nerr == nil {
				t.Fatal("NewFromSecret accepted a weak previous secret")
			}
			for _, msg := range []string{err.Error(), nerr.Error()} {
				for i := 0; i+4 <= len(secret); i++ {
					if strings.Contains(msg, secret[i:i+4]) && !strings.Contains(ErrWeakSecret.Error()+" creating key ring previous secret", secret[i:i+4]) {
						t.Fatalf("error %q contains secret bytes %q", msg, secret[i:i+4])
					}
				}
			}
		})
	}
	for _, good := range [][]byte{secretA, secretB, []byte("5f2a9c0e7b41d386af10c2e9b7d45a38")} {
		if err := ValidateSecret(good); err != nil {
			t.Errorf("ValidateSecret(a random secret) = %v", err)
		}
	}
}

func TestNewFromSecretErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewFromSecret(testPoolID, Secret{Current: secretA, Previous: secretA}, Options{Purpose: IdentityPool}); err == nil {
		t.Error("the same secret as current and previous was accepted")
	}
	if _, err := NewFromSecret(testPoolID, Secret{Current: secretA}, Options{Purpose: IdentityPool, RotationInterval: time.Minute}); err == nil {
		t.Error("a rotation interval that keeps hundreds of epochs live was accepted")
	}
	if _, err := NewFromSecret("Not A Name", Secret{Current: secretA}, Options{}); err == nil {
		t.Error("a bad name was accepted")
	}
}

func BenchmarkSecretRingOpen(b *testing.B) {
	k := newSecretRing(b, Secret{Current: secretA, Previous: secretB, IdentitySecret: secretB}, newClock())
	sealed := seal(b, k, "a session token's worth of plaintext, about a hundred bytes long, give or take")
	buf := make([]byte, len(sealed))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, sealed)
		if _, _, err := k.Open(b.Context(), buf, len(testHeader), testAdditional); err != nil {
			b.Fatal(err)
		}
	}
}
