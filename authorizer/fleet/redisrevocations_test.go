package fleet

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// replica is one gateway's view: a Redis client, its in-memory set and the follower keeping it current.
type replica struct {
	redis    *Redis
	set      *Revocations
	follower *Follower
	errs     *errorLog
}

type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err); l.mu.Unlock() }

func (l *errorLog) len() int { return len(l.list()) }

func (l *errorLog) list() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func newReplica(t *testing.T, url string) *replica {
	t.Helper()
	r, err := NewRedis(RedisOptions{URL: url})
	must(t, err)
	rep := &replica{redis: r, set: NewRevocations(RevocationsOptions{}), errs: &errorLog{}}
	// A long interval: every resync a test sees comes from a (re)subscription.
	rep.follower = r.Follow(rep.set, FollowOptions{ResyncInterval: time.Hour, OnError: rep.errs.add})
	t.Cleanup(func() { rep.follower.Close(); r.Close() })
	eventually(t, 2*time.Second, "the first resync", func() bool { n, _ := rep.follower.Resyncs(); return n >= 1 })
	return rep
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, within)
		}
	}
}

func TestRedisRevocationSpreadsToOtherReplicas(t *testing.T) {
	url, _ := startRedis(t)
	a, b := newReplica(t, url), newReplica(t, url)
	now := time.Now()
	cases := []struct {
		name    string
		entry   Entry
		revoked Credential
		kept    Credential
	}{
		{"refresh token", Entry{Kind: OriginJTI, Value: "jti-1", Expires: now.Add(time.Hour)},
			Credential{OriginJTI: "jti-1"}, Credential{OriginJTI: "jti-2"}},
		{"identity id", Entry{Kind: IdentityID, Value: "eu-west-1:0c5d9b2e-1111-4a4a-9c9c-123456789abc", Expires: now.Add(time.Hour)},
			Credential{IdentityID: "eu-west-1:0c5d9b2e-1111-4a4a-9c9c-123456789abc"}, Credential{IdentityID: "eu-west-1:other"}},
		{"global sign-out", Entry{Kind: Subject, Value: "sub-1", Cutoff: now, Expires: now.Add(time.Hour)},
			Credential{Subject: "sub-1", IssuedAt: now.Add(-time.Minute)}, Credential{Subject: "sub-1", IssuedAt: now.Add(time.Minute)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			must(t, a.redis.Revoke(t.Context(), tc.entry))
			eventually(t, time.Second, "revocation on replica B", func() bool { return b.set.Revoked(tc.revoked, time.Now()) })
			t.Logf("replica B refused it after %s", time.Since(start))
			if b.set.Revoked(tc.kept, time.Now()) {
				t.Errorf("replica B revoked %+v too", tc.kept)
			}
		})
	}
	must(t, a.redis.Unrevoke(t.Context(), OriginJTI, "jti-1"))
	eventually(t, time.Second, "the deletion on replica B", func() bool { return !b.set.Revoked(Credential{OriginJTI: "jti-1"}, time.Now()) })
	if n := b.errs.len(); n != 0 {
		t.Errorf("replica B reported %d errors: %v", n, b.errs.list())
	}
}

func TestRedisResyncStopsAtMaxEntries(t *testing.T) {
	url, _ := startRedis(t)
	a := newReplica(t, url)
	for _, v := range []string{"j1", "j2", "j3"} {
		must(t, a.redis.Revoke(t.Context(), Entry{Kind: OriginJTI, Value: v, Expires: time.Now().Add(time.Hour)}))
	}
	errs := &errorLog{}
	set := NewRevocations(RevocationsOptions{MaxEntries: 2})
	f := a.redis.Follow(set, FollowOptions{ScanCount: 1, OnError: errs.add})
	defer f.Close()
	eventually(t, 2*time.Second, "an error for the full set", func() bool { return errs.len() > 0 })
	if first := errs.list()[0]; !errors.Is(first, ErrFull) {
		t.Errorf("error = %v, want ErrFull", first)
	}
	if n := set.Len(); n != 2 {
		t.Errorf("the set holds %d entries, want its bound, 2", n)
	}
}

