package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// faultyJWKS is a JWKS endpoint whose behaviour a test switches: it serves the keys of idp A or B
// (or both), fails, hangs, or answers garbage or a huge body. Its tokens carry its own issuer.
type faultyJWKS struct {
	srv        *httptest.Server
	issuer     string
	a, b       *testidp.IdP
	keysA      []byte // A's JWKS document
	keysB      []byte
	keysAB     []byte
	mode       atomic.Value // string
	fetches    atomic.Int64
	slowFor    time.Duration
	releaseAll chan struct{} // closed at cleanup, so a hanging handler returns
}

func newFaultyJWKS(t *testing.T, mode string) *faultyJWKS {
	t.Helper()
	j := &faultyJWKS{a: testidp.New(t), b: testidp.New(t), slowFor: 30 * time.Second, releaseAll: make(chan struct{})}
	j.a.KID, j.b.KID = "key-a", "key-b"
	j.keysA, j.keysB = fetchBody(t, j.a.JWKSURL), fetchBody(t, j.b.JWKSURL)
	ka, kb := strings.TrimSuffix(strings.TrimSpace(string(j.keysA)), "]}"), strings.TrimPrefix(strings.TrimSpace(string(j.keysB)), `{"keys":[`)
	j.keysAB = []byte(ka + "," + kb)
	j.mode.Store(mode)
	j.srv = httptest.NewServer(http.HandlerFunc(j.serve))
	t.Cleanup(func() {
		close(j.releaseAll)
		j.srv.Close()
	})
	j.issuer = j.srv.URL + "/pool"
	return j
}

func fetchBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (j *faultyJWKS) set(mode string) { j.mode.Store(mode) }

