package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// signingKey derives the SigV4 signing key: HMAC chain over date, region, service, aws4_request.
func signingKey(secret, date, region, service string) [32]byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k[:], region)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], scopeTerminator)
}

func hmacSHA256(key []byte, msg string) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// signBlock computes HMAC-SHA256(key, block[64:]) without allocating: block[:64] is scratch space
// the caller leaves in front of the message, so the inner hash runs over one contiguous buffer.
func signBlock(key *[32]byte, block []byte) [32]byte {
	for i := range 64 {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		block[i] = k ^ 0x36
	}
	inner := sha256.Sum256(block)
	var outer [64 + 32]byte
	for i := range 64 {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		outer[i] = k ^ 0x5c
	}
	copy(outer[64:], inner[:])
	return sha256.Sum256(outer[:])
}

// keyCache holds derived signing keys, so a credential pays for the four-HMAC derivation once
// a day instead of on every request. It is bounded: two generations of at most size/2 entries
// each; when the current one fills it becomes the previous one and the oldest generation is
// dropped, so keys in use keep being promoted and stale ones age out.
type keyCache struct {
	mu       sync.Mutex
	half     int
	cur, old map[keyCacheKey][32]byte

	hits, misses, evictions uint64
}

// keyCacheKey is keyed by the secret itself, not the access key id: two credentials that share an
// access key id but not a secret must never share a signing key. Region and service are fixed
// per Verifier.
type keyCacheKey struct{ secret, date string }

func newKeyCache(size int) *keyCache {
	half := max(size/2, 1)
	return &keyCache{half: half, cur: make(map[keyCacheKey][32]byte, half)}
}

func (c *keyCache) get(secret, date, region, service string) [32]byte {
	k := keyCacheKey{secret, date}
	c.mu.Lock()
	if v, ok := c.cur[k]; ok {
		c.hits++
		c.mu.Unlock()
		return v
	}
	v, ok := c.old[k]
	c.mu.Unlock()
	if !ok {
		v = signingKey(secret, date, region, service)
	}
	// Clone: date may be a slice of a large request string that the cache must not pin.
	k = keyCacheKey{strings.Clone(secret), strings.Clone(date)}
	c.mu.Lock()
	if ok {
		// Promoted: the key lives on in cur only, so that dropping old evicts exactly the keys not used since.
		c.hits++
		delete(c.old, k)
	} else {
		c.misses++
	}
	if len(c.cur) >= c.half {
		c.evictions += uint64(len(c.old))
		c.old, c.cur = c.cur, make(map[keyCacheKey][32]byte, c.half)
	}
	c.cur[k] = v
	c.mu.Unlock()
	return v
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

// SigningKeyCacheStats are the counts of a Verifier's cache of derived signing keys since it was
// created.
type SigningKeyCacheStats struct {
	// Entries is how many keys it holds now.
	Entries int
	// Hits count the signatures checked with a cached key, Misses those that derived theirs.
	Hits, Misses uint64
	// Evictions counts the keys dropped, unused for a generation, to make room for others.
	Evictions uint64
}

func (c *keyCache) stats() SigningKeyCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SigningKeyCacheStats{Entries: len(c.cur) + len(c.old), Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
