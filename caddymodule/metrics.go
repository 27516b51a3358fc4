package caddymodule

import (
	"errors"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// The collectors are created once; every configuration registers them with its own metrics registry,
// which Caddy replaces on each config load.
var (
	decisionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "decisions_total",
		Help:      "Requests decided by cognito_authorizer, by outcome (allow, deny, shadow_deny) and reason (allowed, the refusal's error type, or the policy's rule).",
	}, []string{"outcome", "reason"})
	policyActivations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "policy_activations_total",
		Help:      "Bundles OPA downloaded and tried to activate, by outcome: ok, missing_decision (the bundle does not define the decision: the last good policy stays), invalid (it does not compile or fit its roots: the last good policy stays).",
	}, []string{"outcome"})
	policySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "policy_evaluation_seconds",
		Help:      "Time the policy took to decide one request.",
		Buckets:   prometheus.ExponentialBuckets(5e-6, 2, 14), // 5µs to 41ms
	})
	policyMemo        = newMemoCollector()
	replayStoreErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "replay_store_errors_total",
		Help:      "Signed non-idempotent requests whose signature Redis could not check, by what was done (replay_when_unreachable): refuse (answered 503) or local (checked in this instance's memory only).",
	}, []string{"action"})
	replayRefusals = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "replay_refusals_total",
		Help:      "Signed non-idempotent requests refused because their signature was already used (replay_protection).",
	})
	streamsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "streams_closed_total",
		Help:      "Requests (WebSockets, SSE and other streams) cognito_authorizer closed because the credential that opened them expired (after stream_grace) or was revoked, by reason: expired, revoked.",
	}, []string{"reason"})
)

// memoCollector reports the policy engines' decision memo counts (authorizer.PolicyEngine.MemoStats), summed
// over the live engines and those closed before them, so the counters never go down.
type memoCollector struct {
	hits, misses *prometheus.Desc

	mu                       sync.Mutex
	live                     map[*authorizer.PolicyEngine]struct{}
	closedHits, closedMisses uint64
}

func newMemoCollector() *memoCollector {
	return &memoCollector{
		hits: prometheus.NewDesc("caddy_cognito_policy_memo_hits_total",
			"Decisions reused from the policy's decision memo, without evaluating the policy.", nil, nil),
		misses: prometheus.NewDesc("caddy_cognito_policy_memo_misses_total",
			"Decisions evaluated and remembered in the policy's decision memo (a policy that cannot be memoized counts in neither).", nil, nil),
		live: map[*authorizer.PolicyEngine]struct{}{},
	}
}

// track counts e's memo until untrack.
func (c *memoCollector) track(e *authorizer.PolicyEngine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live[e] = struct{}{}
}

// untrack keeps e's final counts and stops reading them.
func (c *memoCollector) untrack(e *authorizer.PolicyEngine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.live[e]; !ok {
		return
	}
	delete(c.live, e)
	hits, misses := e.MemoStats()
	c.closedHits += hits
	c.closedMisses += misses
}

func (c *memoCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
}

func (c *memoCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	hits, misses := c.closedHits, c.closedMisses
	for e := range c.live {
		h, m := e.MemoStats()
		hits += h
		misses += m
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(misses))
}

// collectors are every metric the module exports; the README's metrics table lists exactly these.
var collectors = []prometheus.Collector{decisionsTotal, policyActivations, policySeconds, policyMemo,
	replayStoreErrors, replayRefusals, routeDecisions, keySets, keySetFetches, caches, poolCalls, poolCredentialsIssued, streamsClosed}

// registerMetrics registers the collectors with the configuration's registry.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// observe counts a decision.
func observe(d *authorizer.Decision) {
	outcome := "allow"
	switch {
	case d.Shadow:
		outcome = "shadow_deny"
	case !d.Allow:
		outcome = "deny"
	}
	decisionsTotal.WithLabelValues(outcome, d.Label).Inc()
	if d.PolicyTime > 0 {
		policySeconds.Observe(d.PolicyTime.Seconds())
	}
	if !d.Allow {
		observeReplay(d)
	}
}

// observeReplay counts a refusal of a replayed signature.
func observeReplay(d *authorizer.Decision) {
	if errors.Is(d.Reason, sigv4.ErrReplayedSignature) {
		replayRefusals.Inc()
	}
}

// observeActivation counts a bundle activation.
func observeActivation(a authorizer.Activation) {
	outcome := "ok"
	switch {
	case errors.Is(a.Err, authorizer.ErrMissingDecision):
		outcome = "missing_decision"
	case a.Err != nil:
		outcome = "invalid"
	}
	policyActivations.WithLabelValues(outcome).Inc()
}
