package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("cognito", parseApp)
}

// parseApp parses the `cognito` global option:
//
//	{
//		cognito {
//			key_secret <current> [<previous>]
//			identity_secret <secret>
//			redis <url> {
//				username <user>
//				password <password>
//				tls {
//					ca_file <pem file>
//					server_name <name>
//					insecure_skip_verify
//				}
//				prefix <key prefix>
//				dial_timeout <duration>
//				read_timeout <duration>
//				write_timeout <duration>
//				pool_size <connections>
//				replay_when_unreachable refuse|local
//			}
//		}
//	}
//
// Secrets are best given as placeholders, e.g. `{env.COGNITO_KEY_SECRET}`, resolved at start.
func parseApp(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // the option's name
	if d.NextArg() {
		// Not ArgErr, which would quote the argument: it may be a secret written in the wrong place.
		return nil, d.Err("cognito takes no arguments, only a block")
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "key_secret":
			if len(app.KeySecret) > 0 {
				return nil, d.Err("key_secret is already set")
			}
			app.KeySecret = d.RemainingArgs()
			if len(app.KeySecret) < 1 || len(app.KeySecret) > 2 {
				return nil, d.Err("key_secret takes a current secret and optionally a previous one")
			}
		case "identity_secret":
			if app.IdentitySecret != "" {
				return nil, d.Err("identity_secret is already set")
			}
			// Errors name the option, never the argument, which is a secret.
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Err("identity_secret takes one secret")
			}
			app.IdentitySecret = args[0]
		case "redis":
			if app.Redis != nil {
				return nil, d.Err("redis is already set")
			}
			var err error
			if app.Redis, err = parseRedis(d); err != nil {
				return nil, err
			}
		default:
			name := d.Val()
			if s := closestName(name, []string{"key_secret", "identity_secret", "redis"}); s != "" {
				return nil, d.Errf("unrecognized cognito option %q (did you mean %s?)", name, s)
			}
			return nil, d.Errf("unrecognized cognito option %q", name)
		}
	}
	return httpcaddyfile.App{Name: "cognito", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseRedis reads `redis <url> { ... }`. Errors never quote the URL, the user or the password.
func parseRedis(d *caddyfile.Dispenser) (*Redis, error) {
	r := new(Redis)
	args := d.RemainingArgs()
	if len(args) != 1 {
		return nil, d.Err("redis takes one URL, redis://host:port/db or rediss://host:port/db")
	}
	r.URL = args[0]
	secret := func(name string, v *string) func() error {
		return func() error {
			args := d.RemainingArgs()
			if len(args) != 1 {
				return d.Errf("redis %s takes one value", name)
			}
			*v = args[0]
			return nil
		}
	}
	err := subdirectives(d, "redis", onlyOnce(d), map[string]func() error{
		"username": secret("username", &r.Username),
		"password": secret("password", &r.Password),
		"prefix":   func() error { return oneArg(d, &r.Prefix) },
		"tls": func() (err error) {
			r.TLS, err = parseRedisTLS(d)
			return err
		},
		"dial_timeout":  func() error { return durationArg(d, &r.DialTimeout) },
		"read_timeout":  func() error { return durationArg(d, &r.ReadTimeout) },
		"write_timeout": func() error { return durationArg(d, &r.WriteTimeout) },
		"pool_size": func() error {
			var arg string
			if err := oneArg(d, &arg); err != nil {
				return err
			}
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 || n > 1000 {
				return d.Errf("redis pool_size: %q is not a number of connections between 1 and 1000", arg)
			}
			r.PoolSize = n
			return nil
		},
		"replay_when_unreachable": func() error {
			if err := oneArg(d, &r.ReplayWhenUnreachable); err != nil {
				return err
			}
			switch r.ReplayWhenUnreachable {
			case replayRefuse, replayLocal:
				return nil
			}
			return d.Errf("redis replay_when_unreachable: %q is neither %s nor %s", r.ReplayWhenUnreachable, replayRefuse, replayLocal)
		},
	})
	return r, err
}

// parseRedisTLS reads the tls block of redis.
func parseRedisTLS(d *caddyfile.Dispenser) (*RedisTLS, error) {
	t := new(RedisTLS)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	err := subdirectives(d, "redis tls", onlyOnce(d), map[string]func() error{
		"ca_file":              func() error { return oneArg(d, &t.CAFile) },
		"server_name":          func() error { return oneArg(d, &t.ServerName) },
		"insecure_skip_verify": func() error { return noArgs(d, &t.InsecureSkipVerify) },
	})
	return t, err
}
