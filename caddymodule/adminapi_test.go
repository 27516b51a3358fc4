package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// adminCaddy runs site with the admin endpoint on a free loopback port, and the cognito global
// option global (may be empty). It returns the site's and the admin endpoint's base URLs.
func adminCaddy(t *testing.T, global, site string) (base, admin string) {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	t.Cleanup(func() { _ = caddy.Stop() })
	port, adminPort := freePort(t), freePort(t)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	storage file_system %s
	log {
		output discard
	}
%s
}
http://127.0.0.1:%d {
%s
}
`, adminPort, t.TempDir(), global, port, site)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", adminPort)
}

// adminDo sends method path with body to the admin endpoint.
func adminDo(t *testing.T, admin, method, path, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return doRequest(t, req)
}

func bearerStatus(t *testing.T, base, token string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return doRequest(t, req)
}

// Without redis, the admin API adds, lists and expires revocations of this instance, and a revoked
// token is refused at once; a sub cut-off refuses older tokens only.
func TestAdminAPIRevokesLocally(t *testing.T) {
	idp := testidp.New(t)
	base, admin := adminCaddy(t, "", site(idp, newEcho(t).URL, ""))
	token := idp.AccessToken(t, map[string]any{"origin_jti": "refresh-1", "sub": "user-admin-api"})
	if res := bearerStatus(t, base, token); res.status != 200 {
		t.Fatalf("before: %d %s", res.status, res.body)
	}
	res := adminDo(t, admin, "POST", "/cognito/revocations", `{"kind":"jti","value":"refresh-1","ttl":"720h"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", res.status, res.body)
	}
	if res := bearerStatus(t, base, token); res.status != 401 || refusal(t, res) != "token revoked" ||
		!strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("a revoked token: %d %s %v", res.status, res.body, res.header)
	}
	list := adminDo(t, admin, "GET", "/cognito/revocations", "")
	var got struct {
		Redis       bool
		Revocations []revocationJSON
	}
	if err := json.Unmarshal(list.body, &got); err != nil || list.status != 200 || got.Redis || len(got.Revocations) != 1 ||
		got.Revocations[0].Kind != "jti" || got.Revocations[0].Value != "refresh-1" || got.Revocations[0].ExpiresAt == nil ||
		time.Until(*got.Revocations[0].ExpiresAt) < 719*time.Hour {
		t.Fatalf("GET: %d %s (%v)", list.status, list.body, err)
	}
	if res := adminDo(t, admin, "DELETE", "/cognito/revocations/jti/refresh-1", ""); res.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", res.status, res.body)
	}
	if res := bearerStatus(t, base, token); res.status != 200 {
		t.Fatalf("once expired: %d %s", res.status, res.body)
	}
	if res := adminDo(t, admin, "DELETE", "/cognito/revocations/jti/refresh-1", ""); res.status != http.StatusNotFound {
		t.Fatalf("DELETE again: %d %s", res.status, res.body)
	}

	// A global sign-out now: tokens issued before are refused, tokens issued after are not.
	older := idp.AccessToken(t, map[string]any{"sub": "user-signed-out", "iat": time.Now().Add(-time.Minute).Unix()})
	cutoff := time.Now().Truncate(time.Second)
	res = adminDo(t, admin, "POST", "/cognito/revocations", fmt.Sprintf(`{"kind":"sub","value":"user-signed-out","cutoff":%q,"ttl":"24h"}`,
		cutoff.Format(time.RFC3339)))
	if res.status != http.StatusCreated {
		t.Fatalf("POST sub: %d %s", res.status, res.body)
	}
	newer := idp.AccessToken(t, map[string]any{"sub": "user-signed-out", "iat": cutoff.Add(time.Second).Unix()})
	if res := bearerStatus(t, base, older); res.status != 401 {
		t.Errorf("a token issued before the sign-out: %d", res.status)
	}
	if res := bearerStatus(t, base, newer); res.status != 200 {
		t.Errorf("a token issued after the sign-out: %d %s", res.status, res.body)
	}
	// An identity id with its colon, path-escaped.
	id := "eu-west-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	if res := adminDo(t, admin, "POST", "/cognito/revocations", `{"kind":"identity","value":"`+id+`","expires_at":"`+
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`); res.status != http.StatusCreated {
		t.Fatalf("POST identity: %d %s", res.status, res.body)
	}
	if res := adminDo(t, admin, "DELETE", "/cognito/revocations/identity/"+url.PathEscape(id), ""); res.status != http.StatusNoContent {
		t.Fatalf("DELETE identity: %d %s", res.status, res.body)
	}
}

