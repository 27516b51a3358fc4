package integration

// The examples of examples/, run as they are shipped: every Caddyfile adapts and validates; each flow's
// Caddyfile runs in the real binary with a real user pool (cognito-local), called by the Go client, the
// JavaScript client and the commands of its README; the sidecar's Dockerfile build line is run as it is
// written and the binary it makes serves the sidecar's Caddyfile with the environment of compose.yaml and
// of pod.yaml.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"gopkg.in/yaml.v3"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// examples holds what the example tests build once per run.
var examples struct {
	clientOnce sync.Once
	clientBin  string // examples/clients/go, built
	clientErr  error
}

// examplePath is a path under examples/.
func examplePath(elem ...string) string {
	return filepath.Join(append([]string{harness.root, "examples"}, elem...)...)
}

// Identity pool ids and roles the example Caddyfiles have as defaults: the tests run them unchanged.
const (
	guestsPoolID    = "us-east-1:5eed901e-afb6-487a-b1de-10c224fbd0d8"
	guestsRole      = "arn:aws:iam::123456789012:role/catalog-guest"
	bothPoolID      = "us-east-1:b736a168-0ce2-40ec-8a1a-a4a93f3b7471"
	bothUserRole    = "arn:aws:iam::123456789012:role/orders-user"
	bothAdminRole   = "arn:aws:iam::123456789012:role/orders-admin"
	readmeLocalhost = "http://localhost:8080" // the gateway's address in the READMEs' commands
)

// unreachable is a loopback URL where nothing listens: validating a config starts fetching its
// issuers' keys, which must not leave the machine.
const unreachable = "http://127.0.0.1:9"

// caddyfileVar matches Caddy's environment placeholders, {$NAME} and {$NAME:default}.
var caddyfileVar = regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?\}`)

// caddyfileVars returns the environment variables a Caddyfile reads, and which of them have no default.
func caddyfileVars(text string) (all, required []string) {
	for _, m := range caddyfileVar.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(all, m[1]) {
			all = append(all, m[1])
		}
		if m[2] == "" && !slices.Contains(required, m[1]) {
			required = append(required, m[1])
		}
	}
	return all, required
}

func TestCaddyfileVars(t *testing.T) {
	all, required := caddyfileVars("{$SITE::8080} {\n\tuser_pool {$POOL} {\n\t\tissuer {$EP:https://x}/{$POOL}\n\t}\n}\n{$}")
	if !slices.Equal(all, []string{"SITE", "POOL", "EP"}) || !slices.Equal(required, []string{"POOL"}) {
		t.Errorf("caddyfileVars = %v, %v; want [SITE POOL EP], [POOL]", all, required)
	}
}

// TestExampleCaddyfilesAdaptAndValidate adapts every Caddyfile the project ships with the built binary,
// and validates it (which provisions every module) with the environment it expects. Caddyfiles with
// defaults for everything are also adapted with no environment at all.
func TestExampleCaddyfilesAdaptAndValidate(t *testing.T) {
	t.Parallel()
	// Values of the right shape, pointing nowhere.
	local := []string{
		"COGNITO_IDP_ENDPOINT=" + unreachable, "COGNITO_USER_POOL_ID=local_AbCd1234", "COGNITO_CLIENT_ID=client123",
		"OIDC_ISSUER=" + unreachable + "/realms/demo", "OIDC_AUDIENCE=demo-api",
		"SITE=http://127.0.0.1:8080", "UPSTREAM=127.0.0.1:9",
	}
	offline := []string{"COGNITO_IDP_ENDPOINT=" + unreachable, "UPSTREAM=127.0.0.1:9"}
	// The sidecar's role policies are beside its Caddyfile, as in the image.
	sidecarPolicies := "POLICY_DIR=" + examplePath("sidecar")
	compose := append(sidecarComposeEnv(t, sidecarSettings(unreachable, "local_AbCd1234", "client123")), offline...)
	compose = append(compose, sidecarPolicies)
	pod := append(sidecarPodEnv(t), offline...)
	pod = append(pod, sidecarPolicies)
	tests := []struct {
		file     string // relative to the repository root
		name     string
		env      []string
		validate bool // else adapt only: the defaults name real issuers, which validation would contact
	}{
		{"Caddyfile.example", "as shipped", nil, true},
		{"examples/userpool/Caddyfile", "defaults", nil, false},
		{"examples/userpool/Caddyfile", "cognito-local", local, true},
		{"examples/guests/Caddyfile", "defaults", nil, true},
		{"examples/userpool-and-identitypool/Caddyfile", "defaults", nil, false},
		{"examples/userpool-and-identitypool/Caddyfile", "cognito-local", local, true},
		{"examples/oidc/Caddyfile", "keycloak-shaped", local, true},
		{"examples/sidecar/Caddyfile", "compose.yaml environment", compose, true},
		{"examples/sidecar/Caddyfile", "pod.yaml environment", pod, true},
		{"examples/browser/Caddyfile", "defaults", nil, false},
		{"examples/browser/Caddyfile", "cognito-local", slices.Concat(local, []string{
			"SITE=http://127.0.0.1:8081", "API_SITE=http://localhost:8080", "ECHO_PORT=9081",
			"PAGE_ROOT=" + t.TempDir(), "POLICY=" + examplePath("browser", "policy.rego"),
		}), true},
	}

	// Every Caddyfile under examples/ is in the table.
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	err := filepath.WalkDir(examplePath(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return err
		}
		if name := d.Name(); name == "Caddyfile" || strings.HasSuffix(name, ".caddyfile") || strings.HasPrefix(name, "Caddyfile.") {
			rel, _ := filepath.Rel(harness.root, path)
			if !covered[filepath.ToSlash(rel)] {
				t.Errorf("%s is not checked by this test: add it to the table", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"adapt", "--config", filepath.Join(harness.root, tt.file), "--adapter", "caddyfile"}
			if tt.validate {
				args = append(args, "--validate")
			}
			if out, err := runCaddyCommand(t, caddyBinary(t), tt.file, tt.env, args...); err != nil {
				t.Errorf("caddy %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// runCaddyCommand runs a caddy subcommand with env and none of the machine's Caddy settings or of the
// variables file reads, its storage and config directories temporary.
func runCaddyCommand(t *testing.T, bin, file string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	drop := []string{"CADDY", "XDG_"}
	if text, err := os.ReadFile(filepath.Join(harness.root, file)); err == nil {
		vars, _ := caddyfileVars(string(text))
		for _, v := range vars {
			drop = append(drop, v+"=")
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// From the repository root, as the READMEs run them (Caddyfile.example names its policy file
	// relative to it).
	cmd.Dir = harness.root
	cmd.Env = childEnv(drop, append(env, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		// Examples name their policy files relative to their folder, as when run from the repository root.
		"EXAMPLE_DIR="+filepath.Dir(filepath.Join(harness.root, file)))...)
	cmd.WaitDelay = 2 * time.Second
	return cmd.CombinedOutput()
}

// startExample runs the Caddyfile at path (as shipped, with the harness's global options added: see
// startCaddy) in bin, with env, SITE set to http://127.0.0.1:<port> and PORT to <port> (examples name
// their address with one or the other), every listener on loopback. env must set every variable whose
// default is a port, and the README's fixed ports are held meanwhile (occupyPorts).
func startExample(t *testing.T, bin, path string, env ...string) *caddyServer {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	caddyfile := withGlobalOptions(withoutLeadingComments(string(text)), "\tdefault_bind 127.0.0.1\n")
	vars, _ := caddyfileVars(string(text))
	requirePortsSet(t, path, string(text), append([]string{"SITE", "PORT"}, env...))
	occupyPorts(t, readmePorts...)
	drop := []string{"CADDY", "XDG_", "AWS_"}
	for _, v := range vars {
		drop = append(drop, v+"=")
	}
	return launchCaddy(t, caddyLaunch{
		bin: bin, caddyfile: caddyfile, name: "caddy with " + path, drop: drop, waitSite: true,
		env: func(c *caddyServer, sitePort int) []string {
			return append(slices.Clone(env),
				"EXAMPLE_DIR="+filepath.Dir(path),
				"SITE="+c.BaseURL,
				"PORT="+strconv.Itoa(sitePort),
			)
		},
	})
}

// withoutLeadingComments returns a Caddyfile without its leading comments: the harness adds its options
// to a global options block only if it comes first.
func withoutLeadingComments(caddyfile string) string {
	lines := strings.SplitAfter(caddyfile, "\n")
	for len(lines) > 0 && (strings.TrimSpace(lines[0]) == "" || strings.HasPrefix(lines[0], "#")) {
		lines = lines[1:]
	}
	return strings.Join(lines, "")
}

// portDefault matches the default of a placeholder that is, or ends with, a port: {$SITE::8080},
// {$UPSTREAM:127.0.0.1:9080}, {$ECHO_PORT:9081}.
var portDefault = regexp.MustCompile(`^(?:.*:)?\d{2,5}$`)

// requirePortsSet fails t unless env (NAME=value, or NAME) sets every variable of the Caddyfile text
// whose default is a port: run with its default, the example would bind a fixed port that a reader's
// own instance may hold.
func requirePortsSet(t *testing.T, path, text string, env []string) {
	t.Helper()
	set := map[string]bool{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		set[name] = true
	}
	for _, m := range caddyfileVar.FindAllStringSubmatch(text, -1) {
		if def := strings.TrimPrefix(m[2], ":"); m[2] != "" && portDefault.MatchString(def) && !set[m[1]] {
			t.Fatalf("%s: {$%s%s} defaults to a fixed port: set %s so that the test runs it on a free one", path, m[1], m[2], m[1])
		}
	}
}

// exampleClient returns examples/clients/go built, once per run.
func exampleClient(t *testing.T) string {
	t.Helper()
	requireEndToEnd(t)
	examples.clientOnce.Do(func() {
		bin := filepath.Join(harness.tmp, "example-client")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/clients/go")
		cmd.Dir = harness.root
		if out, err := cmd.CombinedOutput(); err != nil {
			examples.clientErr = fmt.Errorf("building examples/clients/go: %v\n%s", err, out)
			return
		}
		examples.clientBin = bin
	})
	if examples.clientErr != nil {
		t.Fatal(examples.clientErr)
	}
	return examples.clientBin
}

// runGoClient runs the Go client with args, the password in its environment.
func runGoClient(t *testing.T, args ...string) cmdResult {
	t.Helper()
	env := childEnv([]string{"AWS_", "COGNITO_"}, "COGNITO_PASSWORD="+testPassword)
	return runClient(t, t.TempDir(), env, "", exampleClient(t), args...)
}

// runJSClient runs examples/clients/js/client.js for flow with env.
func runJSClient(t *testing.T, flow string, env ...string) cmdResult {
	t.Helper()
	dir := needNPM(t, "examples/clients/js")
	all := childEnv([]string{"AWS_", "NODE_", "COGNITO_", "API=", "IDENTITY_", "METHOD=", "BODY="},
		append([]string{"AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1", "COGNITO_PASSWORD=" + testPassword}, env...)...)
	return runClient(t, dir, all, "", need(t, "node"), "client.js", flow)
}

// readmeMarker precedes each fenced block of a README that the tests run.
const readmeMarker = "<!-- run by integration/examples_test.go -->"

// readmeScript returns the blocks of the README at path that follow readmeMarker, in order.
func readmeScript(t *testing.T, path string) string {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	script := markedBlocks(t, path, string(text), readmeMarker)
	if script == "" {
		t.Fatalf("%s has no block marked %s", path, readmeMarker)
	}
	return script
}

// markedBlocks returns the fenced blocks of a Markdown text (from the file name) that follow a line
// holding only marker, in order.
func markedBlocks(t *testing.T, name, text, marker string) string {
	t.Helper()
	var script strings.Builder
	marked, inBlock := false, false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock = false
		case inBlock:
			script.WriteString(line + "\n")
		case strings.TrimSpace(line) == marker:
			marked = true
		case marked && strings.HasPrefix(line, "```"):
			marked, inBlock = false, true
		case marked && strings.TrimSpace(line) != "":
			t.Fatalf("%s: %q follows %s; want a fenced block", name, line, marker)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return script.String()
}

