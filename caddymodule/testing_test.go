package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// caddyMu serializes the tests of this package that run Caddy: it is one process-wide instance.
var caddyMu sync.Mutex

// echo is an upstream that answers with what it received.
type echoed struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Header map[string][]string `json:"header"`
}

func newEcho(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runCaddy adapts a Caddyfile site body and runs it in this process on a free loopback port, with
// the access log written to a file. It returns the site's base URL and the log path. Caddy stops at
// the end of the test.
func runCaddy(t *testing.T, site string) (base, accessLog string) {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	port := freePort(t)
	dir := t.TempDir()
	accessLog = filepath.Join(dir, "access.log")
	caddyfile := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output discard
	}
}
http://127.0.0.1:%d {
	log {
		output file %s
		format json
	}
%s
}
`, dir, port, accessLog, site)
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		t.Logf("Caddyfile warning: %s", w)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return fmt.Sprintf("http://127.0.0.1:%d", port), accessLog
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// refusal is the message of an error body, {"message": ..., "requestId": ...}, after checking that the
// body names the same request id as the X-Amzn-RequestId header; "" (and a test error) otherwise.
func refusal(t *testing.T, res response) string {
	t.Helper()
	var body struct {
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Errorf("error body %q: %v", res.body, err)
		return ""
	}
	if body.RequestID == "" || body.RequestID != res.header.Get("X-Amzn-RequestId") {
		t.Errorf("error body's requestId %q, X-Amzn-RequestId %q: want the same, not empty", body.RequestID, res.header.Get("X-Amzn-RequestId"))
	}
	return body.Message
}

func do(t *testing.T, method, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return doRequest(t, req)
}

func doRequest(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := tryRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func tryRequest(req *http.Request) (response, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: body}, nil
}

// doAfterReload sends a request built by build right after caddy.Load replaced a running
// configuration, sending it again while the connection fails before any response. Load returns
// once the old servers have started shutting down, not once their sockets are closed (Caddy's
// http app says so where it stops them), and each configuration listens on its own
// SO_REUSEPORT socket: a connection the kernel queued on the old socket just before it closed is
// reset without a response. Such a request reached no handler, so a client sends it again; a
// response of any status ends the retries, and after 5s of failures the test fails.
func doAfterReload(t *testing.T, build func() *http.Request) response {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := tryRequest(build())
		if err == nil {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a reload: %v", err)
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		time.Sleep(20 * time.Millisecond)
	}
}

func (r response) echoed(t *testing.T) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("upstream answer %q: %v", r.body, err)
	}
	return e
}

// readLog returns the JSON lines of a log file, waiting briefly for the writer to flush.
func readLog(t *testing.T, path string, want int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		var lines []map[string]any
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			lines = append(lines, m)
		}
		if len(lines) >= want || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runCaddyJSON runs one route made of handler (JSON), a response header showing the
// {http.auth.user.*} placeholders, and a reverse proxy to upstream.
func runCaddyJSON(t *testing.T, handler string, upstream string) (base, dir string) {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	port := freePort(t)
	dir = t.TempDir()
	cfg := fmt.Sprintf(`{
	"admin": {"disabled": true},
	"logging": {"logs": {"default": {"writer": {"output": "discard"}}}},
	"storage": {"module": "file_system", "root": %q},
	"apps": {"http": {"servers": {"test": {
		"listen": ["127.0.0.1:%d"],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [
			%s,
			{"handler": "headers", "response": {"set": {"X-User": ["{http.auth.user.id}|{http.auth.user.groups}"]}}},
			{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
		]}]
	}}}}
}`, dir, port, handler, strings.TrimPrefix(upstream, "http://"))
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return fmt.Sprintf("http://127.0.0.1:%d", port), dir
}
