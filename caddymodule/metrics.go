package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
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
)

// registerMetrics registers the collectors with the configuration's registry.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{decisionsTotal, policyActivations, policySeconds} {
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
