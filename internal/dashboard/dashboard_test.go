package dashboard

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (outcome) (rate(caddy_cognito_decisions_total{instance=~"$instance",outcome!="allow"}[$__rate_interval]))`,
			[]string{"caddy_cognito_decisions_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket[5m])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(hits[1m])) / (sum(rate(hits[1m])) + sum(rate(misses[1m])))`, []string{"hits", "misses"}},
		{`max without (instance) (age) > 3.9e3 and on (issuer) fetches offset 5m`, []string{"age", "fetches"}},
		{`a{label="b{c}"} or b{x='y'} unless c`, []string{"a", "b", "c"}},
		{`{__name__="by_name"}`, nil},
		{`sum(a) by (le, route)`, []string{"a"}},
		{`label_replace(x, "dst", "$1", "src", "(.*)")`, []string{"x"}},
		{`vector(1)`, nil},
	} {
		if got := MetricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("MetricNames(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestAllMetricNames(t *testing.T) {
	t.Parallel()
	doc := []byte(`{
	"panels": [
		{"type": "row", "panels": [{"targets": [{"expr": "rate(inner_total[1m])"}]}]},
		{"targets": [{"expr": "sum(outer_total)"}, {"expr": ""}]}
	],
	"templating": {"list": [
		{"type": "datasource", "query": "prometheus"},
		{"type": "query", "query": {"query": "label_values(var_total, instance)"}},
		{"type": "query", "query": "label_values(old_style{job=\"x\"}, job)"}
	]}
}`)
	got, err := AllMetricNames(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"inner_total", "old_style", "outer_total", "var_total"}
	if !slices.Equal(got, want) {
		t.Errorf("AllMetricNames = %q, want %q", got, want)
	}
	if _, err := AllMetricNames([]byte("{")); err == nil {
		t.Error("a malformed dashboard was read")
	}
}
