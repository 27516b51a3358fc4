package identitypool

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

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"go.uber.org/zap"
)

// Storage is where a KeyRing keeps the pool's keys, shared by every instance that serves or verifies the
// pool. Caddy's storage (`certmagic.Storage`, from `ctx.Storage()`) satisfies it; NewMemoryStorage is one
// for a single process. Load must report a missing key with an error that matches fs.ErrNotExist.
type Storage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
}

// KeyRingOptions tune a KeyRing. Every instance that shares a pool's storage should use the same values.
type KeyRingOptions struct {
	// RotationInterval is how long one key generation seals credentials and signs OpenID tokens before a
	// new one takes over. Default 24h; at least 1m.
	RotationInterval time.Duration
	// MaxCredentialsTTL is the longest lifetime of anything the ring seals or signs; a retired key is kept
	// for verification that long after it last sealed. Default 12h (the STS maximum); at least 15m.
	MaxCredentialsTTL time.Duration
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

// KeyRing holds an identity pool's secrets: the identity key (never rotated, since identity ids derive from
// it), and key generations, each an AES-256-GCM key that seals session tokens and an ECDSA P-256 key that
// signs OpenID tokens. A new generation is stored RefetchInterval before it becomes the one that seals and
// signs; older ones only verify until everything they sealed has expired. It is safe for concurrent use
// and starts no goroutines.
type KeyRing struct {
	storage Storage
	poolID  string
	// name identifies the ring in logs and errors: the pool id, or "signing keys <name>".
	name string
	// storageKey holds the key set; lockName serializes writers across instances.
	storageKey, lockName string

	rotation, maxTTL, refetchEvery, storageTimeout time.Duration
	now                                            func() time.Time
	log                                            *zap.Logger

	set atomic.Pointer[keySet]
	// tokenBufs holds buffers for decoding session tokens: a decoded token of the longest accepted length,
	// then room for the additional data (header and pool id).
	tokenBufs sync.Pool

	// reloadMu deduplicates reloads and rotations; lastReload (unix nanoseconds) rate-limits reloads
	// caused by unknown key ids; lastRotateTry rate-limits rotations retried after a storage failure.
	reloadMu      sync.Mutex
	lastReload    atomic.Int64
	lastRotateTry time.Time
}

// keySet is one immutable view of the ring, swapped atomically as a whole.
type keySet struct {
	identityKey                       []byte
	identityAuthKey, identityGuestKey []byte
	generations                       map[keyID]*generation
	// byActivation lists the generations, the latest activation first.
	byActivation []*generation
	// newest is the generation created last (maybe not active yet): rotation is due when it is old.
	newest *generation
	jwks   []byte
}

// active returns the generation that seals at now: the one activated last.
func (s *keySet) active(now time.Time) *generation {
	for _, g := range s.byActivation {
		if !now.Before(g.activates) {
			return g
		}
	}
	return nil
}

type keyID [keyIDSize]byte

const (
	keyIDSize       = 8
	sealKeySize     = 32
	identityKeySize = 32
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
}

// storedKeyRing is the document kept in Storage. Byte slices are base64 in JSON.
type storedKeyRing struct {
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
}

// ErrNoSealingKey means the ring has no key young enough to seal with: rotation is overdue and storage
// could not be reached to rotate.
var ErrNoSealingKey = errors.New("no usable sealing key")

// NewKeyRing loads the pool's keys from storage, generating and storing them on first use. It holds the
// storage lock while doing so, so instances that start together agree on one key set. A key generation
// due for rotation is rotated at once.
func NewKeyRing(ctx context.Context, s Storage, poolID string, opts KeyRingOptions) (*KeyRing, error) {
	region, uuid, err := splitPoolID(poolID)
	if err != nil {
		return nil, fmt.Errorf("creating key ring: %w", err)
	}
	return newKeyRing(ctx, s, poolID, poolID, "caddy-cognito/identity-pools/"+region+"_"+uuid+"/keys.json",
		"caddy-cognito-identity-pool-keys-"+region+"_"+uuid, opts)
}

// NewSigningKeyRing is a key ring that only signs JWTs (SignJWT) and publishes their keys (JWKS), kept
// in storage under name like a pool's, so every instance on the storage signs with keys the others
// publish. The gateway's identity assertions use one. name is 1 to 64 characters of [a-z0-9-].
func NewSigningKeyRing(ctx context.Context, s Storage, name string, opts KeyRingOptions) (*KeyRing, error) {
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return nil, fmt.Errorf("creating key ring: name %q is not 1 to 64 characters of [a-z0-9-]", truncate(name, 70))
	}
	return newKeyRing(ctx, s, "", "signing keys "+name, "caddy-cognito/signing-keys/"+name+"/keys.json",
		"caddy-cognito-signing-keys-"+name, opts)
}

