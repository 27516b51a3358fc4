package caddymodule

import (
	"net/http"
	"net/url"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

func TestCheckForwardedPath(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	g := &gate{logger: zap.New(core)}
	steps := []struct {
		name, decided, forwarded string
		wantLogs                 int
	}{
		{name: "unchanged", decided: "/orders/1", forwarded: "/orders/1"},
		{name: "empty path is the root", decided: "/", forwarded: ""},
		{name: "no decision path (preflight)", decided: "", forwarded: "/x"},
		{name: "rewritten", decided: "/public/x", forwarded: "/admin/x", wantLogs: 1},
		{name: "rewritten again: logged once", decided: "/public/y", forwarded: "/admin/y", wantLogs: 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: s.forwarded}}
			g.checkForwardedPath(r, &authorizer.Decision{Allow: true, Path: s.decided})
			if logs.Len() != s.wantLogs {
				t.Fatalf("%d log entries, want %d", logs.Len(), s.wantLogs)
			}
		})
	}
	e := logs.All()[0]
	if e.Level != zapcore.WarnLevel || e.ContextMap()["decided_path"] != "/public/x" || e.ContextMap()["forwarded_path"] != "/admin/x" {
		t.Errorf("log entry %v %v: want a warning naming both paths", e.Level, e.ContextMap())
	}
}
