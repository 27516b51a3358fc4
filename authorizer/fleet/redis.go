package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions connect to Redis 7 or Valkey.
//
// The client is github.com/redis/go-redis/v9, not rueidis: the revocation set is held by this package
// in a map of its own (kept current by pub/sub and a resync), so rueidis's server-assisted client-side
// caching would cache nothing the gateway reads per request; go-redis is the official client with
// the wider use, plain connection options and a pool that reconnects by itself.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS.
	URL string
	// Username and Password, when set, override those of URL (an ACL user).
	Username, Password string
	// TLS, when set, is the TLS configuration (rediss:// alone uses the system roots).
	TLS *tls.Config
	// Prefix leads every key and channel; default "caddy-cognito:".
	Prefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound each connection and command; default 2s, 1s,
	// 1s; at most 30s.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the most connections kept open; default go-redis's, 10 per CPU; at most 1000.
	PoolSize int
}

// Redis is a connection to the fleet's Redis.
type Redis struct {
	client *redis.Client
	prefix string
}

// NewRedis checks opts and returns a client; it does not connect until first used.
func NewRedis(opts RedisOptions) (*Redis, error) {
	o, err := redis.ParseURL(opts.URL)
	if err != nil {
		// The URL may hold a password: say what is wrong without it.
		return nil, errors.New("redis: the URL is not redis://host:port/db or rediss://...")
	}
	if opts.Username != "" {
		o.Username = opts.Username
	}
	if opts.Password != "" {
		o.Password = opts.Password
	}
	if opts.TLS != nil {
		o.TLSConfig = opts.TLS
	}
	for _, d := range []struct {
		set *time.Duration
		v   time.Duration
		def time.Duration
	}{{&o.DialTimeout, opts.DialTimeout, 2 * time.Second}, {&o.ReadTimeout, opts.ReadTimeout, time.Second}, {&o.WriteTimeout, opts.WriteTimeout, time.Second}} {
		if d.v < 0 || d.v > 30*time.Second {
			return nil, fmt.Errorf("redis: timeout %s is not between 0 and 30s", d.v)
		}
		*d.set = d.def
		if d.v > 0 {
			*d.set = d.v
		}
	}
	if opts.PoolSize < 0 || opts.PoolSize > 1000 {
		return nil, fmt.Errorf("redis: pool size %d is not between 0 and 1000", opts.PoolSize)
	}
	if opts.PoolSize > 0 {
		o.PoolSize = opts.PoolSize
	}
	o.MaxRetries = 1
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "caddy-cognito:"
	}
	return &Redis{client: redis.NewClient(o), prefix: prefix}, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Seen records key at <prefix>replay:<key> with SET NX PX ttl: the first replica to record a key is
// told it is fresh, every other is not. An error means Redis could not tell.
func (r *Redis) Seen(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error) {
	ok, err := r.client.SetNX(ctx, r.prefix+"replay:"+key, 1, max(ttl, time.Millisecond)).Result()
	if err != nil {
		return false, fmt.Errorf("recording a signature in redis: %w", err)
	}
	return ok, nil
}

var _ ReplayStore = (*Redis)(nil)
