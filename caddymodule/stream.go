package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"io"
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
type streamGuard struct {
	grace   time.Duration
	revoked revocationCheck // nil: no revocation source
	every   time.Duration
	now     func() time.Time
	logger  *zap.Logger
}

func newStreamGuard(grace time.Duration, logger *zap.Logger) *streamGuard {
	return &streamGuard{grace: grace, every: revocationCheckInterval, now: time.Now, logger: logger}
}

// watch returns the writer and request the rest of the chain must use for a request id was allowed,
// and the stream whose serve runs the chain. A request whose credential has no expiry and no
// revocation source is returned as is, with a nil stream.
func (g *streamGuard) watch(w http.ResponseWriter, r *http.Request, id *identity.Identity) (http.ResponseWriter, *http.Request, *stream) {
	if g == nil || id == nil || id.Kind == identity.KindNone || (id.ExpiresAt.IsZero() && g.revoked == nil) {
		return w, r, nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	s := &stream{guard: g, id: id, r: r, cancel: cancel, start: g.now()}
	if !id.ExpiresAt.IsZero() {
		s.deadline = id.ExpiresAt.Add(g.grace)
	}
	s.w = streamWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, s: s}
	s.mu.Lock() // the timer may fire at once: its check waits for s.timer
	s.timer = time.AfterFunc(s.next(s.start), s.check)
	s.mu.Unlock()
	return &s.w, r.WithContext(ctx), s
}

// stream is one request being watched.
type stream struct {
	guard    *streamGuard
	id       *identity.Identity
	r        *http.Request
	w        streamWriter // one allocation with the stream
	cancel   context.CancelCauseFunc
	start    time.Time
	deadline time.Time // zero: the credential does not expire

	mu          sync.Mutex
	timer       *time.Timer
	ended       bool         // the chain returned
	cut         streamReason // set once the request is cut
	conn        *frameConn   // the hijacked connection, if any
	isWebSocket bool         // hijacked for a WebSocket
}

// next is how long until the stream must be checked again.
func (s *stream) next(now time.Time) time.Duration {
	d := s.guard.every
	if !s.deadline.IsZero() && (s.guard.revoked == nil || s.deadline.Sub(now) < d) {
		d = s.deadline.Sub(now)
	}
	return max(d, 0)
}

// check runs on the stream's timer: it cuts the request if its credential expired or was revoked, and
// otherwise arms the timer again.
func (s *stream) check() {
	now := s.guard.now()
	var reason streamReason
	switch {
	case !s.deadline.IsZero() && !now.Before(s.deadline):
		reason = streamExpired
	case s.guard.revoked != nil && s.guard.revoked(s.id, now):
		reason = streamRevoked
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.cut != "" {
		return
	}
	if reason == "" {
		s.timer.Reset(s.next(now))
		return
	}
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

// end stops watching: the chain has returned. It reports whether the request was cut.
func (s *stream) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.timer.Stop()
	s.cancel(nil)
	return s.cut != ""
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
		cut := s.end()
		v := recover()
		switch {
		case v == nil && !cut:
		case v != nil && (v != http.ErrAbortHandler || !cut):
			panic(v)
		case !s.w.wrote.Load():
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
