package identitypool

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// flakyStorage counts loads and stores and fails every call while fail is set.
type flakyStorage struct {
	Storage
	fail          atomic.Bool
	loads, stores atomic.Int64
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

func (f *flakyStorage) Store(ctx context.Context, key string, value []byte) error {
	f.stores.Add(1)
	if f.fail.Load() {
		return errStorageDown
	}
	return f.Storage.Store(ctx, key, value)
}

// TestKeyRingsStartingTogetherAgree starts several key rings at once on one real certmagic FileStorage:
// the storage lock makes them agree on one key set, so each opens what the others seal.
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
			rings[i], errs[i] = NewKeyRing(t.Context(), storage, testPoolID, KeyRingOptions{Now: clock.Now})
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
		if got, want := r.set.Load().newest.kid, rings[0].set.Load().newest.kid; got != want {
			t.Fatalf("ring %d uses key %s, ring 0 uses %s", i, got, want)
		}
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
	// A restarted instance loads the same keys.
	later, err := NewKeyRing(t.Context(), storage, testPoolID, KeyRingOptions{Now: clock.Now})
	must(t, err)
	if later.set.Load().newest.kid != rings[0].set.Load().newest.kid {
		t.Fatal("a restarted ring generated new keys")
	}
}

func TestKeyRingRotation(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := &flakyStorage{Storage: NewMemoryStorage()}
	opts := KeyRingOptions{Now: clock.Now, RotationInterval: 2 * time.Hour, MaxCredentialsTTL: time.Hour, RefetchInterval: time.Minute}
	a, err := NewKeyRing(t.Context(), storage, testPoolID, opts)
	must(t, err)
	b, err := NewKeyRing(t.Context(), storage, testPoolID, opts) // another instance
	must(t, err)
	first := a.set.Load().newest.kid
	seal := func(k *KeyRing) (string, *generation) {
		t.Helper()
		s := typicalSession(clock)
		s.Expires = clock.Now().Add(time.Hour).Truncate(time.Second)
		tok, err := k.SealSession(t.Context(), s)
		must(t, err)
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		var id keyID
		copy(id[:], raw[1:sessionHeaderSize])
		return tok, k.set.Load().generations[id]
	}
	open := func(k *KeyRing, tok string) error {
		_, err := k.OpenSessionToken(t.Context(), tok)
		return err
	}

	clock.Advance(time.Hour + 59*time.Minute)
	oldTok, g := seal(a)
	if g.kid != first {
		t.Fatal("sealed with a new key before rotation was due")
	}

	// Due: the next seal stores a new generation, published ahead of use, and keeps sealing with the first.
	clock.Advance(2 * time.Minute)
	tok, g := seal(a)
	second := a.set.Load().newest.kid
	if second == first || g.kid != first {
		t.Fatalf("rotation: newest %s, sealed with %s; want a new newest and the first still sealing", second, g.kid)
	}
	// Once active, the new generation seals; an instance that never saw it reloads it from storage.
	clock.Advance(time.Minute)
	newTok, g := seal(a)
	if g.kid != second {
		t.Fatalf("sealed with %s after activation, want %s", g.kid, second)
	}
	loads := storage.loads.Load()
	if err := open(b, newTok); err != nil {
		t.Fatalf("the other instance cannot open a token of the new key: %v", err)
	}
	if storage.loads.Load() != loads+1 {
		t.Fatalf("%d storage loads to learn the new key, want 1", storage.loads.Load()-loads)
	}
	// Tokens of the retired generation keep opening until they expire.
	for _, k := range []*KeyRing{a, b} {
		if err := open(k, oldTok); err != nil {
			t.Fatalf("token of the retired key refused: %v", err)
		}
		if err := open(k, tok); err != nil {
			t.Fatalf("token of the retired key refused: %v", err)
		}
	}
	// The JWKS publishes both generations.
	set, err := jwk.Parse(a.JWKS(t.Context()))
	must(t, err)
	for _, kid := range []string{first, second} {
		if _, ok := set.LookupKeyID(kid); !ok {
			t.Fatalf("JWKS lacks key %s", kid)
		}
	}
	// After its retention (two intervals and the max TTL after activation, plus skew) the first
	// generation leaves storage at the next rotation.
	clock.Advance(2*time.Hour + time.Hour + retentionSkew)
	must(t, a.Rotate(t.Context()))
	data, err := storage.Load(t.Context(), a.storageKey)
	must(t, err)
	var doc storedKeyRing
	must(t, json.Unmarshal(data, &doc))
	for _, sg := range doc.Generations {
		if base64.RawURLEncoding.EncodeToString(sg.ID) == first {
			t.Fatal("an expired generation is still stored")
		}
	}
	for _, g := range a.set.Load().generations {
		if g.kid == first {
			t.Fatal("an expired generation is still in memory")
		}
	}
}

