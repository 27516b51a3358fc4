package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
	"github.com/spf13/cobra"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "cognito",
		Usage: "explain|token [flags]",
		Short: "Explains what cognito_authorizer decides, without running a server",
		Long: `
Runs the verification and the policy of the cognito_authorizer (or cognito
authentication provider) of a configuration on one request, without starting
any server, and says why it is allowed or refused.

  caddy cognito explain --config Caddyfile --method GET --host api.example.com \
      --path /orders/42 --token-file token.jwt
  caddy cognito token --config Caddyfile eyJraWQiOi...

Offline means no server runs: the issuers' signing keys (JWKS) are still
fetched from each issuer, unless --jwks-file gives them.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(explainCommand(), tokenCommand())
		},
	})
}

// Exit codes of the cognito commands.
const (
	exitAllow = 0
	exitDeny  = 1
	exitError = 2
)

// maxCLIInput bounds what the commands read from a file or stdin: a token, a raw request.
const maxCLIInput = 1 << 20

// configFlags are the flags both commands take to find the configuration, as `caddy run` does.
func configFlags(cmd *cobra.Command) {
	cmd.Flags().StringP("config", "c", "", "Configuration file (default: ./Caddyfile, as for caddy run)")
	cmd.Flags().StringP("adapter", "a", "", "Name of the config adapter (default: caddyfile for a Caddyfile)")
	cmd.Flags().String("jwks-file", "", "JWKS (JSON) to verify tokens with instead of fetching each issuer's")
	cmd.Flags().Duration("wait", 10*time.Second, "How long to wait for the issuers' signing keys")
}

func explainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain --config <file> [--method <m>] --host <host> --path <path> [--token <jwt> | --token-file <file|-> | --request-file <file|->]",
		Short: "Decides one request as the configured cognito_authorizer would, and says why",
		Long: `
Decides one request with the cognito_authorizer of the configuration whose
route matches it (the route's matchers and rewrites are applied as Caddy
applies them; no other handler runs), and prints the identity, the policy's
input document, the decision, the rule that decided and why.

The request is either described by flags (--method, --host, --path, --header,
and a bearer token from --token, --token-file, or stdin with --token-file -),
or given whole, signed or not, as raw HTTP/1.1 with --request-file.

Nothing is served, but the issuers' signing keys (JWKS) are fetched from each
issuer as the server would (--jwks-file gives them instead), and signed
requests are checked against the identity pool's keys in Caddy's storage.

Exit status: 0 allowed, 1 refused, 2 error: the command, the request or the
configuration is wrong, or the gateway could not decide (a 5xx: the issuer's
keys not fetched within --wait, a policy that fails); the explanation is
printed in that last case too.`,
		Args: cobra.NoArgs,
		RunE: caddycmd.WrapCommandFuncForCobra(cmdExplain),
	}
	configFlags(cmd)
	cmd.Flags().String("method", http.MethodGet, "Request method")
	cmd.Flags().String("host", "", "Request host (Host header)")
	cmd.Flags().String("path", "/", "Request path, with its query if any")
	cmd.Flags().StringArrayP("header", "H", nil, "Request header, \"Name: value\" (repeatable)")
	cmd.Flags().String("remote-ip", "192.0.2.1", "Client address the request comes from")
	cmd.Flags().String("token", "", "Bearer token (visible to other users in the process list: prefer --token-file)")
	cmd.Flags().String("token-file", "", "File holding the bearer token, - for stdin")
	cmd.Flags().String("request-file", "", "File holding the whole raw HTTP request, - for stdin")
	cmd.Flags().Bool("json", false, "Print the explanation as JSON")
	return cmd
}

// explanation is what `caddy cognito explain` prints.
type explanation struct {
	Server  string          `json:"server"`
	Route   string          `json:"route,omitempty"`
	Allow   bool            `json:"allow"`
	Status  int             `json:"status"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Rule    string          `json:"rule"`
	Reason  string          `json:"reason,omitempty"`
	Shadow  bool            `json:"shadow,omitempty"`
	Input   json.RawMessage `json:"input,omitempty"`
}

