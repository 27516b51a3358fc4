package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// built is the benchmark's Caddy, built once for the tests that need it.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// benchCaddy returns the benchmark's Caddy, built on first use.
func benchCaddy(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "bench-caddy-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "caddy")
		root, err := moduleRoot()
		if err != nil {
			built.err = err
			return
		}
		build := exec.Command("go", "build", "-o", built.path, "./bench/benchcaddy")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./bench/benchcaddy: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// requireWrk skips without wrk, with the command that installs it, or fails when the CI environment
// variable is set: on CI a missing tool is a broken machine, not a reason to pass.
func requireWrk(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds Caddy and runs it under wrk: not with -short")
	}
	if _, err := findWrk(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// TestBenchTiny runs the harness as a user would, in its smallest form (one round of one second, two
// variants: plain reverse_proxy and a cached JWT), so that it cannot rot: the build, the upstream, the
// locally minted token, the Caddyfiles and the table all work. Its figures mean nothing.
func TestBenchTiny(t *testing.T) {
	requireWrk(t)
	var out, progress bytes.Buffer
	o := options{variants: []string{"plain", "jwt"}, rounds: 1, duration: time.Second, threads: 1, connections: 2,
		caddy: benchCaddy(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, o, &out, &progress); err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Machine: .+, \d+ cores .*go1\.`),
		regexp.MustCompile("(?m)^`go run ./bench -variants plain,jwt -rounds 1 -duration 1s"),
		regexp.MustCompile(`(?m)^\| plain \| bearer token, GET /items/<n> \| \d+ \| — \| — \| \d+–\d+ \(0%\) \|$`),
		// The floor did not run: no ratio to it.
		regexp.MustCompile(`(?m)^\| jwt \| bearer token, GET /items/<n> \| \d+ \| \d\.\d\d \| — \| \d+–\d+ \(0%\) \|$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("the output has no line matching %s", want)
		}
	}
}

// TestBenchVariantsAdapt: every variant's Caddyfile adapts with this tree's Caddy (a variant that needs an
// option says which, and only those may not), and each request kind's baselines are variants.
func TestBenchVariantsAdapt(t *testing.T) {
	requireWrk(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	e, err := start(ctx, options{caddy: benchCaddy(t)}, []variant{variants[0]}, &progress)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		t.Fatalf("start: %v\n%s", err, progress.String())
	}
	names := map[string]bool{}
	for _, v := range variants {
		if names[v.name] {
			t.Errorf("variant %s is listed twice", v.name)
		}
		names[v.name] = true
	}
	for _, v := range variants {
		if !names[v.requests.plain] || !names[v.requests.floor] {
			t.Errorf("variant %s: its requests' baselines %s and %s are not both variants", v.name, v.requests.plain, v.requests.floor)
		}
		path, environ, err := e.writeCaddyfile(v, filepath.Join(e.work, "adapt", v.name), "127.0.0.1:1", "127.0.0.1:2")
		if err != nil {
			t.Fatal(err)
		}
		adapt := exec.CommandContext(ctx, e.caddy, "adapt", "--config", path, "--adapter", "caddyfile")
		adapt.Env = environ
		if out, err := adapt.CombinedOutput(); err != nil {
			if v.needs != "" {
				t.Logf("variant %s needs %s, which this tree does not have: %s", v.name, v.needs, firstLine(out))
				continue
			}
			t.Errorf("variant %s: its Caddyfile does not adapt: %v\n%s", v.name, err, out)
		}
	}
}

// TestGroupProfile: the profile's samples go to the categories the README's breakdown names, the work
// below our handler to the handler below it.
func TestGroupProfile(t *testing.T) {
	t.Parallel()
	traces := `File: caddy
Type: cpu
-----------+-------------------------------------------------------
      30ms   runtime.scanobject
             runtime.gcDrain
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      20ms   runtime.memmove
             github.com/open-policy-agent/opa/v1/topdown.evalTerm
             github.com/caddy-cognito/caddy-cognito/authorizer/policy.(*Engine).Decide
-----------+-------------------------------------------------------
      10ms   internal/runtime/syscall/linux.Syscall6
             syscall.write
             net/http.(*persistConn).writeLoop
-----------+-------------------------------------------------------
      40ms   runtime.memmove
             github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy.(*Handler).ServeHTTP
             github.com/caddy-cognito/caddy-cognito/caddymodule.(*Authorizer).ServeHTTP
-----------+-------------------------------------------------------
      50ms   runtime.memmove
             github.com/caddy-cognito/caddy-cognito/authorizer/upstream.Headers
             github.com/caddy-cognito/caddy-cognito/caddymodule.(*Authorizer).ServeHTTP
-----------+-------------------------------------------------------
       5ms   runtime.futex
             runtime.findRunnable
             runtime.schedule
-----------+-------------------------------------------------------
`
	got, total := group(traces)
	want := map[string]time.Duration{
		"GC (background and assists)":                         30 * time.Millisecond,
		"OPA evaluation":                                      20 * time.Millisecond,
		"writing the request upstream":                        10 * time.Millisecond,
		"reverse_proxy, other":                                40 * time.Millisecond,
		"caddy-cognito (verification, policy input, headers)": 50 * time.Millisecond,
		runtimeCategory:                                       5 * time.Millisecond,
	}
	if total != 155*time.Millisecond {
		t.Errorf("total = %v, want 155ms", total)
	}
	for name, d := range want {
		if got[name] != d {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], d, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("categories = %v, want %v", got, want)
	}
	if !strings.Contains(describeMachine("v2", "/bin/true"), "cores") {
		t.Error("the machine description names no cores")
	}
}

// requireRedis skips without redis-server, with the command that installs it, or fails when the CI
// environment variable is set.
func requireRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(errNoRedis)
		}
		t.Skip(errNoRedis)
	}
}

// TestBenchTinyRedis runs the fleet's variants in their smallest form, on the redis-server the harness
// starts: a signature the replay variants accept once they refuse the second time (the in-memory one
// without a key in Redis, the Redis one with its key there), the JWT variant follows revocations from
// Redis, and a round under wrk of each passes, which it cannot if wrk sent a signed POST twice.
func TestBenchTinyRedis(t *testing.T) {
	requireWrk(t)
	requireRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	names := []string{"plain-sigv4-post-1k", "sigv4-post-1k-replay", "sigv4-post-1k-replay-redis", "jwt-redis"}
	chosen, err := choose(names)
	if err != nil {
		t.Fatal(err)
	}
	o := options{variants: names, rounds: 1, duration: time.Second, threads: 2, connections: 4, caddy: benchCaddy(t)}
	var progress bytes.Buffer
	e, err := start(ctx, o, chosen, &progress)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		t.Fatalf("start: %v\n%s", err, progress.String())
	}
	if len(e.running) != len(names) {
		t.Fatalf("running %d of %d variants, skipped: %v", len(e.running), len(names), e.skipped)
	}
	creds, err := e.credentialsFor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range e.running[1:3] {
		post := signedPost(ctx, t, creds, in.url)
		for i, want := range []int{200, 403} {
			resp, err := http.DefaultClient.Do(post())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode != want || (want == 403 && resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException") {
				t.Errorf("%s: signed POST sent %d time(s): %d %s, want %d", in.name, i+1, resp.StatusCode, body, want)
			}
		}
		keys, err := e.redis.command("KEYS", "bench-"+in.name+":replay:*")
		if err != nil {
			t.Fatal(err)
		}
		if wantKeys := map[bool]string{true: "*1", false: "*0"}[in.redis]; keys != wantKeys {
			t.Errorf("%s: its replay keys in Redis: %s, want %s", in.name, keys, wantKeys)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		channels, err := e.redis.command("PUBSUB", "CHANNELS", "bench-jwt-redis:*")
		if err == nil && channels == "*1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jwt-redis follows no revocations channel: %q %v", channels, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	wrk, _ := findWrk()
	results, err := measureAll(ctx, e, wrk, o, &progress)
	if err != nil {
		t.Fatalf("measure: %v\n%s", err, progress.String())
	}
	text := table(results, e.skipped)
	t.Log("\n" + text)
	for _, name := range names[1:] {
		want := regexp.MustCompile(`(?m)^\| ` + name + ` \| [^|]+ \| \d+ \| (\d\.\d\d|—) \| — \| `)
		if !want.MatchString(text) {
			t.Errorf("the table has no line matching %s", want)
		}
	}
	if !strings.Contains(text, "| sigv4-post-1k-replay-redis | SigV4, POST 1 KiB /items/<n>, each signed once | ") {
		t.Error("the Redis replay variant's line does not say its requests are each signed once")
	}
}

// signedPost returns a function that makes the same signed 1 KiB POST to baseURL/replayed (a path wrk
// never sends to) each time it is called.
func signedPost(ctx context.Context, t *testing.T, creds *credentials, baseURL string) func() *http.Request {
	t.Helper()
	body := strings.Repeat("x", 1024)
	sum := sha256.Sum256([]byte(body))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/replayed", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	region, _, _ := strings.Cut(identityPoolID, ":")
	if err := v4.NewSigner().SignHTTP(ctx, creds.Credentials, req, hex.EncodeToString(sum[:]), "execute-api", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return func() *http.Request {
		again := req.Clone(ctx)
		again.Body = io.NopCloser(strings.NewReader(body))
		return again
	}
}
