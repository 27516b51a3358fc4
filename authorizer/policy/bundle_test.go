package policy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// buildBundle builds a bundle tarball with OPA's bundle package: the given modules (path -> Rego),
// under the roots, at the revision.
func buildBundle(t *testing.T, revision string, roots []string, modules map[string]string) []byte {
	t.Helper()
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: revision, Roots: &roots},
		Data:     map[string]any{},
	}
	for path, src := range modules {
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: path, Path: path, Raw: []byte(src)})
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatalf("building bundle %s: %v", revision, err)
	}
	return buf.Bytes()
}

// versionBundle decides at the default decision, allowing with an X-Version header, and uses the
// embedded library (which lives outside the bundle's root).
func versionBundle(t *testing.T, version string) []byte {
	t.Helper()
	return buildBundle(t, version, []string{"cognito/authz"}, map[string]string{
		"/authz.rego": fmt.Sprintf(`package cognito.authz

import data.cognito.lib

decision := {"allow": true, "headers": {"X-Version": %q}} if not lib.is_anonymous
`, version),
	})
}

// bundleServer serves one bundle over HTTP on loopback, as a bundle service does (with ETags), and can
// be told to fail.
type bundleServer struct {
	mu       sync.Mutex
	body     []byte
	failWith int // a status to answer instead of the bundle
	requests atomic.Int64
	srv      *httptest.Server
}

func newBundleServer(t *testing.T, body []byte) *bundleServer {
	t.Helper()
	s := &bundleServer{body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bundleServer) serve(w http.ResponseWriter, r *http.Request) {
	defer s.requests.Add(1)
	s.mu.Lock()
	body, failWith := s.body, s.failWith
	s.mu.Unlock()
	if failWith != 0 {
		http.Error(w, "unavailable", failWith)
		return
	}
	etag := fmt.Sprintf("%q", fmt.Sprintf("%x", len(body))+string(body[len(body)-8:]))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(body)
}

func (s *bundleServer) set(body []byte, failWith int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body != nil {
		s.body = body
	}
	s.failWith = failWith
}

// waitRequests waits until the server has answered n more requests than it had at the call.
func (s *bundleServer) waitRequests(t *testing.T, n int64) {
	t.Helper()
	want := s.requests.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for s.requests.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the bundle server got no %d more requests", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opaConfig polls the server's bundle every second.
func opaConfig(url string) []byte {
	return fmt.Appendf(nil, `
services:
  bundles:
    url: %s
bundles:
  authz:
    service: bundles
    resource: /bundles/authz.tar.gz
    polling:
      min_delay_seconds: 1
      max_delay_seconds: 1
`, url)
}

// version decides one request and returns the X-Version the bundle's policy set.
func version(t *testing.T, e *policy.Engine) string {
	t.Helper()
	d, err := e.Decide(context.Background(), get("/orders", alice()))
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	return d.Headers["X-Version"]
}

// waitVersion waits until decisions come from the bundle at version want.
func waitVersion(t *testing.T, e *policy.Engine, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := e.Decide(context.Background(), get("/orders", alice()))
		if err == nil && d.Headers["X-Version"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policy never switched to %s: last %+v, %v", want, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBundleSwapUnderLoad swaps the policy while requests run on every core: every request is
// decided, by the old policy or the new one, none fails, and decisions switch to the new one.
func TestBundleSwapUnderLoad(t *testing.T) {
	t.Parallel()
	srv := newBundleServer(t, versionBundle(t, "v1"))
	e := newEngine(t, policy.Config{OPAConfig: opaConfig(srv.srv.URL)})
	if got := version(t, e); got != "v1" {
		t.Fatalf("New returned before the first bundle was active: version %q", got)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var decided, failed atomic.Int64
	seen := sync.Map{}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := e.Decide(context.Background(), get("/orders", alice()))
				if err != nil || !d.Allow {
					failed.Add(1)
					t.Errorf("during the swap: %+v, %v", d, err)
					return
				}
				seen.Store(d.Headers["X-Version"], true)
				decided.Add(1)
			}
		})
	}
	srv.set(versionBundle(t, "v2"), 0)
	waitVersion(t, e, "v2")
	time.Sleep(50 * time.Millisecond) // requests keep running on the new policy
	stop()
	wg.Wait()
	if failed.Load() != 0 || decided.Load() == 0 {
		t.Fatalf("%d decided, %d failed", decided.Load(), failed.Load())
	}
	versions := 0
	seen.Range(func(k, _ any) bool {
		if k != "v1" && k != "v2" {
			t.Errorf("a request was decided by neither policy: %q", k)
		}
		versions++
		return true
	})
	if versions != 2 {
		t.Fatal("the requests did not run across the swap")
	}
}

// TestBundleServerDown keeps the last good bundle while the server answers errors, and takes the
// next one when it is back.
func TestBundleServerDown(t *testing.T) {
	t.Parallel()
	srv := newBundleServer(t, versionBundle(t, "v1"))
	e := newEngine(t, policy.Config{OPAConfig: opaConfig(srv.srv.URL)})
	srv.set(nil, http.StatusServiceUnavailable)
	srv.waitRequests(t, 2)
	if got := version(t, e); got != "v1" {
		t.Fatalf("with the server down: version %q, want v1", got)
	}
	srv.set(versionBundle(t, "v2"), 0)
	waitVersion(t, e, "v2")
}

// TestBrokenBundles never replaces the good bundle with one that does not compile, whose decision has
// the wrong shape for OPA to activate (a module outside its roots), or that is not a bundle at all.
func TestBrokenBundles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{name: "does not compile", body: func(t *testing.T) []byte {
			return buildBundle(t, "bad", []string{"cognito/authz"}, map[string]string{
				"/authz.rego": "package cognito.authz\n\ndecision := undefined_function(1)\n",
			})
		}},
		{name: "module outside its roots", body: func(t *testing.T) []byte {
			return buildBundle(t, "bad", []string{"cognito/authz"}, map[string]string{
				"/authz.rego": "package other\n\ndecision := true\n",
			})
		}},
		{name: "not a tarball", body: func(*testing.T) []byte { return []byte("<html>maintenance</html>") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newBundleServer(t, versionBundle(t, "v1"))
			e := newEngine(t, policy.Config{OPAConfig: opaConfig(srv.srv.URL)})
			srv.set(tt.body(t), 0)
			srv.waitRequests(t, 2)
			if got := version(t, e); got != "v1" {
				t.Fatalf("after a broken bundle: version %q, want v1", got)
			}
		})
	}
}

