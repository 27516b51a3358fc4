// Package caddycognito registers the caddy-cognito modules with Caddy. Import it for its side
// effects, or build Caddy with it:
//
//	xcaddy build --with github.com/caddy-cognito/caddy-cognito
package caddycognito

import (
	// The Caddy modules: cognito_authorizer, cognito_identity_pool and the cognito authentication
	// provider.
	_ "github.com/caddy-cognito/caddy-cognito/caddymodule"
)
