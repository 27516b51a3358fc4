// Package policy decides requests with embedded OPA: every request the authorizer lets through is
// decided by a Rego policy, the built-in one (package policies) or the user's. It owns the input
// document the policy reads (what enters it, and how: RemoteIP for the client address), the route
// settings (Rules), the IAM role policies compiled into them, and the checks on what a policy returns.
//
// An Engine is built once per policy configuration (New) and shared by every route that uses it; each
// route converts its settings once (NewRules) and passes them with every request (Input.Rules).
// Decide builds the input document, evaluates the decision with a query prepared once per policy
// version, and validates what the policy returned.
//
// # The input document
//
//	{
//	  "request":  {"method": "GET", "host": "api.example.com", "path": "/orders/42",
//	               "path_segments": ["orders", "42"], "query": {"k": ["v"]},
//	               "headers": {"content-type": ["application/json"]}, "remote_ip": "203.0.113.9",
//	               "tls": true},
//	  "identity": {"kind": "user_pool", "authenticated": true, "issuer": "...", "subject": "...",
//	               "username": "...", "client_id": "...", "token_use": "access", "groups": ["admins"],
//	               "scopes": ["orders/read"], "claims": {...}, "identity_id": "", "identity_pool_id": "",
//	               "role_arn": "", "principal_tags": {}, "login_providers": [], "context": {},
//	               "expires_at": 1700000000},
//	  "config":   {"groups": ["admins"], "scopes": [], "claims": [], "iam": null}
//	}
//
// "tls" says whether the request reached the gateway over TLS; "remote_ip" is the client's IP, without
// a port (RemoteIP). An identity-pool caller's "context"
// holds its IAM condition keys by lowercase name, as role policies read them:
//
//	{"cognito-identity.amazonaws.com:sub": "us-east-1:...", "cognito-identity.amazonaws.com:aud": "us-east-1:...",
//	 "cognito-identity.amazonaws.com:amr": ["authenticated", "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
//	                                        "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123:CognitoSignIn:<sub>"],
//	 "aws:principaltag/tenant": "t1"}
//
// (amr is ["unauthenticated"] for a guest); it is empty for other kinds. config "iam" holds a route's
// compiled role policies (Rules.WithRolePolicies), null without. Header names are lowercase and values lists;
// query values are lists. Credentials never enter it:
// the headers Authorization, Proxy-Authorization, Cookie and X-Amz-Security-Token, the query
// parameters X-Amz-Signature, X-Amz-Security-Token and X-Amz-Credential (in any case), and whatever a
// route's Redaction adds. Every identity key is present for every kind (empty when it does not
// apply); kind "none" is an anonymous caller. The identity object is converted once per identity
// (identity.Identity.Memo), config once per route.
//
// # The decision
//
// A boolean, or an object {"allow": bool, "status": 4xx/5xx, "reason": "...", "rule": "...",
// "headers": {"X-Name": "value"}}; see Decision for what each part may hold. Anything else, an
// undefined decision or an evaluation error is an error: the caller fails closed.
//
// # Role policies
//
// Rules.WithRolePolicies attaches IAM policy documents (ParsePolicyDocument) to the roles of an
// identity pool: the built-in policy then decides identity-pool callers by their role's documents,
// as API Gateway's IAM authorization does (execute-api:Invoke on the request's resource ARN, see
// ExecuteAPI), and token callers by the route's groups, scopes and claim rules. The documents are
// validated and compiled in Go, once per route, into input.config.iam; the evaluation itself is
// Rego (data.cognito.iam, with its Rego tests), which your own policies can reuse.
//
// # Bundles and decision logs
//
// Config.OPAConfig is OPA's own configuration, handed to OPA's sdk: bundles are polled and activated
// atomically (a request in flight finishes on the policy it started with; the next one sees the new
// policy), the last good bundle stays active while the server is down or serves a broken one, and
// decision logs go where OPA sends them, with the configured mask policy applied and credential
// headers of the result masked whatever that policy does.
package policy
