package integration

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientTimeout bounds one run of a client program.
const clientTimeout = 60 * time.Second

// cmdResult is how one run of a client program (aws, node, curl, python3) ended.
type cmdResult struct {
	Cmd            string // the command line, for messages
	Stdout, Stderr string
	Err            error // nil when it exited 0
}

// ok fails the test unless the program exited 0, and returns its stdout.
func (r cmdResult) ok(t *testing.T) string {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", r.Cmd, r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// runClient runs a client program to completion (at most clientTimeout) with stdin as its input. A
// failure to start or a timeout fails the test; an exit status is left to the caller (see ok).
func runClient(t *testing.T, dir string, env []string, stdin, name string, args ...string) cmdResult {
	t.Helper()
	requireEndToEnd(t)
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cmdResult{Cmd: filepath.Base(name) + " " + strings.Join(args, " "), Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	if ctx.Err() != nil {
		t.Fatalf("%s: no answer within %v\nstderr: %s", r.Cmd, clientTimeout, r.Stderr)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v", r.Cmd, err)
	}
	return r
}

// awsDefaults isolate the AWS CLI from the machine: no config or credentials file, no instance
// metadata, no pager, no retries, and dummy keys (a test passes others in env to sign with them).
var awsDefaults = []string{
	"AWS_CONFIG_FILE=/dev/null",
	"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	"AWS_EC2_METADATA_DISABLED=true",
	"AWS_PAGER=",
	"AWS_CLI_AUTO_PROMPT=off",
	"AWS_MAX_ATTEMPTS=1",
	"AWS_DEFAULT_REGION=us-east-1",
	"AWS_ACCESS_KEY_ID=AKIDINTEGRATION",
	"AWS_SECRET_ACCESS_KEY=integration-dummy-secret",
}

// runAWS runs the AWS CLI with awsDefaults, then env ("NAME=value", overriding them), then none of the
// machine's AWS_ variables. Cognito Identity calls need --no-sign-request; pass --endpoint-url.
func runAWS(t *testing.T, env []string, args ...string) cmdResult {
	t.Helper()
	all := childEnv([]string{"AWS_"}, append(append([]string(nil), awsDefaults...), env...)...)
	return runClient(t, t.TempDir(), all, "", need(t, "aws"), args...)
}

// runNode runs a script of integration/js (where its npm packages resolve) with stdin as input, e.g.
// runNode(t, spec, "signed-request.js").
func runNode(t *testing.T, stdin, script string, args ...string) cmdResult {
	t.Helper()
	env := childEnv([]string{"AWS_", "NODE_"}, "AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1")
	return runClient(t, needNPM(t, "integration/js"), env, stdin, need(t, "node"), append([]string{script}, args...)...)
}

// runCurl runs curl, silent but for errors, with a 10 s limit on the whole transfer.
func runCurl(t *testing.T, args ...string) cmdResult {
	t.Helper()
	env := childEnv([]string{"AWS_", "CURL_", "http_proxy=", "https_proxy=", "HTTP_PROXY=", "HTTPS_PROXY=", "ALL_PROXY="})
	return runClient(t, t.TempDir(), env, "", need(t, "curl"),
		append([]string{"--silent", "--show-error", "--max-time", "10", "--noproxy", "*"}, args...)...)
}

// runPython runs a script of integration/py with the python3 that imports botocore, stdin as input.
func runPython(t *testing.T, stdin, script string, args ...string) cmdResult {
	t.Helper()
	dir := filepath.Join(harness.root, "integration", "py")
	env := childEnv([]string{"AWS_", "PYTHON"}, "PYTHONDONTWRITEBYTECODE=1")
	return runClient(t, dir, env, stdin, need(t, "python3-botocore"), append([]string{script}, args...)...)
}
