package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestReplayProtectionCaddyfile(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // the identity_pool JSON's replay_protection, "" for absent
		wantErr    string
	}{
		{name: "default size", body: "replay_protection", want: `{}`},
		{name: "given size", body: "replay_protection 5000", want: `{"max_entries":5000}`},
		{name: "absent", body: "clock_skew 1m"},
		{name: "zero", body: "replay_protection 0", wantErr: "not a number of entries"},
		{name: "negative", body: "replay_protection -1", wantErr: "not a number of entries"},
		{name: "not a number", body: "replay_protection lots", wantErr: "not a number of entries"},
		{name: "two arguments", body: "replay_protection 10 20", wantErr: "wrong argument count"},
		{name: "a block", body: "replay_protection {\n\tmax 1\n}", wantErr: "takes no block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cognito_authorizer {\n\tidentity_pool " + testPoolID +
				" {\n\t\t" + tt.body + "\n\t}\n}"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if rp := h.IdentityPool.ReplayProtection; rp != nil {
				b, _ := json.Marshal(rp)
				got = string(b)
			}
			if got != tt.want {
				t.Errorf("replay_protection = %s, want %s", got, tt.want)
			}
		})
	}
}

// One cache per identity pool per process: routes share it, and a config reload keeps it, so a
// request accepted before a reload is still refused after it.
func TestReplayProtectionThroughCaddy(t *testing.T) {
	var upstreamSaw int
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamSaw++
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Header: r.Header})
	}))
	t.Cleanup(echo.Close)
	site := `	handle /a/* {
		cognito_authorizer {
			identity_pool ` + testPoolID + ` {
				replay_protection 1000
			}
			allow_any_role
		}
		reverse_proxy ` + echo.URL + `
	}
	handle {
		cognito_authorizer {
			identity_pool ` + testPoolID + ` {
				replay_protection 1000
			}
			allow_any_role
		}
		reverse_proxy ` + echo.URL + `
	}`
	base, accessLog := runCaddy(t, site)
	guest := mintCredentials(t, filepath.Dir(accessLog), false)

	send := func(r *http.Request, body string) response {
		t.Helper()
		c := r.Clone(context.Background())
		c.Body, c.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		return doRequest(t, c)
	}
	post := sign(t, guest, http.MethodPost, base+"/a/pay", `{"amount":100}`)
	if res := send(post, `{"amount":100}`); res.status != 200 {
		t.Fatalf("first POST: %d %s", res.status, res.body)
	}
	tests := []struct {
		name   string
		req    *http.Request
		body   string
		status int
	}{
		{name: "the same POST again", req: post, body: `{"amount":100}`, status: 403},
		{name: "the same POST with another unsigned header", req: func() *http.Request {
			r := post.Clone(context.Background())
			r.Header.Set("X-Unsigned", "1")
			return r
		}(), body: `{"amount":100}`, status: 403},
		{name: "the same POST through another route", req: func() *http.Request {
			// Same signature, another path: refused as a replay or as a mismatch, never allowed.
			r := post.Clone(context.Background())
			r.URL.Path = "/b/pay"
			return r
		}(), body: `{"amount":100}`, status: 403},
		{name: "a GET twice", req: sign(t, guest, http.MethodGet, base+"/a/orders", ""), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(tt.req, tt.body)
			if tt.status == 200 {
				res = send(tt.req, tt.body)
			}
			if res.status != tt.status {
				t.Fatalf("status %d (%s), want %d", res.status, res.body, tt.status)
			}
			if tt.status == 403 && res.header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
				t.Errorf("X-Amzn-ErrorType %q, want InvalidSignatureException", res.header.Get("X-Amzn-ErrorType"))
			}
		})
	}

	// A reload (same config, re-provisioned) keeps the signatures seen.
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output discard
	}
}
%s {
%s
}
`, filepath.Dir(accessLog), base, site)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("reloading: %v", err)
	}
	// Connections to the old server are closed by the reload.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	res := doAfterReload(t, func() *http.Request {
		c := post.Clone(context.Background())
		c.Body, c.ContentLength = io.NopCloser(strings.NewReader(`{"amount":100}`)), int64(len(`{"amount":100}`))
		return c
	})
	if res.status != 403 {
		t.Fatalf("the first POST after a reload: %d, want 403", res.status)
	}
	fresh := sign(t, guest, http.MethodPost, base+"/a/pay", `{"amount":5}`)
	if res := send(fresh, `{"amount":5}`); res.status != 200 {
		t.Fatalf("a new POST after the reload: %d %s", res.status, res.body)
	}
	// first POST, two GETs, the new POST
	if upstreamSaw != 4 {
		t.Errorf("the upstream saw %d requests, want 4", upstreamSaw)
	}
}
