package caddymodule

import (
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
		default:
			return nil, d.Errf("unrecognized cognito option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "cognito", Value: caddyconfig.JSON(app, nil)}, nil
}
