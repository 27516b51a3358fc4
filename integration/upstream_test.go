package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoedRequest is what the upstream received, as it answers it (JSON) and records it.
type echoedRequest struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	// RequestURI is the request target exactly as it arrived on the wire.
	RequestURI string `json:"request_uri"`
	// Path is the decoded path; RawPath the escaped one (URL.EscapedPath).
	Path     string      `json:"path"`
	RawPath  string      `json:"raw_path"`
	RawQuery string      `json:"raw_query"`
	Query    url.Values  `json:"query"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
}

const (
	// maxUpstreamBody is the largest body the upstream accepts (413 beyond).
	maxUpstreamBody = 1 << 20
	// maxRecorded is how many received requests the upstream keeps, the latest ones.
	maxRecorded = 1000
)

// upstream is an in-process HTTP server on loopback that answers every request with its echo, so a test
// asserts what reached the upstream, and whether anything did.
type upstream struct {
	// URL is http://127.0.0.1:<port>; Addr is 127.0.0.1:<port>, for reverse_proxy.
	URL, Addr string

	mu       sync.Mutex
	count    int
	received []echoedRequest
}

// startUpstream starts the echo upstream and closes it at the end of the test.
func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(u.serveHTTP))
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Config.ReadTimeout = 30 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	u.Addr = strings.TrimPrefix(srv.URL, "http://")
	return u
}

func (u *upstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpstreamBody))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	e := echoedRequest{
		Method:     r.Method,
		Host:       r.Host,
		RequestURI: r.RequestURI,
		Path:       r.URL.Path,
		RawPath:    r.URL.EscapedPath(),
		RawQuery:   r.URL.RawQuery,
		Query:      r.URL.Query(),
		Header:     r.Header,
		Body:       string(body),
	}
	u.mu.Lock()
	u.count++
	if len(u.received) == maxRecorded {
		u.received = append(u.received[:0], u.received[1:]...)
	}
	u.received = append(u.received, e)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(e)
}

// Count returns how many requests reached the upstream: a denied request must leave it unchanged.
func (u *upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count
}

// Received returns the latest requests the upstream saw, oldest first.
func (u *upstream) Received() []echoedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]echoedRequest(nil), u.received...)
}

// readEcho reads a response that the upstream answered: status 200 and its echo, or the test fails
// with what came back instead.
func readEcho(t *testing.T, resp *http.Response) echoedRequest {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 2*maxUpstreamBody))
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 from the upstream; headers %v; body %q", resp.StatusCode, resp.Header, body)
	}
	var e echoedRequest
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("the response is not the upstream's echo: %v; body %q", err, body)
	}
	return e
}
