package integration

// Every Caddyfile the project ships, adapted and validated.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExampleCaddyfilesAdaptAndValidate adapts every Caddyfile the project ships with the built binary,
// and validates it (which provisions every module) with the environment it expects. Caddyfiles with
// defaults for everything are also adapted with no environment at all.
func TestExampleCaddyfilesAdaptAndValidate(t *testing.T) {
	t.Parallel()
	// Values of the right shape, pointing nowhere.
	local := []string{
		"COGNITO_IDP_ENDPOINT=" + unreachable, "COGNITO_USER_POOL_ID=local_AbCd1234", "COGNITO_CLIENT_ID=client123",
		"OIDC_ISSUER=" + unreachable + "/realms/demo", "OIDC_AUDIENCE=demo-api",
		"SITE=http://127.0.0.1:8080", "UPSTREAM=127.0.0.1:9",
	}
	offline := []string{"COGNITO_IDP_ENDPOINT=" + unreachable, "UPSTREAM=127.0.0.1:9"}
	// The sidecar's role policies are beside its Caddyfile, as in the image.
	sidecarPolicies := "POLICY_DIR=" + examplePath("sidecar")
	compose := append(sidecarComposeEnv(t, sidecarSettings(unreachable, "local_AbCd1234", "client123")), offline...)
	compose = append(compose, sidecarPolicies, sidecarKeySecret(t))
	pod := append(sidecarPodEnv(t), offline...)
	pod = append(pod, sidecarPolicies, sidecarKeySecret(t))
	tests := []struct {
		file     string // relative to the repository root
		name     string
		env      []string
		validate bool // else adapt only: the defaults name real issuers, which validation would contact
	}{
		{"Caddyfile.example", "as shipped", nil, true},
		{"examples/userpool/Caddyfile", "defaults", nil, false},
		{"examples/userpool/Caddyfile", "cognito-local", local, true},
		{"examples/guests/Caddyfile", "defaults", nil, true},
		{"examples/userpool-and-identitypool/Caddyfile", "defaults", nil, false},
		{"examples/userpool-and-identitypool/Caddyfile", "cognito-local", local, true},
		{"examples/oidc/Caddyfile", "keycloak-shaped", local, true},
		{"examples/sidecar/Caddyfile", "compose.yaml environment", compose, true},
		{"examples/sidecar/Caddyfile", "deployment.yaml environment", pod, true},
		{"examples/browser/Caddyfile", "defaults", nil, false},
		{"examples/browser/Caddyfile", "cognito-local", slices.Concat(local, []string{
			"SITE=http://127.0.0.1:8081", "API_SITE=http://localhost:8080", "ECHO_PORT=9081",
			"PAGE_ROOT=" + t.TempDir(), "POLICY=" + examplePath("browser", "policy.rego"),
		}), true},
	}

	// Every Caddyfile under examples/ is in the table.
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	err := filepath.WalkDir(examplePath(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return err
		}
		if name := d.Name(); name == "Caddyfile" || strings.HasSuffix(name, ".caddyfile") || strings.HasPrefix(name, "Caddyfile.") {
			rel, _ := filepath.Rel(harness.root, path)
			if !covered[filepath.ToSlash(rel)] {
				t.Errorf("%s is not checked by this test: add it to the table", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"adapt", "--config", filepath.Join(harness.root, tt.file), "--adapter", "caddyfile"}
			if tt.validate {
				args = append(args, "--validate")
			}
			if out, err := runCaddyCommand(t, caddyBinary(t), tt.file, tt.env, args...); err != nil {
				t.Errorf("caddy %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}
