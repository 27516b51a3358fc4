package identitypool

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// Identity ids are `<region>:<uuid>` and stateless.
//
// An authenticated id is HMAC-SHA256(pool, provider, sub) under a key derived from the pool's identity key,
// cut to a UUID with version 8 ("custom"): the same login always gets the same id, and nobody without the
// key can tell which login an id belongs to.
//
// A guest id is 60 random bits and a 62-bit MAC over (pool, random bits), laid out as a version-4 UUID:
// a forged id, or a guest id of another pool, fails the MAC, with no database.

// The labels under which the keys of identity ids derive from the ring's root key (the stored
// `identity_key`); changing one changes every identity id.
const (
	authenticatedIDLabel = "caddy-cognito authenticated identity id v1"
	guestIDLabel         = "caddy-cognito guest identity id v1"
)

const (
	uuidVersionGuest         = 0x40
	uuidVersionAuthenticated = 0x80
)

var (
	errMalformedIdentityID = errors.New("malformed identity id")
	errForeignIdentityID   = errors.New("identity id of another region")
	errForgedIdentityID    = errors.New("guest identity id fails its MAC")
	errNotGuestIdentityID  = errors.New("identity id is not a guest id")
)

// authenticatedIdentityID derives the identity id of the holder of sub at provider.
func (k *KeyRing) authenticatedIdentityID(provider, sub string) string {
	m := hmac.New(sha256.New, k.ring.DeriveKey(authenticatedIDLabel))
	for _, field := range []string{k.poolID, provider, sub} {
		m.Write(binary.AppendUvarint(nil, uint64(len(field))))
		m.Write([]byte(field))
	}
	var u [16]byte
	copy(u[:], m.Sum(nil))
	setUUIDBits(&u, uuidVersionAuthenticated)
	return k.region() + ":" + formatUUID(&u)
}

// newGuestIdentityID returns a fresh guest identity id.
func (k *KeyRing) newGuestIdentityID() string {
	var u [16]byte
	rand.Read(u[:8])
	k.guestMAC(&u)
	return k.region() + ":" + formatUUID(&u)
}

// checkGuestIdentityID verifies that id is a guest id this pool issued.
func (k *KeyRing) checkGuestIdentityID(id string) error {
	u, err := k.parseIdentityID(id)
	if err != nil {
		return err
	}
	if u[6]&0xf0 != uuidVersionGuest {
		return errNotGuestIdentityID
	}
	want := u
	k.guestMAC(&want)
	if !hmac.Equal(u[:], want[:]) {
		return errForgedIdentityID
	}
	return nil
}

// guestMAC fills u[8:] with the MAC of the pool and u[:8], then sets the UUID version and variant bits.
func (k *KeyRing) guestMAC(u *[16]byte) {
	setUUIDBits(u, uuidVersionGuest) // before the MAC, so the MAC covers the bits as sent
	m := hmac.New(sha256.New, k.ring.DeriveKey(guestIDLabel))
	m.Write(binary.AppendUvarint(nil, uint64(len(k.poolID))))
	m.Write([]byte(k.poolID))
	m.Write(u[:8])
	copy(u[8:], m.Sum(nil))
	setUUIDBits(u, uuidVersionGuest)
}

// parseIdentityID checks the form of an identity id of the pool's region and returns its UUID bytes.
func (k *KeyRing) parseIdentityID(id string) ([16]byte, error) {
	var u [16]byte
	region, uuid, ok := strings.Cut(id, ":")
	if !ok || len(id) > 55 || !validUUID(uuid) || !validRegion(region) {
		return u, errMalformedIdentityID
	}
	if region != k.region() {
		return u, errForeignIdentityID
	}
	hex.Decode(u[0:4], []byte(uuid[0:8]))
	hex.Decode(u[4:6], []byte(uuid[9:13]))
	hex.Decode(u[6:8], []byte(uuid[14:18]))
	hex.Decode(u[8:10], []byte(uuid[19:23]))
	hex.Decode(u[10:16], []byte(uuid[24:36]))
	return u, nil
}

func (k *KeyRing) region() string {
	region, _, _ := strings.Cut(k.poolID, ":")
	return region
}

func setUUIDBits(u *[16]byte, version byte) {
	u[6] = u[6]&0x0f | version
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
}

func formatUUID(u *[16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
