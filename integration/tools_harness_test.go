package integration

// Tests of need and needNPM, with stand-ins for the tools and for npm.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestToolFindProbesEachCopy: the first copy on PATH that does not work (pyenv's shim of a python3
// without botocore) is passed over for the next, and a tool found nowhere says where it was looked for.
func TestToolFindProbesEachCopy(t *testing.T) {
	dir := t.TempDir()
	broken, good := filepath.Join(dir, "first"), filepath.Join(dir, "second")
	writeScript(t, filepath.Join(broken, "fake-tool"), "echo 'No module named botocore' >&2\nexit 1\n")
	writeScript(t, filepath.Join(good, "fake-tool"), "exit 0\n")
	t.Setenv("PATH", broken+string(os.PathListSeparator)+good+string(os.PathListSeparator)+os.Getenv("PATH"))
	spec := tool{names: []string{"fake-tool"}, works: func(bin string) error { return probe(bin) }}

	if bin, problem := spec.find(); bin != filepath.Join(good, "fake-tool") {
		t.Errorf("find = %q (%s), want the second copy on PATH, the first that works", bin, problem)
	}
	spec.paths = []string{"/nonexistent/fake-tool"}
	spec.names = []string{"no-such-fake-tool"}
	if bin, problem := spec.find(); bin != "" || !strings.Contains(problem, "no no-such-fake-tool on PATH or at /nonexistent/fake-tool") {
		t.Errorf("find = %q, %q; want none, saying where it looked", bin, problem)
	}
	spec.names = []string{"fake-tool"}
	t.Setenv("PATH", broken)
	if bin, problem := spec.find(); bin != "" || !strings.Contains(problem, "No module named botocore") {
		t.Errorf("find = %q, %q; want none, with why the copy found does not work", bin, problem)
	}
}

// recordingTB records what missing asks of a test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Skip(args ...any)               { r.skipped = fmt.Sprint(args...) }
func (r *recordingTB) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

// TestMissingToolSkipsByHandFailsOnCI: run by hand, a test whose tool is missing skips with the install
// command; with CI set, it fails with the same message.
func TestMissingToolSkipsByHandFailsOnCI(t *testing.T) {
	const msg = "this test needs the AWS CLI (aws): not found. Install it with\n\tsudo apt-get install awscli"
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recordingTB{TB: t}
			missing(r, msg)
			if ci == "" && (r.skipped != msg || r.failed != "") {
				t.Errorf("by hand: skipped %q, failed %q; want a skip with the message", r.skipped, r.failed)
			}
			if ci != "" && (r.failed == "" || !strings.HasPrefix(r.failed, msg) || r.skipped != "") {
				t.Errorf("on CI: skipped %q, failed %q; want a failure with the message", r.skipped, r.failed)
			}
		})
	}
	for name, spec := range tools {
		if !strings.HasPrefix(spec.install, "sudo apt-get install ") {
			t.Errorf("tool %s: install %q, want an apt-get command", name, spec.install)
		}
	}
}

// TestInstallNPMOncePerLockFile: concurrent installs into one folder (the test processes of one go test
// run) run npm ci once; another install does nothing until the lock file changes, or node_modules no
// longer holds the pinned versions.
func TestInstallNPMOncePerLockFile(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(t.TempDir(), "runs")
	// A stand-in for npm ci: it records its run, then installs (slowly) what package.json pins.
	npm := filepath.Join(t.TempDir(), "npm")
	writeScript(t, npm, `[ "$1" = ci ] || exit 2
echo run >>"`+count+`"
rm -rf node_modules
sleep 0.3
mkdir -p node_modules/left-pad
echo '{"version": "1.3.0"}' >node_modules/left-pad/package.json
`)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runs := func() int {
		data, _ := os.ReadFile(count)
		return strings.Count(string(data), "run")
	}
	write("package.json", `{"dependencies": {"left-pad": "1.3.0"}}`)
	write("package-lock.json", `{"lockfileVersion": 3, "v": 1}`)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = installNPM(npm, dir) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := runs(); n != 1 {
		t.Errorf("4 concurrent installs ran npm ci %d times, want 1", n)
	}
	stamp, err := os.ReadFile(filepath.Join(dir, "node_modules", npmStamp))
	if err != nil || len(strings.TrimSpace(string(stamp))) != 64 {
		t.Errorf("stamp %q, %v; want the lock file's SHA-256", stamp, err)
	}

	steps := []struct {
		name     string
		change   func()
		wantRuns int
	}{
		{"nothing changed", func() {}, 1},
		{"the lock file changed", func() { write("package-lock.json", `{"lockfileVersion": 3, "v": 2}`) }, 2},
		{"a package was removed by hand", func() { os.RemoveAll(filepath.Join(dir, "node_modules", "left-pad")) }, 3},
		{"nothing changed again", func() {}, 3},
	}
	for _, s := range steps {
		s.change()
		if err := installNPM(npm, dir); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n := runs(); n != s.wantRuns {
			t.Errorf("%s: npm ci has run %d times, want %d", s.name, n, s.wantRuns)
		}
	}
}