func newKeyRing(ctx context.Context, s Storage, poolID, name, storageKey, lockName string, opts KeyRingOptions) (*KeyRing, error) {
	if s == nil {
		return nil, errors.New("creating key ring: storage is nil")
	}
	k := &KeyRing{
		storage:        s,
		poolID:         poolID,
		name:           name,
		storageKey:     storageKey,
		lockName:       lockName,
		rotation:       orDefault(opts.RotationInterval, 24*time.Hour),
		maxTTL:         orDefault(opts.MaxCredentialsTTL, 12*time.Hour),
		refetchEvery:   orDefault(opts.RefetchInterval, 30*time.Second),
		storageTimeout: orDefault(opts.StorageTimeout, 10*time.Second),
		now:            opts.Now,
		log:            opts.Logger,
	}
	if k.rotation < time.Minute {
		return nil, fmt.Errorf("creating key ring: rotation interval %s is shorter than 1m", k.rotation)
	}
	if k.maxTTL < 15*time.Minute {
		return nil, fmt.Errorf("creating key ring: max credentials TTL %s is shorter than 15m", k.maxTTL)
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
	k.tokenBufs.New = func() any {
		b := make([]byte, base64.RawURLEncoding.DecodedLen(maxSessionTokenLen)+sessionHeaderSize+len(poolID))
		return &b
	}
	if k.log == nil {
		k.log = zap.NewNop()
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if err := k.update(ctx, false); err != nil {
		return nil, fmt.Errorf("creating key ring %s: %w", storageKey, err)
	}
	return k, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// PoolID is the identity pool the ring holds keys for.
func (k *KeyRing) PoolID() string { return k.poolID }

// MaxCredentialsTTL is the longest lifetime the ring accepts for what it seals.
func (k *KeyRing) MaxCredentialsTTL() time.Duration { return k.maxTTL }

// Rotate stores a new key generation, whatever the age of the current one; it takes over sealing and
// signing RefetchInterval later (at once if nothing else can seal). Older generations keep verifying
// until what they sealed has expired.
func (k *KeyRing) Rotate(ctx context.Context) error {
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if err := k.update(ctx, true); err != nil {
		return fmt.Errorf("rotating keys of %s: %w", k.name, err)
	}
	return nil
}

// update runs, under the storage lock, load-modify-store: it generates what is missing, rotates when due
// (or when force is set), drops expired generations and installs the result. Caller holds reloadMu.
func (k *KeyRing) update(ctx context.Context, force bool) error {
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
			k.log.Error("unlocking identity pool keys", zap.String("key_ring", k.name), zap.Error(err))
		}
	}()

	now := k.now()
	doc, err := k.load(ctx)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	changed := false
	if doc == nil {
		doc = &storedKeyRing{Version: storedVersion, PoolID: k.poolID, IdentityKey: randomBytes(identityKeySize)}
		if set := k.set.Load(); set != nil {
			// The document vanished from storage while this instance holds the keys: write them back
			// rather than start over, which would change every identity id and orphan every credential.
			k.log.Warn("identity pool keys missing from storage; restoring them", zap.String("key_ring", k.name))
			doc.IdentityKey = set.identityKey
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
		k.log.Info("new identity pool key generation", zap.String("key_ring", k.name),
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
func (k *KeyRing) reload(ctx context.Context) error {
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
func (k *KeyRing) refetch(ctx context.Context) {
	if !k.reloadDue() {
		return
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	if !k.reloadDue() {
		return
	}
	if err := k.reload(ctx); err != nil {
		k.log.Warn("reloading identity pool keys", zap.String("key_ring", k.name), zap.Error(err))
	}
}

func (k *KeyRing) load(ctx context.Context) (*storedKeyRing, error) {
	data, err := k.storage.Load(ctx, k.storageKey)
	if err != nil {
		return nil, fmt.Errorf("loading keys from %s: %w", k.storageKey, err)
	}
	var doc storedKeyRing
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding keys from %s: %w", k.storageKey, err)
	}
	if doc.Version != storedVersion {
		return nil, fmt.Errorf("keys in %s have version %d, want %d", k.storageKey, doc.Version, storedVersion)
	}
	if doc.PoolID != k.poolID {
		return nil, fmt.Errorf("keys in %s belong to pool %q, not %q", k.storageKey, doc.PoolID, k.poolID)
	}
	if len(doc.IdentityKey) != identityKeySize {
		return nil, fmt.Errorf("keys in %s: identity key has %d bytes, want %d", k.storageKey, len(doc.IdentityKey), identityKeySize)
	}
	return &doc, nil
}

func newestCreated(doc *storedKeyRing) int64 {
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
		ID:         randomBytes(keyIDSize),
		Created:    now.Unix(),
		Activates:  activates.Unix(),
		SealKey:    randomBytes(sealKeySize),
		SigningKey: der,
	}, nil
}

// buildSet turns a stored document into the in-memory set, dropping expired generations.
func (k *KeyRing) buildSet(doc *storedKeyRing) (*keySet, error) {
	now := k.now()
	set := &keySet{
		identityKey:      doc.IdentityKey,
		identityAuthKey:  deriveKey(doc.IdentityKey, "caddy-cognito authenticated identity id v1"),
		identityGuestKey: deriveKey(doc.IdentityKey, "caddy-cognito guest identity id v1"),
		generations:      make(map[keyID]*generation, len(doc.Generations)),
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
	if len(sg.ID) != keyIDSize || len(sg.SealKey) != sealKeySize || sg.Activates < sg.Created {
		return nil, errors.New("key generation with a malformed id, sealing key or activation time")
	}
	g := &generation{created: time.Unix(sg.Created, 0), activates: time.Unix(sg.Activates, 0), raw: sg}
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
func (k *KeyRing) sealUntil(activates time.Time) time.Time { return activates.Add(2 * k.rotation) }

// retainUntil is when a generation is dropped: after everything it may have sealed has expired.
func (k *KeyRing) retainUntil(activates time.Time) time.Time {
	return k.sealUntil(activates).Add(k.maxTTL + retentionSkew)
}

// current returns the generation to seal and sign with, rotating first when the newest is due. Only one
// caller at a time talks to storage, at most once per RefetchInterval; the others keep sealing with the
// current generation, which stays usable for a second rotation interval.
func (k *KeyRing) current(ctx context.Context) (*generation, error) {
	now := k.now()
	set := k.set.Load()
	if g := set.active(now); g != nil && now.Before(set.newest.created.Add(k.rotation)) && now.Before(k.sealUntil(g.activates)) {
		return g, nil
	}
	if k.reloadMu.TryLock() {
		if now.Sub(k.lastRotateTry) >= k.refetchEvery {
			k.lastRotateTry = now
			if err := k.update(ctx, false); err != nil {
				k.log.Error("rotating identity pool keys", zap.String("key_ring", k.name), zap.Error(err))
			}
		}
		k.reloadMu.Unlock()
	}
	g := k.set.Load().active(now)
	if g == nil || !now.Before(k.sealUntil(g.activates)) {
		return nil, fmt.Errorf("%w: %s could not rotate its keys", ErrNoSealingKey, k.name)
	}
	return g, nil
}

// generation returns the generation with the id, reloading from storage (rate-limited) when it is unknown.
func (k *KeyRing) generation(ctx context.Context, id keyID) *generation {
	if g := k.set.Load().generations[id]; g != nil {
		return g
	}
	// Look again whatever refetch did: a concurrent reload may have brought the generation and made this
	// one's reload not due.
	k.refetch(ctx)
	return k.set.Load().generations[id]
}

// SignJWT signs t with the newest active key generation (ES256, its key id in `kid`).
func (k *KeyRing) SignJWT(ctx context.Context, t jwt.Token) (string, error) {
	g, err := k.current(ctx)
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(t, jwt.WithKey(jwa.ES256(), g.signer))
	if err != nil {
		return "", fmt.Errorf("signing a JWT: %w", err)
	}
	return string(signed), nil
}

// JWKS returns the public keys that verify the pool's OpenID tokens, as a JSON Web Key Set. Keys another
// instance added are picked up at most RefetchInterval later.
func (k *KeyRing) JWKS(ctx context.Context) []byte {
	k.refetch(ctx)
	return k.set.Load().jwks
}

func (k *KeyRing) reloadDue() bool {
	return k.now().Sub(time.Unix(0, k.lastReload.Load())) >= k.refetchEvery
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

// splitPoolID checks an identity pool id, `<region>:<uuid>` with a lower-case uuid, and splits it.
func splitPoolID(id string) (region, uuid string, err error) {
	region, uuid, ok := strings.Cut(id, ":")
	if !ok || len(id) > 55 || !validRegion(region) || !validUUID(uuid) {
		return "", "", fmt.Errorf("identity pool id %q is not <region>:<uuid>, e.g. us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4", truncate(id, 64))
	}
	return region, uuid, nil
}

// validRegion accepts AWS region names: lower-case words and a number joined by dashes (us-east-1,
// us-gov-west-1, cn-north-1).
func validRegion(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) < 3 || len(r) > 25 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		last := i == len(parts)-1
		for _, c := range []byte(p) {
			if last && (c < '0' || c > '9') || !last && (c < 'a' || c > 'z') {
				return false
			}
		}
	}
	return true
}

// validUUID accepts the canonical lower-case form 8-4-4-4-12.
func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i := range len(u) {
		c := u[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
