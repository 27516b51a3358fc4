package integration

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// harness is what TestMain finds once for the whole run; tests only read it. The programs the tests
// run are found, or installed, by the tests that need them (need, needNPM).
var harness struct {
	root string // the repository root
	tmp  string // scratch space of the run (the Caddy binary), removed at the end

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

// setUp finds the repository and makes the run's scratch directory.
func setUp() error {
	root, err := filepath.Abs("..")
	if err != nil {
		return fmt.Errorf("integration: finding the repository root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("integration: %s is not the repository root: %w", root, err)
	}
	harness.root = root
	if harness.tmp, err = os.MkdirTemp("", "caddy-cognito-integration-"); err != nil {
		return fmt.Errorf("integration: creating the run's scratch directory: %w", err)
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