// runReadme runs the marked blocks of a README with bash (-euo pipefail), the gateway's address in them
// replaced by baseURL, in an environment of env only (and PATH, HOME...: the AWS CLI isolated as in
// runAWS).
func runReadme(t *testing.T, path, baseURL string, env ...string) cmdResult {
	t.Helper()
	script := readmeScript(t, path)
	if baseURL != "" {
		script = strings.ReplaceAll(script, readmeLocalhost, baseURL)
	}
	all := childEnv([]string{"AWS_", "COGNITO_", "IDENTITY_", "OIDC_", "ID_TOKEN=", "ACCESS_TOKEN="},
		append(append(append([]string(nil), awsDefaults...), "COGNITO_PASSWORD="+testPassword), env...)...)
	return runClient(t, t.TempDir(), needForScript(t, script, all), "", "sh", "-eu", "-c", script)
}

func TestReadmeScript(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	text := "# x\n\n```sh\nnot run\n```\n\n" + readmeMarker + "\n```sh\necho one\n```\n\ntext\n\n" + readmeMarker + "\n\n```sh\necho two\n```\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readmeScript(t, path); got != "echo one\necho two\n" {
		t.Errorf("readmeScript = %q, want the two marked blocks", got)
	}
}

// decodeEcho decodes a client's output: the echo upstream's answer.
func decodeEcho(t *testing.T, out string) echoedRequest {
	t.Helper()
	var e echoedRequest
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("the API's answer is not the upstream's echo: %v\n%s", err, out)
	}
	return e
}

// wantHeaders fails the test unless the upstream saw each header with the value given.
func wantHeaders(t *testing.T, e echoedRequest, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := e.Header.Get(name); got != v {
			t.Errorf("upstream saw %s %q, want %q", name, got, v)
		}
	}
}

// wantRefused fails the test unless the client failed saying status, and the upstream was not reached.
func wantRefused(t *testing.T, r cmdResult, up *upstream, before int, status string) {
	t.Helper()
	if r.Err == nil || !strings.Contains(r.Stderr, status) {
		t.Errorf("%s: err %v, stderr %q; want a refusal with %s", r.Cmd, r.Err, r.Stderr, status)
	}
	if up.Count() != before {
		t.Errorf("a refused request reached the upstream")
	}
}

