package integration

// The examples of examples/, run as they are shipped: every Caddyfile adapts and validates; each flow's
// Caddyfile runs in the real binary with a real user pool (cognito-local), called by the Go client, the
// JavaScript client and the commands of its README; the sidecar's Dockerfile build line is run as it is
// written and the binary it makes serves the sidecar's Caddyfile with the environment of compose.yaml and
// of deployment.yaml. Each example's tests are in examples_<example>_test.go; this file holds what they share.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
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

// exampleClient returns examples/clients/go built, once per run. It is a module of its own (so that
// building this one never needs the client's dependencies): it is built from its directory.
func exampleClient(t *testing.T) string {
	t.Helper()
	requireEndToEnd(t)
	examples.clientOnce.Do(func() {
		bin := filepath.Join(harness.tmp, "example-client")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = examplePath("clients", "go")
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

// TestExampleClientModuleFollowsTheRoot checks that the Go client's module asks for the root's Go
// version and for the versions of the modules the root requires too: one module cache serves both
// builds, offline as well.
func TestExampleClientModuleFollowsTheRoot(t *testing.T) {
	t.Parallel()
	rootGo, rootRequires := readGoMod(t, filepath.Join(harness.root, "go.mod"))
	clientGo, clientRequires := readGoMod(t, examplePath("clients", "go", "go.mod"))
	if clientGo != rootGo {
		t.Errorf("examples/clients/go/go.mod says go %s, the root's go.mod go %s", clientGo, rootGo)
	}
	for path, v := range clientRequires {
		if rv, ok := rootRequires[path]; ok && rv != v {
			t.Errorf("examples/clients/go/go.mod requires %s %s, the root's go.mod %s", path, v, rv)
		}
	}
}

// readGoMod returns the go directive of a go.mod file and its requirements (module path to version).
func readGoMod(t *testing.T, path string) (goVersion string, requires map[string]string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	requires = map[string]string{}
	for line := range strings.Lines(string(text)) {
		line, _, _ = strings.Cut(line, "//")
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		switch {
		case len(fields) == 2 && fields[0] == "go":
			goVersion = fields[1]
		case len(fields) == 2 && strings.Contains(fields[0], ".") && strings.HasPrefix(fields[1], "v"):
			requires[fields[0]] = fields[1]
		}
	}
	if goVersion == "" || len(requires) == 0 {
		t.Fatalf("%s: no go directive or no requirements", path)
	}
	return goVersion, requires
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
const readmeMarker = "<!-- run by integration/examples_*_test.go -->"

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
