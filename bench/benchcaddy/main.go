// Command benchcaddy is the benchmark's Caddy: cmd/caddy's modules and the floors of bench/floor, which
// only this binary has. bench builds it once per run; its name differs from cmd/caddy's so that
// `go install ./...` cannot install it as caddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-cognito/caddy-cognito"
	_ "github.com/caddy-cognito/caddy-cognito/bench/floor"
)

func main() {
	caddycmd.Main()
}
