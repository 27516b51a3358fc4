package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/clip"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"go.uber.org/zap"
)

// Storage is where a Ring keeps its keys, shared by every instance that uses them. Caddy's storage
// (`certmagic.Storage`, from `ctx.Storage()`) satisfies it; NewMemoryStorage is one for a single process.
// Load must report a missing key with an error that matches fs.ErrNotExist.
type Storage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
}

// Purpose is what a ring serves. It decides where the ring lives in storage and what its name is.
type Purpose int

const (
	// Signing is a ring that signs JWTs and publishes their keys, such as the gateway's identity
	// assertions. Its name is 1 to 64 characters of [a-z0-9-]; it lives at
	// `caddy-cognito/signing-keys/<name>/keys.json`.
	Signing Purpose = iota
	// IdentityPool is an identity pool's ring. Its name is the pool id (`<region>:<uuid>`, checked by the
	// identitypool package), recorded in the stored document, which is refused under any other name; it
	// lives at `caddy-cognito/identity-pools/<region>_<uuid>/keys.json`.
	IdentityPool
)

// Options tune a Ring. Every ring that shares a name and storage should use the same values.
type Options struct {
	// Purpose is what the ring serves; default Signing.
	Purpose Purpose
	// Retention is the longest lifetime of anything the ring seals or signs: a retired key generation
	// keeps opening and verifying that long after it last sealed or signed, then leaves storage. For an
	// identity pool, the longest credentials lifetime; for identity assertions, their lifetime. Default
	// 12h (the STS maximum); at least 15m.
	Retention time.Duration
	// RotationInterval is how long one key generation seals and signs before a new one takes over.
	// Default 24h; at least 1m.
	RotationInterval time.Duration
	// RefetchInterval is the least time between two reloads from storage caused by a key id this instance
	// does not know (another instance may have rotated), so a flood of forged key ids costs one storage
	// read per interval. A new key generation is published that long before it seals anything, so any
	// instance can always load it in time. Default 30s; at most a quarter of RotationInterval.
	RefetchInterval time.Duration
	// StorageTimeout bounds each round trip to storage (lock, load, store). Default 10s.
	StorageTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives rotations and storage failures; default no logging.
	Logger *zap.Logger
}

// Ring holds a root key (never rotated, since what derives from it must stay stable) and key generations,
// each an AES-256-GCM key that seals and an ECDSA P-256 key that signs. A new generation is stored
// RefetchInterval before it becomes the one that seals and signs; older ones only open and verify until
// everything they sealed has expired. It is safe for concurrent use and starts no goroutines.
type Ring struct {
	// storage holds the keys, unless they are derived from secrets (a ring made by NewFromSecret).
	storage Storage
	secrets *derivation
	purpose Purpose
	// name is the ring's name; owner is what the stored document records (the pool id of an identity
	// pool's ring, empty for a signing ring); label names the ring in logs and errors.
	name, owner, label string
	// storageKey holds the key set; lockName serializes writers across instances.
	storageKey, lockName string

	rotation, retention, refetchEvery, storageTimeout time.Duration
	now                                               func() time.Time
	log                                               *zap.Logger

	set atomic.Pointer[keySet]
	// aadBufs holds buffers in which Open assembles the additional data.
	aadBufs sync.Pool

	// reloadMu deduplicates reloads and rotations; lastReload (unix nanoseconds) rate-limits reloads
	// caused by unknown key ids; lastRotateTry rate-limits rotations retried after a storage failure.
	reloadMu      sync.Mutex
	lastReload    atomic.Int64
	lastRotateTry time.Time
}

// keySet is one immutable view of the ring, swapped atomically as a whole.
type keySet struct {
	rootKey     []byte
	generations map[keyID]*generation
	// byActivation lists the generations, the latest activation first.
	byActivation []*generation
	// newest is the generation created last (maybe not active yet): rotation is due when it is old.
	newest *generation
	jwks   []byte
	// derived caches DeriveKey's keys (label to []byte) for this root key.
	derived *sync.Map
}

// active returns the generation that seals at now: the one activated last.
func (s *keySet) active(now time.Time) *generation {
	for _, g := range s.byActivation {
		if !g.openOnly && !now.Before(g.activates) {
			return g
		}
	}
	return nil
}

type keyID [KeyIDSize]byte

