// Package build tests that the module builds into a Caddy the way users build it: with xcaddy, from a
// checkout. These builds compile Caddy and OPA from scratch in a module of their own, minutes on a
// loaded machine, so they live apart from integration/, whose tests share one binary.
package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// xcaddyVersion is the xcaddy the test installs when none is on PATH.
const xcaddyVersion = "v0.4.5"

// TestXcaddyBuildFromCheckout builds Caddy with xcaddy itself, with this checkout as the plugin, in the
// form the README's Install section gives:
//
//	xcaddy build <caddy version> --with github.com/caddy-cognito/caddy-cognito@v0.0.0=<checkout>
//
// and the binary must list every module this project registers.
func TestXcaddyBuildFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Caddy with xcaddy (minutes): skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The Caddy version this module is built and tested with, as a user of xcaddy would pin it.
	caddy := regexp.MustCompile(`(?m)^\s*github\.com/caddyserver/caddy/v2 (v\S+)`).FindSubmatch(goMod)
	if caddy == nil {
		t.Fatal("go.mod does not require github.com/caddyserver/caddy/v2")
	}
	xcaddy := findXcaddy(t)

	dir := t.TempDir()
	bin := filepath.Join(dir, "caddy")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xcaddy, "build", string(caddy[1]),
		"--with", "github.com/caddy-cognito/caddy-cognito@v0.0.0="+root, "--output", bin)
	cmd.Dir = dir
	// As the sidecar image builds it: static, so the binary runs anywhere.
	cmd.Env = append(environ("CGO_ENABLED", "GOFLAGS", "GOWORK"), "CGO_ENABLED=0", "GOWORK=off")
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xcaddy build: %v\n%s", err, out)
	}
	t.Logf("xcaddy build took %v", time.Since(start).Round(time.Second))

	out, err := exec.CommandContext(ctx, bin, "list-modules").Output()
	if err != nil {
		t.Fatalf("%s list-modules: %v", bin, err)
	}
	listed := strings.Fields(string(out))
	want := registeredModules(t, filepath.Join(root, "caddymodule"))
	for _, m := range append(want, "http.handlers.reverse_proxy") {
		if !slices.Contains(listed, m) {
			t.Errorf("list-modules does not list %s", m)
		}
	}
	// The subcommand too: it is registered by the same package.
	if out, err := exec.CommandContext(ctx, bin, "cognito", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "explain") {
		t.Errorf("caddy cognito --help: %v\n%s", err, out)
	}
}

// registeredModules are the module ids the package at dir registers (the ID of each CaddyModule), read
// from its source so that a new module is checked without being listed here.
func registeredModules(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	id := regexp.MustCompile(`(?m)^\s*ID:\s+"([a-z0-9_.]+)",`)
	var ids []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range id.FindAllSubmatch(src, -1) {
			ids = append(ids, string(m[1]))
		}
	}
	if len(ids) < 3 {
		t.Fatalf("found only the modules %v in %s: the pattern no longer finds their ids", ids, dir)
	}
	return ids
}

// findXcaddy returns xcaddy from PATH, or installs the pinned version into a temporary GOBIN. When it
// cannot be installed, the test skips with the command to install it, or fails when CI is set.
func findXcaddy(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("xcaddy"); err == nil {
		return bin
	}
	gobin := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/caddyserver/xcaddy/cmd/xcaddy@"+xcaddyVersion)
	cmd.Env = append(environ("GOBIN", "GOFLAGS", "GOWORK"), "GOBIN="+gobin, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := "xcaddy is not on PATH and could not be installed: " + err.Error() + "\n" + string(out) +
			"\ninstall it: go install github.com/caddyserver/xcaddy/cmd/xcaddy@" + xcaddyVersion
		if os.Getenv("CI") != "" {
			t.Fatalf("%s\n(CI is set: a missing tool fails the test instead of skipping it)", msg)
		}
		t.Skip(msg)
	}
	return filepath.Join(gobin, "xcaddy")
}

// environ is the test's environment without the variables named.
func environ(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return env
}
