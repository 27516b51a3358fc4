package caddymodule

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// caches reports the size, hits, misses and evictions of the verified-token cache, the signing key
// caches and the session caches.
var caches = newCacheCollector()

// cacheDescs describe one cache's four metrics.
type cacheDescs struct{ entries, hits, misses, evictions *prometheus.Desc }

func newCacheDescs(name, what, entry string) cacheDescs {
	n := "caddy_cognito_" + name
	return cacheDescs{
		entries:   prometheus.NewDesc(n+"_entries", what+": "+entry+" held now.", nil, nil),
		hits:      prometheus.NewDesc(n+"_hits_total", what+": lookups that found their entry.", nil, nil),
		misses:    prometheus.NewDesc(n+"_misses_total", what+": lookups that did not.", nil, nil),
		evictions: prometheus.NewDesc(n+"_evictions_total", what+": entries dropped to make room for others (a cache too small for its callers evicts often).", nil, nil),
	}
}

func (d cacheDescs) describe(ch chan<- *prometheus.Desc) {
	ch <- d.entries
	ch <- d.hits
	ch <- d.misses
	ch <- d.evictions
}

func (d cacheDescs) collect(ch chan<- prometheus.Metric, st userpool.CacheStats) {
	ch <- prometheus.MustNewConstMetric(d.entries, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(d.hits, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(d.misses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(d.evictions, prometheus.CounterValue, float64(st.Evictions))
}

// cacheCollector reads the caches when scraped. The token cache lives in the shared pool, across
// reloads; the signing key caches and the session caches live with their configuration's verifiers,
// which are tracked until their configuration is cleaned up, and whose counts are kept after, so the
// counters never go down.
type cacheCollector struct {
	tokens, signingKeys, sessions cacheDescs

	mu                              sync.Mutex
	signingKeyCaches, sessionCaches trackedCaches
}

// trackedCaches are the live caches of one kind and the counts of those retired.
type trackedCaches struct {
	live    map[any]func() userpool.CacheStats
	retired userpool.CacheStats // hits, misses and evictions of the caches untracked
}

func newCacheCollector() *cacheCollector {
	return &cacheCollector{
		tokens:           newCacheDescs("token_cache", "The cache of verified bearer tokens", "tokens"),
		signingKeys:      newCacheDescs("signing_key_cache", "The caches of derived SigV4 signing keys", "keys"),
		sessions:         newCacheDescs("session_cache", "The caches of opened identity-pool session tokens", "sessions"),
		signingKeyCaches: trackedCaches{live: map[any]func() userpool.CacheStats{}},
		sessionCaches:    trackedCaches{live: map[any]func() userpool.CacheStats{}},
	}
}

// trackSignatures reads v's signing key cache and sessions' cache until the returned function is
// called; it keeps their final counts.
func (c *cacheCollector) trackSignatures(v *sigv4.Verifier, sessions *authorizer.SessionCache) (untrack func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signingKeyCaches.live[v] = func() userpool.CacheStats {
		st := v.SigningKeyCacheStats()
		return userpool.CacheStats{Entries: st.Entries, Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions}
	}
	c.sessionCaches.live[sessions] = sessions.Stats
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.signingKeyCaches.untrack(v)
		c.sessionCaches.untrack(sessions)
	}
}

func (t *trackedCaches) untrack(key any) {
	stats, ok := t.live[key]
	if !ok {
		return
	}
	delete(t.live, key)
	st := stats()
	t.retired.Hits += st.Hits
	t.retired.Misses += st.Misses
	t.retired.Evictions += st.Evictions
}

// sum is the counts of the live caches and the retired ones.
func (t *trackedCaches) sum() userpool.CacheStats {
	sum := t.retired
	for _, stats := range t.live {
		sum = add(sum, stats())
	}
	return sum
}

func add(a, b userpool.CacheStats) userpool.CacheStats {
	return userpool.CacheStats{Entries: a.Entries + b.Entries, Hits: a.Hits + b.Hits, Misses: a.Misses + b.Misses,
		Evictions: a.Evictions + b.Evictions}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	c.tokens.describe(ch)
	c.signingKeys.describe(ch)
	c.sessions.describe(ch)
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	var tokens userpool.CacheStats
	shared.Range(func(_, v any) bool {
		if tc, ok := v.(*userpool.TokenCache); ok {
			tokens = add(tokens, tc.Stats())
		}
		return true
	})
	c.tokens.collect(ch, tokens)
	c.mu.Lock()
	keys, sessions := c.signingKeyCaches.sum(), c.sessionCaches.sum()
	c.mu.Unlock()
	c.signingKeys.collect(ch, keys)
	c.sessions.collect(ch, sessions)
}
