package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
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
