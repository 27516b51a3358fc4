// Package wstest is a WebSocket client for tests: it opens a WebSocket with a bearer token and reads it
// until it ends, reporting how, as a client sees it.
package wstest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// End is how a WebSocket ended, as its client saw it.
type End struct {
	At       time.Time // when it ended
	Messages int       // text and binary frames read before the end
	Code     int       // the close frame's status code; 0: no close frame
	Reason   string    // the close frame's reason
	Err      error     // the read error when there was no close frame
}

// Dial opens a WebSocket to url (ws://...) with token as its bearer token.
func Dial(url, token string) (*websocket.Conn, error) {
	cfg, err := websocket.NewConfig(url, "http://127.0.0.1/")
	if err != nil {
		return nil, err
	}
	cfg.Header.Set("Authorization", "Bearer "+token)
	return websocket.DialConfig(cfg)
}

// ReadUntilEnd reads frames until the connection ends: a close frame, a read error, or limit.
func ReadUntilEnd(ws *websocket.Conn, limit time.Duration) End {
	_ = ws.SetDeadline(time.Now().Add(limit))
	var e End
	for {
		fr, err := ws.NewFrameReader()
		if err != nil {
			e.At, e.Err = time.Now(), err
			return e
		}
		payload, err := io.ReadAll(fr)
		if err != nil {
			e.At, e.Err = time.Now(), err
			return e
		}
		switch fr.PayloadType() {
		case websocket.CloseFrame:
			e.At = time.Now()
			if len(payload) >= 2 {
				e.Code, e.Reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			return e
		case websocket.TextFrame, websocket.BinaryFrame:
			e.Messages++
		}
	}
}

// Ticker is an upstream that streams until the client goes: at /events, an SSE stream of "data: <n>"
// every 50 ms; at any other path, a WebSocket that sends "tick" every 50 ms. The counter counts the
// WebSockets that ended. It is closed at cleanup.
func Ticker(t testing.TB) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var ended atomic.Int32
	ws := websocket.Server{Handler: func(ws *websocket.Conn) {
		defer ended.Add(1)
		for {
			if _, err := ws.Write([]byte("tick")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/events" {
			ws.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &ended
}
