package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// What a forwarded header costs through a real Caddy: this process runs Caddy (a Caddyfile adapted and
// loaded as `caddy run` would), a loopback upstream and the client, so a request's ns/op is the whole
// round trip's CPU (client, gateway, upstream), as on a machine where all three share the cores.
//
// Caddy's logging is what a user gets without a `log` option (level INFO), written as JSON to a file;
// "unlogged" excludes reverse_proxy's logger from it. That matters: reverse_proxy v2.11.9
// (reverseproxy.go:1126) builds a child logger with `h.logger.With(zap.Object("request",
// caddyhttp.LoggableHTTPRequest{...}))` after every upstream round trip, for a DEBUG entry that is
// never written at INFO, and zap's With encodes its fields at once (zapcore.ioCore.With): every
// upstream request header, X-Cognito-Context included, is encoded to JSON on every request for nothing.
// Only a logger with no core at all (excluded from every log, or a log with `output discard`) skips it;
// raising a log's level does not.

// proxyLogging is the default log of a proxy benchmark's Caddy.
type proxyLogging int

const (
	logged   proxyLogging = iota // the default log, level INFO, as JSON to a file
	unlogged                     // the same, with http.handlers.reverse_proxy excluded from it
)

func (l proxyLogging) String() string { return [...]string{"logged", "unlogged"}[l] }

// contextSize is the size of X-Cognito-Context for a typical Cognito access token (upstream's
// TestContextSize pins it): the padding header that stands in for it has the same.
const contextSize = 814

// proxyHarness is one Caddy running site (a Caddyfile site body, {upstream} the loopback upstream's
// address) in this process, and the request a benchmark sends it.
type proxyHarness struct {
	client *http.Client
	url    string
	token  string
	// seen is what the upstream received last (its X-Cognito-* and X-Pad headers, bytes of header lines).
	seen *atomic.Int64
}

func newProxyHarness(tb testing.TB, site string, logging proxyLogging, idp *testidp.IdP, logFormat string) *proxyHarness {
	tb.Helper()
	return newProxyHarnesses(tb, []string{site}, logging, idp, logFormat)[0]
}

// newProxyHarnesses runs one Caddy serving each of sites on its own port, all to one upstream.
func newProxyHarnesses(tb testing.TB, sites []string, logging proxyLogging, idp *testidp.IdP, logFormat string) []*proxyHarness {
	tb.Helper()
	seen := new(atomic.Int64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for name, vs := range r.Header {
			if strings.HasPrefix(name, "X-Cognito-") || name == "X-Pad" {
				n += len(name) + len(": ") + len(vs[0]) + len("\r\n")
			}
		}
		seen.Store(int64(n))
		_, _ = io.WriteString(w, "ok")
	}))
	tb.Cleanup(up.Close)

	caddyMu.Lock()
	tb.Cleanup(caddyMu.Unlock)
	dir := tb.TempDir()
	caddyfile := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tstorage file_system %s\n}\n", dir)
	ports := make([]int, len(sites))
	for i, site := range sites {
		ports[i] = freePortTB(tb)
		site = strings.ReplaceAll(site, "{upstream}", strings.TrimPrefix(up.URL, "http://"))
		if idp != nil {
			site = strings.NewReplacer("{issuer}", idp.Issuer, "{jwks}", idp.JWKSURL).Replace(site)
		}
		caddyfile += fmt.Sprintf("http://127.0.0.1:%d {\n%s\n}\n", ports[i], site)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		tb.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	// The default log as Caddy sets it up without a `log` option, but to a file (stderr is the
	// benchmark's output) and in a fixed format (Caddy picks console or JSON by whether stderr is a
	// terminal).
	defaultLog := map[string]any{
		"writer":  map[string]any{"output": "file", "filename": filepath.Join(dir, "caddy.log")},
		"encoder": map[string]any{"format": logFormat},
		"level":   "INFO",
	}
	if logging == unlogged {
		defaultLog["exclude"] = []string{"http.handlers.reverse_proxy"}
	}
	var doc map[string]any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		tb.Fatal(err)
	}
	doc["logging"] = map[string]any{"logs": map[string]any{"default": defaultLog}}
	if cfg, err = json.Marshal(doc); err != nil {
		tb.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		tb.Fatalf("loading config: %v", err)
	}
	tb.Cleanup(func() { _ = caddy.Stop() })

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	tb.Cleanup(client.CloseIdleConnections)
	token := ""
	if idp != nil {
		token = "Bearer " + idp.AccessToken(tb, map[string]any{"email": "alice@example.com", "custom:tenant_id": "t1"})
	}
	hs := make([]*proxyHarness, len(sites))
	for i, port := range ports {
		hs[i] = &proxyHarness{client: client, url: fmt.Sprintf("http://127.0.0.1:%d/orders/", port), token: token, seen: seen}
	}
	return hs
}

