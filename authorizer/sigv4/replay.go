package sigv4

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReplayCacheEntries is the size of a ReplayCache created with a size of zero or less: about
// 15 MiB when full.
const DefaultReplayCacheEntries = 100_000

// ErrReplayedSignature: a non-idempotent request arrived again with a signature already accepted
// (Options.ReplayCache). The client gets InvalidSignatureException.
var ErrReplayedSignature = errors.New("signature already used")

const msgReplayed = "The request signature has already been used."

// ErrReplayStoreUnavailable: a non-idempotent request could not be checked for replay because the
// shared replay store failed (Options.ReplayStore), and there is no local cache to fall back on. The
// client gets 503 and may retry: accepting it could accept a replay.
var ErrReplayStoreUnavailable = errors.New("replay store unavailable")

const msgReplayStoreUnavailable = "The request cannot be checked for replay at the moment; retry later."

// ReplayCache remembers the signatures of the non-idempotent requests a Verifier accepted, each until
// the signature stops being valid (Result.ValidUntil: the signing time plus the clock skew, or the
// presigned URL's expiry, never after the credential's), so that a captured POST or PATCH cannot be
// sent a second time while its signature would still verify. Requests with idempotent methods (GET,
// HEAD, OPTIONS, TRACE, PUT, DELETE) are not remembered: sending them again changes nothing, and a
// presigned GET link is meant to be opened more than once.
//
// Scope: a ReplayCache lives in memory, in one process. It protects the requests that reach this
// instance only: instances behind a load balancer each keep their own, so a request replayed to
// another instance within its validity is accepted there, and a restart forgets what was seen. A
// fleet that needs replay protection across instances must route each client to one instance or
// refuse non-idempotent SigV4 requests elsewhere.
//
// It holds at most its size in entries (about 150 bytes each). When it is full, the signature that
// expires soonest is forgotten first; Evicted counts them. Size it for the non-idempotent requests of
// one validity window (with the default 5-minute clock skew: ten minutes of them, since a signature
// may arrive up to the skew before or after its signing time) so that nothing is forgotten early.
// It is safe for concurrent use.
type ReplayCache struct {
	mu      sync.Mutex
	size    int
	seen    map[[32]byte]struct{}
	expiry  expiryHeap
	evicted atomic.Uint64
}

// NewReplayCache returns a cache of at most maxEntries signatures (DefaultReplayCacheEntries when
// maxEntries <= 0).
func NewReplayCache(maxEntries int) *ReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayCacheEntries
	}
	return &ReplayCache{size: maxEntries, seen: make(map[[32]byte]struct{})}
}

// Len returns the number of signatures remembered, expired ones included until they are dropped.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Evicted returns how many signatures were forgotten before they expired because the cache was full.
func (c *ReplayCache) Evicted() uint64 { return c.evicted.Load() }

// Destruct does nothing: it lets a ReplayCache live in a caddy.UsagePool.
func (c *ReplayCache) Destruct() error { return nil }

// first records sig, valid until validUntil, and reports whether it was not already recorded.
// Expired signatures are dropped first.
func (c *ReplayCache) first(sig *[32]byte, validUntil, now time.Time) bool {
	exp, t := validUntil.UnixNano(), now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.expiry) > 0 && c.expiry[0].expires <= t {
		delete(c.seen, c.expiry.pop().sig)
	}
	if _, ok := c.seen[*sig]; ok {
		return false
	}
	if len(c.seen) >= c.size {
		c.evicted.Add(1)
		if exp <= c.expiry[0].expires {
			return true // it would be the first to go: accepted, not remembered
		}
		delete(c.seen, c.expiry.pop().sig)
	}
	c.seen[*sig] = struct{}{}
	c.expiry.push(expiring{expires: exp, sig: *sig})
	return true
}

// idempotent reports whether method is idempotent (RFC 9110, 9.2.2): repeating it changes nothing
// more, so it needs no replay protection. Unknown methods are taken as not idempotent.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

type expiring struct {
	expires int64
	sig     [32]byte
}

// expiryHeap is a binary min-heap of signatures by expiry, soonest first (written out rather than
// through container/heap, whose interface boxes every element).
type expiryHeap []expiring

func (h *expiryHeap) push(e expiring) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].expires <= s[i].expires {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

func (h *expiryHeap) pop() expiring {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		smallest, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && s[l].expires < s[smallest].expires {
			smallest = l
		}
		if r < len(s) && s[r].expires < s[smallest].expires {
			smallest = r
		}
		if smallest == i {
			break
		}
		s[i], s[smallest] = s[smallest], s[i]
		i = smallest
	}
	*h = s
	return top
}

// Seen records key (a signature, or any string: one that is not 32 bytes long is hashed) for ttl and
// reports whether it was fresh, that is not recorded yet. It never fails; it has the shape of a replay
// store shared by a fleet, so one process and a fleet are used alike.
func (c *ReplayCache) Seen(_ context.Context, key string, ttl time.Duration) (fresh bool, err error) {
	var sig [32]byte
	if len(key) == len(sig) {
		copy(sig[:], key)
	} else {
		sig = sha256.Sum256([]byte(key))
	}
	now := time.Now()
	return c.first(&sig, now.Add(ttl), now), nil
}
