package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/net/websocket"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
	"github.com/caddy-cognito/caddy-cognito/internal/wstest"
)

// closed is how a WebSocket ended, as its client saw it.
type closed = wstest.End

// dialAndRead opens a WebSocket to url with token and reads frames until the connection ends (at most
// 15 s).
func dialAndRead(t *testing.T, rawURL, token string) closed {
	t.Helper()
	ws, err := wstest.Dial(rawURL, token)
	if err != nil {
		t.Fatalf("dialing %s: %v", rawURL, err)
	}
	defer ws.Close()
	return wstest.ReadUntilEnd(ws, 15*time.Second)
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

// A WebSocket through the gateway is closed when the token that opened it expires (stream_grace 0),
// with a close frame 1008, and the upstream's side is closed too.
func TestStreamWebSocketClosedAtExpiry(t *testing.T) {
	idp := testidp.New(t)
	up, ended := wstest.Ticker(t)
	base, accessLog := runCaddy(t, site(idp, up.URL, "stream_grace 0"))
	before := closedCount(t, "expired")

	exp := time.Now().Add(2 * time.Second).Unix()
	c := dialAndRead(t, wsURL(base), idp.AccessToken(t, map[string]any{"exp": exp}))
	expiry := time.Unix(exp, 0)
	if c.Code != 1008 || c.Reason != "credential expired" {
		t.Errorf("close frame %d %q (read error %v), want 1008 \"credential expired\"", c.Code, c.Reason, c.Err)
	}
	if c.At.Before(expiry) || c.At.After(expiry.Add(time.Second)) {
		t.Errorf("closed at %v, want within a second after the expiry %v", c.At, expiry)
	}
	if c.Messages < 5 {
		t.Errorf("%d messages before the close, want the stream to have flowed", c.Messages)
	}
	if got := closedCount(t, "expired") - before; got != 1 {
		t.Errorf("streams_closed_total{reason=expired} went up by %v, want 1", got)
	}
	waitFor(t, "the upstream's connection to end", func() bool { return ended.Load() == 1 })
	// The handler has returned (Caddy's Stop does not wait for hijacked connections).
	readLog(t, accessLog, 1)
}

// stream_grace keeps the stream open that long after the expiry.
func TestStreamWebSocketGrace(t *testing.T) {
	idp := testidp.New(t)
	up, _ := wstest.Ticker(t)
	base, accessLog := runCaddy(t, site(idp, up.URL, "stream_grace 1500ms"))
	exp := time.Now().Add(time.Second).Unix()
	c := dialAndRead(t, wsURL(base), idp.AccessToken(t, map[string]any{"exp": exp}))
	end := time.Unix(exp, 0).Add(1500 * time.Millisecond)
	if c.Code != 1008 || c.At.Before(end) || c.At.After(end.Add(time.Second)) {
		t.Errorf("closed at %v with %d, want 1008 within a second after %v", c.At, c.Code, end)
	}
	readLog(t, accessLog, 1)
}

// An SSE response through the gateway's reverse_proxy ends at the expiry as a complete response (the
// last chunk sent), not as an aborted one.
func TestStreamSSEEndsAtExpiry(t *testing.T) {
	idp := testidp.New(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	base, _ := runCaddy(t, site(idp, up.URL, "stream_grace 0"))
	exp := time.Now().Add(2 * time.Second).Unix()
	req, _ := http.NewRequest("GET", base+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+idp.AccessToken(t, map[string]any{"exp": exp}))
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	at := time.Now()
	if err != nil {
		t.Errorf("reading the stream: %v, want a complete response", err)
	}
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "data: 10\n\n") {
		t.Errorf("status %d, body %q: want 200 and events", res.StatusCode, body)
	}
	expiry := time.Unix(exp, 0)
	if at.Before(expiry) || at.After(expiry.Add(time.Second)) {
		t.Errorf("ended at %v, want within a second after the expiry %v", at, expiry)
	}
}

// A credential without an expiry, on a guard without a revocation source, is not watched.
func TestStreamUnwatched(t *testing.T) {
	g := newStreamGuard(0, zap.NewNop())
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	for name, id := range map[string]*identity.Identity{
		"anonymous":  identity.Anonymous(),
		"no expiry":  {Kind: identity.KindOIDC, Subject: "s"},
		"no request": nil,
	} {
		if gw, gr, s := g.watch(w, r, id); gw != http.ResponseWriter(w) || gr != r || s != nil {
			t.Errorf("%s: watched", name)
		}
	}
	var nilGuard *streamGuard
	if _, _, s := nilGuard.watch(w, r, &identity.Identity{Kind: identity.KindOIDC, ExpiresAt: time.Now()}); s != nil {
		t.Error("a nil guard watched")
	}
}

// proxyThroughGuard serves a reverse proxy to upstream (the standard library's, which hijacks for a
// WebSocket as Caddy's does) behind g, for an identity that needs no token.
func proxyThroughGuard(t *testing.T, g *streamGuard, upstream string, id *identity.Identity) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(upstream)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, s := g.watch(w, r, id)
		_ = s.serve(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			proxy.ServeHTTP(w, r)
			return nil
		}))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A WebSocket whose credential is revoked while it is open is closed within a check interval, with a
