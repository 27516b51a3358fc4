package integration

// The programs the end-to-end tests run. What the tests can install themselves (the npm packages, from
// the committed lock files) they install on first use; what they cannot (the AWS CLI, Chromium...)
// they look for, and a test that needs a missing one skips saying how to install it, or fails when the
// CI environment variable is set, so that a CI machine missing a tool never passes by skipping.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A tool is a program the tests cannot install themselves.
type tool struct {
	what    string   // for messages: "the AWS CLI (aws)"
	install string   // the command that installs it on Debian
	names   []string // looked for on PATH in this order, each copy found (pyenv's shims come first)
	paths   []string // then these absolute paths
	// works checks a candidate (runs it), nil when it is usable.
	works func(bin string) error
}

// tools are the tools need knows, by the name the tests use.
var tools = map[string]tool{
	"node": {
		what: "Node.js 18 or later (node)", install: "sudo apt-get install nodejs npm",
		names: []string{"node"}, paths: []string{"/usr/bin/node"},
		works: func(bin string) error {
			return probe(bin, "-e", `process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)`)
		},
	},
	"npm": {
		what: "npm", install: "sudo apt-get install npm",
		names: []string{"npm"}, paths: []string{"/usr/bin/npm"},
		works: func(bin string) error { return probe(bin, "--version") },
	},
	"aws": {
		what: "the AWS CLI (aws)", install: "sudo apt-get install awscli",
		names: []string{"aws"}, paths: []string{"/usr/bin/aws"},
		works: func(bin string) error { return probe(bin, "--version") },
	},
	"curl": {
		what: "curl with --aws-sigv4 (7.75 or later)", install: "sudo apt-get install curl",
		names: []string{"curl"}, paths: []string{"/usr/bin/curl"},
		works: func(bin string) error {
			out, err := probeOutput(bin, "--help", "all")
			if err == nil && !strings.Contains(out, "--aws-sigv4") {
				err = errors.New("no --aws-sigv4 option")
			}
			return err
		},
	},
	"python3-botocore": {
		what: "a python3 that imports botocore", install: "sudo apt-get install python3-botocore",
		names: []string{"python3"}, paths: []string{"/usr/bin/python3"},
		works: func(bin string) error { return probe(bin, "-c", "import botocore") },
	},
	"python3-aws-requests-auth": {
		what:    "a python3 that imports aws_requests_auth and requests",
		install: "sudo apt-get install python3-aws-requests-auth python3-requests",
		names:   []string{"python3"}, paths: []string{"/usr/bin/python3"},
		works: func(bin string) error { return probe(bin, "-c", "import aws_requests_auth.aws_auth, requests") },
	},
	"chromium": {
		what: "Chromium", install: "sudo apt-get install chromium",
		names: []string{"chromium", "chromium-browser"}, paths: []string{"/usr/bin/chromium"},
		works: func(bin string) error { return probe(bin, "--headless", "--no-sandbox", "--version") },
	},
	"redis-server": {
		what: "redis-server", install: "sudo apt-get install redis-server",
		names: []string{"redis-server"}, paths: []string{"/usr/bin/redis-server"},
		works: func(bin string) error { return probe(bin, "--version") },
	},
	"wrk": {
		what: "wrk", install: "sudo apt-get install wrk",
		names: []string{"wrk"}, paths: []string{"/usr/bin/wrk"},
		// wrk has no option that exits 0 without a URL; -v prints its version and exits 1.
		works: func(bin string) error {
			out, _ := probeOutput(bin, "-v")
			if !strings.Contains(out, "wrk ") {
				return fmt.Errorf("-v printed %q", tail(out, 200))
			}
			return nil
		},
	},
}

// found is what looking for each tool gave, once per run.
var found struct {
	mu    sync.Mutex
	tools map[string]*foundTool
}

type foundTool struct {
	once    sync.Once
	bin     string
	problem string // why none of the candidates is usable
}

// need returns the path of a usable copy of the tool called name (a key of tools). When there is none,
// the test skips with the command that installs it, or fails with the same message when CI is set.
// Under -short it skips: only the end-to-end tests run tools.
func need(t *testing.T, name string) string {
	t.Helper()
	requireEndToEnd(t)
	spec, ok := tools[name]
	if !ok {
		t.Fatalf("need(%q): no such tool", name)
	}
	found.mu.Lock()
	if found.tools == nil {
		found.tools = map[string]*foundTool{}
	}
	f := found.tools[name]
	if f == nil {
		f = &foundTool{}
		found.tools[name] = f
	}
	found.mu.Unlock()
	f.once.Do(func() { f.bin, f.problem = spec.find() })
	if f.bin == "" {
		missing(t, fmt.Sprintf("this test needs %s: %s. Install it with\n\t%s", spec.what, f.problem, spec.install))
	}
	return f.bin
}

// missing skips t with msg, or fails it when the CI environment variable is set: on CI a missing tool
// is a broken machine, not a reason to pass.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s\n(CI is set: a missing tool fails the test instead of skipping it)", msg)
	} else {
		t.Skip(msg)
	}
}

