package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/internal/dashboard"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
)

// notScrapedHere are the metrics the dashboard queries that this test's configuration cannot produce,
// and why; the caddymodule tests check that the module exports them.
var notScrapedHere = map[string]string{
	"caddy_cognito_policy_activations_total": "counts OPA bundle activations: the configuration loads no bundle",
}

// TestDashboardQueriesScrapedMetrics runs the binary with an identity pool, a route that verifies its
// credentials with replay protection, a user pool's routes and an issuer whose JWKS is down, sends
// requests of every kind, and checks that every metric examples/grafana/caddy-cognito.json queries is
// in the binary's /metrics (its admin endpoint's); then that a reload keeps them counting.
func TestDashboardQueriesScrapedMetrics(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(harness.root, "examples", "grafana", "caddy-cognito.json"))
	if err != nil {
		t.Fatal(err)
	}
	queried, err := dashboard.AllMetricNames(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(queried) < 15 {
		t.Fatalf("the dashboard queries only %d metrics: %q", len(queried), queried)
	}

	idp := testidp.New(t)
	up := startUpstream(t)
	b := blocksFor(idp)
	down := blocksForURLs("https://down.example.com/us-east-1_Down", "http://127.0.0.1:1/jwks.json", "down-client")
	site := fmt.Sprintf(`{$SITE} {
	%[1]s
	handle /admins/* {
		cognito_authorizer {
			%[2]s
			groups nobody-is-in-this-group
			metrics_route admins
		}
		reverse_proxy %[3]s
	}
	handle /down/* {
		cognito_authorizer {
			%[4]s
		}
		reverse_proxy %[3]s
	}
	handle {
		cognito_authorizer {
			%[2]s
			identity_pool %[5]s {
				replay_protection
			}
			allow_any_role
			metrics_route api
		}
		reverse_proxy %[3]s
	}
}
`, b.IdentityPool, b.UserPool, up.Addr, down.UserPool, hardPoolID)
	srv := startCaddy(t, site)
	base := srv.BaseURL

	access := idp.AccessToken(t, nil)
	_, guest := poolCredentials(t, base+"/identity", "")
	want := func(req *http.Request, status int) {
		t.Helper()
		if e := send(t, req); e.status != status {
			t.Fatalf("%s %s: %s, want %d", req.Method, req.URL.Path, e, status)
		}
	}
	for range 2 {
		want(newRequest(t, http.MethodGet, base+"/orders/1", bearer(access), nil), http.StatusOK)
	}
	want(newRequest(t, http.MethodGet, base+"/admins/x", bearer(access), nil), http.StatusForbidden)
	want(newRequest(t, http.MethodGet, base+"/down/x", bearer(access), nil), http.StatusUnauthorized)
	post := signedRequest(t, guest, http.MethodPost, base+"/orders", `{"item":1}`)
	want(post.Clone(t.Context()), http.StatusOK)
	post.Body = io.NopCloser(strings.NewReader(`{"item":1}`))
	want(post, http.StatusForbidden)

	scrape := func() metricsScrape {
		t.Helper()
		e := send(t, newRequest(t, http.MethodGet, srv.AdminURL+"/metrics", nil, nil))
		if e.status != http.StatusOK {
			t.Fatalf("/metrics: %s", e)
		}
		return parseScrape(t, e.body)
	}
	downFailures := `caddy_cognito_jwks_fetches_total{issuer="http://127.0.0.1:1/jwks.json",outcome="error"}`
	var got metricsScrape
	deadline := time.Now().Add(15 * time.Second)
	for got = scrape(); got.samples[downFailures] < 1; got = scrape() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 15s", downFailures)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range queried {
		if why, ok := notScrapedHere[name]; ok {
			t.Logf("%s: not scraped here (%s)", name, why)
			continue
		}
		if !got.has(name) {
			t.Errorf("the dashboard queries %s, which the binary's /metrics does not have", name)
		}
	}
	for series, atLeast := range map[string]float64{
		`caddy_cognito_replay_refusals_total`:                                                         1,
		`caddy_cognito_route_decisions_total{outcome="deny",route="admins",rule="groups"}`:            1,
		`caddy_cognito_route_decisions_total{outcome="allow",route="api",rule=""}`:                    3,
		`caddy_cognito_identity_pool_calls_total{operation="GetCredentialsForIdentity",outcome="ok"}`: 1,
		`caddy_cognito_credentials_issued_total{role="` + hardGuestRole + `"}`:                        1,
		`caddy_cognito_token_cache_hits_total`:                                                        1,
		`caddy_cognito_jwks_fetches_total{issuer="` + idp.JWKSURL + `",outcome="ok"}`:                 1,
	} {
		if v := got.samples[series]; v < atLeast {
			t.Errorf("%s = %v, want at least %v", series, v, atLeast)
		}
	}

	// A reload through the admin API registers the metrics with the new configuration's registry.
	srv.reload(t, site)
	want(newRequest(t, http.MethodGet, base+"/admins/x", bearer(access), nil), http.StatusForbidden)
	series := `caddy_cognito_route_decisions_total{outcome="deny",route="admins",rule="groups"}`
	if after := scrape(); after.samples[series] != got.samples[series]+1 {
		t.Errorf("after a reload, %s = %v, want %v", series, after.samples[series], got.samples[series]+1)
	}
}

// metricsScrape is a Prometheus text exposition: the metric families it declares and its samples.
type metricsScrape struct {
	types   map[string]string  // family name: counter, gauge, histogram...
	samples map[string]float64 // `name{labels}` as written: value
}

func parseScrape(t *testing.T, body []byte) metricsScrape {
	t.Helper()
	s := metricsScrape{types: map[string]string{}, samples: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(rest, " "); ok {
				s.types[name] = typ
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("/metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: line %q: %v", line, err)
		}
		s.samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// has reports whether the scrape has samples of the metric name: a family, or a histogram's _bucket,
// _sum or _count series.
func (s metricsScrape) has(name string) bool {
	family := name
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && s.types[base] == "histogram" {
			family = base
		}
	}
	if s.types[family] == "" {
		return false
	}
	for series := range s.samples {
		if series == name || strings.HasPrefix(series, name+"{") {
			return true
		}
	}
	return false
}