// close frame 1008; the same identity's other streams are not closed by another's revocation.
func TestStreamWebSocketClosedAtRevocation(t *testing.T) {
	revs := fleet.NewRevocations(fleet.RevocationsOptions{})
	g := newStreamGuard(0, zap.NewNop())
	g.revoked = fleetRevocationCheck(revs)
	g.every = 100 * time.Millisecond
	up, _ := wstest.Ticker(t)
	now := time.Now()
	issued := now.Truncate(time.Second) // as a token's iat
	alice := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice", ExpiresAt: now.Add(time.Hour),
		OriginJTI: "jti-alice", IssuedAt: issued}
	bob := &identity.Identity{Kind: identity.KindUserPool, Subject: "bob", ExpiresAt: now.Add(time.Hour),
		OriginJTI: "jti-bob", IssuedAt: issued}
	aliceSrv := proxyThroughGuard(t, g, up.URL, alice)
	bobSrv := proxyThroughGuard(t, g, up.URL, bob)
	before := closedCount(t, "revoked")

	bobDone := make(chan closed, 1)
	go func() { bobDone <- dialAndRead(t, wsURL(bobSrv.URL), "") }()
	revokeAt := time.Now().Add(time.Second)
	time.AfterFunc(time.Until(revokeAt), func() {
		if err := revs.Add(fleet.Entry{Kind: fleet.OriginJTI, Value: "jti-alice", Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Error(err)
		}
	})
	c := dialAndRead(t, wsURL(aliceSrv.URL), "")
	if c.Code != 1008 || c.Reason != "credential revoked" {
		t.Errorf("close frame %d %q (read error %v), want 1008 \"credential revoked\"", c.Code, c.Reason, c.Err)
	}
	if c.At.Before(revokeAt) || c.At.After(revokeAt.Add(500*time.Millisecond)) {
		t.Errorf("closed at %v, want soon after the revocation at %v", c.At, revokeAt)
	}
	select {
	case b := <-bobDone:
		t.Errorf("bob's stream ended too (%+v)", b)
	case <-time.After(300 * time.Millisecond):
	}
	if got := closedCount(t, "revoked") - before; got != 1 {
		t.Errorf("streams_closed_total{reason=revoked} went up by %v, want 1", got)
	}
	// A global sign-out of bob after his token was issued revokes it too.
	if err := revs.Add(fleet.Entry{Kind: fleet.Subject, Value: "bob", Cutoff: time.Now().Add(time.Second), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-bobDone:
		if b.Code != 1008 {
			t.Errorf("bob's stream ended with %d (%v), want 1008", b.Code, b.Err)
		}
	case <-time.After(2 * time.Second):
		t.Error("bob's stream is still open after his sign-out")
	}
}

// Identity-pool credentials are watched as tokens are: their expiration closes the stream.
func TestStreamIdentityPoolCredentialsExpire(t *testing.T) {
	g := newStreamGuard(0, zap.NewNop())
	up, _ := wstest.Ticker(t)
	exp := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second) // whole seconds, as sessions are
	id := &identity.Identity{Kind: identity.KindIdentityPool, Pool: &identity.PoolCredentials{
		IdentityID: "us-east-1:id",
	}, Subject: "us-east-1:id", ExpiresAt: exp}
	c := dialAndRead(t, wsURL(proxyThroughGuard(t, g, up.URL, id).URL), "")
	if c.Code != 1008 || c.Reason != "credential expired" || c.At.Before(exp) || c.At.After(exp.Add(time.Second)) {
		t.Errorf("closed at %v with %d %q (%v), want 1008 \"credential expired\" within a second after %v", c.At, c.Code, c.Reason, c.Err, exp)
	}
}

