package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const (
	testPoolID  = "us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4"
	otherPoolID = "us-east-1:00000000-1111-2222-3333-444444444444"
	// testPoolKey is where the ring of testPoolID lives.
	testPoolKey = "caddy-cognito/identity-pools/us-east-1_1cf667a2-49a6-454b-9e45-23199d2c39c4/keys.json"
)

var testT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: testT0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// poolOpts are the options of an identity pool's ring on clock.
func poolOpts(clock *testClock) Options { return Options{Purpose: IdentityPool, Now: clock.Now} }

func newTestRing(t testing.TB, s Storage, clock *testClock) *Ring {
	t.Helper()
	if s == nil {
		s = NewMemoryStorage()
	}
	k, err := New(context.Background(), s, testPoolID, poolOpts(clock))
	must(t, err)
	return k
}

var (
	testHeader     = []byte{1}
	testAdditional = []byte(testPoolID)
)

// seal seals plaintext as an identity pool seals a session token: a one-byte header, the pool id as
// additional data.
func seal(t testing.TB, k *Ring, plaintext string) []byte {
	t.Helper()
	sealed, err := k.Seal(t.Context(), testHeader, []byte(plaintext), testAdditional)
	must(t, err)
	return sealed
}

func open(k *Ring, sealed []byte) error {
	_, _, err := k.Open(context.Background(), bytes.Clone(sealed), len(testHeader), testAdditional)
	return err
}

// sealedWith returns the generation whose key id leads sealed.
func sealedWith(k *Ring, sealed []byte) *generation {
	var id keyID
	copy(id[:], sealed[len(testHeader):])
	return k.set.Load().generations[id]
}

// flakyStorage counts loads and stores, records lock names, and fails every call while fail is set.
type flakyStorage struct {
	Storage
	fail          atomic.Bool
	loads, stores atomic.Int64
	mu            sync.Mutex
	locks         []string
}

func (f *flakyStorage) lockNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.locks)
}

var errStorageDown = errors.New("storage down")

func (f *flakyStorage) Lock(ctx context.Context, name string) error {
	f.mu.Lock()
	f.locks = append(f.locks, name)
	f.mu.Unlock()
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

func TestSealOpen(t *testing.T) {
	t.Parallel()
	clock := newClock()
	k := newTestRing(t, nil, clock)
	sealed := seal(t, k, "secret payload")
	if len(sealed) != len(testHeader)+len("secret payload")+Overhead || sealed[0] != testHeader[0] {
		t.Fatalf("envelope of %d bytes, header %d", len(sealed), sealed[0])
	}
	plain, retires, err := k.Open(t.Context(), bytes.Clone(sealed), len(testHeader), testAdditional)
	must(t, err)
	if string(plain) != "secret payload" {
		t.Fatalf("opened %q", plain)
	}
	if want := testT0.Add(2*24*time.Hour + 12*time.Hour + retentionSkew); !retires.Equal(want) {
		t.Fatalf("key retires at %s, want %s", retires, want)
	}
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		if err := open(k, b); err == nil {
			t.Fatalf("byte %d changed: opened", i)
		}
	}
	if _, _, err := k.Open(t.Context(), bytes.Clone(sealed), len(testHeader), []byte(otherPoolID)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("open with other additional data = %v, want ErrInvalid", err)
	}
	if _, _, err := k.Open(t.Context(), sealed[:Overhead], len(testHeader), testAdditional); !errors.Is(err, ErrMalformed) {
		t.Fatalf("open of a short envelope = %v, want ErrMalformed", err)
	}
	forged := bytes.Clone(sealed)
	forged[1] ^= 0x80
	if err := open(k, forged); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("open with a forged key id = %v, want ErrUnknownKey", err)
	}
}