// find returns the first candidate that works, or why none does.
func (spec tool) find() (bin, problem string) {
	var candidates []string
	for _, name := range spec.names {
		candidates = append(candidates, lookPathAll(name)...)
	}
	candidates = append(candidates, spec.paths...)
	var problems []string
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		if _, err := os.Stat(c); err != nil {
			continue
		}
		if err := spec.works(c); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", c, err))
			continue
		}
		return c, ""
	}
	if len(problems) == 0 {
		return "", fmt.Sprintf("no %s on PATH or at %s", strings.Join(spec.names, " or "), strings.Join(spec.paths, ", "))
	}
	return "", "none works (" + strings.Join(problems, "; ") + ")"
}

// lookPathAll returns every executable called name in the directories of PATH, in order (which -a).
func lookPathAll(name string) []string {
	var all []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		if bin, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			all = append(all, bin)
		}
	}
	return all
}

// probe runs bin with args (20 s at most) and returns nil if it exits 0.
func probe(bin string, args ...string) error {
	_, err := probeOutput(bin, args...)
	return err
}

func probeOutput(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(tail(string(out), 200)))
	}
	return string(out), nil
}

// npmStamp, in a folder's node_modules, holds the SHA-256 of the package-lock.json it was installed
// from (as .ci/run has always written it).
const npmStamp = ".installed-from-lock"

// npmInstalls are the folders installed by this process, each once.
var npmInstalls struct {
	mu   sync.Mutex
	dirs map[string]*npmInstall
}

type npmInstall struct {
	once sync.Once
	err  error
}

// needNPM returns the folder rel (relative to the repository root: integration/js, examples/browser...)
// with its npm packages installed from its committed lock file. It runs `npm ci` on first use and again
// only when the lock file changed since (or node_modules does not hold the pinned versions), holding a
// lock file so that concurrent test processes do not install into one folder at once.
func needNPM(t *testing.T, rel string) string {
	t.Helper()
	need(t, "node")
	npm := need(t, "npm")
	dir := filepath.Join(harness.root, filepath.FromSlash(rel))
	npmInstalls.mu.Lock()
	if npmInstalls.dirs == nil {
		npmInstalls.dirs = map[string]*npmInstall{}
	}
	in := npmInstalls.dirs[dir]
	if in == nil {
		in = &npmInstall{}
		npmInstalls.dirs[dir] = in
	}
	npmInstalls.mu.Unlock()
	in.once.Do(func() { in.err = installNPM(npm, dir) })
	if in.err != nil {
		t.Fatalf("installing the npm packages of %s: %v\n(by hand, from the repository root: npm ci --prefix %s)", rel, in.err, rel)
	}
	return dir
}

// installNPM runs npm ci in dir unless its node_modules was installed from the current lock file.
func installNPM(npm, dir string) error {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	installed := func() bool {
		stamp, err := os.ReadFile(filepath.Join(dir, "node_modules", npmStamp))
		return err == nil && strings.TrimSpace(string(stamp)) == want && checkNPMPackages(dir) == nil
	}
	if installed() {
		return nil
	}

	unlock, err := lockFile(npmLockPath(dir))
	if err != nil {
		return err
	}
	defer unlock()
	if installed() { // another process installed it while we waited
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	// devDependencies too, whatever the machine's NODE_ENV says.
	cmd.Env = childEnv([]string{"NODE_ENV=", "npm_config_production=", "NPM_CONFIG_PRODUCTION="})
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", dir, err, tail(string(out), 8<<10))
	}
	if err := checkNPMPackages(dir); err != nil {
		return fmt.Errorf("after npm ci in %s: %v", dir, err)
	}
	tmp := filepath.Join(dir, "node_modules", npmStamp+".tmp")
	if err := os.WriteFile(tmp, []byte(want+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "node_modules", npmStamp))
}

// npmLockPath is the lock file of installs into dir: outside dir, since npm ci removes node_modules and
// the folder is the repository's; one per folder, so that different folders install at once.
func npmLockPath(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "caddy-cognito-npm-"+hex.EncodeToString(sum[:8])+".lock")
}

// lockFile takes an exclusive flock on path (created if need be), waiting for it, and returns its
// release. The kernel releases it if the process dies.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("opening the lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// scriptCommand matches a command of tools run by a shell script.
var scriptCommand = regexp.MustCompile(`(?m)(?:^|[\s;|&({])(aws|curl|node|python3|wrk|chromium)(?:\s|$)`)

// needForScript calls need for every tool that script runs and returns env (a whole environment) with
// PATH starting with the folders of the copies need found, so that the script runs those, not the
// first ones on PATH.
func needForScript(t *testing.T, script string, env []string) []string {
	t.Helper()
	var first []string
	for _, m := range scriptCommand.FindAllStringSubmatch(script, -1) {
		name := m[1]
		if name == "python3" {
			name = "python3-botocore"
		}
		if dir := filepath.Dir(need(t, name)); !slices.Contains(first, dir) {
			first = append(first, dir)
		}
	}
	path := os.Getenv("PATH")
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
			continue
		}
		out = append(out, kv)
	}
	if len(first) > 0 {
		path = strings.Join(first, string(os.PathListSeparator)) + string(os.PathListSeparator) + path
	}
	return append(out, "PATH="+path)
}