// serve sends one request (path i of 64) and fails unless the upstream answered it.
func (h *proxyHarness) serve(tb testing.TB, i int) {
	req, err := http.NewRequest("GET", h.url+fmt.Sprint(i%64), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if h.token != "" {
		req.Header.Set("Authorization", h.token)
	}
	req.Header.Set("Accept", "application/json")
	res, err := h.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "ok" {
		tb.Fatalf("status %d: %s", res.StatusCode, body)
	}
}

func (h *proxyHarness) loop(b *testing.B) {
	h.serve(b, 0) // the first request verifies the token, fills the caches and opens the connections
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		h.serve(b, i)
	}
	b.ReportMetric(float64(h.seen.Load()), "upstream-B/op")
}

// proxySite is a Caddyfile site body: the authorizer with options, then reverse_proxy.
func proxySite(options string) string {
	return `	cognito_authorizer {
		user_pool us-east-1_Test01 {
			client_id client-1
			issuer {issuer}
			jwks_url {jwks}
		}
` + options + `
	}
	reverse_proxy {upstream}`
}

// BenchmarkProxyForwarded is a cached JWT through Caddy (the authorizer, then reverse_proxy to a
// loopback upstream), logged as Caddy logs by default, for what a route may forward: the lean default,
// each part alone, and all of it. Against "plain" (reverse_proxy alone, the same request) it is the
// gateway's whole cost; against "default" it is the part's, end to end in one process.
func BenchmarkProxyForwarded(b *testing.B) {
	idp := testidp.New(b)
	cases := []struct{ name, site string }{
		{"plain", "\treverse_proxy {upstream}"},
		{"default", proxySite("")},
		{"X-Cognito-Username", proxySite("\t\tforward X-Cognito-Username")},
		{"X-Cognito-Scopes", proxySite("\t\tforward X-Cognito-Scopes")},
		{"X-Cognito-Client-Id", proxySite("\t\tforward X-Cognito-Client-Id")},
		{"context_header_on", proxySite("\t\tcontext_header on")},
		{"assertion", proxySite("\t\tassertion")},
		{"forward_all", proxySite("\t\tforward all")},
		{"forward_all_context_header_on", proxySite("\t\tforward all\n\t\tcontext_header on")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			newProxyHarness(b, c.site, logged, idp, "json").loop(b)
		})
	}
	// Every case in one Caddy, each on its own port, in turn, in batches of 16 requests, each case's
	// figure its fastest batch (<case>-us, per request): as BenchmarkProxyRoundtripLog/encode/interleaved,
	// the cases compared under the same load on a shared machine.
	b.Run("interleaved", func(b *testing.B) {
		const batch = 16
		sites := make([]string, len(cases))
		for i, c := range cases {
			sites[i] = c.site
		}
		hs := newProxyHarnesses(b, sites, logged, idp, "json")
		for _, h := range hs {
			h.serve(b, 0)
		}
		fastest := make([]time.Duration, len(hs))
		n := 0
		for b.Loop() {
			for i, h := range hs {
				start := time.Now()
				for range batch {
					n++
					h.serve(b, n)
				}
				if d := time.Since(start); fastest[i] == 0 || d < fastest[i] {
					fastest[i] = d
				}
			}
		}
		for i, c := range cases {
			b.ReportMetric(float64(fastest[i].Nanoseconds())/1e3/batch, c.name+"-us")
		}
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkProxyRoundtripLog isolates what reverse_proxy's eager log encoding costs: each request
// with Caddy's default log (logged) and with reverse_proxy's logger excluded from it (unlogged). The
// difference between the two is the encoding of the upstream request for the DEBUG entry that is never
// written; plain_pad adds a header of X-Cognito-Context's size with a plain header_up, so the part of
// it that a 0.8 KB header is shows without the authorizer. "encode" is the encoding alone: zap's With
// over reverse_proxy's upstream request, on Caddy's default logger, without and with the context.
func BenchmarkProxyRoundtripLog(b *testing.B) {
	idp := testidp.New(b)
	pad := strings.Repeat("x", contextSize)
	cases := []struct{ name, site string }{
		{"plain", "\treverse_proxy {upstream}"},
		{"plain_pad", "\treverse_proxy {upstream} {\n\t\theader_up X-Pad " + pad + "\n\t}"},
		{"default", proxySite("")},
		{"context_header_on", proxySite("\t\tcontext_header on")},
	}
	for _, c := range cases {
		for _, l := range []proxyLogging{logged, unlogged} {
			b.Run(c.name+"/"+l.String(), func(b *testing.B) {
				newProxyHarness(b, c.site, l, idp, "json").loop(b)
			})
		}
	}
	// The encoding alone, per forwarded part: zap's With over reverse_proxy's upstream request, on the
	// core Caddy's default log gives reverse_proxy's logger, the request's X-Cognito-* headers those
	// the handler sets for the part (the route's request of BenchmarkHandlerForwarded).
	parts := forwardedParts(b)
	b.Run("encode", func(b *testing.B) {
		newProxyHarness(b, "\trespond ok", logged, nil, "json")
		logger := caddy.Log().Named("http.handlers.reverse_proxy")
		for _, p := range parts {
			b.Run(p.name, func(b *testing.B) {
				req := p.request()
				b.ReportAllocs()
				for b.Loop() {
					l := logger.With(zap.String("upstream", "127.0.0.1:9000"), zap.Duration("duration", 1),
						zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req}))
					if c := l.Check(zapcore.DebugLevel, "upstream roundtrip"); c != nil {
						b.Fatal("a DEBUG entry is written at INFO")
					}
				}
				b.ReportMetric(float64(p.bytes), "upstream-B/op")
			})
		}
		// Every part in turn, in batches of 32 encodings, each part's figure its fastest batch (<part>-ns,
		// per encoding): on a shared machine, whose load drifts from one sub-benchmark to the next and
		// spikes within one, the fastest of many interleaved batches is what the encoding costs on an
		// idle core, and the parts are compared under the same conditions.
		b.Run("interleaved", func(b *testing.B) {
			const batch = 32
			reqs := make([]*http.Request, len(parts))
			for i, p := range parts {
				reqs[i] = p.request()
			}
			fastest := make([]time.Duration, len(parts))
			for b.Loop() {
				for i, req := range reqs {
					start := time.Now()
					for range batch {
						l := logger.With(zap.String("upstream", "127.0.0.1:9000"), zap.Duration("duration", 1),
							zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req}))
						if c := l.Check(zapcore.DebugLevel, "upstream roundtrip"); c != nil {
							b.Fatal("a DEBUG entry is written at INFO")
						}
					}
					if d := time.Since(start); fastest[i] == 0 || d < fastest[i] {
						fastest[i] = d
					}
				}
			}
			for i, p := range parts {
				b.ReportMetric(float64(fastest[i].Nanoseconds())/batch, p.name+"-ns")
			}
			b.ReportMetric(0, "ns/op")
		})
	})
}

