package userpool

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// BenchmarkTokenCacheMemory fills a cache with 100k distinct verified Cognito access tokens and reports
// the heap the cache holds: MiB/100k is the growth of the heap in use (spans, so fragmentation
// included), B/entry the growth of live objects per token. The default bound (DefaultTokenCacheEntries)
// is smaller, so the cache is made with room for exactly all of them (the bound is global: it holds them
// all however they fall on its shards).
//
// The tokens are signed with Ed25519: signing 100k with a 2048-bit RSA key would take minutes, and the
// cache keeps the claims, not the token or its signature, so an entry is the same size
// whatever the algorithm. Their claims are those of a Cognito access token (about 1 KB with an RS256
// signature), every identifier distinct.
func BenchmarkTokenCacheMemory(b *testing.B) {
	const entries = 100_000
	ed := key("ed25519")
	f := newFixture(b, fixtureConfig{keys: []*signingKey{ed}, issuer: Issuer{Algorithms: []string{"EdDSA"}}})
	ctx := context.Background()
	var inuse, live, tokenBytes float64
	for b.Loop() {
		cache := NewTokenCache(entries)
		v, err := NewVerifier([]Issuer{{Kind: identity.KindUserPool, Issuer: testIssuer, ClientIDs: []string{testClient},
			Algorithms: []string{"EdDSA"}, Keys: f.keys}}, Options{Cache: cache, Now: f.clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		before := heap()
		tokenBytes = 0
		for i := range entries {
			token := ed.sign(nil, distinctAccessClaims(f, i))
			tokenBytes += float64(len(token))
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
		after := heap()
		if cache.Len() != entries {
			b.Fatalf("cache holds %d tokens, want %d", cache.Len(), entries)
		}
		runtime.KeepAlive(cache)
		inuse = float64(after.HeapInuse) - float64(before.HeapInuse)
		live = float64(after.HeapAlloc) - float64(before.HeapAlloc)
	}
	b.ReportMetric(inuse/(1<<20)*100_000/entries, "MiB/100k")
	b.ReportMetric(live/entries, "B/entry")
	b.ReportMetric(tokenBytes/entries, "token-B")
}

// distinctAccessClaims are the claims of the i-th of many users' Cognito access tokens: the same shape
// as accessClaims, with the identifiers of user i.
func distinctAccessClaims(f *fixture, i int) map[string]any {
	uuid := func(n int) string { return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, n, i%4096, n, i*7919+n) }
	return with(accessClaims(f.clock.Now()), map[string]any{
		"sub":            uuid(1),
		"cognito:groups": []any{"admins", "orders", fmt.Sprintf("tenant-%05d", i%10_000)},
		"origin_jti":     uuid(2),
		"event_id":       uuid(3),
		"jti":            uuid(4),
		"username":       fmt.Sprintf("user%06d@example.com", i),
	})
}

// heap is the state of the heap after a full collection.
func heap() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
