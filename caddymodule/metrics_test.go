package caddymodule

import (
	"context"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
	"github.com/caddy-cognito/caddy-cognito/internal/dashboard"
)

// TestMemoMetrics checks that the decision memo's counters are exported, move with decisions, and
// keep an engine's counts after it is closed.
func TestMemoMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := newMemoCollector()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	c.track(e)
	want := func(hits, misses float64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) != 2 {
			t.Fatalf("%d metric families, want 2", len(mfs))
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
		}
		if got["caddy_cognito_policy_memo_hits_total"] != hits || got["caddy_cognito_policy_memo_misses_total"] != misses {
			t.Fatalf("memo metrics %v, want %v hits and %v misses", got, hits, misses)
		}
	}
	want(0, 0)
	id := &identity.Identity{Kind: identity.KindUserPool, Authenticated: true, Subject: "alice"}
	for range 3 {
		r := httptest.NewRequest("GET", "/orders", nil)
		if d, err := e.Decide(ctx, policy.Input{Request: r, Path: "/orders", Identity: id}); err != nil || !d.Allow {
			t.Fatalf("%+v, %v", d, err)
		}
	}
	want(2, 1)
	e.Close(ctx)
	c.untrack(e)
	want(2, 1)
}

// TestReadmeMetricsTable checks that the README's metrics table lists exactly the metrics the module
// exports, each with its type.
func TestReadmeMetricsTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(caddy_cognito_[a-z_]+)` \\| ([a-z]+) \\|").FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = m[2]
	}
	reg := prometheus.NewPedanticRegistry()
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	// Vectors export nothing until a label set is used: describe them instead of gathering.
	exported := map[string]bool{}
	for _, c := range collectors {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			name := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())
			if name == nil {
				t.Fatalf("no name in %s", d)
			}
			exported[name[1]] = true
		}
	}
	for name := range exported {
		if documented[name] == "" {
			t.Errorf("%s is exported but not in the README's metrics table", name)
		}
	}
	for name := range documented {
		if !exported[name] {
			t.Errorf("the README's metrics table lists %s, which the module does not export", name)
		}
	}
	types := map[string]string{
		"caddy_cognito_policy_evaluation_seconds": "histogram",
		"caddy_cognito_jwks_key_age_seconds":      "gauge",
		"caddy_cognito_token_cache_entries":       "gauge",
		"caddy_cognito_signing_key_cache_entries": "gauge",
		"caddy_cognito_session_cache_entries":     "gauge",
	}
	for name, typ := range documented {
		want := types[name]
		if want == "" {
			want = "counter"
		}
		if typ != want {
			t.Errorf("README: %s is a %s, want %s", name, typ, want)
		}
	}
}

// TestDashboardMetricsExported checks that every metric the Grafana dashboard of examples/ queries is
// one the module exports (a histogram's series by its name), and that it shows the metrics an operator
// watches first.
func TestDashboardMetricsExported(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../examples/grafana/caddy-cognito.json")
	if err != nil {
		t.Fatal(err)
	}
	names, err := dashboard.AllMetricNames(doc)
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, c := range collectors {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			exported[regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]] = true
		}
	}
	queried := map[string]bool{}
	for _, name := range names {
		base := name
		if b, ok := strings.CutSuffix(name, "_bucket"); ok && exported[b] {
			base = b
		}
		queried[base] = true
		if !exported[base] {
			t.Errorf("the dashboard queries %s, which the module does not export", name)
		}
	}
	for _, name := range []string{"caddy_cognito_decisions_total", "caddy_cognito_policy_evaluation_seconds",
		"caddy_cognito_jwks_fetches_total", "caddy_cognito_jwks_key_age_seconds", "caddy_cognito_identity_pool_calls_total",
		"caddy_cognito_token_cache_hits_total", "caddy_cognito_signing_key_cache_hits_total", "caddy_cognito_session_cache_hits_total",
		"caddy_cognito_replay_refusals_total",
		"caddy_cognito_route_decisions_total"} {
		if !queried[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