const (
	// KeyIDSize is the length of the key id that leads every envelope Seal makes, after the caller's header.
	KeyIDSize = 8
	// NonceSize and TagSize are the lengths of the AES-GCM nonce and tag in an envelope.
	NonceSize = 12
	TagSize   = 16
	// Overhead is what Seal adds to a plaintext besides the caller's header.
	Overhead = KeyIDSize + NonceSize + TagSize

	sealKeySize = 32
	rootKeySize = 32
	// retentionSkew covers clocks of instances that disagree a little about when a key expires.
	retentionSkew = 5 * time.Minute
	// storedVersion is the version of the stored key-set document.
	storedVersion = 1
)

type generation struct {
	id        keyID
	kid       string
	created   time.Time
	activates time.Time
	aead      cipher.AEAD
	signer    jwk.Key
	raw       storedGeneration
	// openOnly marks a generation derived from a previous secret: it opens and verifies, never seals.
	openOnly bool
}

// storedRing is the document kept in Storage. Byte slices are base64 in JSON. The field names predate
// this package (rings were an identity pool's): PoolID is the owner, IdentityKey the root key.
type storedRing struct {
	Version     int                `json:"version"`
	PoolID      string             `json:"pool_id"`
	IdentityKey []byte             `json:"identity_key"`
	Generations []storedGeneration `json:"generations"`
}

type storedGeneration struct {
	ID []byte `json:"id"`
	// Created and Activates are unix seconds: when the generation was stored and when it starts sealing.
	Created   int64  `json:"created"`
	Activates int64  `json:"activates"`
	SealKey   []byte `json:"seal_key"`
	// SigningKey is the ECDSA P-256 private key, PKCS #8 DER.
	SigningKey []byte `json:"signing_key"`
	// openOnly is set on generations derived from a previous secret; never stored.
	openOnly bool
}

// ErrNoSealingKey means the ring has no key young enough to seal or sign with: rotation is overdue and
// storage could not be reached to rotate.
var ErrNoSealingKey = errors.New("no usable sealing key")

// New loads the ring called name from storage, generating and storing it on first use. It holds the
// storage lock while doing so, so instances that start together agree on one key set. A key generation
// due for rotation is rotated at once. What name may be, and where the ring lives, depend on
// opts.Purpose.
func New(ctx context.Context, s Storage, name string, opts Options) (*Ring, error) {
	if s == nil {
		return nil, errors.New("creating key ring: storage is nil")
	}
	k, err := newRing(name, opts)
	if err != nil {
		return nil, err
	}
	k.storage = s
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if err := k.update(ctx, false); err != nil {
		return nil, fmt.Errorf("creating key ring %s: %w", k.storageKey, err)
	}
	return k, nil
}

