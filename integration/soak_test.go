package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// The soak test's shape. Its figures are printed (t.Logf) for the README.
const (
	// soakDuration is how long the steady load runs, reloads included.
	soakDuration = 60 * time.Second
	// soakRate is the steady request rate, spread over soakWorkers clients with keep-alive connections.
	soakRate    = 300
	soakWorkers = 8
	// soakReloads is how many `caddy reload`s (with a good configuration) happen during the load.
	soakReloads = 20
	// soakBody is the body of the signed POSTs.
	soakBody = 1 << 10
)

// soakKind is one kind of credential the load uses.
type soakKind struct {
	name string
	req  func() (*http.Request, error)
}

// TestSoak runs a steady load of every kind of credential (access token, ID token, SigV4 as a guest,
// SigV4 as a user, with GETs and 1 KiB POSTs) against the binary for soakDuration, reloading it
// soakReloads times with a good configuration meanwhile. Every answer must be the upstream's 200;
// the binary's goroutines and memory must be where they were before.
func TestSoak(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	idp := testidp.New(t)
	up := startUpstream(t)
	// Two configurations that differ, so that each reload provisions everything again. Idle upstream
	// connections close after 3s (Caddy's default: 2m), so that the old configurations' connections,
	// which Caddy closes when they go idle, are gone when the goroutines are counted.
	configs := [2]string{}
	for i, health := range []string{"200", "204"} {
		configs[i] = strings.Replace(fullSite(idp, up, "respond /health "+health, ""), "reverse_proxy "+up.Addr,
			"reverse_proxy "+up.Addr+" {\n\t\ttransport http {\n\t\t\tkeepalive 3s\n\t\t}\n\t}", 1)
	}
	srv := startCaddy(t, configs[0])
	base := srv.BaseURL
	access, idToken := idp.AccessToken(t, nil), idp.IDToken(t, nil)
	_, guest := poolCredentials(t, base+"/identity", "")
	_, user := poolCredentials(t, base+"/identity", idToken)
	body := strings.Repeat("x", soakBody)
	bearerGet := func(token string) func() (*http.Request, error) {
		return func() (*http.Request, error) {
			r, err := http.NewRequest(http.MethodGet, base+"/orders/42", nil)
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			return r, err
		}
	}
	signed := func(creds aws.Credentials, method string) func() (*http.Request, error) {
		return func() (*http.Request, error) {
			b := ""
			if method == http.MethodPost {
				b = body
			}
			return signedRequestErr(creds, method, base+"/orders", b)
		}
	}
	kinds := []soakKind{
		{"access token GET", bearerGet(access)},
		{"ID token GET", bearerGet(idToken)},
		{"SigV4 guest GET", signed(guest, http.MethodGet)},
		{"SigV4 guest POST 1 KiB", signed(guest, http.MethodPost)},
		{"SigV4 user GET", signed(user, http.MethodGet)},
		{"SigV4 user POST 1 KiB", signed(user, http.MethodPost)},
	}

	load := newSoakLoad(kinds)
	// Warm up, then measure the binary at rest.
	load.run(5*time.Second, nil)
	if bad := load.unexpected(); bad != "" {
		t.Fatalf("during the warm-up: %s", bad)
	}
	before := srv.resources(t, load)

	load.reset()
	var reloads []time.Duration
	reloaded := func(i int) {
		start := time.Now()
		srv.reload(t, configs[(i+1)%2])
		reloads = append(reloads, time.Since(start))
	}
	load.run(soakDuration, func(elapsed time.Duration, next *int) {
		// Reloads spread over the run, the last well before its end.
		if *next < soakReloads && elapsed >= time.Duration(*next+1)*soakDuration/(soakReloads+2) {
			reloaded(*next)
			*next++
		}
	})
	after := srv.resources(t, load)

	total, byKind, statuses := load.summary()
	t.Logf("soak: %v at %d req/s target, %d workers, %d reloads: %d requests (%.0f req/s), statuses %v, "+
		"%d POSTs sent again after a reload closed their connection",
		soakDuration, soakRate, soakWorkers, len(reloads), total, float64(total)/soakDuration.Seconds(), statuses, load.retried)
	for _, k := range kinds {
		s := byKind[k.name]
		t.Logf("  %-24s %6d requests, latency p50 %v p99 %v max %v", k.name, s.n, s.p(50), s.p(99), s.max)
	}
	slices.Sort(reloads)
	if len(reloads) > 0 {
		t.Logf("  reloads: median %v, max %v", reloads[len(reloads)/2].Round(time.Millisecond), reloads[len(reloads)-1].Round(time.Millisecond))
	}
	t.Logf("  goroutines %d -> %d; RSS %.1f -> %.1f MiB; heap in use %.1f -> %.1f MiB",
		before.goroutines, after.goroutines, mib(before.rss), mib(after.rss), mib(before.heap), mib(after.heap))

	if bad := load.unexpected(); bad != "" {
		t.Errorf("unexpected answers: %s", bad)
	}
	if load.retried > 2*soakReloads {
		t.Errorf("%d requests had their connection closed under them, more than two per reload", load.retried)
	}
	if len(reloads) != soakReloads {
		t.Errorf("%d reloads, want %d", len(reloads), soakReloads)
	}
	if total < int64(soakDuration.Seconds()*soakRate*0.8) {
		t.Errorf("%d requests: the load fell below 80%% of its target rate", total)
	}
	// A leak of even one goroutine per reload or per request shows as 20 or thousands.
	if after.goroutines > before.goroutines+10 {
		t.Errorf("goroutines grew from %d to %d across %d reloads:\n%.6000s", before.goroutines, after.goroutines, len(reloads), after.profile)
	}
	if after.heap > 2*before.heap+32<<20 || after.rss > 2*before.rss+64<<20 {
		t.Errorf("memory grew: heap %.1f -> %.1f MiB, RSS %.1f -> %.1f MiB", mib(before.heap), mib(after.heap), mib(before.rss), mib(after.rss))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// signedRequestErr is signedRequest for goroutines that cannot fail a test.
func signedRequestErr(creds aws.Credentials, method, url, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	return req, signWith(creds, req, body)
}

// soakLoad sends requests of every kind, round-robin, at soakRate.
type soakLoad struct {
	kinds   []soakKind
	clients []*http.Client

	mu      sync.Mutex
	stats   map[string]*latencies
	status  map[int]int64
	errors  map[string]int64
	samples []string // a few unexpected answers, for the failure message
	retried int64    // requests sent again after their connection was closed under them
}

type latencies struct {
	n   int64
	all []time.Duration
	max time.Duration
}

func (l *latencies) p(q int) time.Duration {
	if len(l.all) == 0 {
		return 0
	}
	slices.Sort(l.all)
	return l.all[(len(l.all)-1)*q/100].Round(10 * time.Microsecond)
}

func newSoakLoad(kinds []soakKind) *soakLoad {
	l := &soakLoad{kinds: kinds}
	for range soakWorkers {
		l.clients = append(l.clients, &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 2}})
	}
	l.reset()
	return l
}

