package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// getUserPool is a user pool API answering GetUser as told, counting the calls.
type getUserPool struct {
	*httptest.Server
	calls  atomic.Int32
	answer atomic.Value // [2]string{status, body}
}

func newGetUserPool(t *testing.T) *getUserPool {
	t.Helper()
	p := &getUserPool{}
	p.answer.Store([2]string{"200", `{"Username":"alice","UserAttributes":[]}`})
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.GetUser" {
			http.Error(w, "not GetUser", http.StatusBadRequest)
			return
		}
		p.calls.Add(1)
		a := p.answer.Load().([2]string)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if a[0] == "200" {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusBadRequest)
		}
		_, _ = io.WriteString(w, a[1])
	}))
	t.Cleanup(p.Close)
	return p
}

// With the cognito app's redis, check_user_pool's answers are the fleet's. Two handlers (two replicas:
// each its own user pool check and its own remembered answers) share one Redis: a token one asked the
// pool about is not asked about again by the other; a token the pool refused to one is refused by the
// other without asking the pool, although the pool would now accept it; with Redis down each asks the
// pool, and what the pool says decides (a refusal included, never an allow). Neither the token nor
// its full hash is logged.
func TestUserPoolCheckSharedThroughRedis(t *testing.T) {
	srv := testredis.Start(t)
	idp := testidp.New(t)
	echo := newEcho(t)
	pool := newGetUserPool(t)
	c := newFleetCaddy(t)
	portB := freePort(t)
	handler := `	cognito_authorizer {
		user_pool us-east-1_Test01 {
			client_id client-1
			issuer ` + pool.URL + `
			jwks_url ` + idp.JWKSURL + `
			check_user_pool 1m {
				timeout 500ms
			}
		}
	}
	reverse_proxy ` + echo.URL
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
		level DEBUG
	}
	cognito {
		redis %s {
			prefix t:
		}
	}
}
http://127.0.0.1:%d {
%s
}
http://127.0.0.1:%d {
%s
}
`, c.dir, c.log, srv.URL(), c.port, handler, portB, handler)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	replicaA, replicaB := c.base, fmt.Sprintf("http://127.0.0.1:%d", portB)
	token := func(user string) string {
		return idp.AccessToken(t, map[string]any{"iss": pool.URL, "username": user, "jti": "jti-" + user})
	}
	get := func(base, tok string) int {
		t.Helper()
		return do(t, http.MethodGet, base+"/", map[string]string{"Authorization": "Bearer " + tok}).status
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	var tokens []string

	valid := token("valid")
	tokens = append(tokens, valid)
	if s := get(replicaA, valid); s != http.StatusOK || pool.calls.Load() != 1 {
		t.Fatalf("replica A: %d after %d GetUser calls; want 200 after 1", s, pool.calls.Load())
	}
	sum := sha256.Sum256([]byte(valid))
	if v, err := raw.Get(t.Context(), "t:userpool:getuser:"+hex.EncodeToString(sum[:])).Result(); err != nil || !strings.HasPrefix(v, "valid ") {
		t.Errorf("the shared verdict = %q, %v; want valid", v, err)
	}
	if s := get(replicaB, valid); s != http.StatusOK || pool.calls.Load() != 1 {
		t.Errorf("replica B: %d after %d GetUser calls; want 200 and the pool not asked again", s, pool.calls.Load())
	}

	revoked := token("revoked")
	tokens = append(tokens, revoked)
	pool.answer.Store([2]string{"400", `{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}`})
	if s := get(replicaA, revoked); s != http.StatusUnauthorized || pool.calls.Load() != 2 {
		t.Fatalf("replica A, revoked: %d after %d calls; want 401 after 2", s, pool.calls.Load())
	}
	pool.answer.Store([2]string{"200", `{"Username":"alice"}`}) // asked now, the pool would accept it
	if s := get(replicaB, revoked); s != http.StatusUnauthorized || pool.calls.Load() != 2 {
		t.Errorf("replica B, revoked on A: %d after %d calls; want 401 without asking the pool", s, pool.calls.Load())
	}

	srv.Stop()
	down := token("redis-down")
	tokens = append(tokens, down)
	if s := get(replicaB, down); s != http.StatusOK || pool.calls.Load() != 3 {
		t.Errorf("redis down: %d after %d calls; want 200 from the pool's answer", s, pool.calls.Load())
	}
	downRevoked := token("redis-down-revoked")
	tokens = append(tokens, downRevoked)
	pool.answer.Store([2]string{"400", `{"__type":"UserNotFoundException","message":"User does not exist."}`})
	if s := get(replicaA, downRevoked); s != http.StatusUnauthorized || pool.calls.Load() != 4 {
		t.Errorf("redis down, revoked: %d after %d calls; want 401 from the pool's answer", s, pool.calls.Load())
	}
	if s := get(replicaA, valid); s != http.StatusOK || pool.calls.Load() != 4 {
		t.Errorf("redis down, remembered locally: %d after %d calls; want 200 without Redis or the pool", s, pool.calls.Load())
	}

	_ = caddy.Stop()
	logged, err := os.ReadFile(c.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "reading the fleet's answer failed: the pool is asked") {
		t.Errorf("no log line says Redis failed and the pool was asked:\n%s", logged)
	}
	for _, tok := range tokens {
		s := sha256.Sum256([]byte(tok))
		for _, secret := range []string{tok, hex.EncodeToString(s[:]), hex.EncodeToString(s[:16])} {
			if strings.Contains(string(logged), secret) {
				t.Errorf("the log holds a token or its hash %.16s...", secret)
			}
		}
	}
}