func TestExampleUserPool(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	sub := pool.AddUser(t, "alice@example.com", "admins")
	otherClient := pool.AddClient(t, "not-accepted")
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("userpool", "Caddyfile"),
		"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_IDP_ENDPOINT="+emu.URL,
		"UPSTREAM="+up.Addr)
	client := func(t *testing.T, clientID string, extra ...string) cmdResult {
		t.Helper()
		return runGoClient(t, append([]string{"-flow", "jwt", "-api", srv.BaseURL + "/orders/42", "-client-id", clientID,
			"-username", "alice@example.com", "-user-pool-endpoint", emu.URL}, extra...)...)
	}

	t.Run("go client with an access token", func(t *testing.T) {
		e := decodeEcho(t, client(t, pool.ClientID).ok(t))
		wantHeaders(t, e, map[string]string{"X-Cognito-Sub": sub, "X-Cognito-Client-Id": pool.ClientID, "X-Cognito-Groups": "admins"})
	})
	t.Run("README commands", func(t *testing.T) {
		out := runReadme(t, examplePath("userpool", "README.md"), srv.BaseURL,
			"COGNITO_IDP_ENDPOINT="+emu.URL, "COGNITO_CLIENT_ID="+pool.ClientID).ok(t)
		wantHeaders(t, decodeEcho(t, out), map[string]string{"X-Cognito-Sub": sub})
	})
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		wantRefused(t, client(t, pool.ClientID, "-token", "id"), up, before, "401") // token_use access
		wantRefused(t, client(t, otherClient), up, before, "401")
		resp := srv.get(t, "/orders/42", nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("no token: %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// A refused token is not logged, nor the signature that would replay it.
		foreign := pool.SignInWith(t, otherClient, "alice@example.com").Access
		if resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + foreign}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token of another app client: %d, want 401", resp.StatusCode)
		}
		if up.Count() != before {
			t.Errorf("a refused request reached the upstream")
		}
		srv.assertLogsExclude(t, foreign, signatureOf(foreign))
	})
	t.Run("the group requirement its comment shows, uncommented, lets only the group in", func(t *testing.T) {
		text, err := os.ReadFile(examplePath("userpool", "Caddyfile"))
		if err != nil {
			t.Fatal(err)
		}
		const commented = "\t\t# groups admins\n"
		if !strings.Contains(string(text), commented) {
			t.Fatalf("examples/userpool/Caddyfile has no line %q", commented)
		}
		path := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(path, []byte(strings.Replace(string(text), commented, "\t\tgroups admins\n", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		pool.AddUser(t, "bob@example.com")
		srv := startExample(t, caddyBinary(t), path,
			"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_IDP_ENDPOINT="+emu.URL,
			"UPSTREAM="+up.Addr)
		for user, want := range map[string]int{"alice@example.com": http.StatusOK, "bob@example.com": http.StatusForbidden} {
			resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + pool.SignIn(t, user).Access}})
			if resp.StatusCode != want {
				t.Errorf("%s (admins: %v): %d, want %d", user, want == http.StatusOK, resp.StatusCode, want)
			}
		}
	})
}

// TestExampleOIDC runs examples/oidc with an issuer the test serves: its discovery document names a
// JWKS elsewhere (the test IdP's), so a token verifies only if the gateway discovered where the keys
// are, as the Caddyfile (which names no jwks_url) says it does.
func TestExampleOIDC(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	var discoveries atomic.Int32
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		discoveries.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": "http://" + r.Host, "jwks_uri": idp.JWKSURL, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	}))
	t.Cleanup(issuer.Close)
	const audience = "https://api.example.test"
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("oidc", "Caddyfile"),
		"OIDC_ISSUER="+issuer.URL, "OIDC_AUDIENCE="+audience, "UPSTREAM="+up.Addr)
	token := func(extra map[string]any) string {
		now := time.Now().Unix()
		claims := map[string]any{"iss": issuer.URL, "sub": "oidc-user-1", "aud": audience, "iat": now, "exp": now + 600}
		for k, v := range extra {
			claims[k] = v
		}
		return idp.Sign(t, claims)
	}

	t.Run("a token of the issuer, its keys found by discovery", func(t *testing.T) {
		resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + token(nil)}})
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s, want 200", resp.StatusCode, body)
		}
		wantHeaders(t, decodeEcho(t, string(body)), map[string]string{"X-Cognito-Sub": "oidc-user-1"})
		if discoveries.Load() == 0 {
			t.Error("the gateway never fetched the issuer's openid-configuration")
		}
	})
	t.Run("README commands", func(t *testing.T) {
		out := runReadme(t, examplePath("oidc", "README.md"), srv.BaseURL, "ID_TOKEN="+token(nil)).ok(t)
		wantHeaders(t, decodeEcho(t, out), map[string]string{"X-Cognito-Sub": "oidc-user-1"})
	})
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		for name, tok := range map[string]string{
			"another audience": token(map[string]any{"aud": "https://other.example.test"}),
			"another issuer":   token(map[string]any{"iss": idp.Issuer}),
			"expired":          token(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}),
		} {
			if resp := srv.get(t, "/orders/42", http.Header{"Authorization": {"Bearer " + tok}}); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", name, resp.StatusCode)
			}
		}
		if up.Count() != before {
			t.Error("a refused request reached the upstream")
		}
	})
}

// TestExampleOIDCNeedsItsIssuer checks that examples/oidc names no issuer of its own: without
// OIDC_ISSUER and OIDC_AUDIENCE it does not start.
func TestExampleOIDCNeedsItsIssuer(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(examplePath("oidc", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	_, required := caddyfileVars(string(text))
	for _, v := range []string{"OIDC_ISSUER", "OIDC_AUDIENCE"} {
		if !slices.Contains(required, v) {
			t.Errorf("examples/oidc/Caddyfile gives %s a default: it must come from the user", v)
		}
	}
	if regexp.MustCompile(`(?m)^\s*jwks_url`).Match(text) || strings.Contains(string(text), "OIDC_JWKS_URL") {
		t.Error("examples/oidc/Caddyfile names a JWKS URL: it must discover its issuer's")
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"OIDC_AUDIENCE=a"}, "oidc needs exactly one argument: the issuer URL"},
		{[]string{"OIDC_ISSUER=" + unreachable}, "audience needs at least one value"},
	} {
		out, err := runCaddyCommand(t, caddyBinary(t), "examples/oidc/Caddyfile", tt.env, "adapt", "--config", examplePath("oidc", "Caddyfile"))
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("adapt with %v: %v, want an error saying %q\n%s", tt.env, err, tt.want, out)
		}
	}
}

func TestExampleGuests(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("guests", "Caddyfile"), "UPSTREAM="+up.Addr)
	guest := map[string]string{
		"X-Cognito-Identity-Pool-Id": guestsPoolID, "X-Cognito-Role-Arn": guestsRole,
		"X-Cognito-Authentication-Type": "unauthenticated",
	}

	t.Run("go client", func(t *testing.T) {
		e := decodeEcho(t, runGoClient(t, "-flow", "guest", "-api", srv.BaseURL+"/catalog/items", "-method", "POST",
			"-data", `{"q": "tea"}`, "-identity-pool-id", guestsPoolID).ok(t))
		wantHeaders(t, e, guest)
		if e.Method != "POST" || e.Body != `{"q": "tea"}` || !strings.HasPrefix(e.Header.Get("X-Cognito-Identity-Id"), "us-east-1:") {
			t.Errorf("upstream saw %s %q from identity %q, want the signed POST of a guest", e.Method, e.Body, e.Header.Get("X-Cognito-Identity-Id"))
		}
	})
	t.Run("js client", func(t *testing.T) {
		out := runJSClient(t, "guest", "API="+srv.BaseURL+"/catalog/items", "IDENTITY_POOL_ID="+guestsPoolID).ok(t)
		wantHeaders(t, decodeEcho(t, out), guest)
	})
	t.Run("README commands", func(t *testing.T) {
		wantHeaders(t, decodeEcho(t, runReadme(t, examplePath("guests", "README.md"), srv.BaseURL).ok(t)), guest)
	})
	creds := guestCredentials(t, srv.BaseURL+"/identity", guestsPoolID)
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		tests := []struct {
			name   string
			sign   bool
			alter  func(r *http.Request)
			status int
		}{
			{"unsigned", false, nil, http.StatusForbidden}, // MissingAuthenticationTokenException, as API Gateway
			{"body changed after signing", true, func(r *http.Request) {
				r.Body, r.ContentLength = http.NoBody, 0
			}, http.StatusForbidden},
			{"path changed after signing", true, func(r *http.Request) { r.URL.Path = "/admin/items" }, http.StatusForbidden},
			{"session token of another identity", true, func(r *http.Request) {
				r.Header.Set("X-Amz-Security-Token", guestCredentials(t, srv.BaseURL+"/identity", guestsPoolID).SessionToken)
			}, http.StatusForbidden},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.BaseURL+"/catalog/items", strings.NewReader(`{"q": "tea"}`))
				if err != nil {
					t.Fatal(err)
				}
				if tt.sign {
					signBody(t, req, `{"q": "tea"}`, creds)
				}
				if tt.alter != nil {
					tt.alter(req)
				}
				resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
			})
		}
		// What the guest role's policy does not allow: another method, and paths that a pattern with
		// wildcards for the API and stage (*/*/GET/catalog/*) would let through, since IAM's * also
		// matches slashes.
		for _, tt := range []struct{ method, path string }{
			{http.MethodDelete, "/catalog/items"},
			{http.MethodDelete, "/admin/GET/catalog/items"},
			{http.MethodGet, "/admin/GET/catalog/items"},
		} {
			t.Run("signed "+tt.method+" "+tt.path, func(t *testing.T) {
				wantAccessDenied(t, signedDo(t, tt.method, srv.BaseURL+tt.path, "", creds))
			})
		}
		if up.Count() != before {
			t.Errorf("a refused request reached the upstream")
		}
		t.Run("forged guest identity id", func(t *testing.T) {
			_, err := identityClient(srv.BaseURL+"/identity").GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{
				IdentityId: aws.String("us-east-1:3f2b8a4c-1d6e-4f7a-9b0c-5e8d2a1f6c3b"),
			})
			if err == nil {
				t.Error("credentials for an identity id the pool never issued")
			}
		})
	})
	srv.assertLogsExclude(t, creds.SecretAccessKey)
}

