package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// variant is one configuration of the table.
type variant struct {
	name     string
	requests *requestKind
	site     string
	needs    string
	redis    bool // the app has `redis`: the run's redis-server, started when a chosen variant has it
	// unloggedProxy excludes reverse_proxy's logger from the default log: with a log at any level, it
	// encodes every upstream request's headers for a DEBUG entry (README, What the upstream receives).
	unloggedProxy bool
}

// instance is a variant's running Caddy.
type instance struct {
	variant
	url    string // http://127.0.0.1:<port>
	admin  string // its admin endpoint, for /debug/pprof
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
}

// env is what a run has started.
type env struct {
	work         string
	keep         bool
	caddy        string
	caddyVersion string
	upstream     *http.Server
	pool         *userPool
	running      []*instance
	failed       []*instance        // started but never served: only to stop
	skipped      map[string]string  // variant name: why it did not run
	creds        *credentials       // identity-pool guest credentials, once fetched
	replacer     *strings.Replacer  // fills in a variant's site
	secrets      []string           // the environment of every Caddy: its key_secret, identity_secret
	redis        *redisServer       // when a chosen variant has redis and redis-server is installed
	fastest      map[string]float64 // variant name: its highest requests/s so far, warm-ups included
}

func (e *env) close() {
	for _, in := range append(e.running, e.failed...) {
		_ = in.cmd.Process.Signal(os.Interrupt)
		select {
		case <-in.exited:
		case <-time.After(5 * time.Second):
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
	}
	if e.upstream != nil {
		_ = e.upstream.Close()
	}
	if e.pool != nil {
		e.pool.close()
	}
	if e.redis != nil {
		e.redis.stop()
	}
	if !e.keep {
		_ = os.RemoveAll(e.work)
	}
}

// start builds Caddy (unless given), starts the upstream, the user pool's key server and one Caddy per
// variant. The env it returns must be closed, also with an error.
func start(ctx context.Context, o options, chosen []variant, progress io.Writer) (*env, error) {
	work, err := os.MkdirTemp("", "caddy-cognito-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{work: work, keep: o.keep, caddy: o.caddy, skipped: map[string]string{}, fastest: map[string]float64{}}
	if o.keep {
		fmt.Fprintln(progress, "work directory:", work)
	}
	if e.caddy == "" {
		e.caddy = filepath.Join(work, "caddy")
		fmt.Fprintln(progress, "building bench/benchcaddy...")
		root, err := moduleRoot()
		if err != nil {
			return e, err
		}
		build := exec.CommandContext(ctx, "go", "build", "-o", e.caddy, "./bench/benchcaddy")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return e, fmt.Errorf("building bench/benchcaddy: %v\n%s", err, out)
		}
	}
	version, err := exec.CommandContext(ctx, e.caddy, "version").Output()
	if err != nil {
		return e, fmt.Errorf("%s version: %v", e.caddy, err)
	}
	e.caddyVersion = strings.Fields(string(version) + " ?")[0]

	upstream, err := listen()
	if err != nil {
		return e, err
	}
	e.upstream = serveUpstream(upstream)
	if e.pool, err = newUserPool(); err != nil {
		return e, err
	}
	policyDir := filepath.Join(work, "policies")
	if err := os.Mkdir(policyDir, 0o700); err != nil {
		return e, err
	}
	for name, text := range policyFiles {
		if err := os.WriteFile(filepath.Join(policyDir, name), []byte(text), 0o600); err != nil {
			return e, err
		}
	}
	e.secrets = []string{"BENCH_KEY_SECRET=" + randomSecret(), "BENCH_IDENTITY_SECRET=" + randomSecret()}
	e.replacer = strings.NewReplacer(
		"{upstream}", upstream.Addr().String(), "{issuer}", e.pool.issuer, "{jwks}", e.pool.jwksURL,
		"{client}", e.pool.clientID, "{pool}", e.pool.id, "{identity_pool}", identityPoolID,
		"{policy_dir}", policyDir,
	)
	if slices.ContainsFunc(chosen, func(v variant) bool { return v.redis }) {
		e.redis, err = startRedis(filepath.Join(work, "redis"))
		if err != nil && !errors.Is(err, errNoRedis) {
			return e, err
		}
	}
	for _, v := range chosen {
		if v.redis && e.redis == nil {
			e.skipped[v.name] = errNoRedis.Error()
			fmt.Fprintf(progress, "%s: skipped: %v\n", v.name, errNoRedis)
			continue
		}
		in, err := e.startInstance(ctx, v)
		for try := 1; try < 3 && err != nil && strings.Contains(err.Error(), "address already in use"); try++ {
			// Another process took a port between our pick and Caddy's bind: pick others.
			in, err = e.startInstance(ctx, v)
		}
		if errors.Is(err, errNotInTree) {
			e.skipped[v.name] = err.Error()
			fmt.Fprintf(progress, "%s: skipped: %v\n", v.name, err)
			continue
		}
		if err != nil {
			return e, fmt.Errorf("variant %s: %w", v.name, err)
		}
		e.running = append(e.running, in)
	}
	if len(e.running) == 0 {
		return e, errors.New("no variant could start")
	}
	return e, nil
}

// errNotInTree is a variant whose option this tree's Caddyfile does not have.
var errNotInTree = errors.New("not in this tree")

// identityPoolID is the identity pool the SigV4 variants serve and verify.
const identityPoolID = "us-east-1:0c0ad0d0-1111-4222-8333-444455556666"

func (e *env) startInstance(ctx context.Context, v variant) (*instance, error) {
	site, err := listen()
	if err != nil {
		return nil, err
	}
	admin, err := listen()
	if err != nil {
		return nil, err
	}
	siteAddr, adminAddr := site.Addr().String(), admin.Addr().String()
	// Caddy binds them itself, a moment later: the race with another process taking the port is
	// loopback's and short.
	_ = site.Close()
	_ = admin.Close()
	dir := filepath.Join(e.work, v.name)
	path, environ, err := e.writeCaddyfile(v, dir, siteAddr, adminAddr)
	if err != nil {
		return nil, err
	}
	if v.needs != "" {
		adapt := exec.CommandContext(ctx, e.caddy, "adapt", "--config", path, "--adapter", "caddyfile")
		adapt.Env = environ
		if out, err := adapt.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%w: its Caddyfile (%s) does not adapt: %s", errNotInTree, v.needs, firstLine(out))
		}
	}
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.caddy, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, environ, log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	log.Close()
	in := &instance{variant: v, url: "http://" + siteAddr, admin: "http://" + adminAddr, dir: dir, cmd: cmd,
		exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(in.exited) }()
	if err := waitHTTP(ctx, in.url+"/", in.exited); err != nil {
		e.failed = append(e.failed, in) // stopped with the others
		logText, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("%v\n%s", err, tail(logText, 20))
	}
	return in, nil
}

