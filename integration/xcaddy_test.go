package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// xcaddyMain is the main package xcaddy writes: Caddy's command, its standard modules, and the plugins
// given with --with, blank-imported.
const xcaddyMain = `package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/caddy-cognito/caddy-cognito"
)

func main() {
	caddycmd.Main()
}
`

// TestXcaddyBuild does what `xcaddy build --with github.com/caddy-cognito/caddy-cognito=<checkout>`
// does (xcaddy itself is not installable here): a temporary main module that requires Caddy and this
// module, replaced by the checkout, blank-imports the module's root package; it is built with xcaddy's
// flags, and the binary must list every module of this project.
func TestXcaddyBuild(t *testing.T) {
	t.Parallel()
	requireEndToEnd(t)
	if err := readBuildInputs(harness.root); err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(harness.root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The Caddy version this module is built and tested with, as a user of xcaddy would pin it.
	caddy := regexp.MustCompile(`(?m)^\s*github\.com/caddyserver/caddy/v2 (v\S+)`).FindSubmatch(goMod)
	if caddy == nil {
		t.Fatal("go.mod does not require github.com/caddyserver/caddy/v2")
	}

	dir := t.TempDir()
	files := map[string]string{
		"main.go": xcaddyMain,
		"go.mod": fmt.Sprintf(`module caddy

go 1.26

require (
	github.com/caddyserver/caddy/v2 %s
	github.com/caddy-cognito/caddy-cognito v0.0.0
)

replace github.com/caddy-cognito/caddy-cognito => %s
`, caddy[1], harness.root),
	}
	// The checkout's go.sum covers everything both modules need: the build needs no checksum lookup.
	goSum, err := os.ReadFile(filepath.Join(harness.root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files["go.sum"] = string(goSum)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	bin := filepath.Join(dir, "caddy")
	// The sidecar's build has the same flags (CGO off, -trimpath): one of the two compiles, the other
	// links what it compiled.
	staticBuild.mu.Lock()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "-ldflags", "-w -s", "-trimpath", ".")
	cmd.Dir = dir
	// -mod=mod: the missing requirements are resolved from the module cache (and the proxy set, if
	// anything is missing), as xcaddy's `go get` does.
	cmd.Env = childEnv([]string{"CGO_ENABLED=", "GOFLAGS=", "GOWORK="}, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	cancel()
	staticBuild.mu.Unlock()
	if err != nil {
		t.Fatalf("go build of the xcaddy-style module: %v\n%s", err, out)
	}
	checkListModules(t, bin)
}
