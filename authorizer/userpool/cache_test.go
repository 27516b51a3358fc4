package userpool

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

func TestTokenCacheBound(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 2, 63, 64, 129, 1000, 10_000, 0} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			c := NewTokenCache(size)
			if size <= 0 {
				size = DefaultTokenCacheEntries
			}
			for i := range 4 * size {
				sum := sha256.Sum256([]byte(fmt.Sprint(i)))
				c.put(&sum, &verifiedToken{})
				n := c.Len()
				if n > size {
					t.Fatalf("after %d puts: %d entries, bound %d", i+1, n, size)
				}
				// The bound is global: however unevenly the tokens fall on the shards, none is
				// evicted before the cache holds its size.
				if i < size && n != i+1 {
					t.Fatalf("after %d distinct puts: %d entries, want all of them", i+1, n)
				}
			}
			if n := c.Len(); n != size {
				t.Errorf("%d entries after %d puts, want %d", n, 4*size, size)
			}
		})
	}
}

func TestTokenCacheEvictsOldestFirst(t *testing.T) {
	t.Parallel()
	c := NewTokenCache(64) // one shard
	sums := make([][32]byte, 65)
	for i := range sums {
		sums[i] = sha256.Sum256([]byte(fmt.Sprint(i)))
		c.put(&sums[i], &verifiedToken{})
	}
	if c.get(&sums[0]) != nil {
		t.Error("the oldest entry is still cached")
	}
	for i := 1; i < len(sums); i++ {
		if c.get(&sums[i]) == nil {
			t.Fatalf("entry %d was evicted before the oldest", i)
		}
	}
	// Replacing an entry does not take a second slot, and the new entry keeps the old one's place in
	// the eviction order.
	replaced := &verifiedToken{}
	c.put(&sums[64], replaced)
	if c.get(&sums[1]) == nil || c.Len() != 64 {
		t.Errorf("replacing an entry evicted another (len %d)", c.Len())
	}
	if c.get(&sums[64]) != replaced {
		t.Error("the replaced entry is still served")
	}
	for i := range 64 {
		sum := sha256.Sum256([]byte(fmt.Sprint("later", i)))
		c.put(&sum, &verifiedToken{})
		if i < 63 && c.get(&sums[64]) != replaced {
			t.Fatalf("the replaced entry was evicted after %d newer ones, before its turn", i+1)
		}
	}
	if c.get(&sums[64]) != nil || c.Len() != 64 {
		t.Errorf("after 64 newer entries: the replaced one still cached, or %d entries", c.Len())
	}
}

// TestTokenCachePrefixCollision: entries are found by the first 8 bytes of their key; a token whose key
// shares them with a cached one's is a miss, never the other's entry.
func TestTokenCachePrefixCollision(t *testing.T) {
	t.Parallel()
	c := NewTokenCache(64)
	a := sha256.Sum256([]byte("a"))
	b := a
	b[31] ^= 1
	first := &verifiedToken{}
	c.put(&a, first)
	c.put(&b, &verifiedToken{})
	if got := c.get(&b); got != nil {
		t.Fatal("a key that differs after its first 8 bytes found another token's entry")
	}
	if c.get(&a) != first || c.Len() != 1 {
		t.Errorf("the first entry is gone or a second was added (len %d)", c.Len())
	}
}