// TestKeyRingUnknownKeyRefetchIsRateLimited: a key id this instance does not know is looked up in storage,
// at most once per RefetchInterval, so forged key ids cannot hammer storage.
func TestKeyRingUnknownKeyRefetchIsRateLimited(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := &flakyStorage{Storage: NewMemoryStorage()}
	opts := KeyRingOptions{Now: clock.Now, RefetchInterval: 30 * time.Second}
	a, err := NewKeyRing(t.Context(), storage, testPoolID, opts)
	must(t, err)
	b, err := NewKeyRing(t.Context(), storage, testPoolID, opts)
	must(t, err)
	tok, err := a.SealSession(t.Context(), typicalSession(clock))
	must(t, err)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	forged := func(i int) string {
		f := append([]byte(nil), raw...)
		f[1] ^= 0x80 // never the real key id
		f[2], f[3] = byte(i), byte(i>>8)
		return base64.RawURLEncoding.EncodeToString(f)
	}
	loads := storage.loads.Load()
	clock.Advance(30 * time.Second)
	for i := range 500 {
		if _, err := b.OpenSessionToken(t.Context(), forged(i)); !errors.Is(err, ErrUnknownSessionKey) {
			t.Fatalf("forged key id %d: %v", i, err)
		}
	}
	if got := storage.loads.Load() - loads; got != 1 {
		t.Fatalf("%d storage loads for 500 forged key ids in one interval, want 1", got)
	}
	clock.Advance(30 * time.Second)
	b.OpenSessionToken(t.Context(), forged(501))
	if got := storage.loads.Load() - loads; got != 2 {
		t.Fatalf("%d storage loads after the interval, want 2", got)
	}
}

// TestKeyRingReloadEndingBeforeRefetch: a key id misses, another request's reload brings it before this
// one asks for a reload, and that reload's rate limit forbids another. The generation it brought must be
// found, not the stale miss.
func TestKeyRingReloadEndingBeforeRefetch(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k, err := NewKeyRing(t.Context(), NewMemoryStorage(), testPoolID, KeyRingOptions{Now: clock.Now, RefetchInterval: 30 * time.Second})
	must(t, err)
	full := k.set.Load()
	var id keyID
	for id = range full.generations {
		break
	}
	missing := *full
	missing.generations = map[keyID]*generation{}
	k.set.Store(&missing)
	var once sync.Once
	k.now = func() time.Time { // the rate-limit check: the other reload has ended by now
		once.Do(func() { k.set.Store(full) })
		return clock.Now()
	}
	if g := k.generation(t.Context(), id); g == nil {
		t.Fatal("generation brought by a concurrent reload not found")
	}
}

// TestKeyRingStorageOutage: rotation failing because storage is down keeps the current key sealing for a
// second interval, then sealing fails rather than using a key past its retention guarantees.
func TestKeyRingStorageOutage(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := &flakyStorage{Storage: NewMemoryStorage()}
	k, err := NewKeyRing(t.Context(), storage, testPoolID, KeyRingOptions{Now: clock.Now, RotationInterval: time.Hour, MaxCredentialsTTL: time.Hour})
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
	if _, err := k.SealSession(t.Context(), typicalSession(clock)); !errors.Is(err, ErrNoSealingKey) {
		t.Fatalf("sealing past two intervals without storage: %v, want ErrNoSealingKey", err)
	}
	storage.fail.Store(false)
	clock.Advance(time.Minute) // past the rotation retry interval
	if _, err := k.SealSession(t.Context(), typicalSession(clock)); err != nil {
		t.Fatalf("sealing after storage came back: %v", err)
	}
}

// TestKeyRingRecovers covers storage left in odd states: a document whose generations all expired while
// no instance ran, and a document deleted under a running instance.
func TestKeyRingRecovers(t *testing.T) {
	t.Parallel()
	t.Run("every generation expired", func(t *testing.T) {
		clock := newClock()
		storage := NewMemoryStorage()
		old := newTestRing(t, storage, testPoolID, clock)
		guest := old.newGuestIdentityID()
		clock.Advance(30 * 24 * time.Hour)
		k := newTestRing(t, storage, testPoolID, clock)
		if k.set.Load().newest.kid == old.set.Load().newest.kid {
			t.Fatal("an expired generation was kept")
		}
		if _, err := k.SealSession(t.Context(), typicalSession(clock)); err != nil {
			t.Fatalf("the new generation does not seal at once: %v", err)
		}
		if err := k.checkGuestIdentityID(guest); err != nil {
			t.Fatalf("identity ids changed: %v", err)
		}
	})
	t.Run("document deleted", func(t *testing.T) {
		clock := newClock()
		storage := NewMemoryStorage()
		k := newTestRing(t, storage, testPoolID, clock)
		tok, err := k.SealSession(t.Context(), typicalSession(clock))
		must(t, err)
		id := k.authenticatedIdentityID(testUserPoolName, "u")
		storage.values = map[string][]byte{} // an operator wiped the storage
		must(t, k.Rotate(t.Context()))
		fresh := newTestRing(t, storage, testPoolID, clock)
		if got := fresh.authenticatedIdentityID(testUserPoolName, "u"); got != id {
			t.Fatalf("identity id changed from %s to %s", id, got)
		}
		if _, err := fresh.OpenSessionToken(t.Context(), tok); err != nil {
			t.Fatalf("credentials issued before the wipe: %v", err)
		}
	})
}

