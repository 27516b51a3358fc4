package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// redisServer is a redis-server on a loopback port, with no automatic persistence, that a test can stop
// and start again on the same port and directory (an explicit SAVE survives the restart).
type redisServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

// startRedis starts a redis-server on a free loopback port, stopped at cleanup.
func startRedis(t *testing.T) (url string, stop func()) {
	s := newRedisServer(t)
	return s.url(), s.stop
}

func newRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed: apt-get install redis-server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", s.port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
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