// forwardedPart is an upstream request as reverse_proxy logs it, with the X-Cognito-* headers the
// handler sets for one forwarded part.
type forwardedPart struct {
	name   string
	header http.Header // the X-Cognito-* headers
	bytes  int         // their header lines' bytes
}

func (p forwardedPart) request() *http.Request {
	req := httptest.NewRequest("GET", "http://127.0.0.1/orders/1", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header = http.Header{
		"Accept": {"application/json"}, "Accept-Encoding": {"gzip"}, "User-Agent": {"Go-http-client/1.1"},
		"Authorization": {"Bearer eyJ"}, "X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Host": {"127.0.0.1:8080"},
		"X-Forwarded-Proto": {"http"},
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	return req
}

// forwardedParts are the X-Cognito-* headers of BenchmarkHandlerForwarded's request for each part a
// route may forward, and a plain header of the context's size.
func forwardedParts(tb testing.TB) []forwardedPart {
	tb.Helper()
	forward := func(names []string, context bool) func(*gate) {
		f, err := upstream.NewForward(names, context)
		if err != nil {
			tb.Fatal(err)
		}
		return func(g *gate) { g.forwarded = f }
	}
	cases := []struct {
		name  string
		setup func(*gate)
	}{
		{"default", func(*gate) {}},
		{"X-Cognito-Username", forward([]string{upstream.HeaderUsername}, false)},
		{"X-Cognito-Scopes", forward([]string{upstream.HeaderScopes}, false)},
		{"X-Cognito-Client-Id", forward([]string{upstream.HeaderClientID}, false)},
		{"context_header_on", forward(nil, true)},
		{"assertion", func(g *gate) {
			g.assertion = testAssertionSigner(tb, "bench: an assertion key secret of 32+ bytes, 7f3a")
		}},
		{"forward_all", forward([]string{upstream.All}, false)},
		{"forward_all_context_header_on", forward([]string{upstream.All}, true)},
	}
	parts := []forwardedPart{
		{name: "none"},
		{name: "pad", header: http.Header{"X-Pad": {strings.Repeat("x", contextSize)}}, bytes: len("X-Pad: \r\n") + contextSize},
	}
	for _, c := range cases {
		_, h, token := cachedJWTServer(tb, nil, c.setup)
		r := httptest.NewRequest("GET", "http://api.example.com/orders/1", nil)
		r.Header.Set("Authorization", token)
		p := forwardedPart{name: c.name, header: http.Header{}}
		next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
			for name, vs := range r.Header {
				if strings.HasPrefix(name, "X-Cognito-") {
					p.header[name] = vs
					p.bytes += len(name) + len(": \r\n") + len(vs[0])
				}
			}
			return nil
		})
		if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil || len(p.header) == 0 {
			tb.Fatalf("%s: not allowed (%v)", c.name, err)
		}
		parts = append(parts, p)
	}
	return parts
}

