package policy_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// leakyPolicy echoes the whole input into its result and, as a policy may, adds credentials of its own
// for the upstream from its data: an Authorization header and an API key.
var leakyPolicy = map[string]string{
	"authz.rego": `package cognito.authz

decision := {
	"allow": true,
	"reason": json.marshal(input),
	"headers": {
		"Authorization": concat(" ", ["Bearer", data.upstream.token]),
		"x-api-key": data.upstream.key,
		"X-Tenant": "t1",
	},
}
`,
	"upstream/data.json": `{"token": "upstream-secret-token", "key": "upstream-secret-key"}`,
}

// credentialRequest carries a credential in every place a client can put one; every one contains
// "secret".
func credentialRequest(t *testing.T) policy.Input {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://api.example.com/orders?X-Amz-Signature=q-secret&X-Amz-Security-Token=q-secret-token&X-Amz-Credential=q-secret-cred&token=custom-secret", nil)
	r.Header.Set("Authorization", "Bearer hdr-secret")
	r.Header.Set("Proxy-Authorization", "Basic proxy-secret")
	r.Header.Set("Cookie", "id_token=cookie-secret")
	r.Header.Set("X-Amz-Security-Token", "amz-secret")
	r.Header.Set("X-Api-Key", "client-secret-key")
	redaction, err := policy.NewRedaction([]string{"X-Api-Key"}, []string{"token"})
	if err != nil {
		t.Fatal(err)
	}
	return policy.Input{Request: r, Path: "/orders", Identity: alice(), Redaction: redaction}
}

// TestDecisionLogUpload sends decision logs to a log service on loopback, as OPA's decision_logs
// plugin does, and checks that no credential is in what it receives: neither the client's (never in
// the input) nor those the policy added for the upstream (masked in the logged result).
func TestDecisionLogUpload(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var uploads [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
				body, err = io.ReadAll(zr)
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		uploads = append(uploads, body)
		mu.Unlock()
	}))
	t.Cleanup(collector.Close)
	cfg := fmt.Appendf(nil, `
services:
  logs:
    url: %s
decision_logs:
  service: logs
  reporting:
    min_delay_seconds: 1
    max_delay_seconds: 1
`, collector.URL)
	e, err := policy.New(context.Background(), policy.Config{Paths: []string{writeFiles(t, leakyPolicy)}, OPAConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), credentialRequest(t))
	if err != nil || !d.Allow || d.Headers["Authorization"] != "Bearer upstream-secret-token" {
		t.Fatalf("the decision itself must keep the policy's headers: %+v, %v", d, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.Close(ctx) // flushes the buffered decision

	mu.Lock()
	defer mu.Unlock()
	var events []map[string]any
	for _, u := range uploads {
		var batch []map[string]any
		if err := json.Unmarshal(u, &batch); err != nil {
			t.Fatalf("upload is not a JSON list of events: %v", err)
		}
		events = append(events, batch...)
		if bytes.Contains(u, []byte("secret")) {
			t.Errorf("a credential was uploaded: %s", u)
		}
	}
	if len(events) != 1 {
		t.Fatalf("got %d decision log events, want 1", len(events))
	}
	ev := events[0]
	if ev["path"] != "cognito/authz/decision" || ev["decision_id"] == "" {
		t.Errorf("event path %v, id %v", ev["path"], ev["decision_id"])
	}
	headers := ev["result"].(map[string]any)["headers"].(map[string]any)
	if headers["Authorization"] != "**REDACTED**" || headers["x-api-key"] != "**REDACTED**" || headers["X-Tenant"] != "t1" {
		t.Errorf("logged result headers %v", headers)
	}
	if ev["input"].(map[string]any)["identity"].(map[string]any)["subject"] != alice().Subject {
		t.Error("the logged input lost the identity")
	}
}

// TestDecisionLogConsole prints decision logs through the engine's logger, with the same guarantees.
func TestDecisionLogConsole(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEngine(t, policy.Config{
		Paths:     []string{writeFiles(t, leakyPolicy)},
		OPAConfig: []byte(`{"decision_logs": {"console": true}}`),
		Logger:    zap.New(core),
	})
	if _, err := e.Decide(context.Background(), credentialRequest(t)); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, entry := range logs.All() {
		line, _ := json.Marshal(entry.ContextMap())
		if strings.Contains(string(line), "secret") {
			t.Errorf("a credential was logged: %s %s", entry.Message, line)
		}
		if entry.LoggerName == "decision_log" && strings.Contains(string(line), "cognito/authz/decision") {
			found = true
		}
	}
	if !found {
		t.Fatal("no decision log line")
	}
}