// A prefix is matched as it is, not as a pattern: "gw*:" does not read the keys of "gw2:".
func TestRedisResyncMatchesThePrefixLiterally(t *testing.T) {
	url, _ := startRedis(t)
	other, err := NewRedis(RedisOptions{URL: url, Prefix: "gw2:"})
	must(t, err)
	defer other.Close()
	must(t, other.Revoke(t.Context(), Entry{Kind: OriginJTI, Value: "j", Expires: time.Now().Add(time.Hour)}))
	r, err := NewRedis(RedisOptions{URL: url, Prefix: "gw*:"})
	must(t, err)
	defer r.Close()
	must(t, r.Revoke(t.Context(), Entry{Kind: OriginJTI, Value: "mine", Expires: time.Now().Add(time.Hour)}))
	set, errs := NewRevocations(RevocationsOptions{}), &errorLog{}
	f := r.Follow(set, FollowOptions{OnError: errs.add})
	defer f.Close()
	eventually(t, 2*time.Second, "the first resync", func() bool { n, _ := f.Resyncs(); return n >= 1 })
	if got := set.List(); len(got) != 1 || got[0].Value != "mine" {
		t.Errorf("the set = %v, want only the entry under its own prefix", got)
	}
	if got := errs.list(); len(got) != 0 {
		t.Errorf("the resync read keys of another prefix: %v", got)
	}
}

func TestRedisRevokeOnlyMovesLater(t *testing.T) {
	url, _ := startRedis(t)
	a := newReplica(t, url)
	now := time.Now().Truncate(time.Millisecond)
	later := Entry{Kind: Subject, Value: "sub-1", Cutoff: now, Expires: now.Add(time.Hour)}
	earlier := Entry{Kind: Subject, Value: "sub-1", Cutoff: now.Add(-time.Minute), Expires: now.Add(time.Minute)}
	must(t, a.redis.Revoke(t.Context(), later))
	must(t, a.redis.Revoke(t.Context(), earlier))
	k := a.redis.revocationKey(Subject, "sub-1")
	if v, err := a.redis.client.Get(t.Context(), k).Result(); err != nil || v != strconv.FormatInt(now.UnixMilli(), 10) {
		t.Errorf("cut-off in redis = %q, %v; want the later one", v, err)
	}
	if ttl, err := a.redis.client.PTTL(t.Context(), k).Result(); err != nil || ttl < 59*time.Minute {
		t.Errorf("TTL in redis = %s, %v; want the longer one", ttl, err)
	}
	if err := a.redis.Revoke(t.Context(), Entry{Kind: OriginJTI, Value: "bad\nvalue", Expires: now.Add(time.Hour)}); err == nil {
		t.Error("Revoke accepted a value with a newline")
	}
}

// An application's sign-out handler writes the documented layout with a plain client.
func TestRedisRevocationWrittenByAnApplication(t *testing.T) {
	url, _ := startRedis(t)
	b := newReplica(t, url)
	opts, err := redis.ParseURL(url)
	must(t, err)
	app := redis.NewClient(opts)
	defer app.Close()
	cutoff := time.Now()
	key := "caddy-cognito:revoked:sub:7d3f0c1e-5b8a-4c2d-9e6f-0a1b2c3d4e5f"
	must(t, app.Set(t.Context(), key, strconv.FormatInt(cutoff.UnixMilli(), 10), time.Hour).Err())
	must(t, app.Publish(t.Context(), "caddy-cognito:revocations", key).Err())
	old := Credential{Subject: "7d3f0c1e-5b8a-4c2d-9e6f-0a1b2c3d4e5f", IssuedAt: cutoff.Add(-time.Second)}
	eventually(t, time.Second, "the application's sign-out on replica B", func() bool { return b.set.Revoked(old, time.Now()) })
	if fresh := (Credential{Subject: old.Subject, IssuedAt: cutoff.Add(time.Second)}); b.set.Revoked(fresh, time.Now()) {
		t.Error("a token issued after the cut-off is revoked")
	}

	// A malformed entry is reported, not applied.
	bad := "caddy-cognito:revoked:sub:someone"
	must(t, app.Set(t.Context(), bad, "yesterday", time.Hour).Err())
	must(t, app.Publish(t.Context(), "caddy-cognito:revocations", bad).Err())
	eventually(t, time.Second, "an error for the malformed entry", func() bool { return b.errs.len() > 0 })
}

