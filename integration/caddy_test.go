package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// caddyBinary returns the Caddy binary built from cmd/caddy, building it on first use: once per test run.
func caddyBinary(t *testing.T) string {
	t.Helper()
	requireEndToEnd(t)
	harness.caddyOnce.Do(buildCaddy)
	if harness.caddyErr != nil {
		t.Fatal(harness.caddyErr)
	}
	return harness.caddyBin
}

func buildCaddy() {
	if err := readBuildInputs(harness.root); err != nil {
		harness.caddyErr = err
		return
	}
	bin := filepath.Join(harness.tmp, "caddy")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The flags of examples/sidecar/Dockerfile's build, which the sidecar test builds with too: the two
	// builds share one set of compiled packages, so only the first compiles Caddy and OPA (xcaddy's build,
	// in integration/build, is a module of its own).
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/caddy")
	cmd.Dir = harness.root
	cmd.Env = append(childEnv([]string{"CGO_ENABLED=", "GOFLAGS="}), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		harness.caddyErr = fmt.Errorf("building cmd/caddy: %v\n%s", err, out)
		return
	}
	harness.caddyBin = bin
}

// readBuildInputs reads every file of the repository that a build may use. The binary is built by a
// child process, whose reads go test does not see: reading them here puts them in the key of go test's
// result cache, so a change to the module (caddymodule, policies...) runs these tests again instead
// of reporting a cached pass.
func readBuildInputs(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	})
}

// caddyServer is a running Caddy binary with a Caddyfile config.
type caddyServer struct {
	// BaseURL is the address that {$SITE} stands for in the Caddyfile: http://127.0.0.1:<port>.
	BaseURL string
	// AdminURL is its admin API, http://127.0.0.1:<port>.
	AdminURL string

	bin, dir, config string
	env              []string
	proc             *process
}

// startCaddy runs the Caddy binary with caddyfile and stops it at the end of the test.
//
// The Caddyfile names its site {$SITE} (Caddy's environment placeholder), which is a free loopback
// address: http://127.0.0.1:<port>. startCaddy adds the global options a test needs: admin API on a
// free loopback port, storage in a temporary directory, no automatic HTTPS, no persisted config, a 2 s
// grace period, and JSON logs at DEBUG level on stderr, captured (see Logs). A Caddyfile with a global
// options block of its own gets these added to it. It returns once the site accepts connections.
func startCaddy(t *testing.T, caddyfile string) *caddyServer {
	t.Helper()
	return launchCaddy(t, caddyLaunch{
		bin: caddyBinary(t), caddyfile: caddyfile, name: "caddy",
		drop: []string{"CADDY", "SITE=", "XDG_", "AWS_"},
		env:  func(c *caddyServer, _ int) []string { return []string{"SITE=" + c.BaseURL} },
		// A site on a fixed address of its own needs no wait beyond Caddy's start.
		waitSite: strings.Contains(caddyfile, "{$SITE}"),
	})
}

// caddyLaunch says what launchCaddy runs.
type caddyLaunch struct {
	bin, caddyfile string
	// name names what is started in failures.
	name string
	// drop lists the variables (prefixes) of the test's environment the child does not inherit.
	drop []string
	// env returns the variables set in the child's environment, besides its XDG directories, once the
	// server's ports are chosen.
	env func(c *caddyServer, sitePort int) []string
	// waitSite waits, beyond the configuration being served, for c.BaseURL to accept connections.
	waitSite bool
	// workDir is the server's working directory, where relative paths of the Caddyfile resolve; default
	// a temporary one.
	workDir string
}

// launchCaddy starts l.bin on l.caddyfile with the harness's global options (see startCaddy) on free
// loopback ports, choosing others when it loses a race for them.
func launchCaddy(t *testing.T, l caddyLaunch) *caddyServer {
	t.Helper()
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		sitePort, adminPort := freePort(t), freePort(t)
		c := &caddyServer{
			BaseURL:  "http://127.0.0.1:" + strconv.Itoa(sitePort),
			AdminURL: "http://127.0.0.1:" + strconv.Itoa(adminPort),
			bin:      l.bin,
			dir:      dir,
			config:   filepath.Join(dir, "Caddyfile"),
		}
		c.env = childEnv(l.drop, append(l.env(c, sitePort),
			"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
			"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		)...)
		c.writeConfig(t, l.caddyfile, adminPort)
		workDir := dir
		if l.workDir != "" {
			workDir = l.workDir
		}
		c.proc = startProcess(t, "caddy", workDir, c.env, l.bin, "run", "--config", c.config, "--adapter", "caddyfile")
		err := c.proc.waitFor("initial configuration served", 30*time.Second, func() error {
			if !strings.Contains(c.proc.out.String(), "serving initial configuration") {
				return fmt.Errorf("not yet")
			}
			if l.waitSite {
				return dialable(strings.TrimPrefix(c.BaseURL, "http://"))
			}
			return nil
		})
		if err == nil {
			return c
		}
		c.proc.stop()
		if attempt < 3 && lostPortRace(c.proc.out.String()) {
			continue
		}
		written, _ := os.ReadFile(c.config)
		t.Fatalf("starting %s: %v\nCaddyfile as written (its output follows):\n%s", l.name, err, numberLines(string(written)))
	}
}

// writeConfig writes caddyfile with the harness's global options to c.config.
func (c *caddyServer) writeConfig(t *testing.T, caddyfile string, adminPort int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(c.dir, "storage"), 0o700); err != nil {
		t.Fatal(err)
	}
	options := fmt.Sprintf(`	admin 127.0.0.1:%d
	storage file_system %s
	auto_https off
	persist_config off
	grace_period 2s
	log {
		output stderr
		format json
		level DEBUG
	}
`, adminPort, filepath.Join(c.dir, "storage"))
	if err := os.WriteFile(c.config, []byte(withGlobalOptions(caddyfile, options)), 0o600); err != nil {
		t.Fatalf("writing the Caddyfile: %v", err)
	}
}

