package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// revokedSegment follows the prefix in every revocation key: <prefix>revoked:<kind>:<value>.
const revokedSegment = "revoked:"

// revocationKey is the Redis key of kind and value.
func (r *Redis) revocationKey(kind Kind, value string) string {
	return r.prefix + revokedSegment + kind.String() + ":" + value
}

// revocationsChannel is where writers publish the key they wrote.
func (r *Redis) revocationsChannel() string { return r.prefix + "revocations" }

// parseRevocationKey splits <prefix>revoked:<kind>:<value>; the value may itself hold colons (an
// identity id does).
func (r *Redis) parseRevocationKey(k string) (Kind, string, bool) {
	rest, ok := strings.CutPrefix(k, r.prefix+revokedSegment)
	if !ok {
		return 0, "", false
	}
	name, value, ok := strings.Cut(rest, ":")
	if !ok || value == "" {
		return 0, "", false
	}
	for _, kind := range []Kind{OriginJTI, Subject, IdentityID} {
		if kind.String() == name {
			return kind, value, true
		}
	}
	return 0, "", false
}

// revokeScript writes one entry and publishes its key, atomically. As in Revocations.Add, a
// subject's cut-off (ARGV[3] is "1") and an entry's expiry only move later, so concurrent sign-outs,
// or a writer whose clock lags, never shorten a revocation.
var revokeScript = redis.NewScript(`
local v, ttl = ARGV[1], tonumber(ARGV[2])
local old = redis.call('GET', KEYS[1])
if old then
	if ARGV[3] == '1' then
		local o = tonumber(old)
		if o and o > tonumber(v) then v = old end
	end
	local left = redis.call('PTTL', KEYS[1])
	if left > ttl then ttl = left end
end
redis.call('SET', KEYS[1], v, 'PX', ttl)
redis.call('PUBLISH', ARGV[4], KEYS[1])
return 1
`)

// Revoke writes e to Redis with a TTL that ends at e.Expires and publishes its key, so that every
// replica following the set applies it at once. A Subject entry's value is its cut-off in unix
// milliseconds; other entries hold "1". As in Revocations.Add, a cut-off and an expiry only move
// later. An entry already expired is not written.
func (r *Redis) Revoke(ctx context.Context, e Entry) error {
	// Validate as the in-memory set does, so Redis never holds what replicas would refuse.
	if err := NewRevocations(RevocationsOptions{MaxEntries: 1}).Add(e); err != nil {
		return err
	}
	ttl := time.Until(e.Expires).Milliseconds()
	if ttl <= 0 {
		return nil
	}
	value, isCutoff := "1", "0"
	if e.Kind == Subject {
		value, isCutoff = strconv.FormatInt(e.Cutoff.UnixMilli(), 10), "1"
	}
	k := r.revocationKey(e.Kind, e.Value)
	if err := revokeScript.Run(ctx, r.client, []string{k}, value, ttl, isCutoff, r.revocationsChannel()).Err(); err != nil {
		return fmt.Errorf("writing a revocation to redis: %w", err)
	}
	return nil
}

// Unrevoke deletes the entry of kind and value from Redis and publishes its key, so that every
// replica following the set forgets it.
func (r *Redis) Unrevoke(ctx context.Context, kind Kind, value string) error {
	k := r.revocationKey(kind, value)
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.Publish(ctx, r.revocationsChannel(), k)
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting a revocation from redis: %w", err)
	}
	return nil
}

// FollowOptions tune Follow.
type FollowOptions struct {
	// ResyncInterval is how often the whole set is read again even with no reconnection, to catch a
	// write whose publication was lost; default 1 minute.
	ResyncInterval time.Duration
	// Timeout bounds every Redis call (one SCAN page, one read of a page's entries); default 2s.
	Timeout time.Duration
	// ScanCount is the COUNT hint of each SCAN call; default 1000.
	ScanCount int64
	// OnError, when set, is told of every error: a failed resync or read, an entry that is malformed
	// or does not fit in the set. Following goes on after an error.
	OnError func(error)
}

// Follower keeps a Revocations current from Redis until Close.
type Follower struct {
	r      *Redis
	set    *Revocations
	opts   FollowOptions
	pubsub *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	lastResync time.Time
	resyncs    int
}