// freePortTB is freePort for a benchmark too.
func freePortTB(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestProxyEncodesForwardedHeaders pins what BenchmarkProxyRoundtripLog measures, and the README
// says: at Caddy's default level (INFO), reverse_proxy encodes every upstream request header for a
// DEBUG entry it never writes, X-Cognito-Context among them, and excluding its logger from the
// default log is what stops it. The log's encoder counts the X-Cognito-* headers it is handed. When
// Caddy makes that logger lazy (zap's WithLazy), the first half fails: the README's advice to exclude
// reverse_proxy's logger and its figures for it are then obsolete.
func TestProxyEncodesForwardedHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Caddy")
	}
	idp := testidp.New(t)
	site := proxySite("\t\tcontext_header on")
	for _, c := range []struct {
		logging proxyLogging
		want    bool
	}{{logged, true}, {unlogged, false}} {
		t.Run(c.logging.String(), func(t *testing.T) {
			countedHeaders.reset()
			h := newProxyHarness(t, site, c.logging, idp, countingFormat)
			for i := range 3 {
				h.serve(t, i)
			}
			got := countedHeaders.get("X-Cognito-Context")
			t.Logf("X-Cognito-Context encoded %d times, X-Cognito-Sub %d, reverse_proxy entries written %d", got, countedHeaders.get("X-Cognito-Sub"), countedHeaders.get(writtenKey))
			if c.want && got < 3 {
				t.Errorf("X-Cognito-Context encoded %d times for 3 requests: reverse_proxy no longer encodes its upstream request eagerly at INFO?", got)
			}
			if !c.want && got != 0 {
				t.Errorf("X-Cognito-Context encoded %d times with reverse_proxy's logger excluded", got)
			}
			if n := countedHeaders.get("X-Cognito-Sub"); n != got {
				t.Errorf("X-Cognito-Sub encoded %d times, X-Cognito-Context %d: every forwarded header is", n, got)
			}
			// And never written: the entry they were encoded for is DEBUG.
			if n := countedHeaders.get(writtenKey); n != 0 {
				t.Errorf("%d reverse_proxy entries written at INFO", n)
			}
		})
	}
}

