package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// unmarshalRolePolicy reads `role_policy <role_arn> <file.json>...`.
func unmarshalRolePolicy(d *caddyfile.Dispenser) (RolePolicy, error) {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return RolePolicy{}, d.Err("role_policy needs a role ARN and at least one policy file: role_policy <role_arn> <file.json>...")
	}
	if _, err := identity.ParseRoleARN(args[0]); err != nil {
		return RolePolicy{}, d.Errf("role_policy: %v", err)
	}
	return RolePolicy{RoleARN: args[0], Files: args[1:]}, nil
}

// unmarshalExecuteAPI reads `execute_api <account> [<api_id> [<stage>]]`.
func unmarshalExecuteAPI(d *caddyfile.Dispenser) (*ExecuteAPI, error) {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 3 {
		return nil, d.Err("execute_api takes the account id, then optionally the API id and the stage: execute_api <account> [<api_id> [<stage>]]")
	}
	if !identity.IsAccountID(args[0]) {
		return nil, d.Errf("execute_api: account %q is not a 12-digit AWS account id", args[0])
	}
	e := &ExecuteAPI{Account: args[0]}
	if len(args) > 1 {
		e.APIID = args[1]
	}
	if len(args) > 2 {
		e.Stage = args[2]
	}
	return e, nil
}
