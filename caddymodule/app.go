package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"

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

	secret *keyring.Secret
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "cognito",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves the secrets' placeholders and checks the secrets. No error holds a secret, and
// none repeats the app's name: Caddy prefixes "provision cognito:" itself.
func (a *App) Provision(caddy.Context) error {
	return a.provision()
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

// Start does nothing: the app only holds configuration.
func (*App) Start() error { return nil }

// Stop does nothing.
func (*App) Stop() error { return nil }

// keySecret returns the key secret of the configuration's cognito app, or nil when the app is not
// configured or has no key_secret: keys are then kept in storage.
func keySecret(ctx caddy.Context) (*keyring.Secret, error) {
	v, err := ctx.AppIfConfigured("cognito")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v.(*App).secret, nil
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