// TestBundleNotReady fails New when the first bundle cannot be had within ReadyTimeout, naming what
// it waited for; with a negative ReadyTimeout New returns at once and decisions are undefined (an
// error, never an allow) until the bundle arrives.
func TestBundleNotReady(t *testing.T) {
	t.Parallel()
	srv := newBundleServer(t, versionBundle(t, "v1"))
	srv.set(nil, http.StatusServiceUnavailable)
	cfg := policy.Config{OPAConfig: opaConfig(srv.srv.URL), ReadyTimeout: 300 * time.Millisecond}
	if e, err := policy.New(context.Background(), cfg); err == nil {
		e.Close(context.Background())
		t.Fatal("New succeeded without its bundle")
	} else if !bytes.Contains([]byte(err.Error()), []byte("bundle")) {
		t.Fatalf("error %q does not name the bundle", err)
	}

	cfg.ReadyTimeout = -1
	cfg.Paths = []string{writeFiles(t, map[string]string{"lib.rego": "package mine\n\nx := 1\n"})}
	e := newEngine(t, cfg)
	d, err := e.Decide(context.Background(), get("/orders", alice()))
	if err == nil || d.Allow {
		t.Fatalf("before the first bundle: %+v, %v; want an error", d, err)
	}
	srv.set(nil, 0)
	waitVersion(t, e, "v1")
}