// writeCaddyfile writes the Caddyfile of v, to serve at siteAddr with its admin endpoint at adminAddr, in
// dir, and returns its path and the environment Caddy runs it in.
func (e *env) writeCaddyfile(v variant, dir, siteAddr, adminAddr string) (string, []string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o700); err != nil {
		return "", nil, err
	}
	caddyfile := fmt.Sprintf(`{
	admin %s
	auto_https off
	persist_config off
	storage file_system %s
	grace_period 1s
	log {
		level WARN%s
	}
	cognito {
		key_secret {env.BENCH_KEY_SECRET}
		identity_secret {env.BENCH_IDENTITY_SECRET}%s
	}
}

http://%s {
	%s
}
`, adminAddr, filepath.Join(dir, "storage"), logExclude(v), e.redisOption(v), siteAddr, e.replacer.Replace(v.site))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		return "", nil, err
	}
	return path, append(os.Environ(), append(e.secrets, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)...), nil
}

// logExclude is the default log's exclude line for v.
func logExclude(v variant) string {
	if !v.unloggedProxy {
		return ""
	}
	return "\n\t\texclude http.handlers.reverse_proxy"
}

// redisOption is the app's redis option for v: the run's redis-server (an address nothing listens on while
// none runs, for adapting only), its keys and channels under the variant's own prefix.
func (e *env) redisOption(v variant) string {
	if !v.redis {
		return ""
	}
	url := "redis://127.0.0.1:1/0"
	if e.redis != nil {
		url = e.redis.url()
	}
	return fmt.Sprintf("\n\t\tredis %s {\n\t\t\tprefix bench-%s:\n\t\t}", url, v.name)
}

// waitHTTP waits until something answers HTTP at url (any status), for 30 s or until exited is closed.
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("caddy exited before it served")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing answers at %s after 30 s", url)
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// serveUpstream answers every request with 200 "ok" after reading (at most 1 MiB of) the body, as cheaply
// as net/http allows, so that the measured cost is the proxy's.
func serveUpstream(l net.Listener) *http.Server {
	ok := []byte("ok\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(ok)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	return srv
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench from inside the caddy-cognito module")
	}
	return filepath.Dir(mod), nil
}

func randomSecret() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
