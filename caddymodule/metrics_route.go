package caddymodule

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

var routeDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy",
	Subsystem: "cognito",
	Name:      "route_decisions_total",
	Help: "Requests decided by cognito_authorizer, by route (its metrics_route, empty by default), outcome (allow, deny, shadow_deny) " +
		"and rule (the policy's rule that refused; empty for an allow and for a refusal before the policy ran, whose reason decisions_total gives).",
}, []string{"route", "outcome", "rule"})

// maxRuleLabels bounds the rules counted apart on one route: the built-in policy's are few, but a
// policy of one's own may name its rules from the request.
const maxRuleLabels = 32

// maxRouteLabel bounds a metrics_route name.
const maxRouteLabel = 64

// builtinRules are the rules the built-in policy refuses by, and "policy", a refusal that names none.
var builtinRules = []string{policy.RuleAuthentication, policy.RuleGroups, policy.RuleScopes, policy.RuleClaims, policy.RuleIAM, "policy"}

// routeMetrics counts one route's decisions. Its counters are bound when the route is provisioned, so
// that counting a decision costs a map lookup at most, and no allocation.
type routeMetrics struct {
	route        string
	allow        prometheus.Counter
	deny, shadow ruleCounters
}

// ruleCounters are the counters of one outcome, by rule.
type ruleCounters struct {
	outcome string
	route   string
	rules   *boundedLabels
	mu      sync.RWMutex
	byRule  map[string]prometheus.Counter
}

func newRouteMetrics(route string, shadow bool) *routeMetrics {
	m := &routeMetrics{route: route, allow: routeDecisions.WithLabelValues(route, "allow", "")}
	rules := newBoundedLabels(maxRuleLabels)
	m.deny = ruleCounters{outcome: "deny", route: route, rules: rules, byRule: map[string]prometheus.Counter{}}
	m.shadow = ruleCounters{outcome: "shadow_deny", route: route, rules: rules, byRule: map[string]prometheus.Counter{}}
	m.deny.bind("")
	if shadow {
		m.shadow.bind("")
	}
	for _, rule := range builtinRules {
		rules.label(rule)
		m.deny.bind(rule)
		if shadow {
			m.shadow.bind(rule)
		}
	}
	return m
}

// bind creates the counter of rule.
func (c *ruleCounters) bind(rule string) prometheus.Counter {
	counter := routeDecisions.WithLabelValues(c.route, c.outcome, rule)
	c.byRule[rule] = counter
	return counter
}

// counter returns the counter of rule, binding it on first use if the route has room for another rule.
func (c *ruleCounters) counter(rule string) prometheus.Counter {
	c.mu.RLock()
	counter := c.byRule[rule]
	c.mu.RUnlock()
	if counter != nil {
		return counter
	}
	rule = c.rules.label(rule)
	c.mu.Lock()
	defer c.mu.Unlock()
	if counter := c.byRule[rule]; counter != nil {
		return counter
	}
	return c.bind(rule)
}

// observe counts d.
func (m *routeMetrics) observe(d *authorizer.Decision) {
	if m == nil {
		return
	}
	if d.Allow && !d.Shadow {
		m.allow.Inc()
		return
	}
	rule := ""
	if d.PolicyTime > 0 {
		rule = d.Label
	}
	if d.Shadow {
		m.shadow.counter(rule).Inc()
	} else {
		m.deny.counter(rule).Inc()
	}
}

// checkRouteLabel checks a metrics_route name: short, and of the characters a rule may have.
func checkRouteLabel(route string) error {
	if len(route) > maxRouteLabel {
		return fmt.Errorf("metrics_route %.20q...: at most %d characters", route, maxRouteLabel)
	}
	for _, r := range route {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' || r == '.' || r == ':' || r == '/') {
			return fmt.Errorf("metrics_route %q: only letters, digits and _ - . : / are allowed", route)
		}
	}
	return nil
}