func (j *faultyJWKS) serve(w http.ResponseWriter, r *http.Request) {
	j.fetches.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch j.mode.Load().(string) {
	case "a":
		w.Write(j.keysA)
	case "b":
		w.Write(j.keysB)
	case "ab":
		w.Write(j.keysAB)
	case "down":
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	case "slow":
		select {
		case <-time.After(j.slowFor):
		case <-j.releaseAll:
		case <-r.Context().Done():
		}
		w.Write(j.keysA)
	case "garbage":
		w.Write([]byte(`<html><body>502 Bad Gateway</body></html>`))
	case "huge":
		// 8 MiB of a syntactically valid document, streamed without a length.
		w.Write([]byte(`{"keys":[],"padding":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 128 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	}
}

// token is an access token of the endpoint's issuer signed by idp (A or B), with a kid of its own.
func (j *faultyJWKS) token(t *testing.T, idp *testidp.IdP, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{"iss": j.issuer, "jti": fmt.Sprint(time.Now().UnixNano())}
	for k, v := range extra {
		claims[k] = v
	}
	return idp.AccessToken(t, claims)
}

// unknownKid is a token whose kid the endpoint never serves: verifying it makes the binary fetch the
// JWKS again, unless such a miss in the last 15s holds the refetch back.
func (j *faultyJWKS) unknownKid(t *testing.T) string {
	t.Helper()
	return j.a.SignWithHeader(t, map[string]any{"alg": "RS256", "kid": "key-unknown"}, map[string]any{
		"iss": j.issuer, "sub": "x", "client_id": j.a.ClientID, "token_use": "access",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
}

func (j *faultyJWKS) site(up *upstream) string {
	return fmt.Sprintf("{$SITE} {\n\tcognito_authorizer {\n\t\t%s\n\t}\n\treverse_proxy %s\n}\n",
		blocksForURLs(j.issuer, j.srv.URL+"/pool/.well-known/jwks.json", j.a.ClientID).UserPool, up.Addr)
}

// status sends a GET with the token and returns the status and how long the answer took.
func (s *caddyServer) status(t *testing.T, token string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	e := send(t, newRequest(t, http.MethodGet, s.BaseURL+"/orders", bearer(token), nil))
	return e.status, time.Since(start)
}

// eventually retries until the status is want, for up to timeout.
func (s *caddyServer) eventually(t *testing.T, token string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, _ := s.status(t, token)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d after %v, want %d", got, timeout, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The identity provider's JWKS endpoint fails in every way an endpoint can fail, at start and later.
// The gateway never allows a token it could not verify, answers 503 while it has no keys at all, keeps
// verifying with the keys it has through an outage, takes up a rotated key set, and its requests are
// bounded by the fetch timeout.
func TestJWKSFaults(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)

	t.Run("down at start, then up", func(t *testing.T) {
		t.Parallel()
		j := newFaultyJWKS(t, "down")
		up := startUpstream(t)
		srv := startCaddy(t, j.site(up))
		tok := j.token(t, j.a, nil)
		if got, _ := srv.status(t, tok); got != http.StatusServiceUnavailable {
			t.Fatalf("no keys yet: status %d, want 503", got)
		}
		if up.Count() != 0 {
			t.Fatal("a request reached the upstream without keys to verify it")
		}
		srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
			return e["level"] == "error" && strings.Contains(fmt.Sprint(e["msg"]), "fetching signing keys failed")
		})
		j.set("a")
		// The key set retries with a backoff starting at about 1s; a token makes it fetch at once.
		srv.eventually(t, tok, http.StatusOK, 5*time.Second)
	})

	t.Run("slow at start: requests wait at most the fetch timeout", func(t *testing.T) {
		t.Parallel()
		j := newFaultyJWKS(t, "slow")
		up := startUpstream(t)
		srv := startCaddy(t, j.site(up))
		got, took := srv.status(t, j.token(t, j.a, nil))
		if got != http.StatusServiceUnavailable || took > 8*time.Second {
			t.Fatalf("status %d after %v, want 503 within the 5s fetch timeout", got, took)
		}
	})

	// One binary per fault: each starts with A's keys, proves a token works, switches the endpoint to the
	// fault and makes the binary fetch (a token with an unknown kid: no fetch before holds it back).
	faults := []struct {
		name, mode, log string
	}{
		{"down later", "down", "unexpected status 503"},
		{"garbage", "garbage", "decoding JWKS"},
		{"huge body", "huge", "larger than the limit"},
		{"slow", "slow", "exceeded"},
	}
	for _, f := range faults {
		t.Run(f.name+": known keys keep working", func(t *testing.T) {
			t.Parallel()
			j := newFaultyJWKS(t, "a")
			up := startUpstream(t)
			srv := startCaddy(t, j.site(up))
			srv.eventually(t, j.token(t, j.a, nil), http.StatusOK, 10*time.Second)
			j.set(f.mode)
			before := j.fetches.Load()

			var wg sync.WaitGroup
			wg.Add(1)
			var unknownStatus int
			var unknownTook time.Duration
			go func() {
				defer wg.Done()
				unknownStatus, unknownTook = srv.status(t, j.unknownKid(t))
			}()
			// While that fetch fails (or hangs), fresh tokens of the known key are verified at once.
			time.Sleep(200 * time.Millisecond)
			for i := range 3 {
				got, took := srv.status(t, j.token(t, j.a, map[string]any{"jti": fmt.Sprint("fresh-", i)}))
				if got != http.StatusOK || took > 2*time.Second {
					t.Errorf("a new token of the known key during the fault: status %d after %v, want 200 at once", got, took)
				}
			}
			wg.Wait()
			if unknownStatus != http.StatusUnauthorized || unknownTook > 8*time.Second {
				t.Errorf("a token of an unknown key: status %d after %v, want 401 within the fetch timeout", unknownStatus, unknownTook)
			}
			if j.fetches.Load() == before {
				t.Errorf("the binary did not fetch the JWKS again")
			}
			srv.waitForLog(t, 10*time.Second, func(e logEntry) bool {
				return e["level"] == "warn" && strings.Contains(toJSON(e), "the known keys stay in use") && strings.Contains(toJSON(e), f.log)
			})
		})
	}

	t.Run("rotated key set", func(t *testing.T) {
		t.Parallel()
		j := newFaultyJWKS(t, "a")
		up := startUpstream(t)
		srv := startCaddy(t, j.site(up))
		oldKey := j.token(t, j.a, nil)
		srv.eventually(t, oldKey, http.StatusOK, 10*time.Second)
		// The issuer publishes the new key beside the old, then signs with it, then drops the old. Each
		// new key is taken up on its first token: the fetches before (the first, a refetch that found its
		// key) hold back no refetch.
		j.set("ab")
		before := j.fetches.Load()
		if got, _ := srv.status(t, j.token(t, j.b, nil)); got != http.StatusOK {
			t.Fatalf("the first token of a key published since the first fetch: %d, want 200", got)
		}
		if j.fetches.Load() != before+1 {
			t.Errorf("%d JWKS fetches for the new key, want 1", j.fetches.Load()-before)
		}
		if got, _ := srv.status(t, oldKey); got != http.StatusOK {
			t.Errorf("a token of the old key while both are published: %d", got)
		}
		j.set("b")
		// A token of a kid the binary does not know makes it fetch: the old key is gone, and the
		// token cache does not keep accepting a token whose key was withdrawn.
		srv.status(t, j.unknownKid(t))
		srv.eventually(t, oldKey, http.StatusUnauthorized, 10*time.Second)
		if got, _ := srv.status(t, j.token(t, j.b, nil)); got != http.StatusOK {
			t.Errorf("a token of the new key after the rotation: %d", got)
		}
	})
}

// bundleService serves one OPA bundle with ETags, or fails, as a test says.
type bundleService struct {
	mu       sync.Mutex
	body     []byte
	failWith int
	requests atomic.Int64
	srv      *httptest.Server
}

func newBundleService(t *testing.T, body []byte) *bundleService {
	t.Helper()
	s := &bundleService{body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body, fail := s.body, s.failWith
		s.mu.Unlock()
		if fail != 0 {
			http.Error(w, "bundle service failing", fail)
			return
		}
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bundleService) set(body []byte, failWith int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body != nil {
		s.body = body
	}
	s.failWith = failWith
}

// waitPolls waits for n more polls of the bundle.
func (s *bundleService) waitPolls(t *testing.T, n int64) {
	t.Helper()
	want := s.requests.Load() + n
	deadline := time.Now().Add(20 * time.Second)
	for s.requests.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the bundle service got no %d more polls", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// versionBundle allows every authenticated caller, telling the upstream its version.
func versionBundle(t *testing.T, version, body string) []byte {
	t.Helper()
	if body == "" {
		body = fmt.Sprintf("decision := {\"allow\": true, \"headers\": {\"X-Bundle-Version\": %q}} if not lib.is_anonymous\n", version)
	}
	roots := []string{"cognito/authz"}
	b := bundle.Bundle{Manifest: bundle.Manifest{Revision: version, Roots: &roots}, Data: map[string]any{},
		Modules: []bundle.ModuleFile{{URL: "/authz.rego", Path: "/authz.rego",
			Raw: []byte("package cognito.authz\n\nimport data.cognito.lib\n\n" + body)}}}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundleSite is a Caddyfile whose authorizer takes its policy from the bundle service at url.
func bundleSite(t *testing.T, idp *testidp.IdP, up *upstream, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "opa.yaml")
	config := fmt.Sprintf("services:\n  bundles:\n    url: %s\nbundles:\n  authz:\n    service: bundles\n    resource: /authz.tar.gz\n"+
		"    polling:\n      min_delay_seconds: 1\n      max_delay_seconds: 1\n", url)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("{$SITE} {\n\tcognito_authorizer {\n\t\t%s\n\t\topa_config %s\n\t}\n\treverse_proxy %s\n}\n",
		blocksFor(idp).UserPool, path, up.Addr)
}

// The policy comes from a bundle service named in opa_config. While the service is down or serves a
// broken bundle, the last good bundle keeps deciding; a new good one takes over; a configuration whose
// bundle cannot be had is refused by `caddy reload`, and the running one keeps serving.
func TestOPABundleFaults(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	up := startUpstream(t)
	svc := newBundleService(t, versionBundle(t, "v1", ""))
	srv := startCaddy(t, bundleSite(t, idp, up, svc.srv.URL))
	token := idp.AccessToken(t, nil)
	version := func(t *testing.T) string {
		t.Helper()
		return readEcho(t, srv.get(t, "/orders", bearer(token))).Header.Get("X-Bundle-Version")
	}
	if got := version(t); got != "v1" {
		t.Fatalf("version %q, want v1", got)
	}

	steps := []struct {
		name     string
		body     []byte
		failWith int
		want     string
	}{
		{name: "service down", failWith: http.StatusServiceUnavailable, want: "v1"},
		{name: "not a bundle", body: []byte("<html>maintenance</html>"), want: "v1"},
		{name: "a bundle that does not compile", body: versionBundle(t, "bad", "decision := no_such_function(1)\n"), want: "v1"},
		// OPA activates it, but the decision would be undefined: it is refused like a broken bundle.
		{name: "a bundle without the decision", body: versionBundle(t, "empty", "other := true\n"), want: "v1"},
		{name: "a good bundle", body: versionBundle(t, "v2", ""), want: "v2"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			svc.set(s.body, s.failWith)
			svc.waitPolls(t, 2)
			deadline := time.Now().Add(10 * time.Second)
			for got := version(t); got != s.want; got = version(t) {
				if time.Now().After(deadline) {
					t.Fatalf("version %q, want %q", got, s.want)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return strings.HasPrefix(fmt.Sprint(e["logger"]), "http.handlers.cognito_authorizer.opa") && e["level"] == "error" &&
			strings.Contains(toJSON(e), "no_such_function")
	})
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return strings.HasPrefix(fmt.Sprint(e["logger"]), "http.handlers.cognito_authorizer.opa") && e["level"] == "warn" &&
			e["bundle"] == "authz" && e["revision"] == "empty" && e["decision"] == "data.cognito.authz.decision"
	})

	t.Run("reload with a policy that does not compile", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.rego")
		if err := os.WriteFile(bad, []byte("package cognito.authz\n\ndecision := {\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := srv.tryReload(t, fmt.Sprintf("{$SITE} {\n\tcognito_authorizer {\n\t\t%s\n\t\tpolicy %s\n\t}\n\treverse_proxy %s\n}\n",
			blocksFor(idp).UserPool, bad, up.Addr))
		if err == nil || !strings.Contains(err.Error(), "bad.rego") {
			t.Fatalf("reload: %v, want a refusal naming the file", err)
		}
		if got := version(t); got != "v2" {
			t.Errorf("after the refused reload: version %q, want the running config's v2", got)
		}
	})
	t.Run("reload with a bundle service that is down", func(t *testing.T) {
		down := newBundleService(t, versionBundle(t, "never", ""))
		down.set(nil, http.StatusServiceUnavailable)
		start := time.Now()
		err := srv.tryReload(t, bundleSite(t, idp, up, down.srv.URL))
		if err == nil || !strings.Contains(err.Error(), "bundle") {
			t.Fatalf("reload: %v, want a refusal naming the bundle", err)
		}
		t.Logf("refused after %v", time.Since(start).Round(time.Second))
		if got := version(t); got != "v2" {
			t.Errorf("after the refused reload: version %q, want the running config's v2", got)
		}
	})
}

// The key ring of an identity pool lives in Caddy's storage. When the storage becomes unusable after
// start (here: its directories replaced by files, which even root cannot write under), the running
// configuration keeps sealing and verifying with the keys it holds; a session token of a key it does
// not hold is refused; a reload, which must load the keys, is refused with the storage error, and the
// running configuration keeps serving. Once storage is back, a
// reload loads the same keys. If storage loses the keys for good, a reload generates new ones: what
// was issued before is refused, never accepted.
func TestKeyRingStorageFaults(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	up := startUpstream(t)
	site := fullSite(idp, up, "", "")
	srv := startCaddy(t, site)
	storageDir := filepath.Join(srv.dir, "storage")
	_, before := poolCredentials(t, srv.BaseURL+"/identity", "")
	get := func(t *testing.T, creds aws.Credentials) exchange {
		t.Helper()
		return send(t, signedRequest(t, creds, http.MethodGet, srv.BaseURL+"/orders/1", ""))
	}
	if e := get(t, before); e.status != 200 {
		t.Fatalf("credentials issued before the fault: %s", e)
	}
	// A session token sealed with a key of the pool that this instance never loaded (another
	// instance's, on other storage).
	other, err := identitypool.NewKeyRing(t.Context(), keyring.NewMemoryStorage(), hardPoolID, keyring.Options{Retention: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	foreign := before
	foreign.SessionToken, err = other.SealSession(t.Context(), &identitypool.Session{AccessKeyID: before.AccessKeyID,
		SecretAccessKey: before.SecretAccessKey, IdentityID: "us-east-1:00000000-0000-4000-8000-000000000000", PoolID: hardPoolID,
		RoleARN: hardGuestRole, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	// The pool's keys and the storage locks: each directory replaced by a file.
	for _, dir := range []string{"caddy-cognito", "locks"} {
		path := filepath.Join(storageDir, dir)
		if err := os.Rename(path, path+".saved"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("storage is gone"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("storage unusable", func(t *testing.T) {
		if e := get(t, before); e.status != 200 {
			t.Errorf("credentials issued before: %s, want 200 (the keys are in memory)", e)
		}
		_, during := poolCredentials(t, srv.BaseURL+"/identity", "")
		if e := get(t, during); e.status != 200 {
			t.Errorf("credentials issued during the fault: %s, want 200", e)
		}
		if e := get(t, foreign); e.status != 403 || e.header.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" {
			t.Errorf("a token of an unknown key: %s %s, want 403 UnrecognizedClientException", e, e.header.Get("X-Amzn-ErrorType"))
		}
		// (The ring asks storage for a key it does not know at most every 30s; within that, it refuses
		// without asking.)
		srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
			return e["msg"] == "request denied" && strings.Contains(toJSON(e), "UnrecognizedClientException") &&
				strings.Contains(toJSON(e), "unknown key")
		})
		err := srv.tryReload(t, site)
		if err == nil || !strings.Contains(err.Error(), "identity pool keys") || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("reload without storage: %v, want a refusal naming the pool's keys and the storage error", err)
		}
		t.Logf("reload refused: %.300s", err)
		if e := get(t, before); e.status != 200 {
			t.Errorf("after the refused reload: %s, want the running config serving", e)
		}
	})

	for _, dir := range []string{"caddy-cognito", "locks"} {
		path := filepath.Join(storageDir, dir)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".saved", path); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("storage back", func(t *testing.T) {
		srv.reload(t, site)
		if e := get(t, before); e.status != 200 {
			t.Errorf("after a reload on restored storage: %s, want 200 (the same keys)", e)
		}
	})

	if err := os.RemoveAll(storageDir); err != nil {
		t.Fatal(err)
	}
	t.Run("keys lost from storage", func(t *testing.T) {
		srv.reload(t, site)
		e := get(t, before)
		if e.status != 403 || up.Count() == 0 {
			t.Fatalf("credentials sealed with lost keys: %s, want 403", e)
		}
		srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
			return e["msg"] == "request denied" && strings.Contains(toJSON(e), "unknown key")
		})
		_, fresh := poolCredentials(t, srv.BaseURL+"/identity", "")
		if e := get(t, fresh); e.status != 200 {
			t.Errorf("credentials issued with the new keys: %s", e)
		}
	})
}

// TestValidateIsQuietAboutUnreachableIssuers runs `caddy validate` on a valid configuration whose issuers
// cannot be reached from where it is checked (a CI job, a build container): validation provisions the
// key sets, whose first fetches fail at once, then cancels them. That is no error, and nothing says so.
func TestValidateIsQuietAboutUnreachableIssuers(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "Caddyfile")
	caddyfile := fmt.Sprintf(`http://127.0.0.1:9 {
	cognito_authorizer {
		user_pool us-east-1_AbC123def {
			client_id abc123
			issuer %[1]s/us-east-1_AbC123def
		}
		oidc %[1]s/realms/demo {
			audience demo-api
		}
	}
	respond "ok"
}
`, unreachable)
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCaddyCommand(t, caddyBinary(t), "", nil, "validate", "--config", file)
	if err != nil {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Valid configuration") {
		t.Errorf("caddy validate did not say the configuration is valid:\n%s", out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, `"level":"error"`) || strings.Contains(line, "signing keys") {
			t.Errorf("caddy validate logged: %s", line)
		}
	}
}