// Follow subscribes to the revocations channel and keeps set current: each published key is read and
// applied (added, or forgotten if it is gone), and the whole set is read again (SCAN) whenever the
// subscription is confirmed, which happens at start and after every reconnection, and every
// ResyncInterval. Entries deleted from Redis while a replica was disconnected stay in its set until
// they expire: a missed deletion revokes too long, never too little.
//
// Follow returns at once; the first resync runs in the background (see Resyncs).
func (r *Redis) Follow(set *Revocations, opts FollowOptions) *Follower {
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.ScanCount <= 0 {
		opts.ScanCount = 1000
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Follower{r: r, set: set, opts: opts, cancel: cancel, done: make(chan struct{})}
	f.pubsub = r.client.Subscribe(ctx, r.revocationsChannel())
	go f.run(ctx)
	return f
}

// Close stops following and waits for the follower to stop.
func (f *Follower) Close() error {
	f.cancel()
	err := f.pubsub.Close()
	<-f.done
	return err
}

// Resyncs reports how many full resyncs succeeded and when the last one ended.
func (f *Follower) Resyncs() (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resyncs, f.lastResync
}

func (f *Follower) run(ctx context.Context) {
	defer close(f.done)
	ch := f.pubsub.ChannelWithSubscriptions()
	tick := time.NewTicker(f.opts.ResyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				// Sent when the subscription starts and again after each reconnection, when
				// publications may have been missed.
				if m.Kind == "subscribe" {
					f.resync(ctx)
				}
			case *redis.Message:
				f.apply(ctx, m.Payload)
			}
		case <-tick.C:
			f.resync(ctx)
		}
	}
}

func (f *Follower) report(err error) {
	if f.opts.OnError != nil && err != nil {
		f.opts.OnError(err)
	}
}

// apply reads one published key and applies it to the set.
func (f *Follower) apply(ctx context.Context, k string) {
	kind, value, ok := f.r.parseRevocationKey(k)
	if !ok {
		f.report(fmt.Errorf("following revocations: %q is not a revocation key", clipKey(k)))
		return
	}
	entries, err := f.read(ctx, []string{k})
	if err != nil {
		f.report(fmt.Errorf("following revocations: reading %q: %w", clipKey(k), err))
		return
	}
	if entries[0] == nil {
		f.set.Expire(kind, value)
		return
	}
	f.report(f.set.Add(*entries[0]))
}

// resync reads every revocation key with SCAN, page by page, and adds what it finds.
func (f *Follower) resync(ctx context.Context) {
	var cursor uint64
	match := globEscape(f.r.prefix+revokedSegment) + "*"
	for {
		cctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
		keys, next, err := f.r.client.Scan(cctx, cursor, match, f.opts.ScanCount).Result()
		cancel()
		if err != nil {
			f.report(fmt.Errorf("resyncing revocations: %w", err))
			return
		}
		if len(keys) > 0 {
			entries, err := f.read(ctx, keys)
			if err != nil {
				f.report(fmt.Errorf("resyncing revocations: %w", err))
				return
			}
			for _, e := range entries {
				if e == nil {
					continue
				}
				if err := f.set.Add(*e); err != nil {
					f.report(fmt.Errorf("resyncing revocations: %w", err))
					if errors.Is(err, ErrFull) {
						return
					}
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	f.mu.Lock()
	f.resyncs++
	f.lastResync = time.Now()
	f.mu.Unlock()
}

// read fetches keys' values and remaining TTLs in one round trip: nil for a key that is gone or
// malformed (the malformed are reported). A key with no TTL is held for two resync intervals, renewed
// by each resync while it exists.
func (f *Follower) read(ctx context.Context, keys []string) ([]*Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	gets := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	_, err := f.r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			gets[i] = p.Get(ctx, k)
			ttls[i] = p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	// Pipelined reports the first failure only: a missing key (redis.Nil) must not hide a failed
	// read, which would pass for a deletion.
	for i := range keys {
		for _, err := range []error{gets[i].Err(), ttls[i].Err()} {
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
		}
	}
	now := time.Now()
	out := make([]*Entry, len(keys))
	for i, k := range keys {
		v, err := gets[i].Result()
		if err != nil {
			continue // gone
		}
		ttl, err := ttls[i].Result()
		if err != nil || ttl == -2*time.Nanosecond {
			continue
		}
		kind, value, ok := f.r.parseRevocationKey(k)
		if !ok {
			f.report(fmt.Errorf("reading revocations: %q is not a revocation key", clipKey(k)))
			continue
		}
		e := Entry{Kind: kind, Value: value, Expires: now.Add(ttl)}
		if ttl < 0 {
			e.Expires = now.Add(2 * f.opts.ResyncInterval)
		}
		if kind == Subject {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms <= 0 {
				f.report(fmt.Errorf("reading revocations: %q holds no cut-off in unix milliseconds", clipKey(k)))
				continue
			}
			e.Cutoff = time.UnixMilli(ms)
		}
		out[i] = &e
	}
	return out, nil
}

// globEscape escapes what SCAN's MATCH pattern would read as a wildcard, so a prefix matches itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// clipKey shortens a key for an error message.
func clipKey(k string) string {
	if len(k) > 300 {
		return k[:300] + "..."
	}
	return k
}
