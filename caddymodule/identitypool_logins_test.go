package caddymodule

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// A pool whose logins are refused is refused before its key ring touches storage: an invalid
// configuration leaves no keys behind.
func TestIdentityPoolRefusesLoginsBeforeTouchingStorage(t *testing.T) {
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	dir := t.TempDir()
	pool := fmt.Sprintf(`{"handler": "cognito_identity_pool", "identity_pool_id": %q,
		"unauthenticated_role": "arn:aws:iam::123456789012:role/guest", "logins": [{"provider": "accounts.example.com"}]}`,
		testIdentityPoolID)
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "storage": {"module": "file_system", "root": %q},
		"apps": {"http": {"servers": {"test": {"listen": ["127.0.0.1:%d"], "routes": [{"handle": [%s]}]}}}}}`,
		dir, freePort(t), pool)
	if err := caddy.Load([]byte(cfg), true); err == nil {
		_ = caddy.Stop()
		t.Fatal("a login without a client_id was accepted")
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			t.Errorf("storage holds %s after a refused configuration", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
