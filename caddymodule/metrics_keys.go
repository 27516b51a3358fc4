package caddymodule

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// keySetFetches counts the JWKS fetches of every key set, by issuer: the JWKS URL or the OIDC
// discovery issuer, one per configured issuer (a password in the URL redacted). An issuer's series go
// when its key set closes (no configuration trusts it any more), so reloads do not pile them up.
var keySetFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy",
	Subsystem: "cognito",
	Name:      "jwks_fetches_total",
	Help:      "JWKS fetches (and OIDC discoveries) of the issuers' signing keys, by issuer (its JWKS URL or discovery issuer) and outcome (ok, error).",
}, []string{"issuer", "outcome"})

// keySets is the process-wide observer of the key sets: shared key sets outlive configurations, so
// their observer does too.
var keySets = newKeySetMetrics()

// keySetMetrics counts key set fetches and reports the age of the keys each issuer's tokens are
// verified with.
type keySetMetrics struct {
	age *prometheus.Desc

	mu      sync.Mutex
	fetched map[string]time.Time // by issuer, while its key set is open
	now     func() time.Time
}

func newKeySetMetrics() *keySetMetrics {
	return &keySetMetrics{
		age: prometheus.NewDesc("caddy_cognito_jwks_key_age_seconds",
			"Seconds since the signing keys in use for an issuer were fetched (absent until a first fetch succeeds).",
			[]string{"issuer"}, nil),
		fetched: map[string]time.Time{},
		now:     time.Now,
	}
}

func (m *keySetMetrics) Fetched(source string, _ int, fetchedAt time.Time) {
	keySetFetches.WithLabelValues(source, "ok").Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetched[source] = fetchedAt
}

func (m *keySetMetrics) FetchFailed(source string, _ error) {
	keySetFetches.WithLabelValues(source, "error").Inc()
}

func (m *keySetMetrics) Closed(source string) {
	keySetFetches.DeleteLabelValues(source, "ok")
	keySetFetches.DeleteLabelValues(source, "error")
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.fetched, source)
}

func (m *keySetMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.age }

func (m *keySetMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for source, at := range m.fetched {
		ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, now.Sub(at).Seconds(), source)
	}
}

var _ userpool.KeySetObserver = (*keySetMetrics)(nil)
