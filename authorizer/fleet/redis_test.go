package fleet

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// startRedis starts a redis-server on a free loopback port, stopped at cleanup.
func startRedis(t *testing.T) (url string, stop func()) {
	s := testredis.Start(t)
	return s.URL(), s.Stop
}

func TestRedisReplayAcrossClients(t *testing.T) {
	url, stop := startRedis(t)
	a, err := NewRedis(RedisOptions{URL: url})
	must(t, err)
	defer a.Close()
	b, err := NewRedis(RedisOptions{URL: url})
	must(t, err)
	defer b.Close()
	if fresh, err := a.Seen(t.Context(), "sig-1", time.Second); err != nil || !fresh {
		t.Fatalf("first Seen = %v, %v", fresh, err)
	}
	if fresh, err := b.Seen(t.Context(), "sig-1", time.Second); err != nil || fresh {
		t.Fatalf("Seen on the other client = %v, %v; want not fresh", fresh, err)
	}
	time.Sleep(1100 * time.Millisecond)
	if fresh, err := b.Seen(t.Context(), "sig-1", time.Second); err != nil || !fresh {
		t.Errorf("Seen after expiry = %v, %v; want fresh", fresh, err)
	}
	stop()
	if _, err := a.Seen(t.Context(), "sig-2", time.Second); err == nil {
		t.Error("Seen with redis down returned no error")
	}
}

func TestNewRedisErrors(t *testing.T) {
	t.Parallel()
	for _, o := range []RedisOptions{
		{URL: "http://user:hunter2@host/"},
		{URL: "redis://127.0.0.1:6379/0", ReadTimeout: time.Hour},
		{URL: "redis://127.0.0.1:6379/0", PoolSize: -1},
		{URL: "redis://127.0.0.1:6379/0", PoolSize: 100_000},
	} {
		_, err := NewRedis(o)
		if err == nil {
			t.Errorf("NewRedis(%+v) accepted", o)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error %q holds the password", err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRedisSeen is what replay protection adds to a signed POST with Redis on loopback: one SET NX
// round trip (sequential, and from parallel requests sharing the client's pool).
func BenchmarkRedisSeen(b *testing.B) {
	srv := testredis.Start(b)
	r, err := NewRedis(RedisOptions{URL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	ctx := context.Background()
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := r.Seen(ctx, "seq-"+strconv.Itoa(i), time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Seen(ctx, "par-"+strconv.FormatInt(n.Add(1), 10), time.Minute); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
