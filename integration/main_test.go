package integration

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// harness is what TestMain finds once for the whole run; tests only read it.
var harness struct {
	root   string // the repository root
	jsDir  string // integration/js, where the npm packages live
	tmp    string // scratch space of the run (the Caddy binary), removed at the end
	node   string
	aws    string
	curl   string
	wrk    string
	python string // a python3 that imports botocore

	chromium string // Debian's Chromium, which examples/browser/drive.js drives (playwright-core)

	caddyOnce sync.Once
	caddyBin  string
	caddyErr  error // the build failed; the error holds the compiler's output
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := 1
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if harness.tmp != "" {
		os.RemoveAll(harness.tmp)
	}
	os.Exit(code)
}

// setUp finds the repository and, unless -short, every tool the end-to-end tests run, and says
// precisely how to install what is missing.
func setUp() error {
	root, err := filepath.Abs("..")
	if err != nil {
		return fmt.Errorf("integration: finding the repository root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("integration: %s is not the repository root: %w", root, err)
	}
	harness.root = root
	harness.jsDir = filepath.Join(root, "integration", "js")
	if harness.tmp, err = os.MkdirTemp("", "caddy-cognito-integration-"); err != nil {
		return fmt.Errorf("integration: creating the run's scratch directory: %w", err)
	}
	if testing.Short() {
		return nil // the end-to-end tests skip themselves; nothing below is needed
	}

	var missing []string
	if harness.node, err = exec.LookPath("node"); err != nil {
		missing = append(missing, "Node.js (node, >= 18, with npm): apt-get install nodejs npm")
	}
	if err := checkNPMPackages(harness.jsDir); err != nil {
		missing = append(missing, fmt.Sprintf("the npm packages of integration/js (%v): from the repository root run\n"+
			"        npm ci --prefix integration/js", err))
	}
	if harness.aws, err = exec.LookPath("aws"); err != nil {
		missing = append(missing, "the AWS CLI (aws): apt-get install awscli")
	}
	if harness.curl, err = exec.LookPath("curl"); err != nil {
		missing = append(missing, "curl: apt-get install curl")
	}
	if harness.wrk, err = exec.LookPath("wrk"); err != nil {
		missing = append(missing, "wrk (to check the load script's wrk scripts): apt-get install wrk")
	}
	if harness.python = findPythonWithBotocore(); harness.python == "" {
		missing = append(missing, "python3 with botocore: apt-get install python3-botocore")
	}
	if harness.chromium, err = exec.LookPath("/usr/bin/chromium"); err != nil {
		missing = append(missing, "Chromium (/usr/bin/chromium, for the browser example): apt-get install chromium")
	}
	if err := checkNPMPackages(filepath.Join(root, "examples", "browser")); err != nil {
		missing = append(missing, fmt.Sprintf("the npm packages of examples/browser (%v): from the repository root run\n"+
			"        npm ci --prefix examples/browser", err))
	}
	if len(missing) > 0 {
		return fmt.Errorf("integration: the end-to-end tests need what is missing here:\n  - %s\n"+
			".ci/run installs all of it. Without it, run only the tests that need none of it: go test -short ./integration/",
			strings.Join(missing, "\n  - "))
	}
	return nil
}

// checkNPMPackages checks that every dependency of dir/package.json is installed in the pinned version.
func checkNPMPackages(dir string) error {
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := readJSONFile(filepath.Join(dir, "package.json"), &manifest); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		return errors.New("none installed")
	}
	var problems []string
	for name, want := range manifest.Dependencies {
		var installed struct {
			Version string `json:"version"`
		}
		err := readJSONFile(filepath.Join(dir, "node_modules", name, "package.json"), &installed)
		switch {
		case errors.Is(err, os.ErrNotExist):
			problems = append(problems, name+" not installed")
		case err != nil:
			problems = append(problems, err.Error())
		case installed.Version != want:
			problems = append(problems, fmt.Sprintf("%s %s installed, %s pinned", name, installed.Version, want))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// findPythonWithBotocore returns the first python3 that can import botocore: the one on PATH, or
// Debian's, where python3-botocore installs it.
func findPythonWithBotocore() string {
	for _, candidate := range []string{"python3", "/usr/bin/python3"} {
		bin, err := exec.LookPath(candidate)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = exec.CommandContext(ctx, bin, "-c", "import botocore").Run()
		cancel()
		if err == nil {
			return bin
		}
	}
	return ""
}

func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

// requireEndToEnd skips t under -short: it starts real servers and clients.
func requireEndToEnd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test (starts real servers and clients): skipped with -short")
	}
}