// TestLocalBundle loads a bundle tarball from disk (as `policy bundle.tar.gz`).
func TestLocalBundle(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authz.tar.gz")
	if err := os.WriteFile(path, versionBundle(t, "local"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, policy.Config{Paths: []string{path}})
	if got := version(t, e); got != "local" {
		t.Fatalf("version %q, want local", got)
	}
}

// TestBundleReplacesBuiltin checks that a bundle may replace the embedded built-in policy under the
// default decision, and that its rules are then evaluated with OPA's rule cache (which the engine
// drops only for its own policy): here every rule reads the previous one twice, so without the
// cache one decision would evaluate r0 2^40 times.
func TestBundleReplacesBuiltin(t *testing.T) {
	t.Parallel()
	src := "package cognito.builtin\n\nr0 := 1\n"
	for i := 1; i <= 40; i++ {
		src += fmt.Sprintf("r%d := r%d + r%d\n", i, i-1, i-1)
	}
	src += `decision := {"allow": r40 > 0, "headers": {"X-Version": "replaced"}}` + "\n"
	srv := newBundleServer(t, buildBundle(t, "replaced", []string{"cognito/builtin"}, map[string]string{"/builtin.rego": src}))
	e := newEngine(t, policy.Config{OPAConfig: opaConfig(srv.srv.URL)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := e.Decide(ctx, get("/", alice()))
	if err != nil || !d.Allow || d.Headers["X-Version"] != "replaced" {
		t.Fatalf("got %+v, %v; want the bundle's decision", d, err)
	}
}

// noDecisionBundle compiles and fits its roots, but does not define the default decision.
func noDecisionBundle(t *testing.T) []byte {
	t.Helper()
	return buildBundle(t, "no-decision", []string{"cognito/authz"}, map[string]string{
		"/authz.rego": "package cognito.authz\n\nother := true\n",
	})
}

// activations records what OnActivation reports.
type activations struct {
	mu   sync.Mutex
	seen []policy.Activation
}

func (a *activations) record(act policy.Activation) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, act)
}

// wait waits for an activation of revision and returns it.
func (a *activations) wait(t *testing.T, revision string) policy.Activation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		for _, act := range a.seen {
			if act.Revision == revision {
				a.mu.Unlock()
				return act
			}
		}
		a.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no activation of revision %q reported", revision)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBundleWithoutDecision keeps deciding with the last good bundle when the next one compiles but
// does not define the decision (OPA does not activate it), reports the failed activation naming the
// bundle, and takes the next good bundle.
func TestBundleWithoutDecision(t *testing.T) {
	t.Parallel()
	var seen activations
	srv := newBundleServer(t, versionBundle(t, "v1"))
	e := newEngine(t, policy.Config{OPAConfig: opaConfig(srv.srv.URL), OnActivation: seen.record})
	if act := seen.wait(t, "v1"); act.Err != nil || act.Bundle != "authz" {
		t.Fatalf("v1 activation reported as %+v", act)
	}
	srv.set(noDecisionBundle(t), 0)
	act := seen.wait(t, "no-decision")
	if !errors.Is(act.Err, policy.ErrMissingDecision) || act.Bundle != "authz" ||
		!strings.Contains(act.Err.Error(), "data.cognito.authz.decision") {
		t.Fatalf("the bundle without the decision was reported as %+v", act)
	}
	for range 3 {
		if got := version(t, e); got != "v1" {
			t.Fatalf("after a bundle without the decision: version %q, want v1", got)
		}
	}
	srv.set(versionBundle(t, "v2"), 0)
	waitVersion(t, e, "v2")
}

// TestFirstBundleWithoutDecision: when the first bundle lacks the decision there is no good policy
// to decide with, and nothing allows, the embedded built-in policy included. New fails within
// ReadyTimeout naming the missing decision; without waiting, every decision fails with
// ErrUnavailable until a good bundle arrives.
func TestFirstBundleWithoutDecision(t *testing.T) {
	t.Parallel()
	srv := newBundleServer(t, noDecisionBundle(t))
	cfg := policy.Config{OPAConfig: opaConfig(srv.srv.URL), ReadyTimeout: 1500 * time.Millisecond}
	if e, err := policy.New(context.Background(), cfg); err == nil {
		e.Close(context.Background())
		t.Fatal("New succeeded with a first bundle that lacks the decision")
	} else if !strings.Contains(err.Error(), "does not define decision data.cognito.authz.decision") {
		t.Fatalf("error %q does not name the missing decision", err)
	}

	var seen activations
	cfg.ReadyTimeout, cfg.OnActivation = -1, seen.record
	e := newEngine(t, cfg)
	for _, when := range []string{"before", "after"} {
		if when == "after" {
			seen.wait(t, "no-decision")
		}
		d, err := e.Decide(context.Background(), get("/orders", alice()))
		if d.Allow || !errors.Is(err, policy.ErrUnavailable) {
			t.Fatalf("%s the bundle without the decision: %+v, %v; want ErrUnavailable", when, d, err)
		}
	}
	srv.set(versionBundle(t, "v1"), 0)
	waitVersion(t, e, "v1")
}