// A request that ends leaves the watched set: a sweep after the end neither cuts nor counts, and no
// request outlives its chain.
func TestStreamEndStopsWatching(t *testing.T) {
	revs := fleet.NewRevocations(fleet.RevocationsOptions{})
	g := newStreamGuard(0, zap.NewNop())
	g.revoked = fleetRevocationCheck(revs)
	id := &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now().Add(-time.Second)}
	before := closedCount(t, "expired")
	for range 100 {
		w, r, s := g.watch(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now().Add(time.Hour)})
		if err := s.serve(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
			t.Fatal(err)
		}
		if n := g.watching(); n != 0 {
			t.Fatalf("%d requests still watched after they ended", n)
		}
		if n := g.check(time.Now().Add(2 * time.Hour)); n != 0 {
			t.Fatalf("a sweep after the end found %d requests due", n)
		}
		if r.Context().Err() == nil {
			t.Fatal("the request context outlived the request")
		}
	}
	if got := closedCount(t, "expired") - before; got != 0 {
		t.Errorf("ended requests were counted as cut: %v", got)
	}
	// An expired credential (within the clock skew) with no grace is cut before any response: 401.
	w, r, s := g.watch(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), id)
	err := s.serve(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		if !errors.Is(context.Cause(r.Context()), errStreamCut) {
			t.Errorf("cause %v, want errStreamCut", context.Cause(r.Context()))
		}
		return r.Context().Err()
	}))
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Errorf("error %v, want a 401", err)
	}
}

// A close frame is only written between two frames the upstream sent, never into one, and never into
// bytes that are not server frames.
func TestFrameConnWritesCloseBetweenFrames(t *testing.T) {
	frame := func(n int) []byte {
		var h []byte
		switch {
		case n < 126:
			h = []byte{0x82, byte(n)}
		case n < 1<<16:
			h = []byte{0x82, 126, byte(n >> 8), byte(n)}
		default:
			h = binary.BigEndian.AppendUint64([]byte{0x82, 127}, uint64(n))
		}
		return append(h, make([]byte, n)...)
	}
	stream := append(append(frame(3), frame(300)...), frame(70000)...)
	boundaries := map[int]bool{0: true, 5: true, 5 + 304: true, len(stream): true}
	for split := 0; split <= len(stream); split += 1 + split/50 {
		c := &frameConn{Conn: nopConn{}}
		_, _ = c.Write(stream[:split])
		if got := c.writeClose(1008, "x"); got != boundaries[split] {
			t.Fatalf("after %d bytes: writeClose = %v, want %v", split, got, boundaries[split])
		}
	}
	masked := &frameConn{Conn: nopConn{}}
	_, _ = masked.Write([]byte{0x81, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if masked.writeClose(1008, "x") {
		t.Error("a close frame was written into masked bytes")
	}
	after := &frameConn{Conn: nopConn{}}
	if !after.writeClose(1008, "x") {
		t.Fatal("no close frame on a fresh connection")
	}
	if _, err := after.Write(frame(1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a frame written after the close frame: %v, want net.ErrClosed", err)
	}
	busy := &frameConn{Conn: nopConn{}}
	busy.mu.Lock()
	if busy.writeClose(1008, "x") {
		t.Error("a close frame was written during another write")
	}
	busy.mu.Unlock()
}

// Hijack after the request was cut closes the connection and fails: an upgrade never starts on a
// credential already gone.
func TestStreamHijackAfterCut(t *testing.T) {
	g := newStreamGuard(0, zap.NewNop())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, r, s := g.watch(w, r, &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now()})
		_ = s.serve(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			<-r.Context().Done()
			if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, errStreamCut) {
				t.Errorf("Hijack after the cut: %v, want errStreamCut", err)
			}
			return nil
		}))
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := bufio.NewReader(conn).ReadByte(); err == nil {
		t.Errorf("read %q from a hijacked-then-closed connection, want the connection closed", b)
	}
}

type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
func (nopConn) Close() error                     { return nil }