// newRing checks name and opts and returns a ring with no keys yet.
func newRing(name string, opts Options) (*Ring, error) {
	k := &Ring{name: name, purpose: opts.Purpose}
	switch opts.Purpose {
	case Signing:
		if name == "" || len(name) > 64 || strings.Trim(name, nameChars) != "" {
			return nil, fmt.Errorf("creating key ring: name %q is not 1 to 64 characters of [a-z0-9-]", clip.String(name, 70))
		}
		k.label = "signing keys " + name
		k.storageKey = "caddy-cognito/signing-keys/" + name + "/keys.json"
		k.lockName = "caddy-cognito-signing-keys-" + name
	case IdentityPool:
		region, id, ok := strings.Cut(name, ":")
		if !ok || region == "" || id == "" || len(name) > 64 || strings.Trim(region, nameChars) != "" || strings.Trim(id, nameChars) != "" {
			return nil, fmt.Errorf("creating key ring: name %q is not an identity pool id", clip.String(name, 70))
		}
		k.owner, k.label = name, name
		k.storageKey = "caddy-cognito/identity-pools/" + region + "_" + id + "/keys.json"
		k.lockName = "caddy-cognito-identity-pool-keys-" + region + "_" + id
	default:
		return nil, fmt.Errorf("creating key ring: unknown purpose %d", opts.Purpose)
	}
	k.rotation = orDefault(opts.RotationInterval, 24*time.Hour)
	k.retention = orDefault(opts.Retention, 12*time.Hour)
	k.refetchEvery = orDefault(opts.RefetchInterval, 30*time.Second)
	k.storageTimeout = orDefault(opts.StorageTimeout, 10*time.Second)
	k.now, k.log = opts.Now, opts.Logger
	if k.rotation < time.Minute {
		return nil, fmt.Errorf("creating key ring: rotation interval %s is shorter than 1m", k.rotation)
	}
	if k.retention < 15*time.Minute {
		return nil, fmt.Errorf("creating key ring: retention %s is shorter than 15m", k.retention)
	}
	if k.refetchEvery < 0 || k.storageTimeout < 0 {
		return nil, errors.New("creating key ring: negative refetch interval or storage timeout")
	}
	if 4*k.refetchEvery > k.rotation {
		return nil, fmt.Errorf("creating key ring: refetch interval %s is more than a quarter of the rotation interval %s",
			k.refetchEvery, k.rotation)
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.log == nil {
		k.log = zap.NewNop()
	}
	k.aadBufs.New = func() any {
		b := make([]byte, 0, 128)
		return &b
	}
	return k, nil
}

const nameChars = "abcdefghijklmnopqrstuvwxyz0123456789-"

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Name is the ring's name: for an identity pool's ring, the pool id.
func (k *Ring) Name() string { return k.name }

// Retention is the longest lifetime the ring guarantees to whatever it seals or signs.
func (k *Ring) Retention() time.Duration { return k.retention }

// Rotate stores a new key generation, whatever the age of the current one; it takes over sealing and
// signing RefetchInterval later (at once if nothing else can seal). Older generations keep opening and
// verifying until what they sealed has expired.
func (k *Ring) Rotate(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if err := k.update(ctx, true); err != nil {
		return fmt.Errorf("rotating keys of %s: %w", k.label, err)
	}
	return nil
}

// update runs, under the storage lock, load-modify-store: it generates what is missing, rotates when due
// (or when force is set), drops expired generations and installs the result. Caller holds reloadMu.
func (k *Ring) update(ctx context.Context, force bool) error {
	if k.secrets != nil {
		return k.derive()
	}
	ctx, cancel := context.WithTimeout(ctx, k.storageTimeout)
	defer cancel()
	if err := k.storage.Lock(ctx, k.lockName); err != nil {
		return fmt.Errorf("locking %s: %w", k.lockName, err)
	}
	defer func() {
		// Unlock with a fresh context: the lock must be released even if ctx has expired meanwhile.
		uctx, ucancel := context.WithTimeout(context.Background(), k.storageTimeout)
		defer ucancel()
		if err := k.storage.Unlock(uctx, k.lockName); err != nil {
			k.log.Error("unlocking identity pool keys", zap.String("key_ring", k.label), zap.Error(err))
		}
	}()

	now := k.now()
	doc, err := k.load(ctx)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	changed := false
	if doc == nil {
		doc = &storedRing{Version: storedVersion, PoolID: k.owner, IdentityKey: randomBytes(rootKeySize)}
		if set := k.set.Load(); set != nil {
			// The document vanished from storage while this instance holds the keys: write them back
			// rather than start over, which would change everything derived from the root key (an
			// identity pool's identity ids) and orphan everything sealed.
			k.log.Warn("identity pool keys missing from storage; restoring them", zap.String("key_ring", k.label))
			doc.IdentityKey = set.rootKey
			for _, g := range set.byActivation {
				doc.Generations = append(doc.Generations, g.raw)
			}
		}
		changed = true
	}
	kept := doc.Generations[:0]
	usable := false
	for _, g := range doc.Generations {
		activates := time.Unix(g.Activates, 0)
		if now.Before(k.retainUntil(activates)) {
			kept = append(kept, g)
			usable = usable || !now.Before(activates) && now.Before(k.sealUntil(activates))
		} else {
			changed = true
		}
	}
	doc.Generations = kept
	if force || len(doc.Generations) == 0 || !now.Before(time.Unix(newestCreated(doc), 0).Add(k.rotation)) {
		// Published ahead of use, so every instance has loaded it (or may reload) before it seals; at once
		// only when nothing else can seal.
		activates := now.Add(k.refetchEvery)
		if !usable {
			activates = now
		}
		g, err := newStoredGeneration(now, activates)
		if err != nil {
			return err
		}
		doc.Generations = append(doc.Generations, g)
		changed = true
		k.log.Info("new identity pool key generation", zap.String("key_ring", k.label),
			zap.String("kid", base64.RawURLEncoding.EncodeToString(g.ID)))
	}
	set, err := k.buildSet(doc)
	if err != nil {
		return err
	}
	if changed {
		data, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding keys: %w", err)
		}
		if err := k.storage.Store(ctx, k.storageKey, data); err != nil {
			return fmt.Errorf("storing keys in %s: %w", k.storageKey, err)
		}
	}
	k.set.Store(set)
	k.lastReload.Store(now.UnixNano())
	return nil
}

