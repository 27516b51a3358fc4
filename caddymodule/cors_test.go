package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

func TestCORS(t *testing.T) {
	idp := testidp.New(t)
	echo := newEcho(t)
	base, _ := runCaddy(t, `	cognito_identity_pool /identity* `+testPoolID+` {
		unauthenticated_role arn:aws:iam::123456789012:role/Guests
		cors https://app.example.com
	}
	cognito_authorizer {
`+userPool(idp)+`		identity_pool `+testPoolID+`
		allow_any_role
		cors https://app.example.com http://localhost:5173 {
			headers X-Request-Id
		}
	}
	reverse_proxy `+echo.URL)

	preflight := func(path, origin, method, headers string) response {
		return do(t, "OPTIONS", base+path, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
		})
	}
	for _, path := range []string{"/identity", "/api/orders"} {
		t.Run("preflight from an allowed origin to "+path, func(t *testing.T) {
			res := preflight(path, "https://app.example.com", "POST", "x-amz-target,x-amz-date,authorization,x-amz-security-token,content-type,amz-sdk-invocation-id")
			if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
				t.Fatalf("%d, Access-Control-Allow-Origin %q", res.status, res.header.Get("Access-Control-Allow-Origin"))
			}
			allowed := strings.ToLower(res.header.Get("Access-Control-Allow-Headers"))
			for _, h := range []string{"x-amz-target", "x-amz-date", "x-amz-security-token", "authorization", "content-type", "amz-sdk-invocation-id", "amz-sdk-request", "x-amz-user-agent"} {
				if !strings.Contains(allowed, h) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
				}
			}
			if !strings.Contains(res.header.Get("Access-Control-Allow-Methods"), "POST") {
				t.Errorf("Access-Control-Allow-Methods %q", res.header.Get("Access-Control-Allow-Methods"))
			}
		})
	}
	t.Run("extra header on the API only", func(t *testing.T) {
		if h := preflight("/api/x", "http://localhost:5173", "GET", "x-request-id").header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "X-Request-Id") {
			t.Errorf("API preflight: %q", h)
		}
		if h := preflight("/identity", "https://app.example.com", "POST", "x-request-id").header.Get("Access-Control-Allow-Headers"); strings.Contains(h, "X-Request-Id") {
			t.Errorf("pool preflight allows the API's extra header: %q", h)
		}
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		res := preflight("/api/orders", "https://evil.example.net", "POST", "authorization")
		if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "" || len(res.body) != 0 {
			t.Fatalf("%d %q %s", res.status, res.header.Get("Access-Control-Allow-Origin"), res.body)
		}
	})
	t.Run("refusals carry the CORS headers so the page can read them", func(t *testing.T) {
		res := do(t, "GET", base+"/api/orders", map[string]string{"Origin": "https://app.example.com"})
		if res.status != 401 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
			t.Fatalf("%d %v", res.status, res.header)
		}
	})
	t.Run("allowed requests too, and other origins get none", func(t *testing.T) {
		res := do(t, "GET", base+"/api/orders", map[string]string{"Origin": "https://app.example.com", "Authorization": "Bearer " + idp.AccessToken(t, nil)})
		if res.status != 200 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Origin") {
			t.Fatalf("%d %v", res.status, res.header)
		}
		res = do(t, "GET", base+"/api/orders", map[string]string{"Origin": "https://evil.example.net", "Authorization": "Bearer " + idp.AccessToken(t, nil)})
		if res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("another origin got %q", res.header.Get("Access-Control-Allow-Origin"))
		}
	})
}