// TestKeyRingsStartingTogetherAgree starts several key rings at once on one real certmagic FileStorage:
// the storage lock makes them agree on one key set, so each opens what the others seal.
func TestKeyRingsStartingTogetherAgree(t *testing.T) {
	t.Parallel()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	clock := newClock()
	const n = 3
	rings := make([]*Ring, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range rings {
		wg.Go(func() {
			<-start
			rings[i], errs[i] = New(t.Context(), storage, testPoolID, poolOpts(clock))
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
		if !bytes.Equal(r.DeriveKey("label"), rings[0].DeriveKey("label")) {
			t.Fatalf("ring %d derives another key than ring 0", i)
		}
	}
	for i, sealer := range rings {
		sealed := seal(t, sealer, "payload")
		for j, opener := range rings {
			if err := open(opener, sealed); err != nil {
				t.Fatalf("ring %d cannot open what ring %d sealed: %v", j, i, err)
			}
		}
	}
	// A restarted instance loads the same keys.
	later, err := New(t.Context(), storage, testPoolID, poolOpts(clock))
	must(t, err)
	if later.set.Load().newest.kid != rings[0].set.Load().newest.kid {
		t.Fatal("a restarted ring generated new keys")
	}
}

func TestKeyRingRotation(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := &flakyStorage{Storage: NewMemoryStorage()}
	opts := Options{Purpose: IdentityPool, Now: clock.Now, RotationInterval: 2 * time.Hour, Retention: time.Hour, RefetchInterval: time.Minute}
	a, err := New(t.Context(), storage, testPoolID, opts)
	must(t, err)
	b, err := New(t.Context(), storage, testPoolID, opts) // another instance
	must(t, err)
	first := a.set.Load().newest.kid

	clock.Advance(time.Hour + 59*time.Minute)
	oldSealed := seal(t, a, "old")
	if sealedWith(a, oldSealed).kid != first {
		t.Fatal("sealed with a new key before rotation was due")
	}

	// Due: the next seal stores a new generation, published ahead of use, and keeps sealing with the first.
	clock.Advance(2 * time.Minute)
	sealed := seal(t, a, "due")
	second := a.set.Load().newest.kid
	if g := sealedWith(a, sealed); second == first || g.kid != first {
		t.Fatalf("rotation: newest %s, sealed with %s; want a new newest and the first still sealing", second, g.kid)
	}
	// Once active, the new generation seals; an instance that never saw it reloads it from storage.
	clock.Advance(time.Minute)
	newSealed := seal(t, a, "new")
	if g := sealedWith(a, newSealed); g.kid != second {
		t.Fatalf("sealed with %s after activation, want %s", g.kid, second)
	}
	loads := storage.loads.Load()
	if err := open(b, newSealed); err != nil {
		t.Fatalf("the other instance cannot open what the new key sealed: %v", err)
	}
	if storage.loads.Load() != loads+1 {
		t.Fatalf("%d storage loads to learn the new key, want 1", storage.loads.Load()-loads)
	}
	// What the retired generation sealed keeps opening.
	for _, k := range []*Ring{a, b} {
		for _, s := range [][]byte{oldSealed, sealed} {
			if err := open(k, s); err != nil {
				t.Fatalf("envelope of the retired key refused: %v", err)
			}
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
	// After its retention (two intervals and the retention window after activation, plus skew) the first
	// generation leaves storage at the next rotation.
	clock.Advance(2*time.Hour + time.Hour + retentionSkew)
	must(t, a.Rotate(t.Context()))
	data, err := storage.Load(t.Context(), a.storageKey)
	must(t, err)
	var doc storedRing
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
	opts := Options{Purpose: IdentityPool, Now: clock.Now, RefetchInterval: 30 * time.Second}
	a, err := New(t.Context(), storage, testPoolID, opts)
	must(t, err)
	b, err := New(t.Context(), storage, testPoolID, opts)
	must(t, err)
	sealed := seal(t, a, "payload")
	forged := func(i int) []byte {
		f := bytes.Clone(sealed)
		f[1] ^= 0x80 // never the real key id
		f[2], f[3] = byte(i), byte(i>>8)
		return f
	}
	loads := storage.loads.Load()
	clock.Advance(30 * time.Second)
	for i := range 500 {
		if err := open(b, forged(i)); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("forged key id %d: %v", i, err)
		}
	}
	if got := storage.loads.Load() - loads; got != 1 {
		t.Fatalf("%d storage loads for 500 forged key ids in one interval, want 1", got)
	}
	clock.Advance(30 * time.Second)
	open(b, forged(501))
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
	k, err := New(t.Context(), NewMemoryStorage(), testPoolID, Options{Purpose: IdentityPool, Now: clock.Now, RefetchInterval: 30 * time.Second})
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
// second interval, then sealing and signing fail rather than use a key past its retention guarantees.
func TestKeyRingStorageOutage(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := &flakyStorage{Storage: NewMemoryStorage()}
	k, err := New(t.Context(), storage, testPoolID, Options{Purpose: IdentityPool, Now: clock.Now, RotationInterval: time.Hour, Retention: time.Hour})
	must(t, err)
	sealed := seal(t, k, "payload")
	storage.fail.Store(true)
	clock.Advance(90 * time.Minute)
	if _, err := k.Seal(t.Context(), testHeader, nil, testAdditional); err != nil {
		t.Fatalf("sealing during an outage, within the grace interval: %v", err)
	}
	if err := open(k, sealed); err != nil {
		t.Fatalf("open during an outage: %v", err)
	}
	clock.Advance(31 * time.Minute)
	if _, err := k.Seal(t.Context(), testHeader, nil, testAdditional); !errors.Is(err, ErrNoSealingKey) {
		t.Fatalf("sealing past two intervals without storage: %v, want ErrNoSealingKey", err)
	}
	tok, err := jwt.NewBuilder().Subject("alice").Build()
	must(t, err)
	if _, err := k.SignJWT(t.Context(), tok); !errors.Is(err, ErrNoSealingKey) {
		t.Fatalf("signing past two intervals without storage: %v, want ErrNoSealingKey", err)
	}
	storage.fail.Store(false)
	clock.Advance(time.Minute) // past the rotation retry interval
	if _, err := k.Seal(t.Context(), testHeader, nil, testAdditional); err != nil {
		t.Fatalf("sealing after storage came back: %v", err)
	}
}

// TestKeyRingRecovers covers storage left in odd states: a document whose generations all expired while
// no instance ran, and a document deleted under a running instance. Neither changes the root key.
func TestKeyRingRecovers(t *testing.T) {
	t.Parallel()
	t.Run("every generation expired", func(t *testing.T) {
		clock := newClock()
		storage := NewMemoryStorage()
		old := newTestRing(t, storage, clock)
		derived := old.DeriveKey("label")
		clock.Advance(30 * 24 * time.Hour)
		k := newTestRing(t, storage, clock)
		if k.set.Load().newest.kid == old.set.Load().newest.kid {
			t.Fatal("an expired generation was kept")
		}
		if _, err := k.Seal(t.Context(), testHeader, nil, testAdditional); err != nil {
			t.Fatalf("the new generation does not seal at once: %v", err)
		}
		if !bytes.Equal(k.DeriveKey("label"), derived) {
			t.Fatal("the root key changed")
		}
	})
	t.Run("document deleted", func(t *testing.T) {
		clock := newClock()
		storage := NewMemoryStorage()
		k := newTestRing(t, storage, clock)
		sealed := seal(t, k, "payload")
		derived := k.DeriveKey("label")
		storage.values = map[string][]byte{} // an operator wiped the storage
		must(t, k.Rotate(t.Context()))
		fresh := newTestRing(t, storage, clock)
		if !bytes.Equal(fresh.DeriveKey("label"), derived) {
			t.Fatal("the root key changed")
		}
		if err := open(fresh, sealed); err != nil {
			t.Fatalf("what was sealed before the wipe: %v", err)
		}
	})
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	k := newTestRing(t, nil, newClock())
	a, b := k.DeriveKey("a"), k.DeriveKey("b")
	if len(a) != 32 || bytes.Equal(a, b) || !bytes.Equal(a, k.DeriveKey("a")) {
		t.Fatalf("derived keys %x, %x", a, b)
	}
	if !bytes.Equal(a, deriveKey(k.set.Load().rootKey, "a")) {
		t.Fatal("the derived key is not HMAC-SHA256(root key, label)")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem := NewMemoryStorage()
	ring := newTestRing(t, mem, clock)
	corrupt := func(edit func(*storedRing)) Storage {
		s := NewMemoryStorage()
		data, err := mem.Load(t.Context(), ring.storageKey)
		must(t, err)
		var doc storedRing
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
	pool := Options{Purpose: IdentityPool}
	tests := []struct {
		name    string
		storage Storage
		ring    string
		opts    Options
	}{
		{"nil storage", nil, testPoolID, pool},
		{"pool name without a colon", NewMemoryStorage(), "us-east-1_AbC", pool},
		{"pool name with a slash", NewMemoryStorage(), "us-east-1:../x", pool},
		{"signing name with a colon", NewMemoryStorage(), testPoolID, Options{}},
		{"unknown purpose", NewMemoryStorage(), "x", Options{Purpose: 7}},
		{"rotation too short", NewMemoryStorage(), testPoolID, Options{Purpose: IdentityPool, RotationInterval: time.Second}},
		{"retention too short", NewMemoryStorage(), testPoolID, Options{Purpose: IdentityPool, Retention: time.Minute}},
		{"refetch too long for rotation", NewMemoryStorage(), testPoolID, Options{Purpose: IdentityPool, RotationInterval: time.Hour, RefetchInterval: 20 * time.Minute}},
		{"storage down", down, testPoolID, pool},
		{"garbage document", garbage, testPoolID, pool},
		{"document of another pool", corrupt(func(d *storedRing) { d.PoolID = otherPoolID }), testPoolID, pool},
		{"future version", corrupt(func(d *storedRing) { d.Version = 2 }), testPoolID, pool},
		{"short root key", corrupt(func(d *storedRing) { d.IdentityKey = d.IdentityKey[:16] }), testPoolID, pool},
		{"short sealing key", corrupt(func(d *storedRing) { d.Generations[0].SealKey = d.Generations[0].SealKey[:16] }), testPoolID, pool},
		{"bad signing key", corrupt(func(d *storedRing) { d.Generations[0].SigningKey = []byte("x") }), testPoolID, pool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = clock.Now
			if k, err := New(t.Context(), tt.storage, tt.ring, tt.opts); err == nil {
				t.Fatalf("New succeeded: %v", k.Name())
			}
		})
	}
}

func TestSigningRing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, bad := range []string{"", "Upper", "a/b", "../x", string(make([]byte, 65))} {
		if _, err := New(ctx, NewMemoryStorage(), bad, Options{}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}

	storage := NewMemoryStorage()
	a, err := New(ctx, storage, "assertion", Options{})
	must(t, err)
	b, err := New(ctx, storage, "assertion", Options{})
	must(t, err)
	if _, err := storage.Load(ctx, "caddy-cognito/signing-keys/assertion/keys.json"); err != nil {
		t.Fatalf("the signing ring is not where it always was: %v", err)
	}
	tok, err := jwt.NewBuilder().Subject("alice").Expiration(time.Now().Add(time.Minute)).Build()
	must(t, err)
	signed, err := a.SignJWT(ctx, tok)
	must(t, err)
	// Another instance on the same storage publishes the key that signed it.
	set, err := jwk.Parse(b.JWKS(ctx))
	must(t, err)
	got, err := jwt.Parse([]byte(signed), jwt.WithKeySet(set))
	if err != nil {
		t.Fatalf("a JWT signed by one ring does not verify with the other's JWKS: %v", err)
	}
	if sub, _ := got.Subject(); sub != "alice" {
		t.Errorf("sub = %q", sub)
	}

	// A signing ring is not a pool's: it lives elsewhere in storage and its keys verify nothing of a pool.
	pool, err := New(ctx, storage, "us-east-1:11111111-2222-3333-4444-555555555555", Options{Purpose: IdentityPool})
	must(t, err)
	poolSet, err := jwk.Parse(pool.JWKS(ctx))
	must(t, err)
	if _, err := jwt.Parse([]byte(signed), jwt.WithKeySet(poolSet)); err == nil {
		t.Error("a JWT of a signing ring verified with an identity pool's keys")
	}
}

// storedV1 is testdata/stored-v1.json: rings stored by the code before this package existed (the key
// ring of package identitypool), with what they sealed and signed. It must never be regenerated.
type storedV1 struct {
	PoolID          string `json:"pool_id"`
	PoolDocument    string `json:"pool_document"`
	SessionToken    string `json:"session_token"`
	PoolJWT         string `json:"pool_jwt"`
	SigningDocument string `json:"signing_document"`
	SigningJWT      string `json:"signing_jwt"`
}

func loadStoredV1(t *testing.T) storedV1 {
	t.Helper()
	data, err := os.ReadFile("testdata/stored-v1.json")
	must(t, err)
	var v storedV1
	must(t, json.Unmarshal(data, &v))
	return v
}

// TestLoadsRingsStoredBeforeThePackage: documents that the identity pool's key ring stored before it
// became this package load from the same storage keys, open what they sealed and verify what they
// signed, and are not rewritten while nothing is due.
func TestLoadsRingsStoredBeforeThePackage(t *testing.T) {
	t.Parallel()
	v := loadStoredV1(t)
	clock := newClock() // the clock the fixture was written at
	storage := &flakyStorage{Storage: NewMemoryStorage()}
	const signingKey = "caddy-cognito/signing-keys/assertion/keys.json"
	must(t, storage.Store(t.Context(), testPoolKey, []byte(v.PoolDocument)))
	must(t, storage.Store(t.Context(), signingKey, []byte(v.SigningDocument)))
	stores := storage.stores.Load()

	pool, err := New(t.Context(), storage, v.PoolID, Options{Purpose: IdentityPool, Now: clock.Now})
	must(t, err)
	signing, err := New(t.Context(), storage, "assertion", Options{Retention: 15 * time.Minute, Now: clock.Now})
	must(t, err)
	if storage.stores.Load() != stores {
		t.Fatal("loading rings that need nothing rewrote them")
	}

	raw, err := base64.RawURLEncoding.DecodeString(v.SessionToken)
	must(t, err)
	if _, _, err := pool.Open(t.Context(), raw, 1, []byte(v.PoolID)); err != nil {
		t.Fatalf("a session token sealed by the old ring: %v", err)
	}
	for _, c := range []struct {
		ring   *Ring
		signed string
	}{{pool, v.PoolJWT}, {signing, v.SigningJWT}} {
		set, err := jwk.Parse(c.ring.JWKS(t.Context()))
		must(t, err)
		if _, err := jwt.Parse([]byte(c.signed), jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(clock.Now))); err != nil {
			t.Fatalf("a JWT signed by the old %s ring: %v", c.ring.Name(), err)
		}
	}

	// A rotation writes the same document, with one more generation, where the old code read it.
	must(t, pool.Rotate(t.Context()))
	data, err := storage.Load(t.Context(), testPoolKey)
	must(t, err)
	var before, after map[string]any
	must(t, json.Unmarshal([]byte(v.PoolDocument), &before))
	must(t, json.Unmarshal(data, &after))
	for _, field := range []string{"version", "pool_id", "identity_key"} {
		if after[field] != before[field] {
			t.Fatalf("rotation changed %s from %v to %v", field, before[field], after[field])
		}
	}
	gens := after["generations"].([]any)
	if len(gens) != 2 || !reflect.DeepEqual(gens[0], before["generations"].([]any)[0]) || len(gens[1].(map[string]any)) != 5 {
		t.Fatalf("generations after rotation: %v", gens)
	}
	// Writers take the lock the old code took, so old and new instances on one storage exclude each other.
	if got := storage.lockNames(); !slices.Equal(got, []string{
		"caddy-cognito-identity-pool-keys-us-east-1_1cf667a2-49a6-454b-9e45-23199d2c39c4",
		"caddy-cognito-signing-keys-assertion",
		"caddy-cognito-identity-pool-keys-us-east-1_1cf667a2-49a6-454b-9e45-23199d2c39c4",
	}) {
		t.Fatalf("locks taken: %q", got)
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
