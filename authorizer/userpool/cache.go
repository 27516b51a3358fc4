package userpool

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// DefaultTokenCacheEntries is the size of a TokenCache created with a size of zero or less.
const DefaultTokenCacheEntries = 10_000

// TokenCache remembers verified tokens, keyed by the SHA-256 of the token, so that a token seen again
// skips parsing and signature verification. It holds at most its size in entries, evicting the oldest
// first (the oldest of the shard a new token falls in: SHA-256 spreads tokens evenly, so that is close to
// the oldest of all); an entry is honoured until the token's exp. A cached token is accepted only by a verifier
// whose issuer of that iss uses the same KeySet, and only while the key that verified it is still in
// that KeySet; the verifier's own checks (client id or audience, token_use, algorithm, exp, nbf, iat)
// run on every hit, so verifiers with different clients can share one cache. It is safe for concurrent
// use.
type TokenCache struct {
	shards []cacheShard
	mask   uint8
	// The bound is on all shards together, not an equal part in each: the tokens of a full cache do not
	// fall evenly on the shards (a binomial spread of a few percent), and with a part each, the fullest
	// shards evicted while the cache held fewer entries than its size.
	max int64
	n   atomic.Int64 // entries in all shards
}

type cacheShard struct {
	mu sync.RWMutex
	// entries are keyed by the first 8 bytes of their key, and hold all 32 (verifiedToken.sum): half
	// the map of a full key, and the eviction order needs no copy of the keys. Two tokens with the same
	// 8 bytes are told apart by the rest (the later one is not cached), so a collision costs a
	// verification, never a wrong identity.
	entries map[uint64]*verifiedToken
	order   []*verifiedToken // insertion order, from head on
	head    int

	hits, misses, evictions atomic.Uint64
	_                       [40]byte // keep shards on separate cache lines
}

// CacheStats are a cache's counts since it was created.
type CacheStats struct {
	// Entries is how many entries it holds now.
	Entries int
	// Hits and Misses count the lookups that found an entry and those that did not.
	Hits, Misses uint64
	// Evictions counts the entries dropped to make room for others.
	Evictions uint64
}

// NewTokenCache returns a cache of at most maxEntries verified tokens (DefaultTokenCacheEntries when
// maxEntries <= 0). An entry costs about 600 bytes of live heap (about 700 of heap in use) for a
// Cognito access token, so 100k fit in 64 MiB; BenchmarkTokenCacheMemory measures it and
// TestTokenCacheMemory holds it to that.
func NewTokenCache(maxEntries int) *TokenCache {
	if maxEntries <= 0 {
		maxEntries = DefaultTokenCacheEntries
	}
	// Shards spread lock contention; keep at least 64 entries in each so eviction stays close to
	// global FIFO order.
	n := 1
	for n < 32 && maxEntries/(n*2) >= 64 {
		n *= 2
	}
	c := &TokenCache{shards: make([]cacheShard, n), mask: uint8(n - 1), max: int64(maxEntries)}
	for i := range c.shards {
		c.shards[i].entries = make(map[uint64]*verifiedToken)
	}
	return c
}

// Destruct does nothing: it lets a TokenCache live in a caddy.UsagePool.
func (c *TokenCache) Destruct() error { return nil }

// Len returns the number of cached tokens.
func (c *TokenCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}

// Stats returns the cache's counts. A hit is a token found in the cache; the verifier may still refuse
// it (expired, another audience, a key since dropped).
func (c *TokenCache) Stats() CacheStats {
	var st CacheStats
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		st.Entries += len(s.entries)
		s.mu.RUnlock()
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.Evictions += s.evictions.Load()
	}
	return st
}

func (c *TokenCache) shard(sum *[32]byte) *cacheShard {
	return &c.shards[sum[0]&c.mask]
}

// prefix is the map key of sum.
func prefix(sum *[32]byte) uint64 {
	return binary.LittleEndian.Uint64(sum[:8])
}

func (c *TokenCache) get(sum *[32]byte) *verifiedToken {
	s := c.shard(sum)
	s.mu.RLock()
	t := s.entries[prefix(sum)]
	s.mu.RUnlock()
	if t != nil && t.sum != *sum {
		t = nil
	}
	if t == nil {
		s.misses.Add(1)
	} else {
		s.hits.Add(1)
	}
	return t
}

// put caches t, a token not yet shared, under sum, which it takes as its own.
func (c *TokenCache) put(sum *[32]byte, t *verifiedToken) {
	t.sum = *sum
	p := prefix(sum)
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.entries[p]; ok {
		if old.sum != *sum {
			return // another token with the same prefix: the first one stays
		}
		// The same token verified again (its key replaced, or two first uses at once): the new entry
		// takes the old one's place. Rare, so a scan of the shard's order is cheap enough.
		s.entries[p] = t
		for i := s.head; i < len(s.order); i++ {
			if s.order[i] == old {
				s.order[i] = t
				break
			}
		}
		return
	}
	if c.n.Add(1) > c.max {
		// Full: this shard gives up its oldest entry for the new one, or, holding none, caches nothing.
		c.n.Add(-1)
		if s.head == len(s.order) {
			return
		}
		delete(s.entries, prefix(&s.order[s.head].sum))
		s.evictions.Add(1)
		s.order[s.head] = nil
		s.head++
		if s.head >= 64 && 2*s.head >= len(s.order) {
			n := copy(s.order, s.order[s.head:])
			clear(s.order[n:]) // the moved entries' old places must not keep them alive once evicted
			s.order = s.order[:n]
			s.head = 0
		}
	}
	s.order = append(s.order, t)
	s.entries[p] = t
}
