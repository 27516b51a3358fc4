package integration

// The load script (load/run.sh) is run by hand; these tests keep it runnable: valid bash, a consistent
// variant table, Caddyfiles that adapt, and wrk scripts that send what they claim.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loadVariant is one line of load/variants.txt.
type loadVariant struct {
	name, caddyfile, lua, baseline string
}

func readLoadVariants(t *testing.T) []loadVariant {
	t.Helper()
	f, err := os.Open(filepath.Join("load", "variants.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var variants []loadVariant
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 4 {
			t.Fatalf("variants.txt:%d: %d fields, want name, Caddyfile, Lua script and baseline", line, len(fields))
		}
		variants = append(variants, loadVariant{fields[0], fields[1], fields[2], fields[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return variants
}

func TestLoadScriptIsValidBash(t *testing.T) {
	if out, err := exec.Command("bash", "-n", filepath.Join("load", "run.sh")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n load/run.sh: %v\n%s", err, out)
	}
}

func TestLoadVariantsAreConsistent(t *testing.T) {
	variants := readLoadVariants(t)
	if len(variants) == 0 || variants[0].name != "plain" || variants[0].baseline != "-" {
		t.Fatalf("variants = %v, want plain reverse_proxy first as the baseline", variants)
	}
	seen := map[string]bool{}
	for _, v := range variants {
		if seen[v.name] {
			t.Errorf("variant %s is listed twice", v.name)
		}
		if v.baseline != "-" && !seen[v.baseline] {
			t.Errorf("variant %s is measured against %s, which is not listed before it", v.name, v.baseline)
		}
		seen[v.name] = true
		files := []string{v.caddyfile}
		if v.lua != "-" {
			files = append(files, v.lua)
		}
		for _, file := range files {
			if _, err := os.Stat(filepath.Join("load", "variants", file)); err != nil {
				t.Errorf("variant %s: %v", v.name, err)
			}
		}
	}
}

func TestLoadCaddyfilesAdapt(t *testing.T) {
	global, err := os.ReadFile(filepath.Join("load", "global.caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	// What run.sh exports, with values of the right shape.
	env := []string{
		"SITE=http://127.0.0.1:8080", "UPSTREAM=127.0.0.1:8081", "STORAGE=" + t.TempDir(),
		"USER_POOL_ID=local_AbCdEf12", "USER_POOL_CLIENT_ID=client123",
		"USER_POOL_ISSUER=http://127.0.0.1:9229/local_AbCdEf12",
		"USER_POOL_JWKS_URL=http://127.0.0.1:9229/local_AbCdEf12/.well-known/jwks.json",
	}
	done := map[string]bool{}
	for _, v := range readLoadVariants(t) {
		if done[v.caddyfile] {
			continue
		}
		done[v.caddyfile] = true
		t.Run(v.caddyfile, func(t *testing.T) {
			site, err := os.ReadFile(filepath.Join("load", "variants", v.caddyfile))
			if err != nil {
				t.Fatal(err)
			}
			if err := caddyAdapt(t, string(global)+string(site), env...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLoadLuaScriptsSendWhatTheyClaim(t *testing.T) {
	requireEndToEnd(t)
	const token = "load-test-access-token"
	tests := []struct {
		script string
		check  func(t *testing.T, e echoedRequest)
	}{
		{"post-1k.lua", func(t *testing.T, e echoedRequest) {
			if e.Method != "POST" || len(e.Body) != 1024 {
				t.Errorf("upstream saw %s with a %d-byte body, want POST with 1024 bytes", e.Method, len(e.Body))
			}
		}},
		{"bearer.lua", func(t *testing.T, e echoedRequest) {
			if got := e.Header.Get("Authorization"); got != "Bearer "+token {
				t.Errorf("upstream saw Authorization %q, want the bearer token from ACCESS_TOKEN", got)
			}
			if !strings.HasPrefix(e.Path, "/items/") {
				t.Errorf("upstream saw path %q, want /items/<n>", e.Path)
			}
		}},
		{"sigv4-post-1k.lua", func(t *testing.T, e echoedRequest) {
			if e.Method != "POST" || len(e.Body) != 1024 || !strings.HasPrefix(e.Path, "/items/") ||
				e.Header.Get("Authorization") != "AWS4-HMAC-SHA256 signed-by-presign" || e.Header.Get("X-Amz-Date") != "20260101T000000Z" {
				t.Errorf("upstream saw %s %s with a %d-byte body and headers %v, want the signed POSTs of SIGNED_REQUESTS",
					e.Method, e.Path, len(e.Body), e.Header)
			}
		}},
	}
	signed := filepath.Join(t.TempDir(), "signed.txt")
	if err := os.WriteFile(signed, []byte("/items/1\tAuthorization=AWS4-HMAC-SHA256 signed-by-presign\tX-Amz-Date=20260101T000000Z\n"+
		"/items/2\tAuthorization=AWS4-HMAC-SHA256 signed-by-presign\tX-Amz-Date=20260101T000000Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, v := range readLoadVariants(t) {
		used[v.lua] = v.lua != "-"
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			env := childEnv([]string{"ACCESS_TOKEN=", "SIGNED_REQUESTS="}, "ACCESS_TOKEN="+token, "SIGNED_REQUESTS="+signed)
			runClient(t, t.TempDir(), env, "", need(t, "wrk"), "-t1", "-c1", "-d1s",
				"-s", filepath.Join(harness.root, "integration", "load", "variants", tt.script), up.URL+"/").ok(t)
			received := up.Received()
			if len(received) == 0 {
				t.Fatal("wrk sent nothing")
			}
			tt.check(t, received[0])
		})
		delete(used, tt.script)
	}
	for script, isUsed := range used {
		if isUsed {
			t.Errorf("variants.txt uses %s, which this test does not check", script)
		}
	}
}
