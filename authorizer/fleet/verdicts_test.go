package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// A verdict one client stores is read by another, under <prefix>userpool:getuser:<hex sha256>, with
// a PX that ends at its Until; the token itself is nowhere in Redis.
func TestRedisVerdictsAcrossClients(t *testing.T) {
	srv := testredis.Start(t)
	a, err := NewRedis(RedisOptions{URL: srv.URL(), Prefix: "t:"})
	must(t, err)
	defer a.Close()
	b, err := NewRedis(RedisOptions{URL: srv.URL(), Prefix: "t:"})
	must(t, err)
	defer b.Close()
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()

	const token = "eyJhbGciOiJSUzI1NiJ9.access-token.sig"
	sum := sha256.Sum256([]byte(token))
	if _, found, err := b.Verdict(t.Context(), sum); found || err != nil {
		t.Fatalf("Verdict before any = found %v, %v", found, err)
	}
	until := time.Now().Add(30 * time.Second).Truncate(time.Millisecond)
	must(t, a.SetVerdict(t.Context(), sum, userpool.Verdict{Revoked: true, Until: until}))
	v, found, err := b.Verdict(t.Context(), sum)
	if err != nil || !found || !v.Revoked || !v.Until.Equal(until) {
		t.Fatalf("Verdict on the other client = %+v, %v, %v; want revoked until %v", v, found, err, until)
	}
	key := "t:userpool:getuser:" + hex.EncodeToString(sum[:])
	ttl, err := raw.PTTL(t.Context(), key).Result()
	if err != nil || ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Errorf("PTTL %s = %v, %v; want about 30s", key, ttl, err)
	}
	keys, err := raw.Keys(t.Context(), "*").Result()
	must(t, err)
	for _, k := range keys {
		val, _ := raw.Get(t.Context(), k).Result()
		if strings.Contains(k+val, token) || strings.Contains(k+val, "access-token") {
			t.Errorf("redis holds the token: %s = %s", k, val)
		}
	}

	// A valid verdict replaces it (the pool was asked again after it expired).
	must(t, a.SetVerdict(t.Context(), sum, userpool.Verdict{Until: until}))
	if v, found, err := b.Verdict(t.Context(), sum); err != nil || !found || v.Revoked {
		t.Errorf("Verdict after a valid one = %+v, %v, %v", v, found, err)
	}

	// A verdict already past is not stored.
	other := sha256.Sum256([]byte("another token"))
	must(t, a.SetVerdict(t.Context(), other, userpool.Verdict{Revoked: true, Until: time.Now().Add(-time.Second)}))
	if n, _ := raw.Exists(t.Context(), "t:userpool:getuser:"+hex.EncodeToString(other[:])).Result(); n != 0 {
		t.Error("a verdict past its Until was stored")
	}

	// It expires with its PX.
	short := sha256.Sum256([]byte("a short-lived token"))
	must(t, a.SetVerdict(t.Context(), short, userpool.Verdict{Until: time.Now().Add(150 * time.Millisecond)}))
	time.Sleep(300 * time.Millisecond)
	if _, found, err := b.Verdict(t.Context(), short); found || err != nil {
		t.Errorf("Verdict after its PX = found %v, %v", found, err)
	}

	// With Redis down, an error: never a verdict.
	srv.Stop()
	if _, found, err := b.Verdict(t.Context(), sum); err == nil || found {
		t.Errorf("Verdict with redis down = found %v, %v; want an error", found, err)
	}
	if err := a.SetVerdict(t.Context(), sum, userpool.Verdict{Until: until}); err == nil {
		t.Error("SetVerdict with redis down returned no error")
	}
}

// A value the gateway did not write (an operator's mistake, another program on the same prefix) is an
// error, so the pool is asked: it is never read as a verdict either way.
func TestRedisVerdictRefusesForeignValues(t *testing.T) {
	srv := testredis.Start(t)
	r, err := NewRedis(RedisOptions{URL: srv.URL(), Prefix: "t:"})
	must(t, err)
	defer r.Close()
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	sum := sha256.Sum256([]byte("token"))
	key := "t:userpool:getuser:" + hex.EncodeToString(sum[:])
	for _, value := range []string{"", "1", "valid", "valid x", "revoked -5", "VALID 99999999999999", "allow 99999999999999", "valid 1 2", strings.Repeat("v", 1<<10)} {
		must(t, raw.Set(t.Context(), key, value, time.Minute).Err())
		if v, found, err := r.Verdict(t.Context(), sum); err == nil || found {
			t.Errorf("Verdict of %.20q = %+v, %v, %v; want an error", value, v, found, err)
		} else if len(value) > 4 && strings.Contains(err.Error(), value) {
			t.Errorf("the error %q repeats the value", err)
		}
	}
}

// BenchmarkRedisVerdict is what a check_user_pool answer another instance shared costs a request whose
// token this instance has no answer for, with Redis on loopback: one GET round trip (an answer
// remembered in the instance costs no round trip: userpool's BenchmarkUserCheckCached).
func BenchmarkRedisVerdict(b *testing.B) {
	srv := testredis.Start(b)
	r, err := NewRedis(RedisOptions{URL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	sum := sha256.Sum256([]byte("token"))
	if err := r.SetVerdict(b.Context(), sum, userpool.Verdict{Revoked: true, Until: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, found, err := r.Verdict(b.Context(), sum); err != nil || !found || !v.Revoked {
			b.Fatal(v, found, err)
		}
	}
}