// identityClient is an aws-sdk-go-v2 Cognito Identity client of the identity pool at endpoint.
func identityClient(endpoint string) *cognitoidentity.Client {
	return cognitoidentity.New(cognitoidentity.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
		RetryMaxAttempts: 1,
	})
}

// guestCredentials gets the credentials of a new guest identity of the pool at endpoint.
func guestCredentials(t *testing.T, endpoint, poolID string) aws.Credentials {
	t.Helper()
	client := identityClient(endpoint)
	id, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(poolID)})
	if err != nil {
		t.Fatalf("GetId: %v", err)
	}
	out, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatalf("GetCredentialsForIdentity: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretKey), SessionToken: aws.ToString(c.SessionToken)}
}

// signBody signs req, whose body is body, with SigV4 for execute-api in us-east-1.
func signBody(t *testing.T, req *http.Request, body string, creds aws.Credentials) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// readmeUserPool creates the user pool of examples/README.md in emu by running its commands (alice in
// group admins, bob in none, the password testPassword), and returns it.
func readmeUserPool(t *testing.T, emu *cognitoLocal) *userPool {
	t.Helper()
	script := readmeScript(t, examplePath("README.md")) + `printf '%s %s\n' "$COGNITO_USER_POOL_ID" "$COGNITO_CLIENT_ID"` + "\n"
	path := filepath.Join(t.TempDir(), "setup.sh")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	env := childEnv([]string{"AWS_", "COGNITO_"}, append(append([]string(nil), awsDefaults...),
		"COGNITO_IDP_ENDPOINT="+emu.URL, "COGNITO_PASSWORD="+testPassword)...)
	out := runClient(t, t.TempDir(), needForScript(t, script, env), "", "sh", "-eu", path).ok(t)
	fields := strings.Fields(out)
	if len(fields) != 2 || !strings.HasPrefix(fields[0], "local_") {
		t.Fatalf("the README's commands made pool and client %q, want local_<id> <client id>", out)
	}
	p := &userPool{ID: fields[0], ClientID: fields[1], client: emu.client(), groups: map[string]bool{"admins": true}}
	p.Issuer = emu.URL + "/" + p.ID
	p.JWKSURL = p.Issuer + "/.well-known/jwks.json"
	return p
}

func TestExampleUserPoolAndIdentityPool(t *testing.T) {
	t.Parallel()
	emu := startCognitoLocal(t)
	pool := readmeUserPool(t, emu)
	up := startUpstream(t)
	srv := startExample(t, caddyBinary(t), examplePath("userpool-and-identitypool", "Caddyfile"),
		"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_IDP_ENDPOINT="+emu.URL,
		"UPSTREAM="+up.Addr)
	provider := "cognito-idp.us-east-1.amazonaws.com/" + pool.ID
	signedIn := func(role string) map[string]string {
		return map[string]string{"X-Cognito-Identity-Pool-Id": bothPoolID, "X-Cognito-Role-Arn": role,
			"X-Cognito-Authentication-Type": "authenticated"}
	}
	goClient := func(t *testing.T, flow, username string) cmdResult {
		t.Helper()
		return runGoClient(t, "-flow", flow, "-api", srv.BaseURL+"/orders/42", "-user-pool-id", pool.ID,
			"-client-id", pool.ClientID, "-username", username, "-user-pool-endpoint", emu.URL, "-identity-pool-id", bothPoolID)
	}
	identities := map[string]string{}

	tests := []struct {
		name, username, role string
	}{
		{"alice, in group admins", "alice@example.com", bothAdminRole},
		{"bob, in no group", "bob@example.com", bothUserRole},
	}
	for _, tt := range tests {
		t.Run("go client/"+tt.name, func(t *testing.T) {
			e := decodeEcho(t, goClient(t, "user", tt.username).ok(t))
			wantHeaders(t, e, signedIn(tt.role))
			if !strings.Contains(e.Header.Get("X-Cognito-Authentication-Provider"), provider) {
				t.Errorf("upstream saw X-Cognito-Authentication-Provider %q, want the user pool %s",
					e.Header.Get("X-Cognito-Authentication-Provider"), provider)
			}
			identities[tt.username] = e.Header.Get("X-Cognito-Identity-Id")
		})
		t.Run("js client/"+tt.name, func(t *testing.T) {
			out := runJSClient(t, "user", "API="+srv.BaseURL+"/orders/42", "IDENTITY_POOL_ID="+bothPoolID,
				"COGNITO_USER_POOL_ID="+pool.ID, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_USERNAME="+tt.username,
				"COGNITO_IDP_ENDPOINT="+emu.URL, "METHOD=PUT", `BODY={"status": "shipped"}`).ok(t)
			e := decodeEcho(t, out)
			wantHeaders(t, e, signedIn(tt.role))
			if e.Method != "PUT" || e.Body != `{"status": "shipped"}` {
				t.Errorf("upstream saw %s %q, want the signed PUT", e.Method, e.Body)
			}
			if id := identities[tt.username]; id != "" && e.Header.Get("X-Cognito-Identity-Id") != id {
				t.Errorf("the JS client got identity %s, the Go client %s: one user, one identity", e.Header.Get("X-Cognito-Identity-Id"), id)
			}
		})
	}
	t.Run("README commands", func(t *testing.T) {
		out := runReadme(t, examplePath("userpool-and-identitypool", "README.md"), srv.BaseURL,
			"COGNITO_IDP_ENDPOINT="+emu.URL, "COGNITO_CLIENT_ID="+pool.ClientID, "COGNITO_USER_POOL_ID="+pool.ID).ok(t)
		wantHeaders(t, decodeEcho(t, out), signedIn(bothAdminRole))
	})
	t.Run("refused", func(t *testing.T) {
		before := up.Count()
		// No unauthenticated_role: no guests.
		r := goClient(t, "guest", "")
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException") {
			t.Errorf("guest: err %v, stderr %q; want NotAuthorizedException", r.Err, r.Stderr)
		}
		r = runJSClient(t, "guest", "API="+srv.BaseURL+"/orders/42", "IDENTITY_POOL_ID="+bothPoolID)
		if r.Err == nil || !strings.Contains(r.Stderr, "NotAuthorizedException") {
			t.Errorf("js guest: err %v, stderr %q; want NotAuthorizedException", r.Err, r.Stderr)
		}
		// The API takes SigV4 only: a user-pool token is no credential here (API Gateway's 403).
		wantRefused(t, goClient(t, "jwt", "alice@example.com"), up, before, "403")
		// An access token or a tampered ID token gets no credentials.
		tok := pool.SignIn(t, "bob@example.com")
		for name, login := range map[string]string{"access token": tok.Access, "ID token made admin": tamperIDToken(t, tok.ID)} {
			_, err := identityClient(srv.BaseURL+"/identity").GetId(t.Context(), &cognitoidentity.GetIdInput{
				IdentityPoolId: aws.String(bothPoolID), Logins: map[string]string{provider: login},
			})
			var apiErr interface{ ErrorCode() string }
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotAuthorizedException" {
				t.Errorf("GetId with an %s: %v, want NotAuthorizedException", name, err)
			}
		}
		// The roles' policies spell the API and stage out: a method in the middle of a path is no way
		// around them (IAM's * also matches /, so */*/GET/orders/* would let these through).
		_, bob := identityCredentials(t, srv.BaseURL+"/identity", bothPoolID, map[string]string{provider: tok.ID})
		_, alice := identityCredentials(t, srv.BaseURL+"/identity", bothPoolID,
			map[string]string{provider: pool.SignIn(t, "alice@example.com").ID})
		wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/admin/GET/orders/42", "", bob))
		wantAccessDenied(t, signedDo(t, http.MethodGet, srv.BaseURL+"/admin/PUT/orders/42", "", bob))
		wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/admin/orders/42", "", alice))
		wantAccessDenied(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/orders/archive/2025", "", alice))
		if up.Count() != before {
			t.Errorf("a refused request reached the upstream")
		}
		srv.assertLogsExclude(t, tok.Access, tok.ID, signatureOf(tok.ID))
		wantAllowed(t, signedDo(t, http.MethodDelete, srv.BaseURL+"/orders/42", "", alice))
	})
}

