package keyring

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Secret is what a fleet shares instead of storage: every key of a ring made by NewFromSecret is derived
// from Current, and from Previous (optional) while a secret is being rotated. Previous only opens and
// verifies what it sealed and signed, until that has expired.
//
// IdentitySecret (optional, default Current) is the secret of the root key (DeriveKey), from which an
// identity pool derives its identity ids: an authenticated user's id, which applications keep (an S3
// prefix, a database row, an IAM policy's ${cognito-identity.amazonaws.com:sub}), and the MAC that
// makes guest ids unforgeable. Those must outlive a routine rotation of the key secret, so the root
// has its own secret and does not follow Current. An identity pool's ring with a Previous secret and
// no IdentitySecret is refused: that is the moment identity ids would change silently, and the
// operator chooses instead, keeping them (IdentitySecret set to the secret they came from, the previous
// one on a first rotation) or, after a compromise of that secret, changing them all (IdentitySecret
// set to the new one, which also orphans every guest id).
type Secret struct {
	Current, Previous []byte
	IdentitySecret    []byte
}

// MinSecretSize is the shortest secret ValidateSecret accepts.
const MinSecretSize = 32

// ErrIdentitySecretNeeded means an identity pool's key secret is being rotated (a previous secret is
// set) with no identity secret: the identity ids would change with the secret. See Secret.
var ErrIdentitySecretNeeded = errors.New("creating key ring: a previous key secret is set without an identity secret; " +
	"set the identity secret to the secret the identity ids come from (the previous one, to keep them) or to the current one (to change them all)")

// ErrWeakSecret means a secret is too short or too regular to derive keys from. Errors that wrap it never
// contain the secret.
var ErrWeakSecret = errors.New("key secret is too weak")

// ValidateSecret checks that secret can be a key secret: at least MinSecretSize bytes, not a placeholder
// left unexpanded or unchanged, not a short pattern repeated, and with enough distinct bytes to be random
// (a random 32-character hex string has about 15 of its 16 possible bytes). The error never contains the
// secret.
func ValidateSecret(secret []byte) error {
	if len(secret) < MinSecretSize {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrWeakSecret, len(secret), MinSecretSize)
	}
	lower := strings.ToLower(string(secret))
	for _, p := range placeholders {
		if strings.Contains(lower, p) {
			return fmt.Errorf("%w: it looks like a placeholder", ErrWeakSecret)
		}
	}
	for period := 1; period <= len(secret)/2; period++ {
		if bytes.Equal(secret[period:], secret[:len(secret)-period]) {
			return fmt.Errorf("%w: it repeats a pattern of %d bytes", ErrWeakSecret, period)
		}
	}
	var seen [256]bool
	distinct := 0
	for _, b := range secret {
		if !seen[b] {
			seen[b] = true
			distinct++
		}
	}
	if distinct < minDistinctBytes {
		return fmt.Errorf("%w: only %d distinct bytes, want at least %d", ErrWeakSecret, distinct, minDistinctBytes)
	}
	return nil
}

const (
	minDistinctBytes = 10
	// maxDerivedEpochs bounds how many epochs a derived ring keeps per secret (each one an ECDSA key in
	// the JWKS): Retention over RotationInterval may not be much more than this.
	maxDerivedEpochs = 64
	derivationLabel  = "caddy-cognito keyring v1"
)

// placeholders are lowercase fragments of secrets nobody meant to deploy: an unexpanded Caddy
// placeholder, or documentation's stand-ins.
var placeholders = []string{"{env.", "{$", "changeme", "change-me", "change_me", "replace", "placeholder", "example", "your-secret", "yoursecret", "secret-here"}

// derivation holds the secrets of a derived ring with their fingerprints, which key ids carry so an
// envelope names the secret that sealed it without revealing anything of it.
type derivation struct {
	current, previous     []byte
	currentFP, previousFP [4]byte
	// identity is the secret of the root key.
	identity    []byte
	hasPrevious bool
}

func fingerprint(secret []byte) [4]byte {
	fp, _ := hkdf.Key(sha256.New, secret, nil, derivationLabel+"|fingerprint", 4)
	return [4]byte(fp)
}