// reload installs what storage holds, without the lock: writers replace the whole document. Caller holds
// reloadMu.
func (k *Ring) reload(ctx context.Context) error {
	if k.secrets != nil {
		return k.derive()
	}
	ctx, cancel := context.WithTimeout(ctx, k.storageTimeout)
	defer cancel()
	k.lastReload.Store(k.now().UnixNano())
	doc, err := k.load(ctx)
	if err != nil {
		return err
	}
	set, err := k.buildSet(doc)
	if err != nil {
		return err
	}
	k.set.Store(set)
	return nil
}

// refetch reloads from storage unless that was done less than RefetchInterval ago.
func (k *Ring) refetch(ctx context.Context) {
	if !k.reloadDue() {
		return
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if !k.reloadDue() {
		return
	}
	if err := k.reload(ctx); err != nil {
		k.log.Warn("reloading identity pool keys", zap.String("key_ring", k.label), zap.Error(err))
	}
}

func (k *Ring) reloadDue() bool {
	return k.now().Sub(time.Unix(0, k.lastReload.Load())) >= k.refetchEvery
}

func (k *Ring) load(ctx context.Context) (*storedRing, error) {
	data, err := k.storage.Load(ctx, k.storageKey)
	if err != nil {
		return nil, fmt.Errorf("loading keys from %s: %w", k.storageKey, err)
	}
	var doc storedRing
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding keys from %s: %w", k.storageKey, err)
	}
	if doc.Version != storedVersion {
		return nil, fmt.Errorf("keys in %s have version %d, want %d", k.storageKey, doc.Version, storedVersion)
	}
	if doc.PoolID != k.owner {
		return nil, fmt.Errorf("keys in %s belong to pool %q, not %q", k.storageKey, doc.PoolID, k.owner)
	}
	if len(doc.IdentityKey) != rootKeySize {
		return nil, fmt.Errorf("keys in %s: identity key has %d bytes, want %d", k.storageKey, len(doc.IdentityKey), rootKeySize)
	}
	return &doc, nil
}

func newestCreated(doc *storedRing) int64 {
	var newest int64
	for _, g := range doc.Generations {
		newest = max(newest, g.Created)
	}
	return newest
}

func newStoredGeneration(now, activates time.Time) (storedGeneration, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return storedGeneration{}, fmt.Errorf("generating signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storedGeneration{}, fmt.Errorf("encoding signing key: %w", err)
	}
	return storedGeneration{
		ID:         randomBytes(KeyIDSize),
		Created:    now.Unix(),
		Activates:  activates.Unix(),
		SealKey:    randomBytes(sealKeySize),
		SigningKey: der,
	}, nil
}

// buildSet turns a stored document into the in-memory set, dropping expired generations.
func (k *Ring) buildSet(doc *storedRing) (*keySet, error) {
	now := k.now()
	set := &keySet{
		rootKey:     doc.IdentityKey,
		generations: make(map[keyID]*generation, len(doc.Generations)),
		derived:     new(sync.Map),
	}
	public := jwk.NewSet()
	for _, sg := range doc.Generations {
		if !now.Before(k.retainUntil(time.Unix(sg.Activates, 0))) {
			continue
		}
		g, err := openGeneration(sg)
		if err != nil {
			return nil, fmt.Errorf("keys in %s: %w", k.storageKey, err)
		}
		if _, dup := set.generations[g.id]; dup {
			return nil, fmt.Errorf("keys in %s: duplicate key id %s", k.storageKey, g.kid)
		}
		set.generations[g.id] = g
		set.byActivation = append(set.byActivation, g)
		if set.newest == nil || g.created.After(set.newest.created) {
			set.newest = g
		}
		pub, err := g.signer.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("public key of %s: %w", g.kid, err)
		}
		if err := public.AddKey(pub); err != nil {
			return nil, fmt.Errorf("publishing key %s: %w", g.kid, err)
		}
	}
	if set.newest == nil {
		return nil, fmt.Errorf("keys in %s: no generation is still valid", k.storageKey)
	}
	slices.SortFunc(set.byActivation, func(a, b *generation) int { return b.activates.Compare(a.activates) })
	jwks, err := json.Marshal(public)
	if err != nil {
		return nil, fmt.Errorf("encoding JWKS: %w", err)
	}
	set.jwks = jwks
	return set, nil
}

