package sigv4

import (
	"fmt"
	"runtime"
	"testing"
)

// TestSigningKeyCacheMemory derives signing keys for 100k distinct secrets (a credential per caller,
// as an identity pool issues them) through a cache of the default size: it holds its bound, and its
// memory stays far under the project's 64 MiB budget.
func TestSigningKeyCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("derives 100k signing keys")
	}
	const secrets = 100_000
	const limit = 8 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newKeyCache(DefaultSigningKeyCacheSize)
	for i := range secrets {
		// 40 characters, as identity-pool secrets.
		c.get(fmt.Sprintf("%040d", i), "20260314", "us-east-1", "execute-api")
		if n := c.len(); n > DefaultSigningKeyCacheSize {
			t.Fatalf("after %d secrets: %d keys, bound %d", i+1, n, DefaultSigningKeyCacheSize)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys hold %.2f MiB after %d secrets", c.len(), float64(grown)/(1<<20), secrets)
	if grown > limit {
		t.Errorf("the cache grew the heap by %.1f MiB, limit %d MiB", float64(grown)/(1<<20), limit>>20)
	}
	runtime.KeepAlive(c)
}
