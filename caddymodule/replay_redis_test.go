package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// fleetCaddy runs, in this process, a Caddy whose cognito app has redis (with extra lines in its
// block) and whose site is site; logs go to a file. It returns the base URL, the storage directory and
// the log file. It loads again on each call (a reload).
type fleetCaddy struct {
	base, dir, log string
	port           int
}

func (c *fleetCaddy) load(t *testing.T, redisURL, redisBlock, site string) {
	t.Helper()
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
	}
	cognito {
		redis %s {
			prefix t:
			%s
		}
	}
}
http://127.0.0.1:%d {
%s
}
`, c.dir, c.log, redisURL, redisBlock, c.port, site)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func newFleetCaddy(t *testing.T) *fleetCaddy {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	t.Cleanup(func() { _ = caddy.Stop() })
	c := &fleetCaddy{port: freePort(t), dir: t.TempDir()}
	c.log = filepath.Join(c.dir, "caddy.log")
	c.base = fmt.Sprintf("http://127.0.0.1:%d", c.port)
	return c
}

// signatureOf is the signature in a signed request's Authorization header.
func signatureOf(r *http.Request) string {
	_, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
	return sig
}

func sendBody(t *testing.T, r *http.Request, body string) response {
	t.Helper()
	c := r.Clone(context.Background())
	c.Body, c.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	return doRequest(t, c)
}

// replaySite is a site whose identity-pool callers, any role, are under replay protection.
func replaySite(t *testing.T) string {
	return `	cognito_authorizer {
		identity_pool ` + testPoolID + ` {
			replay_protection
		}
		allow_any_role
	}
	reverse_proxy ` + newEcho(t).URL
}

// With redis, replay protection is kept in Redis: a signature another instance recorded is refused;
// each accepted signature is kept for what is left of its validity; with Redis down a POST is refused
// with 503 (counted, logged with its reason) and a GET still served; once Redis is back, the POST
// is accepted once.
func TestReplayProtectionInRedis(t *testing.T) {
	srv := testredis.Start(t)
	c := newFleetCaddy(t)
	site := replaySite(t)
	c.load(t, srv.URL(), "", site)
	guest := mintCredentials(t, c.dir, false)
	peek := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { peek.Close() })
	ctx := context.Background()

	body := `{"amount":100}`
	post := sign(t, guest, http.MethodPost, c.base+"/pay", body)
	if res := sendBody(t, post, body); res.status != 200 {
		t.Fatalf("first POST: %d %s", res.status, res.body)
	}
	ttl, err := peek.PTTL(ctx, "t:replay:"+signatureOf(post)).Result()
	if err != nil || ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Fatalf("the signature in redis: TTL %v, %v; want about the 5m clock skew", ttl, err)
	}

	// Another instance accepted this one first.
	refusals := testutil.ToFloat64(replayRefusals)
	other := sign(t, guest, http.MethodPost, c.base+"/pay", `{"amount":7}`)
	replica, err := fleet.NewRedis(fleet.RedisOptions{URL: srv.URL(), Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	if fresh, err := replica.Seen(ctx, signatureOf(other), time.Minute); err != nil || !fresh {
		t.Fatalf("recording as another replica: %v %v", fresh, err)
	}
	res := sendBody(t, other, `{"amount":7}`)
	if res.status != 403 || res.header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Fatalf("a POST another instance accepted: %d %s", res.status, res.body)
	}
	if got := testutil.ToFloat64(replayRefusals); got != refusals+1 {
		t.Errorf("replay refusals %v, want %v", got, refusals+1)
	}

	srv.Stop()
	errorsBefore := testutil.ToFloat64(replayStoreErrors.WithLabelValues(replayRefuse))
	during := sign(t, guest, http.MethodPost, c.base+"/pay", `{"amount":3}`)
	res = sendBody(t, during, `{"amount":3}`)
	if res.status != http.StatusServiceUnavailable || res.header.Get("X-Amzn-ErrorType") != "ServiceUnavailableException" ||
		!strings.Contains(refusal(t, res), "cannot be checked for replay") {
		t.Fatalf("a POST with redis down: %d %s %v", res.status, res.body, res.header)
	}
	if got := testutil.ToFloat64(replayStoreErrors.WithLabelValues(replayRefuse)); got != errorsBefore+1 {
		t.Errorf("replay store errors %v, want %v", got, errorsBefore+1)
	}
	if res := doRequest(t, sign(t, guest, http.MethodGet, c.base+"/orders", "")); res.status != 200 {
		t.Errorf("a GET with redis down: %d %s", res.status, res.body)
	}
	if line := waitLog(t, c.log, "replay store unavailable"); line == "" {
		t.Error("no denial log line with the reason")
	}

	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for res = sendBody(t, during, `{"amount":3}`); res.status == http.StatusServiceUnavailable && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		res = sendBody(t, during, `{"amount":3}`)
	}
	if res.status != 200 {
		t.Fatalf("the refused POST once redis is back: %d %s", res.status, res.body)
	}
	if res := sendBody(t, during, `{"amount":3}`); res.status != 403 {
		t.Fatalf("its replay: %d %s", res.status, res.body)
	}
}

// With replay_when_unreachable local, a POST is accepted while Redis is down and its replay to this
// instance refused; what was accepted before the outage is refused too.
func TestReplayProtectionLocalFallback(t *testing.T) {
	srv := testredis.Start(t)
	c := newFleetCaddy(t)
	site := replaySite(t)
	c.load(t, srv.URL(), "replay_when_unreachable local", site)
	guest := mintCredentials(t, c.dir, false)
	before := sign(t, guest, http.MethodPost, c.base+"/pay", `{"n":1}`)
	if res := sendBody(t, before, `{"n":1}`); res.status != 200 {
		t.Fatalf("POST: %d %s", res.status, res.body)
	}
	srv.Stop()
	errorsBefore := testutil.ToFloat64(replayStoreErrors.WithLabelValues(replayLocal))
	if res := sendBody(t, before, `{"n":1}`); res.status != 403 {
		t.Fatalf("a replay, redis down, of a POST accepted before: %d %s", res.status, res.body)
	}
	during := sign(t, guest, http.MethodPost, c.base+"/pay", `{"n":2}`)
	if res := sendBody(t, during, `{"n":2}`); res.status != 200 {
		t.Fatalf("a POST with redis down: %d %s", res.status, res.body)
	}
	if res := sendBody(t, during, `{"n":2}`); res.status != 403 {
		t.Fatalf("its replay: %d %s", res.status, res.body)
	}
	if got := testutil.ToFloat64(replayStoreErrors.WithLabelValues(replayLocal)); got != errorsBefore+3 {
		t.Errorf("replay store errors (local) %v, want %v", got, errorsBefore+3)
	}
}

// waitLog waits up to 2s for a line of the log file that contains want, and returns it.
func waitLog(t *testing.T, file, want string) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(file)
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(line, want) {
				var v map[string]any
				if json.Unmarshal([]byte(line), &v) == nil {
					return line
				}
			}
		}
	}
	return ""
}