func TestNewKeyRingErrors(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem := NewMemoryStorage()
	newTestRing(t, mem, testPoolID, clock)
	ring := newTestRing(t, nil, testPoolID, clock)
	corrupt := func(edit func(*storedKeyRing)) Storage {
		s := NewMemoryStorage()
		data, err := mem.Load(t.Context(), ring.storageKey)
		must(t, err)
		var doc storedKeyRing
		must(t, json.Unmarshal(data, &doc))
		edit(&doc)
		data, _ = json.Marshal(doc)
		must(t, s.Store(t.Context(), ring.storageKey, data))
		return s
	}
	garbage := NewMemoryStorage()
	must(t, garbage.Store(t.Context(), ring.storageKey, []byte("{not json")))
	down := &flakyStorage{Storage: NewMemoryStorage()}
	down.fail.Store(true)
	tests := []struct {
		name    string
		storage Storage
		poolID  string
		opts    KeyRingOptions
	}{
		{"nil storage", nil, testPoolID, KeyRingOptions{}},
		{"malformed pool id", NewMemoryStorage(), "us-east-1_AbC", KeyRingOptions{}},
		{"rotation too short", NewMemoryStorage(), testPoolID, KeyRingOptions{RotationInterval: time.Second}},
		{"max TTL too short", NewMemoryStorage(), testPoolID, KeyRingOptions{MaxCredentialsTTL: time.Minute}},
		{"refetch too long for rotation", NewMemoryStorage(), testPoolID, KeyRingOptions{RotationInterval: time.Hour, RefetchInterval: 20 * time.Minute}},
		{"storage down", down, testPoolID, KeyRingOptions{}},
		{"garbage document", garbage, testPoolID, KeyRingOptions{}},
		{"document of another pool", corrupt(func(d *storedKeyRing) { d.PoolID = otherPoolID }), testPoolID, KeyRingOptions{}},
		{"future version", corrupt(func(d *storedKeyRing) { d.Version = 2 }), testPoolID, KeyRingOptions{}},
		{"short identity key", corrupt(func(d *storedKeyRing) { d.IdentityKey = d.IdentityKey[:16] }), testPoolID, KeyRingOptions{}},
		{"short sealing key", corrupt(func(d *storedKeyRing) { d.Generations[0].SealKey = d.Generations[0].SealKey[:16] }), testPoolID, KeyRingOptions{}},
		{"bad signing key", corrupt(func(d *storedKeyRing) { d.Generations[0].SigningKey = []byte("x") }), testPoolID, KeyRingOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = clock.Now
			if k, err := NewKeyRing(t.Context(), tt.storage, tt.poolID, tt.opts); err == nil {
				t.Fatalf("NewKeyRing succeeded: %v", k.PoolID())
			}
		})
	}
}

func TestMemoryStorage(t *testing.T) {
	t.Parallel()
	s := NewMemoryStorage()
	if _, err := s.Load(t.Context(), "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load of a missing key: %v, want fs.ErrNotExist", err)
	}
	must(t, s.Lock(t.Context(), "l"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.Lock(ctx, "l"); err == nil {
		t.Fatal("a held lock was taken twice")
	}
	got := make(chan error, 1)
	go func() { got <- s.Lock(t.Context(), "l") }()
	must(t, s.Unlock(t.Context(), "l"))
	must(t, <-got)
	must(t, s.Unlock(t.Context(), "l"))
	if err := s.Unlock(t.Context(), "l"); err == nil {
		t.Fatal("unlocking an unlocked name succeeded")
	}
	v := []byte("value")
	must(t, s.Store(t.Context(), "k", v))
	v[0] = 'X'
	if loaded, _ := s.Load(t.Context(), "k"); string(loaded) != "value" {
		t.Fatalf("storage aliased the caller's slice: %q", loaded)
	}
}