// NewFromSecret returns the ring called name (as for New) whose keys are derived from secret with
// HKDF-SHA256, per purpose, per name and per rotation epoch (the unix time over RotationInterval), so
// that every instance sharing the secret and the options holds the same keys with no storage. A key id
// is the secret's fingerprint (4 bytes derived from it) and the epoch (4 bytes, big-endian).
//
// The root key (DeriveKey) is derived from Secret.IdentitySecret, or the current secret when that is
// unset: see Secret. Options.RefetchInterval and StorageTimeout are not used.
func NewFromSecret(name string, secret Secret, opts Options) (*Ring, error) {
	if err := ValidateSecret(secret.Current); err != nil {
		return nil, fmt.Errorf("creating key ring: current secret: %w", err)
	}
	d := &derivation{current: bytes.Clone(secret.Current), currentFP: fingerprint(secret.Current)}
	if len(secret.Previous) > 0 {
		if err := ValidateSecret(secret.Previous); err != nil {
			return nil, fmt.Errorf("creating key ring: previous secret: %w", err)
		}
		d.previous, d.previousFP, d.hasPrevious = bytes.Clone(secret.Previous), fingerprint(secret.Previous), true
		if d.previousFP == d.currentFP {
			return nil, errors.New("creating key ring: the previous secret is the current one")
		}
	}
	d.identity = d.current
	if len(secret.IdentitySecret) > 0 {
		if err := ValidateSecret(secret.IdentitySecret); err != nil {
			return nil, fmt.Errorf("creating key ring: identity secret: %w", err)
		}
		d.identity = bytes.Clone(secret.IdentitySecret)
	}
	k, err := newRing(name, opts)
	if err != nil {
		return nil, err
	}
	if k.purpose == IdentityPool && d.hasPrevious && len(secret.IdentitySecret) == 0 {
		return nil, ErrIdentitySecretNeeded
	}
	if epochs := (k.sealWindow() + k.retention + retentionSkew) / k.rotation; epochs > maxDerivedEpochs {
		return nil, fmt.Errorf("creating key ring: rotation interval %s is too short for retention %s (at most %d epochs may be live)",
			k.rotation, k.retention, maxDerivedEpochs)
	}
	k.secrets = d
	k.storageKey = "keys derived for " + k.label
	if err := k.derive(); err != nil {
		return nil, fmt.Errorf("creating key ring %s: %w", k.label, err)
	}
	return k, nil
}

// sealWindow is how long after its activation a generation may seal.
func (k *Ring) sealWindow() time.Duration { return 2 * k.rotation }

// derive installs the generations of every epoch still live at now, and the next one (published ahead,
// for instances whose clocks run a little fast), for the current and the previous secret.
func (k *Ring) derive() error {
	now := k.now()
	rot := int64(k.rotation / time.Second)
	current := now.Unix() / rot
	oldest := (now.Add(-k.sealWindow()-k.retention-retentionSkew).Unix())/rot + 1
	d := k.secrets
	doc := &storedRing{Version: storedVersion, PoolID: k.owner}
	root, err := hkdf.Key(sha256.New, d.identity, nil, k.derivationInfo("root"), rootKeySize)
	if err != nil {
		return fmt.Errorf("deriving the root key: %w", err)
	}
	doc.IdentityKey = root
	for epoch := max(oldest, 0); epoch <= current+1; epoch++ {
		g, err := k.deriveGeneration(d.current, d.currentFP, epoch, rot)
		if err != nil {
			return err
		}
		doc.Generations = append(doc.Generations, g)
		if d.hasPrevious {
			g, err := k.deriveGeneration(d.previous, d.previousFP, epoch, rot)
			if err != nil {
				return err
			}
			g.openOnly = true
			doc.Generations = append(doc.Generations, g)
		}
	}
	set, err := k.buildSet(doc)
	if err != nil {
		return err
	}
	k.set.Store(set)
	k.lastReload.Store(now.UnixNano())
	return nil
}

// derivationInfo is the HKDF info of one key: the purpose and name of the ring, then what the key is.
func (k *Ring) derivationInfo(what string) string {
	return derivationLabel + "|" + strconv.Itoa(int(k.purpose)) + "|" + k.name + "|" + what
}

func (k *Ring) deriveGeneration(secret []byte, fp [4]byte, epoch, rot int64) (storedGeneration, error) {
	id := make([]byte, KeyIDSize)
	copy(id, fp[:])
	binary.BigEndian.PutUint32(id[4:], uint32(epoch))
	e := strconv.FormatInt(epoch, 10)
	seal, err := hkdf.Key(sha256.New, secret, nil, k.derivationInfo("seal|"+e), sealKeySize)
	if err != nil {
		return storedGeneration{}, fmt.Errorf("deriving a sealing key: %w", err)
	}
	// A P-256 scalar must be below the group order: a derived candidate is out of range with a
	// probability of about 2^-32, so a few counters always suffice.
	var priv *ecdsa.PrivateKey
	for try := 0; priv == nil; try++ {
		if try == 16 {
			return storedGeneration{}, errors.New("deriving a signing key: no scalar in range")
		}
		d, err := hkdf.Key(sha256.New, secret, nil, k.derivationInfo("sign|"+e+"|"+strconv.Itoa(try)), 32)
		if err != nil {
			return storedGeneration{}, fmt.Errorf("deriving a signing key: %w", err)
		}
		priv, _ = ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storedGeneration{}, fmt.Errorf("encoding signing key: %w", err)
	}
	start := epoch * rot
	return storedGeneration{ID: id, Created: start, Activates: start, SealKey: seal, SigningKey: der}, nil
}
