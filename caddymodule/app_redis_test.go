package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// adaptCognito adapts a Caddyfile whose global options are global and returns the cognito app's JSON.
func adaptCognito(global string) (string, error) {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("{\n"+global+"\n}\n:8080 {\n\trespond ok\n}\n"), nil)
	if err != nil {
		return "", err
	}
	var doc struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		return "", err
	}
	return string(doc.Apps["cognito"]), nil
}

func TestRedisOptionAdapts(t *testing.T) {
	got, err := adaptCognito(`	cognito {
		redis rediss://redis.internal:6380/2 {
			username {env.REDIS_USER}
			password {env.REDIS_PASSWORD}
			tls {
				ca_file /etc/redis/ca.pem
				server_name redis.example.com
			}
			prefix shop:
			dial_timeout 3s
			read_timeout 500ms
			write_timeout 750ms
			pool_size 20
			replay_when_unreachable local
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"redis":{"url":"rediss://redis.internal:6380/2","username":"{env.REDIS_USER}","password":"{env.REDIS_PASSWORD}",` +
		`"tls":{"ca_file":"/etc/redis/ca.pem","server_name":"redis.example.com"},"prefix":"shop:","dial_timeout":3000000000,` +
		`"read_timeout":500000000,"write_timeout":750000000,"pool_size":20,"replay_when_unreachable":"local"}}`
	if got != want {
		t.Fatalf("cognito app\n%s\nwant\n%s", got, want)
	}
	if got, err := adaptCognito("\tcognito {\n\t\tredis redis://127.0.0.1:6379/0\n\t}"); err != nil || got != `{"redis":{"url":"redis://127.0.0.1:6379/0"}}` {
		t.Fatalf("bare redis: %s, %v", got, err)
	}
}

// Every mistake in the redis block is refused at its line, with the name it was probably meant to be,
// and no error repeats a password.
func TestRedisOptionRefuses(t *testing.T) {
	redisBlock := func(body string) string {
		return "\tcognito {\n\t\tredis redis://127.0.0.1:6379/0 {\n" + body + "\n\t\t}\n\t}"
	}
	cases := []struct{ name, global, want string }{
		{"misspelled option", "\tcognito {\n\t\trdis redis://x\n\t}", `unrecognized cognito option "rdis" (did you mean redis?)`},
		{"no url", "\tcognito {\n\t\tredis\n\t}", "redis takes one URL"},
		{"two urls", "\tcognito {\n\t\tredis redis://a redis://b\n\t}", "redis takes one URL"},
		{"twice", "\tcognito {\n\t\tredis redis://a\n\t\tredis redis://b\n\t}", "redis is already set"},
		{"misspelled subdirective", redisBlock("passwrd hunter2-secret"), `unrecognized redis subdirective "passwrd" (did you mean password?)`},
		{"dash", redisBlock("read-timeout 1s"), `unrecognized redis subdirective "read-timeout" (did you mean read_timeout?)`},
		{"tls subdirective", redisBlock("tls {\nca_fle x\n}"), `unrecognized redis tls subdirective "ca_fle" (did you mean ca_file?)`},
		{"tls argument", redisBlock("tls on"), "wrong argument count"},
		{"insecure with argument", redisBlock("tls {\ninsecure_skip_verify yes\n}"), "wrong argument count"},
		{"password twice", redisBlock("password a\npassword hunter2-secret"), "password given twice"},
		{"two passwords", redisBlock("password hunter2-secret other"), "redis password takes one value"},
		{"bad duration", redisBlock("dial_timeout soon"), "dial_timeout"},
		{"pool size", redisBlock("pool_size 0"), `redis pool_size: "0" is not a number of connections between 1 and 1000`},
		{"replay mode", redisBlock("replay_when_unreachable allow"), `redis replay_when_unreachable: "allow" is neither refuse nor local`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptCognito(tc.global)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("error %v names no line", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error %q holds a password", err)
			}
		})
	}
}

