// Command caddy is Caddy with the caddy-cognito modules (and Caddy's standard modules) linked in.
//
//	go run ./cmd/caddy run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-cognito/caddy-cognito"
)

func main() {
	caddycmd.Main()
}
