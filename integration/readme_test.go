package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeQuickStart is the marker of the README's quick-start block, which this test runs.
const readmeQuickStart = "<!-- run by integration/readme_test.go -->"

// TestReadmeQuickStart does what README.md tells a newcomer: its first lines give the run and the test
// commands; the run command serves Caddyfile.example on :8080 (as documented, so this test needs
// that port free); and the commands of "See it work" perform the guest flow through it with the real
// AWS CLI and curl, getting the guest's identity back from the demo upstream, and the refusal of an
// unsigned request.
func TestReadmeQuickStart(t *testing.T) {
	requireEndToEnd(t)
	readme, err := os.ReadFile(filepath.Join(harness.root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(strings.SplitN(string(readme), "\n", 12)[:11], "\n")
	for _, cmd := range []string{"go run ./cmd/caddy run --config Caddyfile.example", "go test ./..."} {
		if !strings.Contains(head, cmd) {
			t.Errorf("README.md's first lines do not give %q", cmd)
		}
	}

	// The documented run command, with the binary go run would build.
	dir := t.TempDir()
	env := childEnv([]string{"CADDY", "XDG_"}, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	caddy := startProcess(t, "caddy", harness.root, env, caddyBinary(t), "run", "--config", "Caddyfile.example")
	if err := caddy.waitFor("Caddyfile.example", 30*time.Second, func() error { return dialable("127.0.0.1:8080") }); err != nil {
		t.Fatalf("Caddyfile.example did not start on :8080: %v", err)
	}

	script := markedBlocks(t, "README.md", string(readme), readmeQuickStart)
	if script == "" {
		t.Fatalf("README.md has no block marked %s", readmeQuickStart)
	}
	out := runClient(t, t.TempDir(), childEnv([]string{"AWS_"}, awsDefaults...), "", "bash", "-euo", "pipefail", "-c", script).ok(t)
	// Two answers: the signed request's echo, then the unsigned one's refusal.
	dec := json.NewDecoder(strings.NewReader(out))
	var echo map[string]string
	if err := dec.Decode(&echo); err != nil {
		t.Fatalf("the signed request's answer is not the upstream's JSON: %v\n%s", err, out)
	}
	if echo["authentication_type"] != "unauthenticated" || echo["role_arn"] != "arn:aws:iam::123456789012:role/demo-guest" ||
		!strings.HasPrefix(echo["identity_id"], "us-east-1:") || echo["identity_pool_id"] != "us-east-1:7b0c5d9e-3f4a-4b8c-9d2e-1a6f0e5c4b3d" {
		t.Errorf("the upstream saw %v", echo)
	}
	var refusal map[string]string
	if err := dec.Decode(&refusal); err != nil || refusal["message"] != "Missing Authentication Token" {
		t.Errorf("the unsigned request's answer: %v, %v\n%s", refusal, err, out)
	}
}