// TestTokenCacheStats checks the cache's counts of hits, misses and evictions.
func TestTokenCacheStats(t *testing.T) {
	t.Parallel()
	c := NewTokenCache(64) // one shard
	sums := make([][32]byte, 66)
	for i := range sums {
		sums[i] = sha256.Sum256([]byte(fmt.Sprint(i)))
		c.put(&sums[i], &verifiedToken{})
	}
	c.get(&sums[0]) // evicted
	c.get(&sums[65])
	c.get(&sums[65])
	want := CacheStats{Entries: 64, Hits: 2, Misses: 1, Evictions: 2}
	if got := c.Stats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// TestCacheIsolation: a token cached by one verifier is accepted by another sharing the cache only as
// far as that verifier's own configuration accepts it.
func TestCacheIsolation(t *testing.T) {
	t.Parallel()
	cache := NewTokenCache(100)
	f := newFixture(t, fixtureConfig{options: Options{Cache: cache}})
	token := key("rsa1").sign(nil, accessClaims(f.clock.Now()))
	first, err := f.verifier.Verify(verifyCtx(t), token)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.verifier.Verify(verifyCtx(t), token); err != nil || again != first {
		t.Fatalf("second Verify = %p, %v; want the cached identity %p", again, err, first)
	}
	if cache.Len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", cache.Len())
	}

	// A key set for the same issuer that serves another key under the same kid.
	impostor := newFixture(t, fixtureConfig{keys: []*signingKey{key("rsa2").withKid(key("rsa1").kid)}})

	pool := func(change func(*Issuer)) Issuer {
		iss := Issuer{Kind: identity.KindUserPool, Issuer: testIssuer, ClientIDs: []string{testClient}, Keys: f.keys}
		change(&iss)
		return iss
	}
	tests := []struct {
		name     string
		issuer   Issuer
		skew     time.Duration
		advance  time.Duration
		want     error
		wantKind identity.Kind
	}{
		{name: "same configuration", issuer: pool(func(*Issuer) {}), wantKind: identity.KindUserPool},
		{name: "another app client", issuer: pool(func(i *Issuer) { i.ClientIDs = []string{"other-client"} }), want: ErrAudience},
		{name: "ID tokens only", issuer: pool(func(i *Issuer) { i.TokenUse = TokenUseID }), want: ErrTokenUse},
		{name: "other algorithms", issuer: pool(func(i *Issuer) { i.Algorithms = []string{"ES256"} }), want: ErrAlgorithm},
		{name: "the same iss with another key set", issuer: pool(func(i *Issuer) { i.Keys = impostor.keys }), want: ErrSignature},
		{name: "the same key set as an OIDC issuer", issuer: pool(func(i *Issuer) { i.Kind = identity.KindOIDC; i.ClientIDs = []string{"x"} }), want: ErrAudience},
		{name: "another issuer only", issuer: pool(func(i *Issuer) { i.Issuer = "https://other.example.com" }), want: ErrUnknownIssuer},
		{name: "once expired", issuer: pool(func(*Issuer) {}), advance: time.Hour, want: ErrExpired},
		{name: "expired but for a wider skew", issuer: pool(func(*Issuer) {}), advance: time.Hour, skew: 6 * time.Minute, wantKind: identity.KindUserPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := f.clock.Now().Add(tt.advance)
			v, err := NewVerifier([]Issuer{tt.issuer}, Options{Cache: cache, ClockSkew: tt.skew, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(verifyCtx(t), token)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if err == nil && id.Kind != tt.wantKind {
				t.Errorf("Kind = %s, want %s", id.Kind, tt.wantKind)
			}
		})
	}
	t.Run("a refused token is cached for the verifiers that accept it, an expired one is not", func(t *testing.T) {
		other := key("rsa1").sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"client_id": "other-client"}))
		expired := key("rsa1").sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"exp": f.clock.unix(-time.Hour)}))
		before := cache.Len()
		if _, err := f.verifier.Verify(verifyCtx(t), other); !errors.Is(err, ErrAudience) {
			t.Fatalf("other client: %v, want ErrAudience", err)
		}
		if _, err := f.verifier.Verify(verifyCtx(t), expired); !errors.Is(err, ErrExpired) {
			t.Fatalf("expired: %v, want ErrExpired", err)
		}
		if got := cache.Len(); got != before+1 {
			t.Fatalf("cache grew by %d entries, want 1", got-before)
		}
		v, err := NewVerifier([]Issuer{pool(func(i *Issuer) { i.ClientIDs = []string{"other-client"} })}, Options{Cache: cache, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := v.Verify(verifyCtx(t), other); err != nil || id.ClientID != "other-client" {
			t.Fatalf("the other client's verifier: %+v, %v", id, err)
		}
	})
	t.Run("the OIDC view does not leak into the user-pool view", func(t *testing.T) {
		oidc, err := NewVerifier([]Issuer{pool(func(i *Issuer) { i.Kind = identity.KindOIDC; i.ClientIDs = []string{testClient} })},
			Options{Cache: cache, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		// An access token carries no aud: as an OIDC token it has no audience to accept.
		if _, err := oidc.Verify(verifyCtx(t), token); !errors.Is(err, ErrAudience) {
			t.Fatalf("as OIDC: %v, want ErrAudience", err)
		}
		id, err := f.verifier.Verify(verifyCtx(t), token)
		if err != nil || id.Kind != identity.KindUserPool || id.TokenUse != "access" {
			t.Fatalf("as a user pool again: %+v, %v", id, err)
		}
	})
}

// TestTokenCacheMemory fills a cache of 100k entries with 100k distinct, realistic Cognito access
// tokens (each entry built by the verifier's own claim decoding, its groups and scopes shared as a
// verifier shares them) and checks the live heap it holds: under 64 MiB in all, under 640 bytes an entry.
func TestTokenCacheMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds 100k cache entries: too slow for -short and -race")
	}
	const tokens = 100_000
	const limit, perEntry = 64 << 20, 640
	f := newFixture(t, fixtureConfig{})
	payloads := make([][]byte, tokens)
	for i := range payloads {
		payloads[i] = mustJSON(distinctAccessClaims(f, i))
	}
	c := NewTokenCache(tokens)
	var lists listTable
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, payload := range payloads {
		decoded, err := decodeClaims(payload)
		if err != nil {
			t.Fatal(err)
		}
		vt, err := newVerifiedToken(identity.KindUserPool, decoded, &lists)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(base64.RawURLEncoding.EncodeToString(payload)))
		c.put(&sum, vt)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if c.Len() != tokens {
		t.Fatalf("the cache holds %d tokens, want all %d", c.Len(), tokens)
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	each := grown / int64(c.Len())
	t.Logf("%d entries hold %.1f MiB (%d bytes each)", c.Len(), float64(grown)/(1<<20), each)
	if grown > limit || each >= perEntry {
		t.Errorf("the cache grew the heap by %.1f MiB for %d tokens (%d bytes each), limit %d MiB (%d bytes each)",
			float64(grown)/(1<<20), tokens, each, limit>>20, perEntry)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(payloads) // made before the first measure: freed after, they would hide entries
}

// TestTokenCacheBoundConcurrent: puts from many goroutines at once never leave more entries than the
// bound, and fill it.
func TestTokenCacheBoundConcurrent(t *testing.T) {
	t.Parallel()
	const size, workers, each = 1000, 8, 1000
	c := NewTokenCache(size)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				sum := sha256.Sum256([]byte(fmt.Sprint(w, "/", i)))
				c.put(&sum, &verifiedToken{})
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n != size {
		t.Errorf("%d entries after %d concurrent puts, want %d", n, workers*each, size)
	}
	if n := c.n.Load(); n != size {
		t.Errorf("the count is %d, want %d", n, size)
	}
}

// TestListTable: lists are shared only with equal lists, the table stops growing at its bound, and a
// shared list has no room for an append to write into.
func TestListTable(t *testing.T) {
	t.Parallel()
	var lt listTable
	a := lt.share('g', []string{"a", "b"})
	if b := lt.share('g', []string{"a", "b"}); &b[0] != &a[0] {
		t.Error("an equal list is not shared")
	}
	for _, other := range [][]string{{"ab"}, {"a", "b", ""}, {"a\x01b"}, {"b", "a"}} {
		if got := lt.share('g', other); fmt.Sprint(got) != fmt.Sprint(other) || len(got) != len(other) {
			t.Errorf("share(%q) = %q", other, got)
		}
	}
	if s := lt.share('s', []string{"a", "b"}); &s[0] == &a[0] {
		t.Error("scopes share the groups' list")
	}
	if cap(a) != len(a) {
		t.Errorf("a shared list has capacity %d for %d elements", cap(a), len(a))
	}
	for i := range 2 * maxSharedLists {
		lt.share('g', []string{fmt.Sprint(i)})
	}
	if n := len(lt.lists); n != maxSharedLists {
		t.Errorf("the table holds %d lists, bound %d", n, maxSharedLists)
	}
	if got := lt.share('g', []string{"past the bound"}); len(got) != 1 || got[0] != "past the bound" {
		t.Errorf("past the bound: %q", got)
	}
}
