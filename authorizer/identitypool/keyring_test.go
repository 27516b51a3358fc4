package identitypool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// The rotation, storage and recovery of the keys are keyring's and tested there; these tests cover what
// the pool builds on them: session tokens and identity ids that every instance on the storage agrees on.

// TestKeyRingsStartingTogetherAgree starts several key rings at once on one real certmagic FileStorage:
// the storage lock makes them agree on one key set, so each opens what the others seal and derives the
// same identity ids.
func TestKeyRingsStartingTogetherAgree(t *testing.T) {
	t.Parallel()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	clock := newClock()
	const n = 3
	rings := make([]*KeyRing, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range rings {
		wg.Go(func() {
			<-start
			rings[i], errs[i] = NewKeyRing(t.Context(), storage, testPoolID, keyring.Options{Now: clock.Now})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ring %d: %v", i, err)
		}
	}
	for i, r := range rings {
		if got, want := r.authenticatedIdentityID(testUserPoolName, "u"), rings[0].authenticatedIdentityID(testUserPoolName, "u"); got != want {
			t.Fatalf("ring %d derives identity %s, ring 0 derives %s", i, got, want)
		}
	}
	for i, sealer := range rings {
		tok, err := sealer.SealSession(t.Context(), typicalSession(clock))
		must(t, err)
		guest := sealer.newGuestIdentityID()
		for j, opener := range rings {
			if _, err := opener.OpenSessionToken(t.Context(), tok); err != nil {
				t.Fatalf("ring %d cannot open what ring %d sealed: %v", j, i, err)
			}
			if err := opener.checkGuestIdentityID(guest); err != nil {
				t.Fatalf("ring %d refuses guest id of ring %d: %v", j, i, err)
			}
		}
	}
}

// TestKeyRingStorageOutage: rotation failing because storage is down keeps the current key sealing for a
// second interval, then sealing fails rather than use a key past its retention guarantees.
func TestKeyRingStorageOutage(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := &flakyStorage{Storage: keyring.NewMemoryStorage()}
	k, err := NewKeyRing(t.Context(), storage, testPoolID, keyring.Options{Now: clock.Now, RotationInterval: time.Hour, Retention: time.Hour})
	must(t, err)
	tok, err := k.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	storage.fail.Store(true)
	clock.Advance(90 * time.Minute)
	if _, err := k.SealSession(t.Context(), typicalSession(clock)); err != nil {
		t.Fatalf("sealing during an outage, within the grace interval: %v", err)
	}
	if _, err := k.OpenSessionToken(t.Context(), tok); !errors.Is(err, ErrExpiredSessionToken) {
		t.Fatalf("open: %v, want expired", err)
	}
	clock.Advance(31 * time.Minute)
	if _, err := k.SealSession(t.Context(), typicalSession(clock)); !errors.Is(err, keyring.ErrNoSealingKey) {
		t.Fatalf("sealing past two intervals without storage: %v, want ErrNoSealingKey", err)
	}
}

// flakyStorage counts loads and, while fail is set, refuses locks and loads: a ring can then neither
// rotate nor reload. (keyring's tests have a fuller one.)
type flakyStorage struct {
	keyring.Storage
	fail  atomic.Bool
	loads atomic.Int64
}

var errStorageDown = errors.New("storage down")

func (f *flakyStorage) Lock(ctx context.Context, name string) error {
	if f.fail.Load() {
		return errStorageDown
	}
	return f.Storage.Lock(ctx, name)
}

func (f *flakyStorage) Load(ctx context.Context, key string) ([]byte, error) {
	f.loads.Add(1)
	if f.fail.Load() {
		return nil, errStorageDown
	}
	return f.Storage.Load(ctx, key)
}

// TestOpenRefusesExpiryBeyondItsKey: an authentic token that expires after its key is dropped was sealed
// by no ring with these options (here, one that allows longer credentials on the same storage), and is
// refused rather than trusted beyond what the ring guarantees.
func TestOpenRefusesExpiryBeyondItsKey(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := keyring.NewMemoryStorage()
	long, err := NewKeyRing(t.Context(), storage, testPoolID, keyring.Options{Now: clock.Now, Retention: 100 * time.Hour})
	must(t, err)
	k := newTestRing(t, storage, testPoolID, clock) // Retention 12h: its keys are dropped 2 days and 12h after activation
	s := typicalSession(clock)
	s.Expires = clock.Now().Add(100 * time.Hour)
	tok, err := long.SealSession(t.Context(), s)
	must(t, err)
	if _, err := long.OpenSessionToken(t.Context(), tok); err != nil {
		t.Fatalf("the ring that sealed it: %v", err)
	}
	if _, err := k.OpenSessionToken(t.Context(), tok); !errors.Is(err, ErrInvalidSessionToken) {
		t.Fatalf("open of a token outliving its key = %v, want ErrInvalidSessionToken", err)
	}
}

func TestNewKeyRingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		storage keyring.Storage
		poolID  string
		opts    keyring.Options
		want    string
	}{
		{"nil storage", nil, testPoolID, keyring.Options{}, "storage is nil"},
		{"malformed pool id", keyring.NewMemoryStorage(), "us-east-1_AbC", keyring.Options{}, `creating key ring: identity pool id "us-east-1_AbC" is not <region>:<uuid>`},
		{"upper-case uuid", keyring.NewMemoryStorage(), "us-east-1:1CF667A2-49A6-454B-9E45-23199D2C39C4", keyring.Options{}, "is not <region>:<uuid>"},
		{"retention too short", keyring.NewMemoryStorage(), testPoolID, keyring.Options{Retention: time.Minute}, "retention 1m0s is shorter than 15m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeyRing(t.Context(), tt.storage, tt.poolID, tt.opts)
			if err == nil {
				t.Fatalf("NewKeyRing succeeded: %v", k.PoolID())
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestKeyRingLoadsStoredPool: a pool's keys stored by the code before package keyring existed
// (../keyring/testdata/stored-v1.json, which must never be regenerated) still open the credentials it
// issued, to the same session, and derive the same identity ids.
func TestKeyRingLoadsStoredPool(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../keyring/testdata/stored-v1.json")
	must(t, err)
	var v struct {
		PoolID                  string `json:"pool_id"`
		PoolDocument            string `json:"pool_document"`
		SessionToken            string `json:"session_token"`
		SessionExpires          int64  `json:"session_expires"`
		AuthenticatedIdentityID string `json:"authenticated_identity_id"`
		GuestIdentityID         string `json:"guest_identity_id"`
	}
	must(t, json.Unmarshal(data, &v))
	clock := newClock() // the clock the fixture was written at
	storage := keyring.NewMemoryStorage()
	must(t, storage.Store(t.Context(),
		"caddy-cognito/identity-pools/us-east-1_1cf667a2-49a6-454b-9e45-23199d2c39c4/keys.json", []byte(v.PoolDocument)))
	k, err := NewKeyRing(t.Context(), storage, v.PoolID, keyring.Options{Now: clock.Now})
	must(t, err)

	s, err := k.OpenSessionToken(t.Context(), v.SessionToken)
	must(t, err)
	const provider = "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
	want := &Session{AccessKeyID: "ASIAOLDFORMATOLDFORM", SecretAccessKey: "0123456789012345678901234567890123456789",
		IdentityID: "us-east-1:3f2a1b4c-5d6e-8f70-8123-456789abcdef", PoolID: v.PoolID,
		RoleARN: "arn:aws:iam::123456789012:role/cognito/OrdersReadWrite", PrincipalTags: map[string]string{"tenant": "t1"},
		LoginProviders: []string{provider}, AuthenticationProvider: provider + "," + provider + ":CognitoSignIn:u",
		Expires: time.Unix(v.SessionExpires, 0)}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("opened %#v\nwant %#v", s, want)
	}
	if got := k.authenticatedIdentityID(provider, "u"); got != v.AuthenticatedIdentityID {
		t.Fatalf("identity id of the same login is %s, was %s", got, v.AuthenticatedIdentityID)
	}
	if err := k.checkGuestIdentityID(v.GuestIdentityID); err != nil {
		t.Fatalf("a guest id the old ring issued: %v", err)
	}
	if again, err := storage.Load(t.Context(),
		"caddy-cognito/identity-pools/us-east-1_1cf667a2-49a6-454b-9e45-23199d2c39c4/keys.json"); err != nil || !bytes.Equal(again, []byte(v.PoolDocument)) {
		t.Fatalf("the stored document changed although nothing was due: %v", err)
	}
}