// Every malformed request is refused with a precise 4xx, and changes nothing.
func TestAdminAPIRefuses(t *testing.T) {
	idp := testidp.New(t)
	_, admin := adminCaddy(t, "", site(idp, newEcho(t).URL, ""))
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"unknown field", "POST", "", `{"kind":"jti","value":"x","ttl":"1h","reason":"x"}`, 400, "unknown field"},
		{"not JSON", "POST", "", `kind=jti`, 400, "not a revocation object"},
		{"two objects", "POST", "", `{"kind":"jti","value":"x","ttl":"1h"}{}`, 400, "more than one JSON object"},
		{"too large", "POST", "", `{"kind":"jti","value":"` + strings.Repeat("x", 5000) + `","ttl":"1h"}`, 413, "over 4096 bytes"},
		{"bad kind", "POST", "", `{"kind":"user","value":"x","ttl":"1h"}`, 400, `kind is jti, sub or identity, not "user"`},
		{"empty value", "POST", "", `{"kind":"jti","value":"","ttl":"1h"}`, 400, "value is 1 to 256 bytes"},
		{"control character", "POST", "", `{"kind":"jti","value":"a\nb","ttl":"1h"}`, 400, "no control characters"},
		{"long value", "POST", "", `{"kind":"jti","value":"` + strings.Repeat("x", 257) + `","ttl":"1h"}`, 400, "value is 1 to 256 bytes"},
		{"no expiry", "POST", "", `{"kind":"jti","value":"x"}`, 400, "give ttl or expires_at"},
		{"both expiries", "POST", "", `{"kind":"jti","value":"x","ttl":"1h","expires_at":"` + future + `"}`, 400, "not both"},
		{"bad ttl", "POST", "", `{"kind":"jti","value":"x","ttl":"soon"}`, 400, "not a positive duration"},
		{"negative ttl", "POST", "", `{"kind":"jti","value":"x","ttl":"-1h"}`, 400, "not a positive duration"},
		{"expired", "POST", "", `{"kind":"jti","value":"x","expires_at":"` + past + `"}`, 400, "must expire after now"},
		{"too long", "POST", "", `{"kind":"jti","value":"x","ttl":"100000h"}`, 400, "within"},
		{"cutoff on a jti", "POST", "", `{"kind":"jti","value":"x","ttl":"1h","cutoff":"` + past + `"}`, 400, "cutoff applies to a sub revocation only"},
		{"cutoff after expiry", "POST", "", `{"kind":"sub","value":"x","ttl":"1h","cutoff":"` + time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) + `"}`, 400, "cutoff must come before"},
		{"bad time", "POST", "", `{"kind":"sub","value":"x","ttl":"1h","cutoff":"yesterday"}`, 400, "not a revocation object"},
		{"PUT", "PUT", "", `{}`, 405, "use GET or POST"},
		{"DELETE the list", "DELETE", "", "", 405, "use GET or POST"},
		{"DELETE without value", "DELETE", "/jti", "", 400, "DELETE /cognito/revocations/<kind>/<value>"},
		{"DELETE bad kind", "DELETE", "/user/x", "", 400, "kind is jti, sub or identity"},
		{"DELETE control character", "DELETE", "/jti/a%00b", "", 400, "path-escaped"},
		{"GET an entry", "GET", "/jti/x", "", 405, "use GET or POST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := adminDo(t, admin, tc.method, "/cognito/revocations"+tc.path, tc.body)
			var body struct{ Error string }
			_ = json.Unmarshal(res.body, &body)
			if res.status != tc.status || !strings.Contains(body.Error, tc.want) {
				t.Fatalf("%d %s, want %d with %q", res.status, res.body, tc.status, tc.want)
			}
		})
	}
	if res := adminDo(t, admin, "GET", "/cognito/revocations", ""); !strings.Contains(string(res.body), `"revocations":[]`) {
		t.Fatalf("a refused request added something: %s", res.body)
	}
}

// With redis, the admin API writes through to Redis with the entry's TTL, and deletes from it.
func TestAdminAPIWritesThroughToRedis(t *testing.T) {
	srv := testredis.Start(t)
	idp := testidp.New(t)
	_, admin := adminCaddy(t, "\tcognito {\n\t\tredis "+srv.URL()+" {\n\t\t\tprefix t:\n\t\t}\n\t}", site(idp, newEcho(t).URL, ""))
	peek := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { peek.Close() })
	ctx := context.Background()
	if res := adminDo(t, admin, "POST", "/cognito/revocations", `{"kind":"sub","value":"user-9","ttl":"2h"}`); res.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", res.status, res.body)
	}
	cutoff, err := peek.Get(ctx, "t:revoked:sub:user-9").Int64()
	if err != nil || time.Since(time.UnixMilli(cutoff)) > 5*time.Second {
		t.Fatalf("the cut-off in redis: %d, %v", cutoff, err)
	}
	if ttl := peek.PTTL(ctx, "t:revoked:sub:user-9").Val(); ttl < 119*time.Minute || ttl > 2*time.Hour {
		t.Fatalf("TTL in redis %v, want 2h", ttl)
	}
	if res := adminDo(t, admin, "DELETE", "/cognito/revocations/sub/user-9", ""); res.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", res.status, res.body)
	}
	if n := peek.Exists(ctx, "t:revoked:sub:user-9").Val(); n != 0 {
		t.Fatal("the entry is still in redis")
	}
	srv.Stop()
	res := adminDo(t, admin, "POST", "/cognito/revocations", `{"kind":"jti","value":"r-down","ttl":"1h"}`)
	if res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "applied on this instance only") {
		t.Fatalf("POST with redis down: %d %s", res.status, res.body)
	}
	if list := adminDo(t, admin, "GET", "/cognito/revocations", ""); !strings.Contains(string(list.body), `"r-down"`) {
		t.Fatalf("not applied locally: %s", list.body)
	}
}
