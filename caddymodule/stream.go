package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// defaultStreamGrace is how long a request may outlive its credential's expiry by default: enough
// for a client to reconnect with a refreshed token before the old stream goes.
const defaultStreamGrace = 5 * time.Second

// maxStreamGrace bounds StreamGrace: a longer grace would make expiry meaningless for streams.
const maxStreamGrace = time.Hour

// revocationCheckInterval is how often an open request checks that its credential is not revoked.
const revocationCheckInterval = time.Second

// revocationCheck says whether the credential that proved id has been revoked at now. It is called
// about once a second for every open request, so it must be cheap (fleet.Revocations.Revoked is).
type revocationCheck func(id *identity.Identity, now time.Time) bool

// fleetRevocationCheck is the revocationCheck of a revocation set: the identity's origin_jti,
// subject (issued at its iat) and identity id, as fleet.Credential names them.
func fleetRevocationCheck(r *fleet.Revocations) revocationCheck {
	return func(id *identity.Identity, now time.Time) bool {
		c, ok := revocationCredential(id)
		return ok && r.Revoked(c, now)
	}
}

// streamReason is why a request was cut: its credential expired or was revoked.
type streamReason string

const (
	streamExpired streamReason = "expired"
	streamRevoked streamReason = "revoked"
)

// errStreamCut is the cause of the context of a request cut at its credential's expiry or revocation.
var errStreamCut = errors.New("the credential that opened the request expired or was revoked")

// streamGuard closes the requests a route let through when the credential that opened them expires
// (after grace) or is revoked: a WebSocket or SSE stream must not outlive the right to open it.
//
// One watcher goroutine per guard does it for all requests: each allowed request registers in a
// sharded set with its deadline (no timer, no goroutine of its own), and the watcher wakes at the
// nearest deadline, and every check interval when there is a revocation source, to cut what is due.
type streamGuard struct {
	grace   time.Duration
	revoked revocationCheck // nil: no revocation source
	every   time.Duration
	now     func() time.Time
	logger  *zap.Logger

	shards [streamShards]streamShard
	pool   sync.Pool // of *stream: nothing holds one once its request ended and no sweep holds it
	// wakeAt is when the watcher sweeps next (Unix ns); a request due earlier lowers it and pokes wake.
	wakeAt  atomic.Int64
	wake    chan struct{}
	running atomic.Bool // a watcher goroutine runs (started by the first request)
	stopped atomic.Bool // the configuration was cleaned up: the watcher ends once no request is left
}

// streamShards spreads the watched requests over locks so that concurrent requests rarely contend.
const streamShards = 16

// streamShard is one part of the watched set: an intrusive list, so that registering allocates nothing.
type streamShard struct {
	mu   sync.Mutex
	head *stream
	n    int
	_    [40]byte // one shard per cache line
}

func newStreamGuard(grace time.Duration, logger *zap.Logger) *streamGuard {
	g := &streamGuard{grace: grace, every: revocationCheckInterval, now: time.Now, logger: logger,
		wake: make(chan struct{}, 1)}
	g.wakeAt.Store(math.MaxInt64)
	g.pool.New = func() any { return new(stream) }
	return g
}