// closedCount is the value of streams_closed_total for reason.
func closedCount(t *testing.T, reason string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(streamsClosed); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// The stream guard's revocation check reads the identity as the verifiers leave it: a subject's
// sign-out revokes the tokens issued before it, not those after; identity-pool credentials are
// revoked by their identity id and by their login's subject.
func TestFleetRevocationCheck(t *testing.T) {
	iat := time.Unix(1_800_000_000, 0)
	id := &identity.Identity{Kind: identity.KindUserPool, Subject: "alice", OriginJTI: "o-1", IssuedAt: iat}
	revs := fleet.NewRevocations(fleet.RevocationsOptions{})
	check := fleetRevocationCheck(revs)
	add := func(e fleet.Entry) {
		t.Helper()
		e.Expires = time.Now().Add(time.Hour)
		if err := revs.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	add(fleet.Entry{Kind: fleet.Subject, Value: "alice", Cutoff: iat.Add(-time.Second)})
	if check(id, time.Now()) {
		t.Error("a token issued after the sign-out is revoked")
	}
	add(fleet.Entry{Kind: fleet.Subject, Value: "alice", Cutoff: iat.Add(time.Second)})
	if !check(id, time.Now()) {
		t.Error("a token issued before the sign-out is not revoked")
	}
	pool := &identity.Identity{Kind: identity.KindIdentityPool, Subject: "us-east-1:id", Pool: &identity.PoolCredentials{
		IdentityID:   "us-east-1:id",
		LoginSubject: "bob",
	},
		IssuedAt: iat}
	if check(pool, time.Now()) {
		t.Error("credentials nothing revoked are revoked")
	}
	add(fleet.Entry{Kind: fleet.Subject, Value: "bob", Cutoff: iat.Add(time.Second)})
	if !check(pool, time.Now()) {
		t.Error("credentials of a signed-out login are not revoked")
	}
	if check(&identity.Identity{Kind: identity.KindNone}, time.Now()) {
		t.Error("an anonymous request is revoked")
	}
}

// BenchmarkStreamWatch is what watching costs an allowed request that ends at once: the cancellable
// context, the request carrying it and registering in the watched set, against the same request
// unwatched.
func BenchmarkStreamWatch(b *testing.B) {
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	for _, bc := range []struct {
		name    string
		revoked revocationCheck
		id      *identity.Identity
	}{
		{"unwatched", nil, &identity.Identity{Kind: identity.KindOIDC, Subject: "s"}},
		{"expiry", nil, &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now().Add(time.Hour)}},
		{"expiry and revocation", fleetRevocationCheck(fleet.NewRevocations(fleet.RevocationsOptions{})),
			&identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now().Add(time.Hour)}},
	} {
		g := newStreamGuard(0, zap.NewNop())
		g.revoked = bc.revoked
		b.Cleanup(g.stop)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w, r, s := g.watch(w, r, bc.id)
				if err := s.serve(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Shadow mode refuses nothing: a stream outlives its token.
func TestStreamShadowClosesNothing(t *testing.T) {
	idp := testidp.New(t)
	up, _ := wstest.Ticker(t)
	base, accessLog := runCaddy(t, site(idp, up.URL, "shadow\nstream_grace 0"))
	exp := time.Now().Add(time.Second).Unix()
	cfg, _ := websocket.NewConfig(wsURL(base), "http://127.0.0.1/")
	cfg.Header.Set("Authorization", "Bearer "+idp.AccessToken(t, map[string]any{"exp": exp}))
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Unix(exp, 0).Add(1500 * time.Millisecond)
	_ = ws.SetDeadline(until)
	for {
		fr, err := ws.NewFrameReader()
		if err != nil {
			if time.Now().Before(until) {
				t.Fatalf("the stream ended before %v: %v", until, err)
			}
			break
		}
		if fr.PayloadType() == websocket.CloseFrame {
			t.Fatal("shadow mode closed a stream")
		}
		_, _ = io.ReadAll(fr)
	}
	ws.Close()
	readLog(t, accessLog, 1)
}

// watchers counts the watcher goroutines of g (all guards' when g is nil), from the goroutines' stacks.
func watchers(g *streamGuard) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	name := "caddymodule.(*streamGuard).run("
	if g != nil {
		name += fmt.Sprintf("%p", g)
	}
	return bytes.Count(buf, []byte(name))
}

// waitWatchers waits up to 3 s for g to have want watcher goroutines, and fails the test otherwise.
func waitWatchers(t *testing.T, g *streamGuard, want int) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := watchers(g)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d watcher goroutines, want %d", got, want)
		}
	}
}