// countingFormat is a log encoder for TestProxyEncodesForwardedHeaders: JSON, counting the headers
// encoded (arrays whose key starts with X-Cognito-) and the entries of reverse_proxy written.
const countingFormat = "cognito_test_counting"

const writtenKey = "written reverse_proxy entries"

var countedHeaders = &headerCounts{n: map[string]int{}}

type headerCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *headerCounts) add(key string) { c.mu.Lock(); c.n[key]++; c.mu.Unlock() }
func (c *headerCounts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}
func (c *headerCounts) reset() { c.mu.Lock(); clear(c.n); c.mu.Unlock() }

func init() { caddy.RegisterModule(&countingEncoder{}) }

type countingEncoder struct{ zapcore.Encoder }

func (*countingEncoder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.logging.encoders." + countingFormat, New: func() caddy.Module { return new(countingEncoder) }}
}

func (e *countingEncoder) Provision(caddy.Context) error {
	e.Encoder = zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return nil
}

func (e *countingEncoder) Clone() zapcore.Encoder { return &countingEncoder{e.Encoder.Clone()} }

func (e *countingEncoder) AddObject(key string, m zapcore.ObjectMarshaler) error {
	return e.Encoder.AddObject(key, countingMarshaler{m})
}

func (e *countingEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	if ent.LoggerName == "http.handlers.reverse_proxy" {
		countedHeaders.add(writtenKey)
	}
	return e.Encoder.EncodeEntry(ent, fields)
}

type countingMarshaler struct{ zapcore.ObjectMarshaler }

func (m countingMarshaler) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	return m.ObjectMarshaler.MarshalLogObject(countingObjectEncoder{enc})
}

type countingObjectEncoder struct{ zapcore.ObjectEncoder }

func (e countingObjectEncoder) AddObject(key string, m zapcore.ObjectMarshaler) error {
	return e.ObjectEncoder.AddObject(key, countingMarshaler{m})
}

func (e countingObjectEncoder) AddArray(key string, a zapcore.ArrayMarshaler) error {
	if strings.HasPrefix(key, "X-Cognito-") {
		countedHeaders.add(key)
	}
	return e.ObjectEncoder.AddArray(key, a)
}

var (
	_ caddy.Provisioner = (*countingEncoder)(nil)
	_ zapcore.Encoder   = (*countingEncoder)(nil)
)

// TestExcludeProxyLoggerAdapts: the README's global option for skipping reverse_proxy's encoding
// adapts to what TestProxyEncodesForwardedHeaders's unlogged case loads, the default log's exclude.
func TestExcludeProxyLoggerAdapts(t *testing.T) {
	t.Parallel()
	caddyfile := "{\n\tlog {\n\t\texclude http.handlers.reverse_proxy\n\t}\n}\nhttp://127.0.0.1:8080 {\n\treverse_proxy 127.0.0.1:9000\n}\n"
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Logging struct {
			Logs map[string]struct {
				Exclude []string `json:"exclude"`
			} `json:"logs"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Logging.Logs["default"].Exclude; len(got) != 1 || got[0] != "http.handlers.reverse_proxy" {
		t.Errorf("the default log's exclude = %q, want [http.handlers.reverse_proxy]:\n%s", got, cfg)
	}
}