// watch returns the writer and request the rest of the chain must use for a request id was allowed,
// and the stream whose serve runs the chain. A request whose credential has no expiry and no
// revocation source is returned as is, with a nil stream.
func (g *streamGuard) watch(w http.ResponseWriter, r *http.Request, id *identity.Identity) (http.ResponseWriter, *http.Request, *stream) {
	if g == nil || id == nil || id.Kind == identity.KindNone || (id.ExpiresAt.IsZero() && g.revoked == nil) {
		return w, r, nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	s := g.pool.Get().(*stream)
	s.guard, s.id, s.r, s.cancel, s.start = g, id, r, cancel, g.now()
	due := int64(math.MaxInt64)
	if !id.ExpiresAt.IsZero() {
		s.deadline = id.ExpiresAt.Add(g.grace)
		due = s.deadline.UnixNano()
	}
	if g.revoked != nil {
		due = min(due, s.start.Add(g.every).UnixNano())
	}
	s.w.ResponseWriter, s.w.s = w, s
	g.register(s, due)
	return &s.w, r.WithContext(ctx), s
}

// register adds s to the watched set, due at due (Unix ns), and has the watcher wake by then.
func (g *streamGuard) register(s *stream, due int64) {
	sh := &g.shards[rand.N(uint32(streamShards))]
	sh.mu.Lock()
	s.shard, s.linked, s.next = sh, true, sh.head
	if sh.head != nil {
		sh.head.prev = s
	}
	sh.head = s
	sh.n++
	sh.mu.Unlock()
	for at := g.wakeAt.Load(); due < at; at = g.wakeAt.Load() {
		if g.wakeAt.CompareAndSwap(at, due) {
			g.poke()
			break
		}
	}
	if !g.running.Load() && g.running.CompareAndSwap(false, true) {
		go g.run()
	}
}

// poke wakes the watcher (a wake already pending is enough).
func (g *streamGuard) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// unlink removes s from its shard, if a sweep did not already. The caller holds the shard's lock.
func (sh *streamShard) unlink(s *stream) {
	if !s.linked {
		return
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		sh.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.linked, s.prev, s.next = false, nil, nil
	sh.n--
}

// stop ends the watcher once no request it watches is left: a request of the old configuration
// still open after a reload (a WebSocket outlives the server's shutdown) is still cut at its time.
func (g *streamGuard) stop() {
	g.stopped.Store(true)
	g.poke()
}

// watching is how many requests are watched.
func (g *streamGuard) watching() int {
	n := 0
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// run is the watcher: it sweeps when the earliest due time comes, and ends after stop once the set
// is empty.
func (g *streamGuard) run() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var due []dueStream
	for {
		select {
		case <-timer.C:
		case <-g.wake:
		}
		now := g.now()
		if at := g.wakeAt.Load(); now.UnixNano() < at && !g.stopped.Load() {
			timer.Reset(time.Duration(at - now.UnixNano()))
			continue // a request due earlier than planned: only the timer moves
		}
		g.wakeAt.Store(math.MaxInt64) // requests registering during the sweep lower it again
		var next int64
		due, next = g.sweep(now, due[:0])
		for _, d := range due {
			// A close frame may wait a second for a slow client: not the other cuts' time.
			go d.s.cutFor(d.reason, now)
		}
		clear(due)
		if g.stopped.Load() {
			g.running.Store(false)
			if g.watching() == 0 || !g.running.CompareAndSwap(false, true) {
				return // a request registering from here on starts a watcher again
			}
			next = min(next, now.Add(time.Second).UnixNano()) // to see the set empty
		}
		for at := g.wakeAt.Load(); next < at && !g.wakeAt.CompareAndSwap(at, next); at = g.wakeAt.Load() {
		}
		timer.Reset(max(time.Duration(g.wakeAt.Load()-now.UnixNano()), 0))
	}
}

// dueStream is a request a sweep found due, with why.
type dueStream struct {
	s      *stream
	reason streamReason
}

// sweep takes out of the set the requests due at now, appended to due (each held, so that it is not
// reused before its cut is done), and returns when the next one is due (Unix ns).
func (g *streamGuard) sweep(now time.Time, due []dueStream) ([]dueStream, int64) {
	next := int64(math.MaxInt64)
	if g.revoked != nil {
		next = now.Add(g.every).UnixNano()
	}
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		for s := sh.head; s != nil; {
			following := s.next
			var reason streamReason
			switch {
			case !s.deadline.IsZero() && !now.Before(s.deadline):
				reason = streamExpired
			case g.revoked != nil && g.revoked(s.id, now):
				reason = streamRevoked
			case !s.deadline.IsZero():
				next = min(next, s.deadline.UnixNano())
			}
			if reason != "" {
				sh.unlink(s)
				s.mu.Lock()
				s.held = true
				s.mu.Unlock()
				due = append(due, dueStream{s, reason})
			}
			s = following
		}
		sh.mu.Unlock()
	}
	return due, next
}

// check sweeps at now and cuts what is due, as the watcher does (for tests).
func (g *streamGuard) check(now time.Time) int {
	due, _ := g.sweep(now, nil)
	for _, d := range due {
		d.s.cutFor(d.reason, now)
	}
	return len(due)
}

// stream is one request being watched. It comes from its guard's pool and returns to it when both
// the request has ended and no sweep holds it.
type stream struct {
	guard    *streamGuard
	id       *identity.Identity
	r        *http.Request
	w        streamWriter // one allocation with the stream
	cancel   context.CancelCauseFunc
	start    time.Time
	deadline time.Time // zero: the credential does not expire

	shard *streamShard // the shard it registered in
	// In the watched set, under shard's lock.
	linked     bool
	prev, next *stream

	mu          sync.Mutex
	ended       bool         // the chain returned
	held        bool         // a sweep took it out to cut it: the cut returns it to the pool
	cut         streamReason // set once the request is cut
	conn        *frameConn   // the hijacked connection, if any
	isWebSocket bool         // hijacked for a WebSocket
}

// cutFor cuts the request, unless it ended, because its credential expired or was revoked, and lets
// the stream go.
func (s *stream) cutFor(reason streamReason, now time.Time) {
	s.mu.Lock()
	if !s.ended && s.cut == "" {
		s.cutLocked(reason, now)
	}
	s.held = false
	free := s.ended
	s.mu.Unlock()
	if free {
		s.release()
	}
}

// cutLocked closes the request: its hijacked connection, after a WebSocket close frame, and its
// context. The caller holds s.mu.
func (s *stream) cutLocked(reason streamReason, now time.Time) {
	s.cut = reason
	streamsClosed.WithLabelValues(string(reason)).Inc() // before the client can see the close
	closeFrame := false
	if s.conn != nil {
		closeFrame = s.isWebSocket && s.conn.writeClose(1008, "credential "+string(reason))
		_ = s.conn.CloseWrite() // after the close frame, not instead of it
		_ = s.conn.Close()
	}
	s.cancel(errStreamCut)
	s.guard.logger.Info("closing a request: the credential that opened it "+string(reason),
		zap.String("reason", string(reason)),
		zap.String("request_id", refusalID(s.r)),
		zap.String("kind", string(s.id.Kind)),
		zap.String("user_id", s.id.UserID()),
		zap.String("uri", s.r.RequestURI),
		zap.Bool("hijacked", s.conn != nil),
		zap.Bool("close_frame", closeFrame),
		zap.Time("expires_at", s.id.ExpiresAt),
		zap.Duration("open_for", now.Sub(s.start)))
}

// end stops watching: the chain has returned. It reports whether the request was cut; s must not be
// used after it.
func (s *stream) end() bool {
	s.shard.mu.Lock()
	s.shard.unlink(s)
	s.shard.mu.Unlock()
	s.mu.Lock()
	s.ended = true
	s.cancel(nil)
	cut := s.cut != ""
	free := !s.held
	s.mu.Unlock() // a sweep holding s lets it go from here on
	if free {
		s.release()
	}
	return cut
}

// release returns s, ended and let go by any sweep, to its guard's pool.
func (s *stream) release() {
	g := s.guard
	*s = stream{}
	g.pool.Put(s)
}

// serve runs next for a watched request (s nil: for any request). A request the guard cut ends as if
// complete: reverse_proxy aborts a response whose request context ends (http.ErrAbortHandler), which
// would leave an SSE client with a truncated chunk; it gets the stream's end instead. A request cut
// before its response began is answered 401.
func (s *stream) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (err error) {
	if s == nil {
		return next.ServeHTTP(w, r)
	}
	defer func() {
		wrote := s.w.wrote.Load() // s is not ours after end
		cut := s.end()
		v := recover()
		switch {
		case v == nil && !cut:
		case v != nil && (v != http.ErrAbortHandler || !cut):
			panic(v)
		case !wrote:
			err = caddyhttp.Error(http.StatusUnauthorized, errStreamCut)
		default:
			err = nil // logged when cut
		}
	}()
	return next.ServeHTTP(w, r)
}

// streamWriter is the response writer of a watched request: it keeps the connection a handler
// hijacks (reverse_proxy does for WebSocket), to close it when the request is cut. Flush, Push and
// http.ResponseController reach the writer underneath (caddyhttp.ResponseWriterWrapper).
type streamWriter struct {
	caddyhttp.ResponseWriterWrapper
	s     *stream
	wrote atomic.Bool // the response has begun
}

func (w *streamWriter) WriteHeader(status int) {
	w.wrote.Store(true)
	w.ResponseWriter.WriteHeader(status)
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.wrote.Store(true)
	return w.ResponseWriter.Write(p)
}

func (w *streamWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wrote.Store(true)
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// Flush sends what was written so far (an SSE event), for handlers that assert http.Flusher.
func (w *streamWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with its error, as http.ResponseController wants it.
func (w *streamWriter) FlushError() error {
	w.wrote.Store(true)
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands out the connection and remembers it.
func (w *streamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.wrote.Store(true)
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	fc := &frameConn{Conn: conn}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut != "" {
		// Cut between the decision to upgrade and the upgrade.
		_ = conn.Close()
		return nil, nil, errStreamCut
	}
	s.conn = fc
	s.isWebSocket = strings.EqualFold(s.r.Header.Get("Upgrade"), "websocket")
	return fc, brw, nil
}

// frameConn is a hijacked connection that knows where the WebSocket frames written to it (server to
// client, so unmasked) begin, so that a close frame can be written between two frames and never into
// one.
type frameConn struct {
	net.Conn
	mu sync.Mutex
	// left is what remains of the current frame; header collects a frame header split across writes.
	left   int64
	header []byte
	broken bool // the bytes are not WebSocket frames: never write into them
	closed bool // a close frame was written: nothing may follow it
}

func (c *frameConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.track(p)
	return c.Conn.Write(p)
}

// CloseWrite keeps a half-close reaching the client (reverse_proxy propagates an upstream EOF so).
func (c *frameConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// track follows the frame boundaries in p.
func (c *frameConn) track(p []byte) {
	for len(p) > 0 && !c.broken {
		if c.left > 0 {
			n := min(int64(len(p)), c.left)
			c.left -= n
			p = p[n:]
			continue
		}
		c.header = append(c.header, p[0])
		p = p[1:]
		size, ok := frameSize(c.header)
		if size < 0 {
			c.broken = true
		}
		if ok {
			c.left, c.header = size, c.header[:0]
		}
	}
}

// frameSize reads a server frame header: the payload size once h holds the whole header (ok), -1 for
// bytes that are not a server frame (masked, or longer than a header can be).
func frameSize(h []byte) (int64, bool) {
	if len(h) < 2 {
		return 0, false
	}
	if h[1]&0x80 != 0 {
		return -1, false // a server does not mask
	}
	switch n := int64(h[1] & 0x7f); n {
	case 126:
		if len(h) < 4 {
			return 0, false
		}
		return int64(h[2])<<8 | int64(h[3]), true
	case 127:
		if len(h) < 10 {
			return 0, false
		}
		var v int64
		for _, b := range h[2:10] {
			v = v<<8 | int64(b)
		}
		if v < 0 {
			return -1, false
		}
		return v, true
	default:
		return n, true
	}
}

// writeClose writes a close frame with code and reason if the connection is between two frames and
// no write is under way; it reports whether it did. It waits at most a second for the client.
func (c *frameConn) writeClose(code uint16, reason string) bool {
	if !c.mu.TryLock() {
		return false
	}
	defer c.mu.Unlock()
	if c.broken || c.left > 0 || len(c.header) > 0 {
		return false
	}
	frame := append([]byte{0x88, byte(2 + len(reason)), byte(code >> 8), byte(code)}, reason...)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := c.Conn.Write(frame)
	c.closed = true
	return err == nil
}

// Interface guards.
var (
	_ http.Hijacker = (*streamWriter)(nil)
	_ http.Flusher  = (*streamWriter)(nil)
)