func cmdExplain(fl caddycmd.Flags) (int, error) {
	r, err := explainRequest(fl)
	if err != nil {
		return exitError, err
	}
	cfg, stop, err := provisionConfig(fl)
	if err != nil {
		return exitError, err
	}
	defer stop()
	found, err := findGate(cfg, r)
	if err != nil {
		return exitError, err
	}
	r, g := found.request, found.gate
	d, err := decideWaiting(r, g, fl.Duration("wait"))
	if err != nil {
		return exitError, err
	}
	req := authorizer.Request{HTTP: r, Sent: sentRequest(r), RemoteIP: remoteIP(r)}
	input, err := g.authz.PolicyInput(req, d)
	if err != nil {
		return exitError, fmt.Errorf("building the policy input: %w", err)
	}
	e := explanation{Server: found.server, Route: found.route, Allow: d.Allow, Status: d.Status, Code: d.Code,
		Message: d.Message, Rule: d.Label, Shadow: d.Shadow, Input: input}
	if d.Status == 0 {
		e.Status = http.StatusOK
	}
	if d.Reason != nil {
		e.Reason = d.Reason.Error()
	}
	if err := printExplanation(os.Stdout, e, fl.Bool("json")); err != nil {
		return exitError, err
	}
	switch {
	case !d.Allow && d.Status >= http.StatusInternalServerError:
		// The gateway could not decide (keys unavailable, a policy error): it would answer 5xx.
		return exitError, fmt.Errorf("the request cannot be decided: %d %s", d.Status, d.Label)
	case !d.Allow:
		// Not an error of the command: WrapCommandFuncForCobra would log one, and exits 0 on a 1.
		os.Exit(exitDeny)
	}
	return exitAllow, nil
}