// What the Caddyfile cannot check is checked at provision, and no error holds the URL's password.
func TestRedisOptionsChecked(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		r    Redis
		want string
	}{
		{"scheme", Redis{URL: "http://user:hunter2@host:6379"}, "the URL is not redis://"},
		{"no host", Redis{URL: "redis://"}, "the URL is not redis://"},
		{"garbage", Redis{URL: "redis://user:hunter2@[::1"}, "the URL is not redis://"},
		{"tls without rediss", Redis{URL: "redis://user:hunter2@host:6379", TLS: &RedisTLS{}}, "tls needs a rediss:// URL"},
		{"ca file missing", Redis{URL: "rediss://host:6379", TLS: &RedisTLS{CAFile: "/nonexistent/ca.pem"}}, "tls ca_file"},
		{"ca file not pem", Redis{URL: "rediss://host:6379", TLS: &RedisTLS{CAFile: ca}}, "holds no PEM certificate"},
		{"timeout", Redis{URL: "redis://host:6379", ReadTimeout: caddy.Duration(time.Minute)}, "read_timeout is between 0 and 30s"},
		{"pool", Redis{URL: "redis://host:6379", PoolSize: 5000}, "pool_size"},
		{"mode", Redis{URL: "redis://host:6379", ReplayWhenUnreachable: "allow"}, "replay_when_unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.options()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error %q holds the password", err)
			}
		})
	}
	t.Setenv("TEST_REDIS_PASSWORD", "hunter2")
	o, err := (&Redis{URL: "rediss://cache:6380/1", Password: "{env.TEST_REDIS_PASSWORD}", TLS: &RedisTLS{ServerName: "redis.example.com"}}).options()
	if err != nil {
		t.Fatal(err)
	}
	if o.Password != "hunter2" || o.TLS == nil || o.TLS.ServerName != "redis.example.com" || o.TLS.InsecureSkipVerify {
		t.Fatalf("options %+v: placeholders or TLS not applied", o)
	}
}

// redisApp loads a configuration whose cognito app uses the Redis at url, with logs written to a file
// it returns, and returns the app.
func redisApp(t *testing.T, url, logFile string) *App {
	t.Helper()
	cfg := fmt.Sprintf(`{
	"admin": {"disabled": true},
	"logging": {"logs": {"default": {"writer": {"output": "file", "filename": %q}, "encoder": {"format": "json"}}}},
	"apps": {"cognito": {"redis": {"url": %q, "password": "{env.TEST_REDIS_PASSWORD}", "prefix": "test:"}}}
}`, logFile, url)
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	v, err := caddy.ActiveContext().App("cognito")
	if err != nil {
		t.Fatal(err)
	}
	return v.(*App)
}

// The app holds one client of the configured Redis; a reload replaces it and closes the old one, a
// stop closes it; the password reaches no log.
func TestRedisClientFollowsConfigLifecycle(t *testing.T) {
	srv := testredis.Start(t)
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	t.Cleanup(func() { _ = caddy.Stop() })
	// An ACL user with a password, so that the password is really used.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { admin.Close() })
	if err := admin.ConfigSet(t.Context(), "requirepass", "hunter2-redis-password").Err(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_REDIS_PASSWORD", "hunter2-redis-password")
	logFile := filepath.Join(t.TempDir(), "caddy.log")

	first := redisApp(t, srv.URL(), logFile)
	client := first.redis
	if client == nil {
		t.Fatal("no redis client")
	}
	ctx := context.Background()
	if fresh, err := client.Seen(ctx, "sig-1", time.Minute); err != nil || !fresh {
		t.Fatalf("Seen: fresh %v, %v", fresh, err)
	}

	second := redisApp(t, srv.URL(), logFile)
	if second == first || second.redis == nil || second.redis == client {
		t.Fatal("a reload kept the old app or client")
	}
	if _, err := client.Seen(ctx, "sig-2", time.Minute); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("the replaced configuration's client: %v, want it closed", err)
	}
	if fresh, err := second.redis.Seen(ctx, "sig-1", time.Minute); err != nil || fresh {
		t.Fatalf("the new client does not see what the old one wrote: fresh %v, %v", fresh, err)
	}
	last := second.redis
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := last.Seen(ctx, "sig-3", time.Minute); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("after stop: %v, want the client closed", err)
	}
	logs, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logs), "fleet state in redis") {
		t.Errorf("no start line in the log:\n%s", logs)
	}
	if strings.Contains(string(logs), "hunter2") {
		t.Errorf("the password is in the log:\n%s", logs)
	}
}

// Redis down at start does not stop Caddy: the client connects on first use.
func TestRedisDownAtStart(t *testing.T) {
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	t.Cleanup(func() { _ = caddy.Stop() })
	app := redisApp(t, fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)), filepath.Join(t.TempDir(), "caddy.log"))
	if _, err := app.redis.Seen(context.Background(), "sig", time.Minute); err == nil {
		t.Fatal("a Redis that is not there recorded a signature")
	}
}
