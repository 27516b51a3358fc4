package integration

// Long-lived requests through the real binary: a WebSocket and an SSE stream are closed when the token
// that opened them expires.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
	"github.com/caddy-cognito/caddy-cognito/internal/wstest"
)

// wsEnd is how a WebSocket ended, as its client saw it.
type wsEnd = wstest.End

// dialWebSocket opens a WebSocket to url with a bearer token.
func dialWebSocket(url, token string) (*websocket.Conn, error) { return wstest.Dial(url, token) }

// readUntilEnd reads frames until the connection ends, at most for limit.
func readUntilEnd(ws *websocket.Conn, limit time.Duration) wsEnd {
	return wstest.ReadUntilEnd(ws, limit)
}

// TestStreamsClosedAtTokenExpiry: a WebSocket through the gateway is closed at its token's expiry
// (stream_grace 0) with a close frame 1008, while one opened with a longer-lived token stays open; the
// closing is logged with its reason and counted; an SSE response ends at its token's expiry.
func TestStreamsClosedAtTokenExpiry(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	up, ended := wstest.Ticker(t)
	b := blocksFor(idp)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_authorizer {
		%s
		stream_grace 0
	}
	reverse_proxy %s
}`, b.UserPool, up.URL))
	wsURL := "ws" + strings.TrimPrefix(srv.BaseURL, "http") + "/ws"

	exp := time.Now().Add(3 * time.Second).Unix()
	short := idp.AccessToken(t, map[string]any{"exp": exp})
	long := idp.AccessToken(t, map[string]any{"jti": "jti-long"})
	lasting, err := dialWebSocket(wsURL, long)
	if err != nil {
		t.Fatalf("opening a WebSocket with an hour-long token: %v", err)
	}
	defer lasting.Close()
	ws, err := dialWebSocket(wsURL, short)
	if err != nil {
		t.Fatalf("opening a WebSocket: %v", err)
	}
	defer ws.Close()
	end := readUntilEnd(ws, 15*time.Second)
	expiry := time.Unix(exp, 0)
	if end.Code != 1008 || end.Reason != "credential expired" {
		t.Errorf("close frame %d %q (read error %v), want 1008 \"credential expired\"", end.Code, end.Reason, end.Err)
	}
	if end.At.Before(expiry) || end.At.After(expiry.Add(1500*time.Millisecond)) {
		t.Errorf("closed at %v, want at the expiry %v (within 1.5 s)", end.At.Format(time.StampMilli), expiry.Format(time.StampMilli))
	}
	if end.Messages < 10 {
		t.Errorf("%d messages before the close: the stream did not flow", end.Messages)
	}
	t.Logf("closed %v after the expiry, after %d messages", end.At.Sub(expiry), end.Messages)

	// The other stream still flows.
	if after := readFor(lasting, 500*time.Millisecond); after.Code != 0 || after.Messages < 3 {
		t.Errorf("the WebSocket of the hour-long token: %+v, want it still open and flowing", after)
	}
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["msg"] == "closing a request: the credential that opened it expired" && e["reason"] == "expired" &&
			e["close_frame"] == true && e["hijacked"] == true && e["user_id"] == testidp.Subject
	})
	deadline := time.Now().Add(5 * time.Second)
	for ended.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if ended.Load() < 1 {
		t.Error("the upstream's side of the closed WebSocket is still open")
	}
	// The same token opens nothing any more: within clock_skew the token still verifies, but a request
	// past its expiry and grace is cut before it starts (401, counted).
	if again, err := dialWebSocket(wsURL, short); err == nil {
		again.Close()
		t.Error("the expired token opened a new WebSocket")
	} else if !strings.Contains(err.Error(), "bad status") {
		t.Errorf("opening a WebSocket with the expired token: %v, want a refused handshake", err)
	}

	// An SSE stream ends at its token's expiry, as a complete response.
	exp = time.Now().Add(2 * time.Second).Unix()
	req := newRequest(t, http.MethodGet, srv.BaseURL+"/events", http.Header{"Authorization": {"Bearer " + idp.AccessToken(t, map[string]any{"exp": exp, "jti": "jti-sse"})}}, nil)
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	at := time.Now()
	resp.Body.Close()
	if err != nil {
		t.Errorf("reading the SSE stream: %v, want a complete response", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "data: 10\n\n") {
		t.Errorf("SSE: status %d, body %.200q: want 200 and events", resp.StatusCode, body)
	}
	if expiry := time.Unix(exp, 0); at.Before(expiry) || at.After(expiry.Add(1500*time.Millisecond)) {
		t.Errorf("SSE ended at %v, want at the expiry %v (within 1.5 s)", at.Format(time.StampMilli), expiry.Format(time.StampMilli))
	}

	metrics := send(t, newRequest(t, http.MethodGet, srv.AdminURL+"/metrics", nil, nil))
	if !strings.Contains(string(metrics.body), `caddy_cognito_streams_closed_total{reason="expired"} 3`) {
		t.Errorf("/metrics does not count the two closed streams and the refused one:\n%s", grepLines(string(metrics.body), "streams_closed"))
	}
	srv.assertLogsExclude(t, short, long)
}

// TestStreamsClosedAtRevocation: a WebSocket through the gateway is closed with a close frame 1008
// within about a second of its token's revocation through the admin API (admin.api.cognito), while one
// opened with another token stays open, and the revoked token opens nothing any more.
func TestStreamsClosedAtRevocation(t *testing.T) {
	t.Parallel()
	idp := testidp.New(t)
	up, _ := wstest.Ticker(t)
	b := blocksFor(idp)
	srv := startCaddy(t, fmt.Sprintf(`{$SITE} {
	cognito_authorizer {
		%s
	}
	reverse_proxy %s
}`, b.UserPool, up.URL))
	wsURL := "ws" + strings.TrimPrefix(srv.BaseURL, "http") + "/ws"
	revoked := idp.AccessToken(t, map[string]any{"origin_jti": "origin-revoked"})
	other := idp.AccessToken(t, map[string]any{"origin_jti": "origin-kept"})
	lasting, err := dialWebSocket(wsURL, other)
	if err != nil {
		t.Fatalf("opening a WebSocket: %v", err)
	}
	defer lasting.Close()
	ws, err := dialWebSocket(wsURL, revoked)
	if err != nil {
		t.Fatalf("opening a WebSocket: %v", err)
	}
	defer ws.Close()
	if first := readFor(ws, 300*time.Millisecond); first.Code != 0 || first.Messages == 0 {
		t.Fatalf("before the revocation: %+v, want the stream flowing", first)
	}

	// The refresh token the access token came from is revoked, as Cognito's RevokeToken does.
	at := time.Now()
	resp := send(t, newRequest(t, http.MethodPost, srv.AdminURL+"/cognito/revocations",
		http.Header{"Content-Type": {"application/json"}}, []byte(`{"kind":"jti","value":"origin-revoked","ttl":"1h"}`)))
	if resp.status != http.StatusCreated {
		t.Fatalf("POST /cognito/revocations: %d %s", resp.status, resp.body)
	}
	end := readUntilEnd(ws, 10*time.Second)
	if end.Code != 1008 || end.Reason != "credential revoked" {
		t.Errorf("close frame %d %q (read error %v), want 1008 \"credential revoked\"", end.Code, end.Reason, end.Err)
	}
	if d := end.At.Sub(at); d > 2*time.Second {
		t.Errorf("closed %v after the revocation, want within about a second", d)
	}
	t.Logf("closed %v after the revocation", end.At.Sub(at))
	if after := readFor(lasting, 500*time.Millisecond); after.Code != 0 || after.Messages < 3 {
		t.Errorf("the WebSocket of the other token: %+v, want it still open and flowing", after)
	}
	if again, err := dialWebSocket(wsURL, revoked); err == nil {
		again.Close()
		t.Error("the revoked token opened a new WebSocket")
	}
	srv.waitForLog(t, 5*time.Second, func(e logEntry) bool {
		return e["reason"] == "revoked" && e["close_frame"] == true && e["hijacked"] == true
	})
	metrics := send(t, newRequest(t, http.MethodGet, srv.AdminURL+"/metrics", nil, nil))
	if !strings.Contains(string(metrics.body), `caddy_cognito_streams_closed_total{reason="revoked"} 1`) {
		t.Errorf("/metrics does not count the revoked stream:\n%s", grepLines(string(metrics.body), "streams_closed"))
	}
	srv.assertLogsExclude(t, revoked, other)
}

// readFor reads frames for d and reports what came (a deadline ending it is no error).
func readFor(ws *websocket.Conn, d time.Duration) wsEnd {
	e := readUntilEnd(ws, d)
	if e.Code == 0 {
		e.Err = nil
	}
	return e
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
