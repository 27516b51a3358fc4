package caddymodule

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `cognito` app: what every `cognito_identity_pool` and `cognito_authorizer` of a
// configuration share. It is optional; without it, keys are kept in Caddy's storage.
//
// With KeySecret, every key of the identity pools and of the identity assertions is derived from the
// secret (HKDF, per pool, per rotation epoch) instead of being kept in storage: instances that share
// the secret (a Kubernetes Secret, an environment variable) verify each other's credentials and
// assertions with no shared storage.
type App struct {
	// KeySecret is the current key secret, then optionally the previous one while the secret is
	// rotated: the previous secret only opens and verifies what it sealed and signed, until that
	// expires. Each is at least 32 bytes of random text, and is best given as a placeholder resolved at
	// start, e.g. `["{env.COGNITO_KEY_SECRET}", "{env.COGNITO_KEY_SECRET_PREVIOUS}"]`. A secret that is
	// too short or too regular is a configuration error. Default: none, keys are kept in storage.
	KeySecret []string `json:"key_secret,omitempty"`

	// IdentitySecret is the secret identity ids are derived from, e.g. `{env.COGNITO_IDENTITY_SECRET}`.
	// Identity ids must outlive a rotation of the key secret, so it is required when KeySecret has a
	// previous secret: set it to the secret the identity ids come from. Default: the current key
	// secret.
	IdentitySecret string `json:"identity_secret,omitempty"`

	// Redis, when set, is the Redis (or Valkey) the instances of a fleet share: replay protection
	// across instances and revocations that reach every instance. Default: none, each instance on its
	// own.
	Redis *Redis `json:"redis,omitempty"`

	secret *keyring.Secret
	logger *zap.Logger
	// redis is the client of Redis, shared by every handler of this configuration; nil without it.
	redis *fleet.Redis
	// replayLocal is true when replay protection falls back to local memory while Redis is unreachable.
	replayLocal bool
	// revocations is the process's revocation set, which follower keeps current from Redis between
	// Start and Stop.
	revocations        *fleet.Revocations
	releaseRevocations func()
	follower           *fleet.Follower
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "cognito",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves the secrets' placeholders and checks the secrets, and creates the Redis client
// when redis is set. No error holds a secret, and none repeats the app's name: Caddy prefixes
// "provision cognito:" itself.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := a.provision(); err != nil {
		return err
	}
	return a.provisionRedis()
}

// provisionRedis creates the Redis client; it does not connect until first used, so Redis down at
// start does not stop Caddy.
func (a *App) provisionRedis() error {
	if a.Redis == nil {
		return nil
	}
	opts, err := a.Redis.options()
	if err != nil {
		return err
	}
	if a.redis, err = fleet.NewRedis(opts); err != nil {
		return err
	}
	if a.revocations, a.releaseRevocations, err = acquireRevocations(); err != nil {
		return err
	}
	a.replayLocal = a.Redis.ReplayWhenUnreachable == replayLocal
	fields := []zap.Field{zap.String("redis", a.Redis.endpoint(opts.URL)), zap.Bool("tls", opts.TLS != nil || strings.HasPrefix(opts.URL, "rediss:")),
		zap.Bool("acl_user", opts.Username != ""), zap.String("replay_when_unreachable", cmp.Or(a.Redis.ReplayWhenUnreachable, replayRefuse))}
	if opts.TLS != nil && opts.TLS.InsecureSkipVerify {
		a.logger.Warn("redis: tls insecure_skip_verify is set: the server's certificate is not checked, so anyone on the path can read and change the fleet's replay and revocation state", fields...)
	} else {
		a.logger.Info("fleet state in redis", fields...)
	}
	return nil
}

func (a *App) provision() error {
	if len(a.KeySecret) == 0 {
		if a.IdentitySecret != "" {
			return errors.New("identity_secret is set without key_secret")
		}
		return nil
	}
	if len(a.KeySecret) > 2 {
		return fmt.Errorf("key_secret takes a current and at most one previous secret, not %d", len(a.KeySecret))
	}
	repl := caddy.NewReplacer()
	resolve := func(option, s string) ([]byte, error) {
		b := []byte(repl.ReplaceKnown(s, ""))
		if len(b) == 0 && s != "" {
			// Only placeholders resolve to nothing, so s holds no secret: name it, as the fix is there.
			return nil, fmt.Errorf("%s is empty: %s resolved to nothing (an unset variable, or a file that cannot be read)", option, s)
		}
		if err := keyring.ValidateSecret(b); err != nil {
			return nil, fmt.Errorf("%s: %w", option, err)
		}
		return b, nil
	}
	var secret keyring.Secret
	var err error
	if secret.Current, err = resolve("key_secret", a.KeySecret[0]); err != nil {
		return err
	}
	if len(a.KeySecret) == 2 {
		if secret.Previous, err = resolve("key_secret (previous)", a.KeySecret[1]); err != nil {
			return err
		}
	}
	if a.IdentitySecret != "" {
		if secret.IdentitySecret, err = resolve("identity_secret", a.IdentitySecret); err != nil {
			return err
		}
	}
	a.secret = &secret
	return nil
}

// Start follows the revocations in Redis, when there is one: the process's set is read in full now,
// after every reconnection and every minute, and each published change is applied as it comes.
func (a *App) Start() error {
	if a.redis == nil {
		return nil
	}
	a.follower = a.redis.Follow(a.revocations, fleet.FollowOptions{OnError: func(err error) {
		a.logger.Warn("following revocations in redis", zap.Error(err))
	}})
	return nil
}

// Stop stops following the revocations. The Redis client is closed at Cleanup, once the
// configuration's handlers have finished their requests.
func (a *App) Stop() error {
	if a.follower != nil {
		_ = a.follower.Close()
		a.follower = nil
	}
	return nil
}

// Cleanup closes the Redis client and releases the revocation set.
func (a *App) Cleanup() error {
	if a.releaseRevocations != nil {
		a.releaseRevocations()
		a.releaseRevocations = nil
	}
	if a.redis != nil {
		if err := a.redis.Close(); err != nil {
			a.logger.Warn("closing the redis client", zap.Error(err))
		}
		a.redis = nil
	}
	return nil
}

// fleetApp returns the configuration's cognito app, or nil when it is not configured.
func fleetApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("cognito")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// keySecret returns the key secret of the configuration's cognito app, or nil when the app is not
// configured or has no key_secret: keys are then kept in storage.
func keySecret(ctx caddy.Context) (*keyring.Secret, error) {
	a, err := fleetApp(ctx)
	if a == nil || err != nil {
		return nil, err
	}
	return a.secret, nil
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
