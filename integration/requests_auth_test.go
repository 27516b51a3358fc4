package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// aws-requests-auth (Python, AWSRequestsAuth for requests) is a client the tests cannot install
// themselves: Debian's python3-aws-requests-auth and python3-requests provide it.

const awsRequestsAuthInstall = "sudo apt-get install python3-aws-requests-auth python3-requests"

// awsRequestsAuthPython is the first python3 that imports aws_requests_auth and requests: the one on
// PATH, or Debian's, where the packages install them. "" when there is none.
var awsRequestsAuthPython = sync.OnceValue(func() string {
	for _, candidate := range []string{"python3", "/usr/bin/python3"} {
		bin, err := exec.LookPath(candidate)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = exec.CommandContext(ctx, bin, "-c", "import aws_requests_auth.aws_auth, requests").Run()
		cancel()
		if err == nil {
			return bin
		}
	}
	return ""
})

// needAWSRequestsAuth returns a python3 with aws-requests-auth. Without one, t is skipped with the
// command that installs it when run by hand, and fails when CI is set: CI runs every client.
func needAWSRequestsAuth(t *testing.T) string {
	t.Helper()
	requireEndToEnd(t)
	if bin := awsRequestsAuthPython(); bin != "" {
		return bin
	}
	const msg = "aws-requests-auth is not installed (no python3 imports aws_requests_auth and requests): " + awsRequestsAuthInstall
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set: every client must run)")
	}
	t.Skip(msg)
	return ""
}

// sendWithAWSRequestsAuth sends req with requests, signed by aws-requests-auth. The library signs no
// header but host, x-amz-date and x-amz-security-token, so none other of matrixHeaders is x-amz-*:
// an unsigned x-amz-* header is refused.
func sendWithAWSRequestsAuth(t *testing.T, creds aws.Credentials, base string, req matrixRequest) {
	t.Helper()
	python := needAWSRequestsAuth(t)
	spec := map[string]any{
		"method": req.method, "url": base + req.target, "body": req.body,
		"headers": map[string]string{"content-type": "application/json"},
		"region":  "us-east-1", "service": "execute-api",
		"credentials": map[string]string{"accessKeyId": creds.AccessKeyID, "secretAccessKey": creds.SecretAccessKey, "sessionToken": creds.SessionToken},
	}
	dir := filepath.Join(harness.root, "integration", "py")
	env := childEnv([]string{"AWS_", "PYTHON", "REQUESTS_", "CURL_CA_BUNDLE", "http_proxy=", "https_proxy=", "HTTP_PROXY=", "HTTPS_PROXY=", "NO_PROXY=", "no_proxy="},
		"PYTHONDONTWRITEBYTECODE=1")
	runClient(t, dir, env, toJSON(spec), python, "requests_auth_request.py").ok(t)
}
