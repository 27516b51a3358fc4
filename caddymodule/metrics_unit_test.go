package caddymodule

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// TestRouteMetrics checks that a route counts its allows, its refusals before the policy, and its
// policy refusals by rule, and that a policy naming its rules from requests cannot grow the series
// without bound.
func TestRouteMetrics(t *testing.T) {
	t.Parallel()
	route := fmt.Sprintf("unit-%d", time.Now().UnixNano()) // the counters are the process's
	m := newRouteMetrics(route, false)
	count := func(outcome, rule string) float64 {
		return testutil.ToFloat64(routeDecisions.WithLabelValues(route, outcome, rule))
	}
	m.observe(&authorizer.Decision{Allow: true, Label: "allowed", PolicyTime: time.Microsecond})
	m.observe(&authorizer.Decision{Label: "invalid_token"})
	m.observe(&authorizer.Decision{Label: "groups", PolicyTime: time.Microsecond})
	m.observe(&authorizer.Decision{Allow: true, Shadow: true, Label: "scopes", PolicyTime: time.Microsecond})
	for _, c := range []struct {
		outcome, rule string
		want          float64
	}{{"allow", "", 1}, {"deny", "", 1}, {"deny", "groups", 1}, {"shadow_deny", "scopes", 1}} {
		if got := count(c.outcome, c.rule); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.outcome, c.rule, got, c.want)
		}
	}
	for i := range 100 {
		m.observe(&authorizer.Decision{Label: fmt.Sprintf("rule-%d", i), PolicyTime: time.Microsecond})
	}
	if n := seriesWith(t, routeDecisions, "route", route); n > 2*(maxRuleLabels+2)+1 {
		// allow, and deny and shadow_deny by each admitted rule, "" and other
		t.Errorf("%d series for one route, want at most %d", n, 2*(maxRuleLabels+2)+1)
	}
	if got := count("deny", "other"); got < 100-maxRuleLabels {
		t.Errorf("%v refusals counted as other, want at least %d", got, 100-maxRuleLabels)
	}
	// A gate built without metrics (benchmarks, tests) counts nothing and does not panic.
	(*routeMetrics)(nil).observe(&authorizer.Decision{Allow: true})
}

// TestReplayRefusalsCounted checks that only a refusal for a replayed signature counts.
func TestReplayRefusalsCounted(t *testing.T) {
	t.Parallel()
	replayed := &authorizer.Decision{Label: "InvalidSignatureException",
		Reason: fmt.Errorf("access key A: %w", sigv4.ErrReplayedSignature)}
	before := testutil.ToFloat64(replayRefusals)
	observe(&authorizer.Decision{Label: "InvalidSignatureException", Reason: errors.New("signature does not match")})
	observe(replayed)
	// Parallel tests may count too: at least ours.
	if got := testutil.ToFloat64(replayRefusals) - before; got < 1 {
		t.Errorf("replay refusals grew by %v, want 1", got)
	}
}

// TestKeySetMetrics checks the key age reported per issuer and that an issuer's series go with its key
// set.
func TestKeySetMetrics(t *testing.T) {
	t.Parallel()
	m := newKeySetMetrics()
	t0 := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return t0.Add(90 * time.Second) }
	const src = "https://unit.example.com/jwks.json"
	m.FetchFailed(src, errors.New("down"))
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Errorf("%d key ages before a fetch, want none", n)
	}
	m.Fetched(src, 2, t0)
	want := `# HELP caddy_cognito_jwks_key_age_seconds Seconds since the signing keys in use for an issuer were fetched (absent until a first fetch succeeds).
# TYPE caddy_cognito_jwks_key_age_seconds gauge
caddy_cognito_jwks_key_age_seconds{issuer="` + src + `"} 90
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if ok, failed := testutil.ToFloat64(keySetFetches.WithLabelValues(src, "ok")), testutil.ToFloat64(keySetFetches.WithLabelValues(src, "error")); ok != 1 || failed != 1 {
		t.Errorf("fetches ok %v, error %v; want 1 and 1", ok, failed)
	}
	m.Closed(src)
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Errorf("%d key ages after the close, want none", n)
	}
	if n := seriesWith(t, keySetFetches, "issuer", src); n != 0 {
		t.Errorf("%d fetch series after the close, want none", n)
	}
}

// TestPoolMetricsBoundRoles checks that credentials count by role, and that roles beyond the bound
// (a token role mapping takes them from the token) count as other.
func TestPoolMetricsBoundRoles(t *testing.T) {
	t.Parallel()
	o := &poolObserver{roles: newBoundedLabels(2)}
	role := func(i int) string {
		return fmt.Sprintf("arn:aws:iam::123456789012:role/unit-%d-%d", time.Now().UnixNano(), i)
	}
	roles := []string{role(0), role(1), role(2), role(3)}
	for _, r := range roles {
		o.Issued(r)
	}
	o.Issued(roles[0])
	if got := testutil.ToFloat64(poolCredentialsIssued.WithLabelValues(roles[0])); got != 2 {
		t.Errorf("the first role: %v, want 2", got)
	}
	if n := seriesWith(t, poolCredentialsIssued, "role", roles[3]); n != 0 {
		t.Errorf("a role beyond the bound has %d series of its own", n)
	}
	o.Served("ListIdentityPools", "UnknownOperationException")
	if got := testutil.ToFloat64(poolCalls.WithLabelValues("unknown", "UnknownOperationException")); got < 1 {
		t.Errorf("an unknown operation counted %v times as unknown, want at least 1", got)
	}
}

func TestCheckRouteLabel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		route, wantErr string
	}{
		{"", ""},
		{"orders-api", ""},
		{"team/orders:v2.1_x", ""},
		{strings.Repeat("a", 64), ""},
		{strings.Repeat("a", 65), "at most 64 characters"},
		{"orders api", "only letters"},
		{`a"b`, "only letters"},
		{"caf\u00e9", "only letters"},
	} {
		err := checkRouteLabel(tc.route)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("checkRouteLabel(%q) = %v, want %q", tc.route, err, tc.wantErr)
		}
	}
}

// seriesWith counts the series of c whose label name is value (a curried vector collects them all).
func seriesWith(t *testing.T, c prometheus.Collector, name, value string) int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == name && l.GetValue() == value {
					n++
				}
			}
		}
	}
	return n
}
