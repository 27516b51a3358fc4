package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

// maxRolePolicyBytes bounds what is read of one role policy file (IAM's own limit for a role's inline
// policies is 10,240 characters).
const maxRolePolicyBytes = 64 << 10

// RolePolicy attaches IAM policy documents to a role of the identity pool: requests signed with
// credentials for that role are decided by them, as IAM decides a request to API Gateway with IAM
// authorization (execute-api:Invoke on the request's resource ARN, see ExecuteAPI). A role without a
// policy is denied everything, guests included (they carry the pool's unauthenticated role).
type RolePolicy struct {
	// RoleARN is the role, exactly as the identity pool issues it, e.g.
	// `arn:aws:iam::123456789012:role/orders-guest`.
	RoleARN string `json:"role_arn"`

	// Files are JSON policy documents (the `2012-10-17` policy language), read and validated when the
	// configuration loads: malformed JSON, an unknown key, an operator or a condition key the gateway
	// cannot evaluate is a configuration error naming the file. Their statements are evaluated
	// together.
	Files []string `json:"files"`
}

// ExecuteAPI names the API that role policies authorize requests to: the resource ARN of a request is
// `arn:aws:execute-api:<region>:<account>:<api_id>/<stage>/<METHOD>/<path>`, with the region of the
// identity pool, the method in upper case and the decoded path the upstream receives (without its
// leading slash), as API Gateway builds it. Set it to your API's values to reuse the policies your
// roles already have.
type ExecuteAPI struct {
	// Account is the 12-digit AWS account id. Default: the account of the role_policy roles, when they
	// are all in one.
	Account string `json:"account,omitempty"`

	// APIID is the API id. Default: `api`.
	APIID string `json:"api_id,omitempty"`

	// Stage is the stage name. Default: `$default`, the default stage of API Gateway's HTTP APIs.
	Stage string `json:"stage,omitempty"`
}

// hasRolePolicies reports whether identity-pool callers are decided by role policies.
func (c *Config) hasRolePolicies() bool {
	return len(c.RolePolicies) > 0 || c.ExecuteAPI != nil
}

// validateRolePolicies checks what provision cannot fix.
func (c *Config) validateRolePolicies() error {
	if c.AllowAnyRole {
		switch {
		case c.IdentityPool == nil:
			return errors.New("allow_any_role lets requests signed with identity-pool credentials through: configure an identity_pool")
		case c.hasRolePolicies():
			return errors.New("allow_any_role and role_policy (or execute_api) contradict each other: role policies decide what each role may do; remove one")
		}
	}
	if !c.hasRolePolicies() {
		return nil
	}
	if c.IdentityPool == nil {
		return errors.New("role_policy and execute_api decide requests signed with identity-pool credentials: configure an identity_pool")
	}
	for _, rp := range c.RolePolicies {
		if rp.RoleARN == "" || len(rp.Files) == 0 {
			return errors.New("role_policy: want a role ARN and at least one policy file")
		}
	}
	return nil
}

// policyConfig translates the route's requirements and role policies to the library's, the role
// policies' files read.
func (c *Config) policyConfig() (authorizer.PolicyConfig, error) {
	cfg := authorizer.PolicyConfig{Groups: c.Groups, Scopes: c.Scopes, Claims: c.Claims, AllowAnyRole: c.AllowAnyRole}
	if !c.hasRolePolicies() {
		return cfg, nil
	}
	for _, rp := range c.RolePolicies {
		role := authorizer.RolePolicy{RoleARN: rp.RoleARN}
		for _, path := range rp.Files {
			data, err := readLimited(path, maxRolePolicyBytes)
			if err != nil {
				return cfg, fmt.Errorf("role_policy %s: reading %s: %w", rp.RoleARN, path, err)
			}
			role.Files = append(role.Files, authorizer.PolicyFile{Name: path, Data: data})
		}
		cfg.RolePolicies = append(cfg.RolePolicies, role)
	}
	region, err := authorizer.PoolRegion(c.IdentityPool.ID)
	if err != nil {
		return cfg, fmt.Errorf("role policies: %w", err)
	}
	cfg.ExecuteAPI = authorizer.ExecuteAPI{Region: region}
	if e := c.ExecuteAPI; e != nil {
		cfg.ExecuteAPI.Account, cfg.ExecuteAPI.APIID, cfg.ExecuteAPI.Stage = e.Account, e.APIID, e.Stage
	}
	return cfg, nil
}