func (l *soakLoad) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats, l.status, l.errors, l.samples, l.retried = map[string]*latencies{}, map[int]int64{}, map[string]int64{}, nil, 0
}

// run sends the load for d; tick, when set, is called every 100ms from the pacing goroutine with the
// time elapsed (a reload blocks it: the workers keep sending what is queued).
func (l *soakLoad) run(d time.Duration, tick func(elapsed time.Duration, next *int)) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	work := make(chan int, soakRate) // a second of backlog at most
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				l.one(l.clients[w], l.kinds[i%len(l.kinds)])
			}
		}()
	}
	if tick != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start, next := time.Now(), 0
			for ctx.Err() == nil {
				tick(time.Since(start), &next)
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	pace := time.NewTicker(time.Second / soakRate)
	defer pace.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return
		case <-pace.C:
			select {
			case work <- i:
			default: // the workers are behind: the rate drops, which the test checks
			}
		}
	}
}

func (l *soakLoad) one(c *http.Client, k soakKind) {
	req, err := k.req()
	if err != nil {
		l.record(k.name, 0, 0, "building: "+err.Error())
		return
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil && req.GetBody != nil {
		// A keep-alive connection the binary closed (a reload ends the old server's idle connections)
		// while this request was on its way: nothing was answered, so it is sent again, once, as AWS
		// SDKs and browsers do; Go's client does it by itself for GETs. Counted apart. The retry goes
		// on a connection of its own: another idle one of the pool may have been closed by the same
		// reload.
		l.mu.Lock()
		l.retried++
		l.mu.Unlock()
		if req, err = k.req(); err == nil {
			fresh := &http.Client{Timeout: c.Timeout, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err = fresh.Do(req)
		}
	}
	took := time.Since(start)
	if err != nil {
		l.record(k.name, 0, took, err.Error())
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	detail := ""
	if resp.StatusCode != http.StatusOK {
		detail = fmt.Sprintf("%d %.200s", resp.StatusCode, b)
	}
	l.record(k.name, resp.StatusCode, took, detail)
}

func (l *soakLoad) record(kind string, status int, took time.Duration, problem string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats[kind]
	if s == nil {
		s = &latencies{}
		l.stats[kind] = s
	}
	s.n++
	s.all = append(s.all, took)
	s.max = max(s.max, took)
	if status != 0 {
		l.status[status]++
	}
	if problem != "" {
		if status == 0 {
			l.errors[problem]++
		}
		if len(l.samples) < 5 {
			l.samples = append(l.samples, kind+": "+problem)
		}
	}
}

// unexpected describes every answer that was not a 200, or "".
func (l *soakLoad) unexpected() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	for status, n := range l.status {
		if status != http.StatusOK {
			bad = append(bad, fmt.Sprintf("%d x status %d", n, status))
		}
	}
	for e, n := range l.errors {
		bad = append(bad, fmt.Sprintf("%d x %s", n, e))
	}
	if len(bad) == 0 {
		return ""
	}
	return strings.Join(bad, "; ") + "; e.g. " + strings.Join(l.samples, " | ")
}

func (l *soakLoad) summary() (int64, map[string]*latencies, map[int]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var total int64
	for _, s := range l.stats {
		total += s.n
	}
	return total, l.stats, l.status
}

// closeIdle drops the load's idle connections, so the binary's count of goroutines has no
// connection goroutines in it.
func (l *soakLoad) closeIdle() {
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
}

// resources are the binary's goroutines and memory at rest.
type resources struct {
	goroutines int
	rss, heap  int64
	profile    string // the goroutine profile, shown when goroutines grew
}

var (
	goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)
	heapInUse      = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes ([0-9.e+]+)$`)
)

// resources measures the binary once the load has stopped, its connections are closed, and the last
// reload is over: its grace period (2s) and the goroutine that refreshes a storage lock file, which
// Caddy's file storage ends within 5s of the unlock.
func (s *caddyServer) resources(t *testing.T, l *soakLoad) resources {
	t.Helper()
	l.closeIdle()
	time.Sleep(7 * time.Second)
	var r resources
	g := send(t, newRequest(t, http.MethodGet, s.AdminURL+"/debug/pprof/goroutine?debug=1", nil, nil))
	m := goroutineTotal.FindSubmatch(g.body)
	if m == nil {
		t.Fatalf("no goroutine count at /debug/pprof/goroutine: %.200s", g.body)
	}
	r.goroutines, _ = strconv.Atoi(string(m[1]))
	r.profile = string(g.body)
	metrics := send(t, newRequest(t, http.MethodGet, s.AdminURL+"/metrics", nil, nil))
	if m := heapInUse.FindSubmatch(metrics.body); m != nil {
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		r.heap = int64(f)
	} else {
		t.Fatalf("no go_memstats_heap_inuse_bytes in /metrics")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.proc.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading the binary's RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			r.rss = kb << 10
		}
	}
	return r
}
