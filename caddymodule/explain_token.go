package caddymodule

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/spf13/cobra"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

func tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token [--config <file>] <jwt | ->",
		Short: "Decodes a token and checks it against every issuer the configuration trusts",
		Long: `
Decodes the header and the claims of a JWT (never its signature) and checks it
with the token verifier of every cognito_authorizer and cognito provider of the
configuration: signature, iss, aud or client_id, token_use, exp, nbf and iat
with the configured clock skew. Each route says whether it accepts the token,
or precisely what fails.

The token is the argument, or read from stdin with - (or --token-file), which
keeps it out of the process list. Without a configuration (none given, no
Caddyfile here) the token is only decoded.

The issuers' signing keys (JWKS) are fetched from each issuer as the server
would, unless --jwks-file gives them.

Exit status: 0 accepted by a route (or only decoded), 1 refused by every
route, 2 error (not a JWT, a configuration that does not provision, or no
route accepted it and one could not check it: keys not fetched within --wait).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return cmdToken(fl, args)
			})(cmd, args)
		},
	}
	configFlags(cmd)
	cmd.Flags().String("token-file", "", "File holding the token, - for stdin")
	cmd.Flags().Bool("json", false, "Print the result as JSON")
	return cmd
}

// tokenReport is what `caddy cognito token` prints.
type tokenReport struct {
	Header json.RawMessage `json:"header"`
	Claims json.RawMessage `json:"claims"`
	// Checked is false when there was no configuration to check the token against.
	Checked bool         `json:"checked"`
	Routes  []tokenCheck `json:"routes,omitempty"`
}

type tokenCheck struct {
	Server   string `json:"server"`
	Route    string `json:"route,omitempty"`
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
	// undecided: the route could not say (its issuer's keys unavailable), which is no refusal.
	undecided bool
}

func cmdToken(fl caddycmd.Flags, args []string) (int, error) {
	token, err := tokenArgument(fl, args)
	if err != nil {
		return exitError, err
	}
	header, claims, err := decodeJWT(token)
	if err != nil {
		return exitError, err
	}
	report := tokenReport{Header: header, Claims: claims}
	if fl.String("config") != "" || hasDefaultConfig() {
		app, stop, err := provisionConfig(fl)
		if err != nil {
			return exitError, err
		}
		defer stop()
		gates := allGates(app)
		if len(gates) == 0 {
			return exitError, errors.New("the configuration has no cognito_authorizer or cognito provider that accepts tokens")
		}
		report.Checked = true
		for _, g := range gates {
			check := tokenCheck{Server: g.server, Route: g.route}
			if err := verifyWaiting(g.gate, token, fl.Duration("wait")); err != nil {
				check.Error = err.Error()
				check.undecided = errors.Is(err, userpool.ErrKeysUnavailable)
			} else {
				check.Accepted = true
			}
			report.Routes = append(report.Routes, check)
		}
	}
	if err := printTokenReport(os.Stdout, report, fl.Bool("json")); err != nil {
		return exitError, err
	}
	if report.Checked && !slices.ContainsFunc(report.Routes, func(c tokenCheck) bool { return c.Accepted }) {
		// A route that could not check the token (its keys not fetched within --wait) leaves the
		// answer open, as a 5xx does for explain.
		if slices.ContainsFunc(report.Routes, func(c tokenCheck) bool { return c.undecided }) {
			os.Exit(exitError)
		}
		os.Exit(exitDeny)
	}
	return exitAllow, nil
}

// hasDefaultConfig reports whether `caddy run` would find a Caddyfile here without --config.
func hasDefaultConfig() bool {
	_, err := os.Stat("Caddyfile")
	return err == nil
}

func tokenArgument(fl caddycmd.Flags, args []string) (string, error) {
	file := fl.String("token-file")
	switch {
	case len(args) == 1 && file != "":
		return "", errors.New("a token argument and --token-file: give one")
	case len(args) == 1 && args[0] != "-":
		return strings.TrimSpace(args[0]), nil
	case len(args) == 1:
		file = "-"
	case file == "":
		return "", errors.New("give the token as the argument, or - to read it from stdin")
	}
	raw, err := readInput(file)
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", errors.New("no token given")
	}
	return token, nil
}

// errNotJWT: what was given is not a compact JWS whose header and claims are JSON objects.
var errNotJWT = errors.New("not a JWT")

// decodeJWT decodes the header and the claims of a compact JWT, without verifying anything. The
// signature is never decoded nor returned. Errors never quote the token.
func decodeJWT(token string) (header, claims json.RawMessage, err error) {
	token = strings.TrimPrefix(token, "Bearer ")
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%w: %d dot-separated parts, want 3 (header.claims.signature)", errNotJWT, len(parts))
	}
	for i, what := range []string{"the header is", "the claims are"} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s not unpadded base64url", errNotJWT, what)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return nil, nil, fmt.Errorf("%w: %s not a JSON object", errNotJWT, what)
		}
		if i == 0 {
			header = raw
		} else {
			claims = raw
		}
	}
	if parts[2] == "" {
		return nil, nil, fmt.Errorf("%w: the signature is empty (an unsigned token is never accepted)", errNotJWT)
	}
	return header, claims, nil
}

// verifyWaiting verifies token with g's verifier, retrying while the issuers' keys are still being
// fetched, for at most wait.
func verifyWaiting(g *gate, token string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, err := g.tokens.Verify(ctx, token)
		if !errors.Is(err, userpool.ErrKeysUnavailable) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// allGates is every authorizer of the http app that verifies tokens, in the servers' name order and
// the routes' order.
func allGates(app *caddyhttp.App) []foundGate {
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	var gates []foundGate
	seen := map[*gate]bool{}
	add := func(server string, c *Config, g *gate) {
		if g == nil || seen[g] || len(c.UserPools)+len(c.OIDC) == 0 {
			return
		}
		seen[g] = true
		gates = append(gates, foundGate{server: server, route: c.Route, gate: g})
	}
	var walk func(server string, routes caddyhttp.RouteList)
	walk = func(server string, routes caddyhttp.RouteList) {
		for _, route := range routes {
			for _, h := range route.Handlers {
				switch h := h.(type) {
				case *Handler:
					add(server, &h.Config, h.gate)
				case *caddyauth.Authentication:
					for _, p := range h.Providers {
						if p, ok := p.(*Provider); ok {
							add(server, &p.Config, p.gate)
						}
					}
				case *caddyhttp.Subroute:
					walk(server, h.Routes)
				}
			}
		}
	}
	for _, name := range names {
		walk(name, app.Servers[name].Routes)
	}
	return gates
}

func printTokenReport(w io.Writer, r tokenReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "header  %s\n", indentJSON(r.Header, "        "))
	fmt.Fprintf(&b, "claims  %s\n", indentJSON(r.Claims, "        "))
	if times := tokenTimes(r.Claims, time.Now()); times != "" {
		fmt.Fprintf(&b, "times   %s\n", times)
	}
	if !r.Checked {
		b.WriteString("checked no: no configuration (give --config) to check the token against\n")
	}
	for _, c := range r.Routes {
		where := "server " + c.Server
		if c.Route != "" {
			where = c.Route + " (" + where + ")"
		}
		if c.Accepted {
			fmt.Fprintf(&b, "route   %s: accepted\n", where)
		} else {
			fmt.Fprintf(&b, "route   %s: refused: %s\n", where, c.Error)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tokenTimes spells the token's exp, nbf and iat as times, relative to now.
func tokenTimes(claims json.RawMessage, now time.Time) string {
	var c map[string]any
	d := json.NewDecoder(bytes.NewReader(claims))
	d.UseNumber()
	if d.Decode(&c) != nil {
		return ""
	}
	var parts []string
	for _, name := range []string{"exp", "nbf", "iat"} {
		n, ok := c[name].(json.Number)
		if !ok {
			continue
		}
		secs, err := n.Int64()
		if err != nil {
			continue
		}
		at := time.Unix(secs, 0).UTC()
		rel := at.Sub(now).Round(time.Second)
		when := "in " + rel.String()
		if rel < 0 {
			when = (-rel).String() + " ago"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", name, at.Format(time.RFC3339), when))
	}
	return strings.Join(parts, ", ")
}
