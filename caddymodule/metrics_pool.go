package caddymodule

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
)

var (
	poolCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "identity_pool_calls_total",
		Help:      "Cognito Identity API calls cognito_identity_pool answered, by operation (GetId, GetCredentialsForIdentity, GetOpenIdToken, unknown) and outcome (ok, or the error type answered).",
	}, []string{"operation", "outcome"})
	poolCredentialsIssued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "cognito",
		Name:      "credentials_issued_total",
		Help:      "Credentials cognito_identity_pool issued, by role ARN (at most 100 roles; the others count as \"other\").",
	}, []string{"role"})
)

// poolMetrics is the identity pools' observer.
var poolMetrics = &poolObserver{roles: newBoundedLabels(maxRoleLabels)}

// maxRoleLabels bounds the roles counted apart: roles come from the configuration, but a token role
// mapping takes them from the login token's cognito:preferred_role and cognito:roles.
const maxRoleLabels = 100

// poolObserver counts the identity pools' calls and credentials.
type poolObserver struct{ roles *boundedLabels }

func (o *poolObserver) Served(op, outcome string) {
	switch op {
	case "GetId", "GetCredentialsForIdentity", "GetOpenIdToken":
	default:
		op = "unknown"
	}
	poolCalls.WithLabelValues(op, outcome).Inc()
}

func (o *poolObserver) Issued(roleARN string) {
	poolCredentialsIssued.WithLabelValues(o.roles.label(roleARN)).Inc()
}

// boundedLabels admits at most limit distinct label values; the others become "other".
type boundedLabels struct {
	limit int
	mu    sync.RWMutex
	seen  map[string]struct{}
}

func newBoundedLabels(limit int) *boundedLabels {
	return &boundedLabels{limit: limit, seen: map[string]struct{}{}}
}

// label returns v if it is, or can become, one of the admitted values; "other" otherwise.
func (b *boundedLabels) label(v string) string {
	b.mu.RLock()
	_, ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.limit {
		return "other"
	}
	b.seen[v] = struct{}{}
	return v
}

var _ identitypool.Observer = (*poolObserver)(nil)
