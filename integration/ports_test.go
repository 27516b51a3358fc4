package integration

// Fixed ports. The README's run command serves Caddyfile.example on :8080 (and its demo upstream on
// :9080), and a reader runs the tests with it still running. Caddy binds with SO_REUSEPORT, so a second
// Caddy on :8080 would not fail: it would share the port, and the kernel would send half the requests
// to the reader's instance, whose keys are not the test's. So no test binds a port a reader's instance
// may hold: the files that name one are run with the port rewritten to a free one, and the tests that
// run them hold the fixed ports meanwhile (when free) with a stand-in that fails them if reached.

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmePorts are the ports the README's run command holds: the gateway's and its demo upstream's.
var readmePorts = []int{8080, 9080}

// portInUseHint is what a test says when a port it cannot rewrite is taken.
const portInUseHint = "stop the caddy you started from the README"

// occupied holds fixed ports for the tests that call occupyPorts, shared by those running at once.
var occupied struct {
	mu    sync.Mutex
	ports map[int]*standIn
}

// standIn listens on a fixed port that a test must not use, and counts the requests that reach it.
type standIn struct {
	users  int // tests holding it
	srv    *http.Server
	mu     sync.Mutex
	hits   []string
	byTest bool // false: the port was already taken by something else (a reader's Caddy)
}

// occupyPorts makes sure each port is in use while t runs: by what already holds it (a reader's Caddy:
// the case this guards against), or by a stand-in of the test's, which answers 503 and makes t fail if
// anything reaches it. The stand-in does not set SO_REUSEPORT, so a Caddy that binds the port fails.
func occupyPorts(t *testing.T, ports ...int) {
	t.Helper()
	for _, port := range ports {
		s := holdPort(t, port)
		t.Cleanup(func() {
			if hits := s.release(); len(hits) > 0 {
				t.Errorf("%d requests reached the stand-in on the fixed port :%d (a test used it instead of a free one): %q", len(hits), port, hits)
			}
		})
	}
}

func holdPort(t *testing.T, port int) *standIn {
	t.Helper()
	occupied.mu.Lock()
	defer occupied.mu.Unlock()
	if occupied.ports == nil {
		occupied.ports = map[int]*standIn{}
	}
	s := occupied.ports[port]
	if s == nil {
		s = &standIn{}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		switch {
		case err == nil:
			s.byTest = true
			s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
			go s.srv.Serve(l)
		case errors.Is(err, syscall.EADDRINUSE):
			t.Logf(":%d is in use by something else: the test runs beside it", port)
		default:
			t.Fatalf("listening on :%d to show that no test uses it: %v", port, err)
		}
		occupied.ports[port] = s
	}
	s.users++
	return s
}

func (s *standIn) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits = append(s.hits, r.Method+" "+r.Host+r.RequestURI)
	s.mu.Unlock()
	http.Error(w, "the integration tests' stand-in on a fixed port: a test must not reach it", http.StatusServiceUnavailable)
}

// release ends one test's hold, closing the stand-in after the last, and returns what reached it.
func (s *standIn) release() []string {
	occupied.mu.Lock()
	defer occupied.mu.Unlock()
	s.users--
	if s.users == 0 {
		if s.srv != nil {
			s.srv.Close()
		}
		for port, held := range occupied.ports {
			if held == s {
				delete(occupied.ports, port)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.hits...)
}

// requirePortFree fails t at once, saying why, if something accepts connections on port: for a test
// that must use a fixed port.
func requirePortFree(t *testing.T, port int) {
	t.Helper()
	if dialable("127.0.0.1:"+strconv.Itoa(port)) == nil {
		t.Fatalf("port %d is in use: %s", port, portInUseHint)
	}
}

// fixedPort matches a port in a Caddyfile or a script (":8080", "localhost:8080/identity").
var fixedPort = regexp.MustCompile(`:(\d{2,5})\b`)

// replacePorts rewrites every occurrence of the ports of replace (":8080" -> ":<replace[8080]>") in
// text, and fails t, as requirePortFree, if a port of readmePorts is still named after it.
func replacePorts(t *testing.T, text string, replace map[int]string) string {
	t.Helper()
	out := fixedPort.ReplaceAllStringFunc(text, func(m string) string {
		port, _ := strconv.Atoi(m[1:])
		if to, ok := replace[port]; ok {
			return ":" + to
		}
		return m
	})
	for _, m := range fixedPort.FindAllStringSubmatch(out, -1) {
		port, _ := strconv.Atoi(m[1])
		for _, p := range readmePorts {
			if port == p {
				requirePortFree(t, p)
			}
		}
	}
	return out
}

func TestReplacePorts(t *testing.T) {
	in := "# http://localhost:8080/identity\n{\n\tauto_https off\n}\n:8080 {\n\treverse_proxy 127.0.0.1:9080\n}\n:9080 {\n\tbind 127.0.0.1\n}\n" +
		"arn:aws:iam::123456789012:role/r us-east-1:7b0c5d9e\n"
	want := "# http://localhost:{$PORT}/identity\n{\n\tauto_https off\n}\n:{$PORT} {\n\treverse_proxy 127.0.0.1:{$UP}\n}\n:{$UP} {\n\tbind 127.0.0.1\n}\n" +
		"arn:aws:iam::123456789012:role/r us-east-1:7b0c5d9e\n"
	if got := replacePorts(t, in, map[int]string{8080: "{$PORT}", 9080: "{$UP}"}); got != want {
		t.Errorf("replacePorts =\n%s\nwant\n%s", got, want)
	}
}

// TestStandInHoldsAFixedPort shows that the stand-in does what the README and example tests rely on:
// while it holds :8080, a Caddy cannot share the port (SO_REUSEPORT or not), and what reaches it is
// counted. Not parallel: no other test holds the port meanwhile.
func TestStandInHoldsAFixedPort(t *testing.T) {
	requireEndToEnd(t)
	s := holdPort(t, 8080)
	var hits []string
	released := false
	release := func() {
		if !released {
			hits, released = s.release(), true
		}
	}
	defer release()
	if !s.byTest {
		t.Skip(":8080 is held by something else (a Caddy started from the README?): the other tests run beside it")
	}

	if out := runCaddyOn8080(t); !lostPortRace(out) {
		t.Errorf("a Caddy on :8080 started beside the stand-in; want it refused with address already in use:\n%s", tail(out, 4<<10))
	}
	resp, err := http.Get("http://127.0.0.1:8080/probe")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	release()
	if len(hits) != 1 || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the stand-in answered %d and recorded %q; want 503 and the one probe", resp.StatusCode, hits)
	}
}

// runCaddyOn8080 runs a Caddy that serves :8080 with the harness's options, and returns what it printed
// once it has exited or started (then it is stopped).
func runCaddyOn8080(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	c := &caddyServer{dir: dir, config: filepath.Join(dir, "Caddyfile"), bin: caddyBinary(t)}
	c.writeConfig(t, ":8080 {\n\trespond ok\n}\n", freePort(t))
	env := childEnv([]string{"CADDY", "XDG_"}, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	p := startProcess(t, "caddy on :8080", dir, env, c.bin, "run", "--config", c.config, "--adapter", "caddyfile")
	err := p.waitFor("its start", 30*time.Second, func() error {
		if out := p.out.String(); !lostPortRace(out) && !strings.Contains(out, "serving initial configuration") {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Logf("caddy on :8080: %v", err)
	}
	p.stop()
	return p.out.String()
}