func TestRedisRevocationsExpire(t *testing.T) {
	url, _ := startRedis(t)
	a, b := newReplica(t, url), newReplica(t, url)
	c := Credential{OriginJTI: "short-lived"}
	must(t, a.redis.Revoke(t.Context(), Entry{Kind: OriginJTI, Value: "short-lived", Expires: time.Now().Add(300 * time.Millisecond)}))
	eventually(t, time.Second, "revocation on replica B", func() bool { return b.set.Revoked(c, time.Now()) })
	time.Sleep(400 * time.Millisecond)
	if b.set.Revoked(c, time.Now()) {
		t.Error("an expired entry still revokes")
	}
	if got := b.set.List(); len(got) != 0 {
		t.Errorf("List after expiry = %v", got)
	}
	if n, err := a.redis.client.Exists(t.Context(), a.redis.revocationKey(OriginJTI, "short-lived")).Result(); err != nil || n != 0 {
		t.Errorf("the key is still in redis: %d, %v", n, err)
	}
}

func TestRedisRevocationsAcrossARestart(t *testing.T) {
	srv := testredis.Start(t)
	a, b := newReplica(t, srv.URL()), newReplica(t, srv.URL())
	// A replica that resyncs often, to see the outage reported.
	c, err := NewRedis(RedisOptions{URL: srv.URL()})
	must(t, err)
	defer c.Close()
	cErrs := &errorLog{}
	cf := c.Follow(NewRevocations(RevocationsOptions{}), FollowOptions{ResyncInterval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, OnError: cErrs.add})
	defer cf.Close()

	// A write whose publication replica B misses (no PUBLISH), saved so that it survives the restart.
	key := a.redis.revocationKey(OriginJTI, "missed")
	must(t, a.redis.client.Set(t.Context(), key, "1", time.Hour).Err())
	must(t, a.redis.client.Save(t.Context()).Err())
	before, _ := b.follower.Resyncs()

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := a.redis.Revoke(ctx, Entry{Kind: OriginJTI, Value: "during-outage", Expires: time.Now().Add(time.Hour)}); err == nil {
		t.Error("Revoke with redis down returned no error")
	}
	if _, err := a.redis.Seen(ctx, "sig", time.Second); err == nil {
		t.Error("Seen with redis down returned no error")
	}
	eventually(t, 5*time.Second, "an error reported during the outage", func() bool { return cErrs.len() > 0 })
	srv.Restart()

	eventually(t, 10*time.Second, "a resync after the reconnection", func() bool { n, _ := b.follower.Resyncs(); return n > before })
	if !b.set.Revoked(Credential{OriginJTI: "missed"}, time.Now()) {
		t.Error("the resync after the reconnection did not pick up the entry written while disconnected")
	}
	must(t, a.redis.Revoke(t.Context(), Entry{Kind: OriginJTI, Value: "after", Expires: time.Now().Add(time.Hour)}))
	eventually(t, time.Second, "a revocation after the restart on replica B", func() bool {
		return b.set.Revoked(Credential{OriginJTI: "after"}, time.Now())
	})
}

// A replica that starts while Redis is down reports it, then catches up when Redis comes up.
func TestRedisFollowStartedDuringAnOutage(t *testing.T) {
	srv := testredis.Start(t)
	srv.Stop()
	r, err := NewRedis(RedisOptions{URL: srv.URL()})
	must(t, err)
	defer r.Close()
	set, errs := NewRevocations(RevocationsOptions{}), &errorLog{}
	f := r.Follow(set, FollowOptions{ResyncInterval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, OnError: errs.add})
	defer f.Close()
	eventually(t, 5*time.Second, "an error reported", func() bool { return errs.len() > 0 })
	if n, _ := f.Resyncs(); n != 0 {
		t.Errorf("%d resyncs counted with redis down", n)
	}
	srv.Restart()
	must(t, r.Revoke(t.Context(), Entry{Kind: IdentityID, Value: "eu-west-1:x", Expires: time.Now().Add(time.Hour)}))
	eventually(t, 5*time.Second, "the entry on the replica", func() bool {
		return set.Revoked(Credential{IdentityID: "eu-west-1:x"}, time.Now())
	})
}
