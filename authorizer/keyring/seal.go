package keyring

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Errors of Open, comparable with errors.Is. They never contain what was sealed.
var (
	// ErrMalformed means the envelope is too short to be one Seal made.
	ErrMalformed = errors.New("malformed sealed envelope")
	// ErrUnknownKey means the envelope names a key the ring does not have, even after asking storage.
	ErrUnknownKey = errors.New("sealed with an unknown key")
	// ErrInvalid means the envelope fails authentication: tampered with, forged, or sealed with other
	// additional data (for another owner).
	ErrInvalid = errors.New("sealed envelope fails authentication")
)

// Seal seals plaintext with the generation that seals now, rotating first if one is due, and appends the
// envelope to header:
//
//	header | key id (KeyIDSize) | nonce (NonceSize) | AES-256-GCM(plaintext) | tag (TagSize)
//
// Everything before the nonce (the caller's header, such as a format version, and the key id) and
// additional (such as the owner the envelope is for, which is not in it) are authenticated, not encrypted.
// header's array is not written to.
func (k *Ring) Seal(ctx context.Context, header, plaintext, additional []byte) ([]byte, error) {
	g, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	prefix := len(header) + KeyIDSize
	buf := make([]byte, prefix+NonceSize, prefix+NonceSize+len(plaintext)+TagSize)
	copy(buf, header)
	copy(buf[len(header):], g.id[:])
	rand.Read(buf[prefix:])
	aad := append(buf[:prefix:prefix], additional...)
	return g.aead.Seal(buf, buf[prefix:], plaintext, aad), nil
}

// Open opens, in place, an envelope that Seal made with a header of headerLen bytes and the same
// additional data. A key id this instance does not know is looked up in storage again, at most once per
// RefetchInterval. It returns the plaintext (sharing sealed's array) and when the key that sealed it is
// retired: nothing it sealed outlives that, since it sealed for at most Retention. Errors match
// ErrMalformed, ErrUnknownKey or ErrInvalid.
func (k *Ring) Open(ctx context.Context, sealed []byte, headerLen int, additional []byte) (plaintext []byte, retires time.Time, err error) {
	prefix := headerLen + KeyIDSize
	if headerLen < 0 || len(sealed) < prefix+NonceSize+TagSize {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(sealed))
	}
	var id keyID
	copy(id[:], sealed[headerLen:prefix])
	g := k.generation(ctx, id)
	if g == nil {
		return nil, time.Time{}, fmt.Errorf("%w: %s", ErrUnknownKey, base64.RawURLEncoding.EncodeToString(id[:]))
	}
	bp := k.aadBufs.Get().(*[]byte)
	defer k.aadBufs.Put(bp)
	aad := append(append((*bp)[:0], sealed[:prefix]...), additional...)
	*bp = aad
	ciphertext := sealed[prefix+NonceSize:]
	plaintext, err = g.aead.Open(ciphertext[:0], sealed[prefix:prefix+NonceSize], ciphertext, aad)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: authentication failed", ErrInvalid)
	}
	return plaintext, k.retainUntil(g.activates), nil
}
