package caddymodule

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// caches reports the size, hits, misses and evictions of the verified-token cache and of the signing
// key caches.
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

func (d cacheDescs) collect(ch chan<- prometheus.Metric, entries int, hits, misses, evictions uint64) {
	ch <- prometheus.MustNewConstMetric(d.entries, prometheus.GaugeValue, float64(entries))
	ch <- prometheus.MustNewConstMetric(d.hits, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(d.misses, prometheus.CounterValue, float64(misses))
	ch <- prometheus.MustNewConstMetric(d.evictions, prometheus.CounterValue, float64(evictions))
}

// cacheCollector reads the caches when scraped. The token cache lives in the shared pool, across
// reloads; the signing key caches live with their configuration's verifiers, which are tracked until
// their configuration is cleaned up, and whose counts are kept after, so the counters never go down.
type cacheCollector struct {
	tokens, signingKeys cacheDescs

	mu      sync.Mutex
	live    map[*sigv4.Verifier]struct{}
	retired sigv4.SigningKeyCacheStats // hits, misses and evictions of the verifiers untracked
}

func newCacheCollector() *cacheCollector {
	return &cacheCollector{
		tokens:      newCacheDescs("token_cache", "The cache of verified bearer tokens", "tokens"),
		signingKeys: newCacheDescs("signing_key_cache", "The caches of derived SigV4 signing keys", "keys"),
		live:        map[*sigv4.Verifier]struct{}{},
	}
}

// track reads v's signing key cache until untrack.
func (c *cacheCollector) track(v *sigv4.Verifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[v] = struct{}{}
}

// untrack keeps v's final counts and stops reading them.
func (c *cacheCollector) untrack(v *sigv4.Verifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.live[v]; !ok {
		return
	}
	delete(c.live, v)
	st := v.SigningKeyCacheStats()
	c.retired.Hits += st.Hits
	c.retired.Misses += st.Misses
	c.retired.Evictions += st.Evictions
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	c.tokens.describe(ch)
	c.signingKeys.describe(ch)
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	var tok userpool.CacheStats
	shared.Range(func(_, v any) bool {
		if tc, ok := v.(*userpool.TokenCache); ok {
			st := tc.Stats()
			tok.Entries += st.Entries
			tok.Hits += st.Hits
			tok.Misses += st.Misses
			tok.Evictions += st.Evictions
		}
		return true
	})
	c.tokens.collect(ch, tok.Entries, tok.Hits, tok.Misses, tok.Evictions)

	c.mu.Lock()
	keys := c.retired
	for v := range c.live {
		st := v.SigningKeyCacheStats()
		keys.Entries += st.Entries
		keys.Hits += st.Hits
		keys.Misses += st.Misses
		keys.Evictions += st.Evictions
	}
	c.mu.Unlock()
	c.signingKeys.collect(ch, keys.Entries, keys.Hits, keys.Misses, keys.Evictions)
}