// withGlobalOptions adds options to the Caddyfile's global options block, or puts one first.
func withGlobalOptions(caddyfile, options string) string {
	trimmed := strings.TrimLeft(caddyfile, " \t\r\n")
	if len(trimmed) > 1 && trimmed[0] == '{' && strings.ContainsRune(" \t\r\n", rune(trimmed[1])) {
		return "{\n" + options + trimmed[1:]
	}
	return "{\n" + options + "}\n\n" + caddyfile
}

// numberLines prefixes each line with its number, as Caddy's errors cite them.
func numberLines(text string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, line)
	}
	return b.String()
}

// reload replaces the running config with caddyfile through `caddy reload --force` (a real reload even
// if nothing changed), the test failing if Caddy refuses it.
func (c *caddyServer) reload(t *testing.T, caddyfile string) {
	t.Helper()
	if err := c.tryReload(t, caddyfile); err != nil {
		t.Fatal(err)
	}
}

// tryReload is reload for a test that expects a refusal: Caddy's error, or nil.
func (c *caddyServer) tryReload(t *testing.T, caddyfile string) error {
	t.Helper()
	adminPort, err := strconv.Atoi(c.AdminURL[strings.LastIndexByte(c.AdminURL, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	c.writeConfig(t, caddyfile, adminPort)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "reload", "--config", c.config, "--adapter", "caddyfile",
		"--address", strings.TrimPrefix(c.AdminURL, "http://"), "--force")
	cmd.Dir = c.dir
	cmd.Env = c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		written, _ := os.ReadFile(c.config)
		return fmt.Errorf("caddy reload: %v\n%s\nCaddyfile as written:\n%s", err, out, numberLines(string(written)))
	}
	return nil
}

// logEntry is one JSON log line of Caddy's, decoded.
type logEntry map[string]any

// Logs returns Caddy's JSON log lines so far (lines that are not JSON are left out; LogText has all).
func (c *caddyServer) Logs() []logEntry {
	var entries []logEntry
	sc := bufio.NewScanner(strings.NewReader(c.proc.out.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			entries = append(entries, e)
		}
	}
	return entries
}

// LogText returns all that Caddy has printed so far.
func (c *caddyServer) LogText() string { return c.proc.out.String() }

// waitForLog waits up to timeout for a log entry that match accepts (access logs are written after the
// response is sent) and returns it.
func (c *caddyServer) waitForLog(t *testing.T, timeout time.Duration, match func(logEntry) bool) logEntry {
	t.Helper()
	var found logEntry
	err := c.proc.waitFor("matching log entry", timeout, func() error {
		for _, e := range c.Logs() {
			if match(e) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// assertLogsExclude fails the test if any secret (a token, a signature, a secret key...) appears in what
// Caddy printed, or if the output was truncated so that its absence cannot be shown.
func (c *caddyServer) assertLogsExclude(t *testing.T, secrets ...string) {
	t.Helper()
	if c.proc.out.Truncated() {
		t.Fatalf("caddy's output passed %d bytes and was truncated: cannot show that no secret is in it", maxCapturedOutput)
	}
	text := c.LogText()
	for i, s := range secrets {
		if s == "" {
			t.Fatalf("secret %d is empty: the test would prove nothing", i)
		}
		if strings.Contains(text, s) {
			t.Errorf("secret %d (%d bytes, starting %.6q) appears in caddy's logs", i, len(s), s)
		}
	}
}

// get sends a GET to the site with the given header lines and returns the response (closed at the end of
// the test).
func (c *caddyServer) get(t *testing.T, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// caddyAdapt adapts a Caddyfile to JSON with the built binary, with the environment's placeholders set
// from env ("NAME=value"), and returns Caddy's error if it does not adapt.
func caddyAdapt(t *testing.T, caddyfile string, env ...string) error {
	t.Helper()
	bin := caddyBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "adapt", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = childEnv([]string{"CADDY", "XDG_"}, append(env,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("caddy adapt: %v\n%s", err, out)
	}
	return nil
}
