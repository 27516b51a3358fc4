package upstream

import (
	"encoding/json"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Context is the identity in the shape of API Gateway's requestContext (HeaderContext carries it), so
// backends moving off API Gateway read the same fields. Token callers get `authorizer` (`principalId`,
// and `jwt.claims` and `jwt.scopes` as an HTTP API JWT authorizer gives them, claim values as
// strings); identity-pool callers get `identity` (as IAM authorization gives it); an anonymous caller
// gets `{}`. The claims are there once: REST API's `authorizer.claims` copy of them doubled the header
// for the few backends that read it.
func Context(id *identity.Identity) []byte {
	type jwtContext struct {
		Claims map[string]string `json:"claims"`
		Scopes []string          `json:"scopes"`
	}
	type authorizerContext struct {
		PrincipalID string     `json:"principalId"`
		JWT         jwtContext `json:"jwt"`
	}
	type identityContext struct {
		CognitoIdentityID             string `json:"cognitoIdentityId"`
		CognitoIdentityPoolID         string `json:"cognitoIdentityPoolId"`
		CognitoAuthenticationType     string `json:"cognitoAuthenticationType"`
		CognitoAuthenticationProvider string `json:"cognitoAuthenticationProvider,omitempty"`
		UserArn                       string `json:"userArn,omitempty"`
		Caller                        string `json:"caller,omitempty"`
		User                          string `json:"user,omitempty"`
		AccessKey                     string `json:"accessKey,omitempty"`
		AccountID                     string `json:"accountId,omitempty"`
	}
	var ctx struct {
		Authorizer *authorizerContext `json:"authorizer,omitempty"`
		Identity   *identityContext   `json:"identity,omitempty"`
	}
	switch id.Kind {
	case identity.KindUserPool, identity.KindOIDC:
		ctx.Authorizer = &authorizerContext{
			PrincipalID: id.Subject,
			JWT:         jwtContext{Claims: stringClaims(id.ClaimMap()), Scopes: id.Scopes},
		}
	case identity.KindIdentityPool:
		pool := poolOf(id)
		ctx.Identity = &identityContext{
			CognitoIdentityID:             pool.IdentityID,
			CognitoIdentityPoolID:         pool.IdentityPoolID,
			CognitoAuthenticationType:     authenticationType(id),
			CognitoAuthenticationProvider: pool.AuthenticationProvider,
			UserArn:                       assumedRoleARN(id),
			Caller:                        callerID(id),
			User:                          callerID(id),
			AccessKey:                     pool.AccessKeyID,
			AccountID:                     accountID(pool.RoleARN),
		}
	}
	b, _ := json.Marshal(ctx)
	return b
}

// stringClaims renders claim values as API Gateway does (claimString).
func stringClaims(claims map[string]any) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		out[k] = claimString(v)
	}
	return out
}

// assumedRoleARN is the STS assumed-role ARN API Gateway shows as userArn:
// arn:aws:sts::<account>:assumed-role/<role name>/CognitoIdentityCredentials.
func assumedRoleARN(id *identity.Identity) string {
	arn := poolOf(id).RoleARN
	account, name := accountID(arn), roleName(arn)
	if account == "" || name == "" {
		return ""
	}
	return "arn:aws:sts::" + account + ":assumed-role/" + name + "/CognitoIdentityCredentials"
}

// callerID is API Gateway's caller/user for assumed-role credentials: <role id>:<session name>. The
// gateway has no IAM role id, so the role name stands in for it.
func callerID(id *identity.Identity) string {
	if name := roleName(poolOf(id).RoleARN); name != "" {
		return name + ":CognitoIdentityCredentials"
	}
	return ""
}

// accountID is the account of a role ARN (arn:aws:iam::<account>:role/<name>), as identity.ParseRoleARN
// reads it. What that parser refuses falls back to a lenient split on colons: the role comes from the
// identity pool, which has checked it already, and the headers and context of odd input are pinned by
// the golden files, so this package describes whatever it is given rather than judging it.
func accountID(arn string) string {
	if a, err := identity.ParseRoleARN(arn); err == nil {
		return a.Account
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// roleName is the name of a role ARN, without its path; like accountID, it falls back to a lenient
// split when identity.ParseRoleARN refuses the ARN.
func roleName(arn string) string {
	if a, err := identity.ParseRoleARN(arn); err == nil {
		return a.Name
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	_, name, ok := strings.Cut(parts[5], "/")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:] // role paths: role/service-role/<name>
	}
	return name
}
