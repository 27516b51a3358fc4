# METADATA
# title: What the browser example's roles may call
# description: |
#   The API of examples/browser has two resources. Every caller with the identity pool's credentials,
#   guests included, may ask who it is (GET /whoami); only the admin role, which the identity pool gives
#   to members of the user-pool group `admins`, may read the report (GET /admin/report). Everything
#   else is refused with 403 (X-Amzn-ErrorType: AccessDeniedException for SigV4 callers).
package cognito.authz

admin_role := "arn:aws:iam::123456789012:role/browser-demo-admin"

default decision := {"allow": false, "status": 403, "rule": "browser-example", "reason": "no rule of the browser example allows this request"}

decision := {"allow": true} if {
	input.identity.kind == "identity_pool"
	input.request.method == "GET"
	input.request.path == "/whoami"
}

decision := {"allow": true} if {
	input.identity.kind == "identity_pool"
	input.identity.role_arn == admin_role
	input.request.method == "GET"
	input.request.path == "/admin/report"
}
