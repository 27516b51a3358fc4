package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readmeQuickStart is the marker of the README's quick-start block, which this test runs.
const readmeQuickStart = "<!-- run by integration/readme_test.go -->"

// TestReadmeQuickStart does what README.md tells a newcomer: its first screen says what the module is,
// then gives the run and the test commands; the run command serves Caddyfile.example; and the commands of "See it work", run by sh
// (POSIX: not only bash), perform the guest flow through it with the real AWS CLI and curl, getting the
// guest's identity back from the demo upstream, and the refusal of an unsigned request.
//
// A reader runs the tests with the run command still going, so Caddyfile.example runs here with its
// ports (:8080, :9080) rewritten to free ones, from the repository root as documented (its relative
// paths resolve there), while the fixed ports are held by something else: the reader's Caddy, or a
// stand-in that fails the test if anything reaches it.
func TestReadmeQuickStart(t *testing.T) {
	requireEndToEnd(t)
	readme, err := os.ReadFile(filepath.Join(harness.root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The first screen (40 lines) says what the module is, then gives the commands.
	head := strings.Join(strings.SplitN(string(readme), "\n", 41)[:40], "\n")
	what := strings.Index(head, "One directive in front of an API")
	for _, cmd := range []string{"go run ./cmd/caddy run --config Caddyfile.example", "go test ./..."} {
		if at := strings.Index(head, cmd); at < 0 || what < 0 || at < what {
			t.Errorf("README.md's first screen does not give %q after saying what the module is", cmd)
		}
	}
	script := markedBlocks(t, "README.md", string(readme), readmeQuickStart)
	if script == "" {
		t.Fatalf("README.md has no block marked %s", readmeQuickStart)
	}
	env := needForScript(t, script, childEnv([]string{"AWS_"}, awsDefaults...))
	occupyPorts(t, readmePorts...)

	example, err := os.ReadFile(filepath.Join(harness.root, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	caddyfile := replacePorts(t, withoutLeadingComments(string(example)), map[int]string{8080: "{$PORT}", 9080: "{$DEMO_UPSTREAM_PORT}"})
	srv := launchCaddy(t, caddyLaunch{
		bin: caddyBinary(t), caddyfile: caddyfile, name: "Caddyfile.example", workDir: harness.root, waitSite: true,
		drop: []string{"CADDY", "XDG_", "AWS_", "PORT=", "DEMO_UPSTREAM_PORT="},
		env: func(_ *caddyServer, sitePort int) []string {
			return []string{"PORT=" + strconv.Itoa(sitePort), "DEMO_UPSTREAM_PORT=" + strconv.Itoa(freePort(t))}
		},
	})
	port := srv.BaseURL[strings.LastIndexByte(srv.BaseURL, ':')+1:]

	out := runClient(t, t.TempDir(), env, "", "sh", "-eu", "-c", replacePorts(t, script, map[int]string{8080: port})).ok(t)
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
