package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
)

// Redis is the fleet's Redis 7 or Valkey. With it, every instance that shares it refuses a request
// signature any of them has seen (replay_protection), and a revocation written through any instance's
// admin API, or straight into Redis, reaches every other within a round trip.
type Redis struct {
	// URL is `redis://[user:password@]host:port/db`, or `rediss://...` for TLS, e.g.
	// `redis://10.0.0.5:6379/0`. Placeholders are resolved at start; a password is best given with
	// `password` instead.
	URL string `json:"url"`

	// Username is the ACL user, e.g. `{env.REDIS_USER}`. Default: the URL's, or none.
	Username string `json:"username,omitempty"`

	// Password is the ACL user's password, best a placeholder, e.g. `{env.REDIS_PASSWORD}`. It is never
	// logged. Default: the URL's, or none.
	Password string `json:"password,omitempty"`

	// TLS tunes the TLS of a `rediss://` URL. Default: the system's roots, the URL's host as the server
	// name.
	TLS *RedisTLS `json:"tls,omitempty"`

	// Prefix leads every key and channel the gateway uses, so that several fleets can share one Redis.
	// Default: `caddy-cognito:`.
	Prefix string `json:"prefix,omitempty"`

	// DialTimeout bounds connecting; default 2s. ReadTimeout and WriteTimeout bound each command;
	// default 1s. Each at most 30s.
	DialTimeout  caddy.Duration `json:"dial_timeout,omitempty"`
	ReadTimeout  caddy.Duration `json:"read_timeout,omitempty"`
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`

	// PoolSize is the most connections kept open to Redis. Default: 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`

	// ReplayWhenUnreachable is what replay protection does with a non-idempotent signed request when
	// Redis cannot say whether its signature was seen: `refuse` answers 503 (the client may retry), so
	// no replay is ever accepted; `local` falls back to this instance's own memory of signatures, so a
	// replay to another instance is accepted during the outage. Idempotent requests (GET, HEAD,
	// OPTIONS, PUT, DELETE) are never checked. Default: `refuse`.
	ReplayWhenUnreachable string `json:"replay_when_unreachable,omitempty"`
}

// RedisTLS is the TLS of a `rediss://` connection.
type RedisTLS struct {
	// CAFile is a PEM file of the certificates that may sign the server's, instead of the system's
	// roots, e.g. `/etc/redis/ca.pem`.
	CAFile string `json:"ca_file,omitempty"`

	// ServerName is the name the server's certificate must have. Default: the URL's host.
	ServerName string `json:"server_name,omitempty"`

	// InsecureSkipVerify accepts any certificate: anyone on the path can then read and write the
	// fleet's replay and revocation state. For tests only; a warning is logged at every start.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// The values of ReplayWhenUnreachable.
const (
	replayRefuse = "refuse"
	replayLocal  = "local"
)

// options resolves r's placeholders and checks it. No error holds the URL, which may hold a password.
func (r *Redis) options() (fleet.RedisOptions, error) {
	repl := caddy.NewReplacer()
	o := fleet.RedisOptions{
		URL:      repl.ReplaceKnown(r.URL, ""),
		Username: repl.ReplaceKnown(r.Username, ""),
		Password: repl.ReplaceKnown(r.Password, ""),
		Prefix:   r.Prefix,
		PoolSize: r.PoolSize,
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return o, errors.New("redis: the URL is not redis://host:port/db or rediss://host:port/db")
	}
	switch r.ReplayWhenUnreachable {
	case "", replayRefuse, replayLocal:
	default:
		return o, fmt.Errorf("redis: replay_when_unreachable is %s or %s, not %q", replayRefuse, replayLocal, r.ReplayWhenUnreachable)
	}
	for _, d := range []struct {
		name string
		v    caddy.Duration
		set  *time.Duration
	}{{"dial_timeout", r.DialTimeout, &o.DialTimeout}, {"read_timeout", r.ReadTimeout, &o.ReadTimeout}, {"write_timeout", r.WriteTimeout, &o.WriteTimeout}} {
		if d.v < 0 || time.Duration(d.v) > 30*time.Second {
			return o, fmt.Errorf("redis: %s is between 0 and 30s, not %s", d.name, time.Duration(d.v))
		}
		*d.set = time.Duration(d.v)
	}
	if r.PoolSize < 0 || r.PoolSize > 1000 {
		return o, fmt.Errorf("redis: pool_size is between 1 and 1000, not %d", r.PoolSize)
	}
	if r.TLS != nil {
		if u.Scheme != "rediss" {
			// go-redis would use TLS anyway; a plain redis:// URL with tls is a contradiction to fix.
			return o, errors.New("redis: tls needs a rediss:// URL")
		}
		if o.TLS, err = r.TLS.config(repl, u.Hostname()); err != nil {
			return o, err
		}
	}
	return o, nil
}

// config is the tls.Config of t, for a server at host.
func (t *RedisTLS) config(repl *caddy.Replacer, host string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: t.InsecureSkipVerify}
	if name := repl.ReplaceKnown(t.ServerName, ""); name != "" {
		c.ServerName = name
	}
	if t.CAFile != "" {
		file := repl.ReplaceKnown(t.CAFile, "")
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("redis: tls ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis: tls ca_file %s holds no PEM certificate", file)
		}
	}
	return c, nil
}

// endpoint is the host:port of a checked URL, to log: never its user or password.
func (r *Redis) endpoint(resolved string) string {
	u, err := url.Parse(resolved)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.Path
}