// tamperIDToken returns the ID token with the user put in group admins and the signature kept.
func tamperIDToken(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload := decodeSegment(t, parts[1])
	forged := strings.Replace(payload, `"token_use":"id"`, `"token_use":"id","cognito:groups":["admins"]`, 1)
	if forged == payload {
		t.Fatalf("the payload has no token_use claim to tamper with: %s", payload)
	}
	return parts[0] + "." + encodeSegment(forged) + "." + parts[2]
}

// The sidecar: examples/sidecar/{Dockerfile,compose.yaml,pod.yaml,kustomization.yaml,Caddyfile}.

// healthPath is the sidecar's health-check route, answered without credentials.
const healthPath = "/healthz"

// dockerInstruction is one instruction of a Dockerfile, its continuation lines joined.
type dockerInstruction struct {
	Stage string // the stage it belongs to: its name (FROM ... AS name), or its index
	Cmd   string // FROM, RUN, COPY..., upper case
	Args  string
	Line  int
}

// parseDockerfile reads a Dockerfile's instructions: comment lines are dropped (also inside a
// continued instruction, as Docker does), lines ending with a backslash continue on the next.
func parseDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	start, stage, stages := 0, "", 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		continued := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
		if continued {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(args), " "), Line: start}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			stage = strconv.Itoa(stages)
			if len(f) == 3 && strings.EqualFold(f[1], "as") {
				stage = f[2]
			}
			stages++
		}
		in.Stage = stage
		out = append(out, in)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued instruction", path)
	}
	return out
}

// sidecarImage is what the tests need to know of the sidecar's Dockerfile.
type sidecarImage struct {
	args        map[string]string // ARG defaults
	buildCmd    string            // the build stage's `go build` RUN, its --mount options removed
	output      string            // the -o of buildCmd
	from        string            // the source of the COPY --from=build of the final stage
	binary      string            // its destination
	caddyfile   string            // where the COPY of examples/sidecar/Caddyfile puts it
	copied      map[string]string // the other files of examples/sidecar the final stage copies: name -> destination
	env         map[string]string // ENV of the final stage
	user        string
	healthcheck string
	command     []string // ENTRYPOINT then CMD
}

