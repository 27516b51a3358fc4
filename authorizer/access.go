package authorizer

import (
	"context"
	"fmt"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// ClaimRule requires a token claim to equal a part of the request or one of a list of values; see
// policy.ClaimRule for its JSON form.
type ClaimRule = policy.ClaimRule

// ClaimFromQuery is the source of a claim rule compared with a query parameter.
const ClaimFromQuery = policy.FromQuery

// ParseClaimRule parses the words of a Caddyfile claim line; see policy.ParseClaimRule.
func ParseClaimRule(args []string) (ClaimRule, error) { return policy.ParseClaimRule(args) }

// ExecuteAPI names the API that role policies authorize requests against; see policy.ExecuteAPI.
type ExecuteAPI = policy.ExecuteAPI

// PolicyFile is an IAM policy document as read, and the name its errors carry (its path).
type PolicyFile struct {
	Name string
	Data []byte
}

// RolePolicy declares what the identity-pool credentials of one role may do.
type RolePolicy struct {
	// RoleARN is the role, exactly as the identity pool gives it.
	RoleARN string
	// Files are the role's IAM policy documents, evaluated together.
	Files []PolicyFile
}

// PolicyConfig declares a route's settings for the policy (its input.config): what a token caller
// needs, and what each identity-pool role may do.
type PolicyConfig struct {
	// Groups and Scopes are required of token callers: one of each list, when it is not empty.
	Groups, Scopes []string
	// Claims tie token claims to the request.
	Claims []ClaimRule
	// RolePolicies decide identity-pool callers by their role, against ExecuteAPI; none: their role
	// is not checked here.
	RolePolicies []RolePolicy
	ExecuteAPI   ExecuteAPI
	// AllowAnyRole lets every identity-pool role through; it contradicts RolePolicies.
	AllowAnyRole bool
}

// NewPolicyRules builds the rules cfg declares, for Config.Rules.
func NewPolicyRules(cfg PolicyConfig) (*policy.Rules, error) {
	rules, err := policy.NewRules(cfg.Groups, cfg.Scopes, cfg.Claims)
	if err != nil {
		return nil, err
	}
	if len(cfg.RolePolicies) > 0 {
		roles := make([]policy.RolePolicy, 0, len(cfg.RolePolicies))
		for _, rp := range cfg.RolePolicies {
			role := policy.RolePolicy{RoleARN: rp.RoleARN}
			for _, f := range rp.Files {
				doc, err := policy.ParsePolicyDocument(f.Name, f.Data)
				if err != nil {
					return nil, fmt.Errorf("role_policy %s: %w", rp.RoleARN, err)
				}
				role.Documents = append(role.Documents, doc)
			}
			roles = append(roles, role)
		}
		if rules, err = rules.WithRolePolicies(cfg.ExecuteAPI, roles); err != nil {
			return nil, fmt.Errorf("role policies: %w", err)
		}
	}
	if cfg.AllowAnyRole {
		return rules.WithAnyRole()
	}
	return rules, nil
}

// EngineConfig declares a policy engine: its Rego, its decision and OPA's own configuration; see
// policy.Config.
type EngineConfig = policy.Config

// Activation is an attempt to activate a downloaded bundle, as EngineConfig.OnActivation is told.
type Activation = policy.Activation

// ErrMissingDecision marks a bundle that does not define the decision: it is not activated, and the
// engine keeps deciding with the last good policy.
var ErrMissingDecision = policy.ErrMissingDecision

// PolicyEngine decides requests with a compiled policy; see policy.Engine.
type PolicyEngine = policy.Engine

// NewPolicyEngine compiles the policy cfg declares, for Config.Policy. Close it when done.
func NewPolicyEngine(ctx context.Context, cfg EngineConfig) (*PolicyEngine, error) {
	return policy.New(ctx, cfg)
}

// NewRedaction builds the list of a route's own credential carriers, headers and query parameters,
// kept out of the policy input, for Config.Redaction; see policy.NewRedaction.
func NewRedaction(headers, queryParams []string) (*policy.Redaction, error) {
	return policy.NewRedaction(headers, queryParams)
}

// RemoteIP is the caller's address as the policy input's remote_ip holds it (policy.RemoteIP): the
// bare IP of addr, without port or IPv6 brackets. The adapter logs it the same way.
func RemoteIP(addr string) string { return policy.RemoteIP(addr) }
