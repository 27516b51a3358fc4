package caddymodule

import (
	"path/filepath"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// A refusal can be quoted: the same request id is in the X-Amzn-RequestId header, the JSON body,
// the denial log line and the access log line (Caddy's request UUID), and the access log names the
// caller who was authenticated and then refused.
func TestRefusalRequestID(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	base, _, logPath := runCaddyLogged(t, `	log {
		output file `+accessLog+`
		format json
	}
	cognito_authorizer {
`+userPool(idp)+`		groups admins
	}
	reverse_proxy `+echo.URL)

	token := idp.AccessToken(t, map[string]any{"sub": "bob-sub", "cognito:groups": []string{"ops"}})
	res := do(t, "GET", base+"/orders", map[string]string{"Authorization": "Bearer " + token})
	if res.status != 403 || refusal(t, res) != "Forbidden" {
		t.Fatalf("got %d %s, want 403 Forbidden", res.status, res.body)
	}
	id := res.header.Get("X-Amzn-RequestId")

	var denial map[string]any
	for _, line := range readLog(t, logPath, 1) {
		if line["msg"] == "request denied" {
			denial = line
		}
	}
	if denial == nil {
		t.Fatal("no denial log line")
	}
	if denial["request_id"] != id || denial["user_id"] != "bob-sub" {
		t.Errorf("denial line request_id %v user_id %v, want %s and bob-sub", denial["request_id"], denial["user_id"], id)
	}

	lines := readLog(t, accessLog, 1)
	if len(lines) != 1 {
		t.Fatalf("%d access log lines, want 1", len(lines))
	}
	if lines[0]["user_id"] != "bob-sub" || lines[0]["uuid"] != id {
		t.Errorf("access log user_id %v uuid %v, want bob-sub and %s", lines[0]["user_id"], lines[0]["uuid"], id)
	}

	// Without credentials nobody was authenticated: the id is there, the user is not.
	anon := do(t, "GET", base+"/orders", nil)
	if anon.status != 401 || refusal(t, anon) == "" {
		t.Fatalf("got %d %s, want 401", anon.status, anon.body)
	}
	lines = readLog(t, accessLog, 2)
	if len(lines) != 2 || lines[1]["user_id"] != "" || lines[1]["uuid"] != anon.header.Get("X-Amzn-RequestId") {
		t.Errorf("access log %v, want no user_id and the refusal's id", lines[len(lines)-1])
	}
}