// readSidecarImage reads examples/sidecar/Dockerfile.
func readSidecarImage(t *testing.T) sidecarImage {
	t.Helper()
	in := parseDockerfile(t, examplePath("sidecar", "Dockerfile"))
	img := sidecarImage{args: map[string]string{}, env: map[string]string{}, copied: map[string]string{}}
	final := in[len(in)-1].Stage
	var jsonForm = func(i dockerInstruction) []string {
		var v []string
		if err := json.Unmarshal([]byte(i.Args), &v); err != nil {
			t.Fatalf("Dockerfile:%d: %s is not in JSON form: %v", i.Line, i.Cmd, err)
		}
		return v
	}
	var entrypoint, cmd []string
	for _, i := range in {
		switch {
		case i.Cmd == "ARG" && i.Stage == "":
			name, value, _ := strings.Cut(i.Args, "=")
			img.args[name] = value
		case i.Cmd == "RUN" && i.Stage == "build" && strings.Contains(i.Args, "go build"):
			if img.buildCmd != "" {
				t.Fatalf("Dockerfile:%d: a second go build in the build stage", i.Line)
			}
			f := strings.Fields(i.Args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			img.buildCmd = strings.Join(f, " ")
			m := regexp.MustCompile(`(?:^|\s)-o\s+(\S+)`).FindStringSubmatch(img.buildCmd)
			if m == nil {
				t.Fatalf("Dockerfile:%d: the go build names no -o output", i.Line)
			}
			img.output = m[1]
		case i.Stage != final:
		case i.Cmd == "COPY" && strings.HasPrefix(i.Args, "--from=build "):
			f := strings.Fields(i.Args)
			img.from, img.binary = f[1], f[2]
		case i.Cmd == "COPY" && strings.HasPrefix(i.Args, "examples/sidecar/Caddyfile "):
			img.caddyfile = strings.Fields(i.Args)[1]
		case i.Cmd == "COPY" && strings.HasPrefix(i.Args, "examples/sidecar/"):
			f := strings.Fields(i.Args)
			dest := f[len(f)-1]
			for _, src := range f[:len(f)-1] {
				if strings.HasSuffix(dest, "/") {
					img.copied[filepath.Base(src)] = dest + filepath.Base(src)
				} else {
					img.copied[filepath.Base(src)] = dest
				}
			}
		case i.Cmd == "ENV":
			for _, kv := range strings.Fields(i.Args) {
				k, v, _ := strings.Cut(kv, "=")
				img.env[k] = v
			}
		case i.Cmd == "USER":
			img.user = i.Args
		case i.Cmd == "HEALTHCHECK":
			img.healthcheck = i.Args
		case i.Cmd == "ENTRYPOINT":
			entrypoint = jsonForm(i)
		case i.Cmd == "CMD":
			cmd = jsonForm(i)
		}
	}
	img.command = append(entrypoint, cmd...)
	if img.buildCmd == "" {
		t.Fatal("the Dockerfile's build stage has no go build")
	}
	return img
}

// configPath is the --config of the image's command.
func (img sidecarImage) configPath() string {
	if i := slices.Index(img.command, "--config"); i >= 0 && i+1 < len(img.command) {
		return img.command[i+1]
	}
	return ""
}

// composeFile is compose.yaml, the keys it uses (unknown keys are refused: a misspelt key would be
// ignored by Compose).
type composeFile struct {
	Services map[string]struct {
		Image   string
		Command []string
		Ports   []string
		Build   struct {
			Context    string
			Dockerfile string
		}
		NetworkMode string `yaml:"network_mode"`
		Environment map[string]string
		Volumes     []string
		ReadOnly    bool `yaml:"read_only"`
		User        string
		CapDrop     []string `yaml:"cap_drop"`
		SecurityOpt []string `yaml:"security_opt"`
		DependsOn   []string `yaml:"depends_on"`
		Restart     string
	}
	Volumes map[string]any
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	data, err := os.ReadFile(examplePath("sidecar", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decoding compose.yaml: %v", err)
	}
	return c
}

// composeVariable matches Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}.
var composeVariable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// sidecarSettings are what a user exports before `docker compose up`: their pool, app client and roles.
func sidecarSettings(endpoint, userPoolID, clientID string) map[string]string {
	return map[string]string{
		"COGNITO_IDP_ENDPOINT": endpoint,
		"COGNITO_USER_POOL_ID": userPoolID,
		"COGNITO_CLIENT_ID":    clientID,
		"IDENTITY_POOL_ID":     sidecarPoolID,
		"USER_ROLE_ARN":        sidecarUserRole,
		"GUEST_ROLE_ARN":       sidecarGuestRole,
	}
}

const (
	sidecarPoolID    = "us-east-1:0c6f1d2e-8a3b-4c5d-9e7f-1a2b3c4d5e6f"
	sidecarUserRole  = "arn:aws:iam::123456789012:role/sidecar-user"
	sidecarGuestRole = "arn:aws:iam::123456789012:role/sidecar-guest"
)

// sidecarComposeEnv is the gateway's environment in compose.yaml, interpolated as Compose does with
// shell (the user's exported variables).
func sidecarComposeEnv(t *testing.T, shell map[string]string) []string {
	t.Helper()
	var env []string
	for name, value := range readCompose(t).Services["gateway"].Environment {
		var missing []string
		value = composeVariable.ReplaceAllStringFunc(value, func(ref string) string {
			m := composeVariable.FindStringSubmatch(ref)
			if v, ok := shell[m[1]]; ok {
				return v
			}
			if m[2] == ":?" || m[2] == "" {
				missing = append(missing, m[1])
			}
			return m[3]
		})
		if len(missing) > 0 {
			t.Fatalf("compose.yaml: %s needs %v, which the test does not set", name, missing)
		}
		env = append(env, name+"="+value)
	}
	slices.Sort(env)
	return env
}

// podManifest is the part of a Kubernetes object of pod.yaml the tests check.
type podManifest struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		SecurityContext struct {
			RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
			RunAsUser    *int64 `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []podContainer
		Volumes    []struct {
			Name      string
			ConfigMap *struct{ Name string } `yaml:"configMap"`
			PVC       *struct {
				ClaimName string `yaml:"claimName"`
			} `yaml:"persistentVolumeClaim"`
		}
	}
}

type podContainer struct {
	Name    string
	Image   string
	Command []string
	Ports   []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name, Value string
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	LivenessProbe   *podProbe `yaml:"livenessProbe"`
	ReadinessProbe  *podProbe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct{ Drop []string }
	} `yaml:"securityContext"`
}

type podProbe struct {
	HTTPGet *struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

// readPod returns the Pod of pod.yaml and the names of the claims it declares.
func readPod(t *testing.T) (pod podManifest, claims []string) {
	t.Helper()
	data, err := os.ReadFile(examplePath("sidecar", "pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	pods := 0
	for {
		var obj podManifest
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding pod.yaml: %v", err)
		}
		switch obj.Kind {
		case "Pod":
			pod = obj
			pods++
		case "PersistentVolumeClaim":
			claims = append(claims, obj.Metadata.Name)
		default:
			t.Errorf("pod.yaml has a %s, which this test does not check", obj.Kind)
		}
	}
	if pods != 1 {
		t.Fatalf("pod.yaml has %d pods, want 1", pods)
	}
	return pod, claims
}

// container returns the pod's container of that name.
func (p podManifest) container(t *testing.T, name string) podContainer {
	t.Helper()
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod.yaml has no container %s", name)
	return podContainer{}
}

// sidecarPodEnv is the gateway container's environment in pod.yaml.
func sidecarPodEnv(t *testing.T) []string {
	t.Helper()
	pod, _ := readPod(t)
	var env []string
	for _, e := range pod.container(t, "gateway").Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// envValue is the value of name in env ("NAME=value"), the last one winning.
func envValue(env []string, name string) (string, bool) {
	value, found := "", false
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			value, found = v, true
		}
	}
	return value, found
}

// listenArg is the address after --listen in a command line.
func listenArg(command []string) string {
	if i := slices.Index(command, "--listen"); i >= 0 && i+1 < len(command) {
		return command[i+1]
	}
	return ""
}

// TestSidecarFilesAgree checks that the Dockerfile, the compose file, the pod and the Caddyfile they mount
// fit together: paths, ports, users, variables, health checks, and the hardening each promises.
func TestSidecarFilesAgree(t *testing.T) {
	t.Parallel()
	img := readSidecarImage(t)
	caddyfile, err := os.ReadFile(examplePath("sidecar", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	_, required := caddyfileVars(string(caddyfile))
	dataDir := img.env["XDG_DATA_HOME"]
	// The role policy files, which the Caddyfile reads from POLICY_DIR, /etc/caddy by default.
	var policies []string
	for _, m := range regexp.MustCompile(`\{\$POLICY_DIR:([^}]*)\}/(\S+)`).FindAllStringSubmatch(string(caddyfile), -1) {
		if m[1] != filepath.Dir(img.configPath()) {
			t.Errorf("POLICY_DIR defaults to %s, want the Caddyfile's folder %s", m[1], filepath.Dir(img.configPath()))
		}
		policies = append(policies, m[2])
	}

	t.Run("Dockerfile", func(t *testing.T) {
		goMod, err := os.ReadFile(filepath.Join(harness.root, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
		if goLine == nil || img.args["GO_VERSION"] != string(goLine[1]) {
			t.Errorf("GO_VERSION %q, want go.mod's %s", img.args["GO_VERSION"], goLine)
		}
		for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath ", " ./cmd/caddy"} {
			if !strings.Contains(" "+img.buildCmd+" ", want) {
				t.Errorf("the build %q lacks %q", img.buildCmd, strings.TrimSpace(want))
			}
		}
		if img.from != img.output || img.binary == "" || img.command[0] != filepath.Base(img.binary) {
			t.Errorf("the binary is built at %s, copied from %s to %s, run as %v", img.output, img.from, img.binary, img.command)
		}
		if uid, _, _ := strings.Cut(img.user, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("USER %q, want a dedicated non-root user", img.user)
		}
		if !strings.Contains(img.healthcheck, "127.0.0.1:${PORT}"+healthPath) || img.env["PORT"] == "" {
			t.Errorf("HEALTHCHECK %q, want a check of %s on PORT (ENV PORT %q)", img.healthcheck, healthPath, img.env["PORT"])
		}
		if img.caddyfile == "" || img.configPath() != img.caddyfile || dataDir == "" {
			t.Errorf("the Caddyfile is copied to %q, the command reads %q, storage in %q", img.caddyfile, img.configPath(), dataDir)
		}
	})

	t.Run("Caddyfile", func(t *testing.T) {
		// The health check is answered before any authorization; TestSidecarEndToEnd calls it.
		if !regexp.MustCompile(`(?m)^\thandle ` + healthPath + ` \{\n\t\trespond `).Match(caddyfile) {
			t.Errorf("the sidecar's Caddyfile has no `handle %s { respond ... }`", healthPath)
		}
		if !regexp.MustCompile(`(?m)^\tadmin off$`).Match(caddyfile) {
			t.Error("the sidecar's Caddyfile leaves the admin API on, where the app container could reach it")
		}
		// Every role the identity pool issues has a policy, so no signed request is let through by
		// default (see TestSidecarEndToEnd), and the policies are beside the Caddyfile in the image.
		for _, role := range []string{"{$GUEST_ROLE_ARN}", "{$USER_ROLE_ARN}"} {
			if !strings.Contains(string(caddyfile), "role_policy "+role+" ") {
				t.Errorf("the sidecar's Caddyfile has no role_policy for %s", role)
			}
		}
		if len(policies) != 2 {
			t.Errorf("the sidecar's Caddyfile names policy files %v, want the guest's and the user's", policies)
		}
		for _, name := range policies {
			if img.copied[name] != filepath.Join(filepath.Dir(img.configPath()), name) {
				t.Errorf("the Dockerfile copies %s to %q, want it beside the Caddyfile, where POLICY_DIR's default is", name, img.copied[name])
			}
		}
		if strings.Contains(string(caddyfile), "TODO") {
			t.Error("the sidecar's Caddyfile has a TODO")
		}
	})

	t.Run("compose.yaml", func(t *testing.T) {
		c := readCompose(t)
		gw, app := c.Services["gateway"], c.Services["app"]
		dockerfile := filepath.Join(examplePath("sidecar"), gw.Build.Context, gw.Build.Dockerfile)
		if dockerfile != examplePath("sidecar", "Dockerfile") {
			t.Errorf("compose builds %s, want examples/sidecar/Dockerfile", dockerfile)
		}
		for _, name := range required {
			if _, ok := gw.Environment[name]; !ok {
				t.Errorf("the gateway's environment lacks %s, which the Caddyfile needs", name)
			}
		}
		if !slices.Contains(gw.Volumes, "./Caddyfile:"+img.configPath()+":ro") {
			t.Errorf("volumes %v do not mount ./Caddyfile read-only at %s", gw.Volumes, img.configPath())
		}
		for _, name := range policies {
			if at := filepath.Join(filepath.Dir(img.configPath()), name); !slices.Contains(gw.Volumes, "./"+name+":"+at+":ro") {
				t.Errorf("volumes %v do not mount ./%s read-only at %s", gw.Volumes, name, at)
			}
		}
		storage := slices.ContainsFunc(gw.Volumes, func(v string) bool {
			name, path, _ := strings.Cut(v, ":")
			_, declared := c.Volumes[name]
			return declared && path == dataDir
		})
		if !storage {
			t.Errorf("volumes %v: no named volume at %s, where the key ring is", gw.Volumes, dataDir)
		}
		if !gw.ReadOnly || gw.User != img.user || !slices.Equal(gw.CapDrop, []string{"ALL"}) || !slices.Contains(gw.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("gateway read_only %v, user %q, cap_drop %v, security_opt %v; want read-only, the image's user %s, ALL dropped, no-new-privileges",
				gw.ReadOnly, gw.User, gw.CapDrop, gw.SecurityOpt, img.user)
		}
		// The sidecar shares the app's network namespace: the app listens on loopback only.
		if gw.NetworkMode != "service:app" || listenArg(app.Command) != gw.Environment["UPSTREAM"] ||
			!strings.HasPrefix(gw.Environment["UPSTREAM"], "127.0.0.1:") {
			t.Errorf("network_mode %q, app listening on %q, UPSTREAM %q; want the app's namespace and its loopback address",
				gw.NetworkMode, listenArg(app.Command), gw.Environment["UPSTREAM"])
		}
		port := gw.Environment["PORT"]
		if !slices.Contains(app.Ports, port+":"+port) {
			t.Errorf("app publishes %v, want the gateway's port %s", app.Ports, port)
		}
	})

	t.Run("pod.yaml and kustomization.yaml", func(t *testing.T) {
		pod, claims := readPod(t)
		gw, app := pod.container(t, "gateway"), pod.container(t, "app")
		var env []string
		for _, e := range gw.Env {
			env = append(env, e.Name+"="+e.Value)
		}
		for _, name := range required {
			if _, ok := envValue(env, name); !ok {
				t.Errorf("the gateway's env lacks %s, which the Caddyfile needs", name)
			}
		}
		port, _ := envValue(env, "PORT")
		if len(gw.Ports) != 1 || strconv.Itoa(gw.Ports[0].ContainerPort) != port {
			t.Fatalf("gateway ports %v, want PORT %s", gw.Ports, port)
		}
		for name, p := range map[string]*podProbe{"liveness": gw.LivenessProbe, "readiness": gw.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("no %s probe with httpGet", name)
			} else if p.HTTPGet.Path != healthPath || p.HTTPGet.Port != gw.Ports[0].Name {
				t.Errorf("%s probe GET %s on port %s, want GET %s on port %s", name, p.HTTPGet.Path, p.HTTPGet.Port, healthPath, gw.Ports[0].Name)
			}
		}
		if upstream, _ := envValue(env, "UPSTREAM"); listenArg(app.Command) != upstream || !strings.HasPrefix(upstream, "127.0.0.1:") {
			t.Errorf("app listens on %q, UPSTREAM %q; want the pod's loopback address", listenArg(app.Command), upstream)
		}

		var kustomization struct {
			Resources          []string
			ConfigMapGenerator []struct {
				Name  string
				Files []string
			} `yaml:"configMapGenerator"`
		}
		data, err := os.ReadFile(examplePath("sidecar", "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &kustomization); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(kustomization.Resources, []string{"pod.yaml"}) || len(kustomization.ConfigMapGenerator) != 1 ||
			!slices.Equal(kustomization.ConfigMapGenerator[0].Files, append([]string{filepath.Base(img.configPath())}, policies...)) {
			t.Fatalf("kustomization %+v, want pod.yaml and a ConfigMap of the Caddyfile and the policies %v", kustomization, policies)
		}
		mounts := map[string]string{} // mount path -> what is mounted
		for _, m := range gw.VolumeMounts {
			for _, v := range pod.Spec.Volumes {
				switch {
				case v.Name != m.Name:
				case v.ConfigMap != nil && v.ConfigMap.Name == kustomization.ConfigMapGenerator[0].Name && m.ReadOnly:
					mounts[m.MountPath] = "caddyfile"
				case v.PVC != nil && slices.Contains(claims, v.PVC.ClaimName):
					mounts[m.MountPath] = "storage"
				}
			}
		}
		if mounts[filepath.Dir(img.configPath())] != "caddyfile" || mounts[dataDir] != "storage" {
			t.Errorf("gateway mounts %v, want the ConfigMap read-only at %s and the claim at %s", mounts, filepath.Dir(img.configPath()), dataDir)
		}

		uid, _, _ := strings.Cut(img.user, ":")
		sc := pod.Spec.SecurityContext
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid {
			t.Errorf("the pod's securityContext does not set runAsNonRoot and runAsUser to the image's user %s", uid)
		}
		for _, c := range pod.Spec.Containers {
			s := c.SecurityContext
			if s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem || s.AllowPrivilegeEscalation == nil ||
				*s.AllowPrivilegeEscalation || !slices.Equal(s.Capabilities.Drop, []string{"ALL"}) {
				t.Errorf("container %s: securityContext does not set a read-only root, no privilege escalation and ALL capabilities dropped", c.Name)
			}
		}
	})
}

// staticBuild serializes the builds made with the Dockerfile's flags (CGO off, -trimpath): the sidecar
// binary and the xcaddy-style build share their compiled packages, so the second one only links.
var staticBuild struct {
	mu        sync.Mutex
	once      sync.Once
	sidecar   string // the binary the Dockerfile's build line made
	sidecarEr error
}

// sidecarBinary runs the go build line of the Dockerfile's build stage, as written, with its output
// put in the run's scratch directory instead of /out: once per run.
func sidecarBinary(t *testing.T) string {
	t.Helper()
	requireEndToEnd(t)
	img := readSidecarImage(t)
	staticBuild.once.Do(func() {
		staticBuild.mu.Lock()
		defer staticBuild.mu.Unlock()
		if err := readBuildInputs(harness.root); err != nil {
			staticBuild.sidecarEr = err
			return
		}
		bin := filepath.Join(harness.tmp, "sidecar", "caddy")
		command := strings.Replace(img.buildCmd, "-o "+img.output, "-o '"+bin+"'", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Dir = harness.root
		// As in the golang image: none of the machine's build settings.
		cmd.Env = childEnv([]string{"CGO_ENABLED=", "GOFLAGS=", "GOOS=", "GOARCH=", "GOEXPERIMENT="})
		if out, err := cmd.CombinedOutput(); err != nil {
			staticBuild.sidecarEr = fmt.Errorf("the Dockerfile's build, %s: %v\n%s", command, err, out)
			return
		}
		staticBuild.sidecar = bin
	})
	if staticBuild.sidecarEr != nil {
		t.Fatal(staticBuild.sidecarEr)
	}
	return staticBuild.sidecar
}

// ourModules are the Caddy modules of this project, as list-modules names them.
var ourModules = []string{
	"http.authentication.providers.cognito",
	"http.handlers.cognito_authorizer",
	"http.handlers.cognito_identity_pool",
}

// checkListModules runs `bin list-modules` and fails the test unless it lists all of ourModules and
// Caddy's standard modules.
func checkListModules(t *testing.T, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "list-modules").Output()
	if err != nil {
		t.Fatalf("%s list-modules: %v", bin, err)
	}
	listed := strings.Fields(string(out))
	for _, m := range append([]string{"http.handlers.reverse_proxy", "caddy.storage.file_system"}, ourModules...) {
		if !slices.Contains(listed, m) {
			t.Errorf("list-modules does not list %s", m)
		}
	}
}

func TestSidecarDockerfileBuildsAStaticBinary(t *testing.T) {
	t.Parallel()
	bin := sidecarBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader: it is not static and would not run in the image")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v, want CGO_ENABLED=0 and -trimpath", settings)
	}
	// -ldflags="-s -w" (go does not record -ldflags with -trimpath): no symbol table, no DWARF.
	for _, s := range f.Sections {
		if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the binary has a %s section: it is not stripped", s.Name)
		}
	}
	if info.Main.Path != "github.com/caddy-cognito/caddy-cognito" {
		t.Errorf("main module %s", info.Main.Path)
	}
	checkListModules(t, bin)
}

// TestSidecarEndToEnd runs the binary the Dockerfile builds with the sidecar's Caddyfile, in the
// environment compose.yaml gives it and in the one pod.yaml gives it (the user's pool put in, as they
// would), and calls it as the orchestrator and the clients do.
func TestSidecarEndToEnd(t *testing.T) {
	t.Parallel()
	bin := sidecarBinary(t)
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	sub := pool.AddUser(t, "alice@example.com")
	settings := sidecarSettings(emu.URL, pool.ID, pool.ClientID)
	podEnv := sidecarPodEnv(t)
	for k, v := range settings {
		podEnv = append(podEnv, k+"="+v)
	}
	tests := []struct {
		name string
		env  []string
	}{
		{"compose.yaml", sidecarComposeEnv(t, settings)},
		{"pod.yaml", podEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			// The app's address: the test's echo upstream stands for it.
			// The image has the role policies beside the Caddyfile; here they are in examples/sidecar.
			srv := startExample(t, bin, examplePath("sidecar", "Caddyfile"), append(tt.env, "UPSTREAM="+up.Addr,
				"POLICY_DIR="+examplePath("sidecar"))...)
			poolID, _ := envValue(tt.env, "IDENTITY_POOL_ID")

			resp := srv.get(t, healthPath, nil)
			if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(body) != "ok" || up.Count() != 0 {
				t.Errorf("health check: %d %q (upstream reached %d times), want 200 ok from the gateway", resp.StatusCode, body, up.Count())
			}
			e := decodeEcho(t, runGoClient(t, "-flow", "jwt", "-api", srv.BaseURL+"/orders/42", "-client-id", pool.ClientID,
				"-username", "alice@example.com", "-user-pool-endpoint", emu.URL).ok(t))
			wantHeaders(t, e, map[string]string{"X-Cognito-Sub": sub})
			e = decodeEcho(t, runGoClient(t, "-flow", "guest", "-api", srv.BaseURL+"/public/hello", "-identity-pool-id", poolID).ok(t))
			wantHeaders(t, e, map[string]string{"X-Cognito-Role-Arn": sidecarGuestRole, "X-Cognito-Authentication-Type": "unauthenticated"})
			e = decodeEcho(t, runGoClient(t, "-flow", "user", "-api", srv.BaseURL+"/public/hello", "-user-pool-id", pool.ID,
				"-client-id", pool.ClientID, "-username", "alice@example.com", "-user-pool-endpoint", emu.URL, "-identity-pool-id", poolID).ok(t))
			wantHeaders(t, e, map[string]string{"X-Cognito-Role-Arn": sidecarUserRole, "X-Cognito-Authentication-Type": "authenticated"})

			// What the roles' policies allow, and nothing more, with aws-sdk-go-v2's credentials and signer.
			endpoint := srv.BaseURL + "/identity"
			guest := guestCredentials(t, endpoint, poolID)
			region, _ := envValue(tt.env, "COGNITO_REGION")
			logins := map[string]string{"cognito-idp." + region + ".amazonaws.com/" + pool.ID: pool.SignIn(t, "alice@example.com").ID}
			userID, user := identityCredentials(t, endpoint, poolID, logins)
			other := "us-east-1:00000000-0000-4000-8000-000000000000"
			wantAllowed(t, signedDo(t, http.MethodHead, srv.BaseURL+"/public/hello", "", guest))
			wantAllowed(t, signedDo(t, http.MethodGet, srv.BaseURL+"/users/"+userID, "", user))
			if e := wantAllowed(t, signedDo(t, http.MethodPut, srv.BaseURL+"/users/"+userID+"/cart", `{"items": 1}`, user)); e.Body != `{"items": 1}` {
				t.Errorf("upstream saw %q, want the user's PUT body", e.Body)
			}

			before := up.Count()
			for _, r := range []struct {
				caller      string
				method, url string
			}{
				{"guest", http.MethodDelete, "/admin/everything"},
				{"guest", http.MethodGet, "/orders/42"},
				{"guest", http.MethodPost, "/public/hello"},
				{"guest", http.MethodGet, "/users/" + userID},
				{"user", http.MethodDelete, "/admin/everything"},
				{"user", http.MethodPut, "/users/" + other + "/cart"},
				{"user", http.MethodGet, "/x/users/" + userID + "/cart"},
			} {
				creds := guest
				if r.caller == "user" {
					creds = user
				}
				t.Run(r.caller+" "+r.method+" "+r.url+" is refused", func(t *testing.T) {
					wantAccessDenied(t, signedDo(t, r.method, srv.BaseURL+r.url, "", creds))
				})
			}
			if resp := srv.get(t, "/orders/42", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("no credentials: %d, want 401", resp.StatusCode)
			}
			if up.Count() != before {
				t.Errorf("a refused request reached the app")
			}
			if strings.Contains(srv.LogText(), "has no role_policy") {
				t.Error("the sidecar starts with a warning about a route without role policies")
			}
		})
	}
}

// TestSidecarBuildContextHasWhatTheBuildNeeds checks Dockerfile.dockerignore against the packages (and
// embedded files) of this module that cmd/caddy is built from: none may be left out of the build context.
func TestSidecarBuildContextHasWhatTheBuildNeeds(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(examplePath("sidecar", "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var ignored []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored = append(ignored, strings.TrimSuffix(line, "/"))
		}
	}
	excluded := func(rel string) string {
		parts := strings.Split(rel, "/")
		for _, p := range ignored {
			for i := range parts {
				prefix := strings.Join(parts[:i+1], "/")
				if ok, _ := filepath.Match(p, prefix); ok {
					return p
				}
				if name, found := strings.CutPrefix(p, "**/"); found {
					if ok, _ := filepath.Match(name, parts[i]); ok {
						return p
					}
				}
			}
		}
		return ""
	}
	if excluded("integration/js/node_modules/x") == "" || excluded("cmd/caddy/main.go") != "" {
		t.Fatal("the pattern matching of this test is broken")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{$.Dir}}/{{.}}{{end}}{{range .EmbedFiles}} {{$.Dir}}/{{.}}{{end}}{{end}}{{end}}`,
		"./cmd/caddy")
	cmd.Dir = harness.root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := append(strings.Fields(string(out)), filepath.Join(harness.root, "go.mod"), filepath.Join(harness.root, "go.sum"))
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	for _, f := range files {
		rel, err := filepath.Rel(harness.root, f)
		if err != nil {
			t.Fatal(err)
		}
		if p := excluded(filepath.ToSlash(rel)); p != "" {
			t.Errorf("%s is needed by the build but left out of its context by %q", rel, p)
		}
	}
}