// One goroutine watches all of a guard's requests; after its configuration is cleaned up it still
// cuts the requests left open (a WebSocket outlives the server's shutdown at a reload) and ends with
// the last of them.
func TestStreamOneWatcherEndsAfterCleanup(t *testing.T) {
	g := newStreamGuard(0, zap.NewNop())
	if n := watchers(g); n != 0 {
		t.Fatalf("%d watchers before any request", n)
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	hour := &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now().Add(time.Hour)}
	var open []*stream
	var ctxs []context.Context
	for range 100 {
		_, r, s := g.watch(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), hour)
		open = append(open, s)
		ctxs = append(ctxs, r.Context())
	}
	waitWatchers(t, g, 1)
	soon := &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: time.Now().Add(300 * time.Millisecond)}
	w, r, last := g.watch(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), soon)
	for _, s := range open {
		if err := s.serve(w, r, next); err != nil {
			t.Fatal(err)
		}
	}
	for _, ctx := range ctxs {
		if context.Cause(ctx) != context.Canceled {
			t.Fatalf("an ended request's context: %v", context.Cause(ctx))
		}
	}
	g.stop()
	time.Sleep(100 * time.Millisecond)
	if n := watchers(g); n != 1 {
		t.Fatalf("%d watchers with a request still open after the cleanup, want 1", n)
	}
	select {
	case <-r.Context().Done():
		if !errors.Is(context.Cause(r.Context()), errStreamCut) {
			t.Errorf("cause %v, want errStreamCut", context.Cause(r.Context()))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a request open at the cleanup was not cut at its expiry")
	}
	_ = last.serve(w, r, next)
	waitWatchers(t, g, 0)
	// A request of the old configuration arriving after its cleanup is still watched.
	w, r, late := g.watch(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), soon)
	select {
	case <-r.Context().Done():
	case <-time.After(3 * time.Second):
		t.Fatal("a request watched after the cleanup was not cut")
	}
	_ = late.serve(w, r, next)
	waitWatchers(t, g, 0)
}

// A reload (here a stop) of a configuration with cognito_authorizer ends its watcher goroutine.
func TestStreamWatcherEndsAtCaddyStop(t *testing.T) {
	idp := testidp.New(t)
	before := watchers(nil)
	base, _ := runCaddy(t, site(idp, "http://127.0.0.1:1", ""))
	req, _ := http.NewRequest("GET", base+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+idp.AccessToken(t, nil))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if n := watchers(nil); n != before+1 {
		t.Fatalf("%d watcher goroutines after a request, want %d", n, before+1)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); watchers(nil) != before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d watcher goroutines after the stop, want %d", watchers(nil), before)
		}
	}
}

// Any response is cut at its credential's expiry, whatever it looks like: a plain GET whose upstream
// streams text/plain, asked for without Accept: text/event-stream.
func TestStreamPlainResponseCutAtExpiry(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for {
			if _, err := io.WriteString(w, "chunk\n"); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	g := newStreamGuard(0, zap.NewNop())
	t.Cleanup(g.stop)
	exp := time.Now().Add(time.Second)
	srv := proxyThroughGuard(t, g, up.URL, &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: exp})
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.URL + "/download")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	at := time.Now()
	if at.Before(exp) || at.After(exp.Add(time.Second)) || !strings.Contains(string(body), "chunk\n") {
		t.Errorf("ended at %v with %d bytes, want chunks until within a second after %v", at, len(body), exp)
	}
}

// Requests ending while the watcher cuts others, with their streams reused from the pool: only the
// requests due are cut, each with errStreamCut, none twice, and none of those far from expiry
// (run with -race).
func TestStreamCutsRaceEnds(t *testing.T) {
	g := newStreamGuard(0, zap.NewNop())
	t.Cleanup(g.stop)
	before := closedCount(t, "expired")
	var cut, wrong atomic.Int32
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			exp := time.Now().Add(time.Hour)
			if i%2 == 0 {
				exp = time.Now().Add(time.Duration(i%7) * time.Millisecond)
			}
			id := &identity.Identity{Kind: identity.KindOIDC, Subject: "s", ExpiresAt: exp}
			w, r, s := g.watch(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), id)
			_ = s.serve(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if i%3 == 0 {
					_, _ = w.Write([]byte("x"))
				}
				select {
				case <-r.Context().Done():
				case <-time.After(time.Duration(i%5) * time.Millisecond):
				}
				return nil
			}))
			if errors.Is(context.Cause(r.Context()), errStreamCut) {
				cut.Add(1)
				if time.Now().Before(exp) {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 0 {
		t.Errorf("%d requests cut before their expiry", wrong.Load())
	}
	if got := closedCount(t, "expired") - before; got != float64(cut.Load()) {
		t.Errorf("streams_closed_total went up by %v, %d requests were cut", got, cut.Load())
	}
	if n := g.watching(); n != 0 {
		t.Errorf("%d requests still watched", n)
	}
}