func openGeneration(sg storedGeneration) (*generation, error) {
	if len(sg.ID) != KeyIDSize || len(sg.SealKey) != sealKeySize || sg.Activates < sg.Created {
		return nil, errors.New("key generation with a malformed id, sealing key or activation time")
	}
	g := &generation{created: time.Unix(sg.Created, 0), activates: time.Unix(sg.Activates, 0), raw: sg, openOnly: sg.openOnly}
	copy(g.id[:], sg.ID)
	g.kid = base64.RawURLEncoding.EncodeToString(sg.ID)
	block, err := aes.NewCipher(sg.SealKey)
	if err != nil {
		return nil, fmt.Errorf("sealing key %s: %w", g.kid, err)
	}
	if g.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("sealing key %s: %w", g.kid, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(sg.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", g.kid, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("signing key %s is not ECDSA P-256", g.kid)
	}
	if g.signer, err = jwk.Import(priv); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", g.kid, err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: g.kid, jwk.AlgorithmKey: jwa.ES256(), jwk.KeyUsageKey: "sig"} {
		if err := g.signer.Set(name, v); err != nil {
			return nil, fmt.Errorf("signing key %s: setting %s: %w", g.kid, name, err)
		}
	}
	return g, nil
}

// sealUntil is when a generation activated at activates stops sealing: it is replaced after about one
// rotation interval, and may seal for a second one only while storage is unreachable.
func (k *Ring) sealUntil(activates time.Time) time.Time { return activates.Add(k.sealWindow()) }

// retainUntil is when a generation is dropped: after everything it may have sealed has expired.
func (k *Ring) retainUntil(activates time.Time) time.Time {
	return k.sealUntil(activates).Add(k.retention + retentionSkew)
}

// current returns the generation to seal and sign with, rotating first when the newest is due. Only one
// caller at a time talks to storage, at most once per RefetchInterval; the others keep sealing with the
// current generation, which stays usable for a second rotation interval.
func (k *Ring) current(ctx context.Context) (*generation, error) {
	now := k.now()
	set := k.set.Load()
	if g := set.active(now); g != nil && now.Before(set.newest.created.Add(k.rotation)) && now.Before(k.sealUntil(g.activates)) {
		return g, nil
	}
	if k.reloadMu.TryLock() {
		if now.Sub(k.lastRotateTry) >= k.refetchEvery {
			k.lastRotateTry = now
			if err := k.update(ctx, false); err != nil {
				k.log.Error("rotating identity pool keys", zap.String("key_ring", k.label), zap.Error(err))
			}
		}
		k.reloadMu.Unlock()
	}
	g := k.set.Load().active(now)
	if g == nil || !now.Before(k.sealUntil(g.activates)) {
		return nil, fmt.Errorf("%w: %s could not rotate its keys", ErrNoSealingKey, k.label)
	}
	return g, nil
}

// generation returns the generation with the id, reloading from storage (rate-limited) when it is unknown.
func (k *Ring) generation(ctx context.Context, id keyID) *generation {
	if g := k.set.Load().generations[id]; g != nil {
		return g
	}
	// Look again whatever refetch did: a concurrent reload may have brought the generation and made this
	// one's reload not due.
	k.refetch(ctx)
	return k.set.Load().generations[id]
}

// DeriveKey returns a 32-byte key derived from the ring's root key under label: HMAC-SHA256(root key,
// label). The root key never rotates, so neither does the derived key; it suits what must stay stable for
// the ring's whole life, such as an identity pool's identity ids. The result must not be modified.
func (k *Ring) DeriveKey(label string) []byte {
	set := k.set.Load()
	if key, ok := set.derived.Load(label); ok {
		return key.([]byte)
	}
	key := deriveKey(set.rootKey, label)
	set.derived.Store(label, key)
	return key
}

func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// randomBytes reads n bytes from crypto/rand, which never fails (it crashes the program instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