// decideWaiting decides r, retrying while the issuers' keys are still being fetched (the server
// answers 503 then), for at most wait.
func decideWaiting(r *http.Request, g *gate, wait time.Duration) (*authorizer.Decision, error) {
	deadline := time.Now().Add(wait)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCLIInput))
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	for {
		r.Body = io.NopCloser(bytes.NewReader(body))
		d, _ := g.decide(r)
		if !errors.Is(d.Reason, userpool.ErrKeysUnavailable) || time.Now().After(deadline) {
			return d, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func printExplanation(w io.Writer, e explanation, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	var b strings.Builder
	where := "server " + e.Server
	if e.Route != "" {
		where = e.Route + " (" + where + ")"
	}
	fmt.Fprintf(&b, "route     %s\n", where)
	verdict := "allow"
	if !e.Allow {
		verdict = "deny"
	}
	if e.Shadow {
		verdict = "allow (shadow mode: would deny)"
	}
	fmt.Fprintf(&b, "decision  %s %d\n", verdict, e.Status)
	fmt.Fprintf(&b, "rule      %s\n", e.Rule)
	if e.Reason != "" {
		fmt.Fprintf(&b, "reason    %s\n", e.Reason)
	}
	if e.Message != "" {
		answer := e.Message
		if e.Code != "" {
			answer += " (" + e.Code + ")"
		}
		fmt.Fprintf(&b, "answer    %s\n", answer)
	}
	if e.Input == nil {
		b.WriteString("identity  none: the credentials did not verify, so the policy did not run\n")
	} else {
		var doc struct {
			Identity json.RawMessage `json:"identity"`
		}
		if err := json.Unmarshal(e.Input, &doc); err != nil {
			return err
		}
		fmt.Fprintf(&b, "identity  %s\n", indentJSON(doc.Identity, "          "))
		fmt.Fprintf(&b, "input     %s\n", indentJSON(e.Input, "          "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indentJSON(raw json.RawMessage, prefix string) string {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, prefix, "  "); err != nil {
		return string(raw)
	}
	return out.String()
}

// explainRequest builds the request to decide from the flags.
func explainRequest(fl caddycmd.Flags) (*http.Request, error) {
	remote := fl.String("remote-ip")
	if net.ParseIP(remote) == nil {
		return nil, fmt.Errorf("--remote-ip %q is not an IP address", remote)
	}
	var r *http.Request
	if file := fl.String("request-file"); file != "" {
		for _, f := range []string{"token", "token-file", "host", "header"} {
			if fl.Changed(f) {
				return nil, fmt.Errorf("--request-file gives the whole request: --%s cannot be added to it", f)
			}
		}
		raw, err := readInput(file)
		if err != nil {
			return nil, fmt.Errorf("reading the request: %w", err)
		}
		if r, err = http.ReadRequest(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return nil, fmt.Errorf("parsing the request in %s: %w", file, err)
		}
		r.URL.Scheme, r.URL.Host = "http", r.Host
	} else {
		host := fl.String("host")
		if host == "" {
			return nil, errors.New("--host is required (or --request-file)")
		}
		target := fl.String("path")
		if !strings.HasPrefix(target, "/") {
			return nil, fmt.Errorf("--path %q must start with /", target)
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, fmt.Errorf("--path: %w", err)
		}
		u.Scheme, u.Host = "http", host
		r = &http.Request{Method: fl.String("method"), URL: u, Host: host, RequestURI: target, Proto: "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody}
		headers, err := fl.GetStringArray("header")
		if err != nil {
			return nil, err
		}
		for _, h := range headers {
			name, value, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("--header %.64q is not \"Name: value\"", h)
			}
			r.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		token, err := bearerToken(fl)
		if err != nil {
			return nil, err
		}
		if token != "" {
			if r.Header.Get("Authorization") != "" {
				return nil, errors.New("a token and an Authorization header: give one")
			}
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	r.RemoteAddr = net.JoinHostPort(remote, "40000")
	return r, nil
}

// bearerToken is the token of --token or --token-file; "" for none.
func bearerToken(fl caddycmd.Flags) (string, error) {
	token, file := fl.String("token"), fl.String("token-file")
	if token != "" && file != "" {
		return "", errors.New("--token and --token-file: give one")
	}
	if file != "" {
		raw, err := readInput(file)
		if err != nil {
			return "", fmt.Errorf("reading the token: %w", err)
		}
		token = strings.TrimSpace(string(raw))
		if token == "" {
			return "", fmt.Errorf("%s holds no token", file)
		}
	}
	if token == "" {
		return "", nil
	}
	token = strings.TrimPrefix(token, "Bearer ")
	// A token the verifier could never parse is a mistake in the command, not a question for the policy.
	if _, _, err := decodeJWT(token); err != nil {
		return "", fmt.Errorf("the token: %w", err)
	}
	return token, nil
}

// readInput reads a file, or stdin for "-", up to maxCLIInput.
func readInput(name string) ([]byte, error) {
	var f io.Reader = os.Stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		f = file
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxCLIInput+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxCLIInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxCLIInput)
	}
	return raw, nil
}

// provisionConfig loads the configuration as `caddy run` would find and adapt it, and provisions its
// apps (storage, the http app, every handler) without starting them: nothing listens. stop ends the
// local JWKS server of --jwks-file, if any.
func provisionConfig(fl caddycmd.Flags) (*caddyhttp.App, func(), error) {
	stop := func() {}
	raw, file, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return nil, stop, err
	}
	if raw == nil {
		return nil, stop, errors.New("no configuration: give --config (there is no Caddyfile here)")
	}
	if jwks := fl.String("jwks-file"); jwks != "" {
		keys, err := readInput(jwks)
		if err != nil {
			return nil, stop, fmt.Errorf("reading the JWKS: %w", err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(keys)
		}))
		stop = srv.Close
		if raw, err = withJWKSURL(raw, srv.URL+"/jwks.json"); err != nil {
			return nil, stop, err
		}
	}
	cfg := new(caddy.Config)
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, stop, fmt.Errorf("decoding the configuration of %s: %w", file, err)
	}
	// The admin endpoint is not started (only caddy.Run starts it), nor is any app.
	ctx, err := caddy.ProvisionContext(cfg)
	if err != nil {
		return nil, stop, fmt.Errorf("provisioning %s: %w", file, err)
	}
	app, err := ctx.AppIfConfigured("http")
	if err != nil {
		return nil, stop, fmt.Errorf("%s has no http app, so no cognito_authorizer", file)
	}
	return app.(*caddyhttp.App), stop, nil
}

// withJWKSURL sets jwks_url of every user pool and OIDC issuer of every cognito_authorizer and cognito
// provider in the JSON configuration raw.
func withJWKSURL(raw []byte, jwksURL string) ([]byte, error) {
	var cfg any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	var walk func(v any, inGate bool)
	walk = func(v any, inGate bool) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "cognito_authorizer" {
				inGate = true
			}
			for k, child := range v {
				if list, ok := child.([]any); ok && inGate && (k == "user_pools" || k == "oidc") {
					for _, issuer := range list {
						if m, ok := issuer.(map[string]any); ok {
							m["jwks_url"] = jwksURL
						}
					}
					continue
				}
				walk(child, inGate || k == "cognito" && isMap(child))
			}
		case []any:
			for _, child := range v {
				walk(child, inGate)
			}
		}
	}
	walk(cfg, false)
	return json.Marshal(cfg)
}

func isMap(v any) bool { _, ok := v.(map[string]any); return ok }

// foundGate is the authorizer that decides a request, and where it is.
type foundGate struct {
	server, route string
	gate          *gate
	// request is the request prepared as Caddy prepares it, and rewritten by the rewrites before the
	// authorizer.
	request *http.Request
}

// findGate finds the authorizer that decides r: the first cognito_authorizer or cognito provider on
// the routes r matches, in the servers' name order.
func findGate(app *caddyhttp.App, r *http.Request) (*foundGate, error) {
	names := make([]string, 0, len(app.Servers))
	for name := range app.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		srv := app.Servers[name]
		req := r.Clone(context.Background())
		if len(srv.TLSConnPolicies) > 0 {
			req.TLS, req.URL.Scheme = &tls.ConnectionState{HandshakeComplete: true, ServerName: req.Host}, "https"
		}
		repl := caddy.NewReplacer()
		req = caddyhttp.PrepareRequest(req, repl, httptest.NewRecorder(), srv)
		g, route, err := routeGate(srv.Routes, req)
		if err != nil {
			return nil, fmt.Errorf("server %s: %w", name, err)
		}
		if g != nil {
			return &foundGate{server: name, route: route, gate: g, request: req}, nil
		}
	}
	return nil, fmt.Errorf("no route of the configuration for %s %s%s has a cognito_authorizer: the gateway would not check the request at all (it would pass unauthenticated)",
		r.Method, r.Host, r.URL.RequestURI())
}

// routeGate walks routes as Caddy's handler chain would reach them, up to the first authorizer.
func routeGate(routes caddyhttp.RouteList, r *http.Request) (*gate, string, error) {
	for _, route := range routes {
		ok, err := route.MatcherSets.AnyMatchWithError(r)
		if err != nil {
			return nil, "", fmt.Errorf("matching the request: %w", err)
		}
		if !ok {
			continue
		}
		for _, h := range route.Handlers {
			switch h := h.(type) {
			case *Handler:
				return h.gate, h.Route, nil
			case *caddyauth.Authentication:
				for _, p := range h.Providers {
					if p, ok := p.(*Provider); ok {
						return p.gate, p.Route, nil
					}
				}
			case *caddyhttp.Subroute:
				g, name, err := routeGate(h.Routes, r)
				if g != nil || err != nil {
					return g, name, err
				}
			case *rewrite.Rewrite:
				next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
				if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
					return nil, "", fmt.Errorf("rewriting the request: %w", err)
				}
			}
		}
		if route.Terminal {
			return nil, "", nil
		}
	}
	return nil, "", nil
}
