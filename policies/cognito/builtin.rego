# METADATA
# title: The built-in policy of caddy-cognito
# description: |
#   Decides on the route settings the authorizer puts in `input.config`:
#   - `groups`: the caller must be in at least one of them (an empty list: no requirement);
#   - `scopes`: the caller's token must grant at least one of them (an empty list: no requirement);
#   - `claims`: every claim rule must hold (see claim_rule_holds).
#   Checks run in that order after authentication, and the first that fails gives the deny, with
#   `rule` naming it: "authentication" (401, an anonymous caller on a route with any requirement),
#   "groups" (403), "scopes" (403, mapped to `error="insufficient_scope"`), "claims" (403).
#   A route with no requirement at all admits every caller the authorizer lets reach the policy,
#   anonymous ones included.
#
#   Your own policy can reuse it: `import data.cognito.builtin` and build on `builtin.decision`.
package cognito.builtin

import data.cognito.lib

# decision is the built-in decision: {"allow": true}, or a deny with status, rule and reason. It allows
# only when every check positively holds; anything undefined along the way ends in the default deny.
default decision := {"allow": false, "status": 403, "rule": "policy", "reason": "denied by the built-in policy"}

decision := {"allow": true} if {
	not authentication_required
	groups_satisfied
	scopes_satisfied
	claims_satisfied
} else := deny(401, "authentication", "authentication required") if {
	authentication_required
} else := deny(403, "groups", sprintf("caller is in none of the required groups %v", [groups])) if {
	not groups_satisfied
} else := deny(403, "scopes", sprintf("token grants none of the required scopes %v", [scopes])) if {
	not scopes_satisfied
} else := deny(403, "claims", claim_failure_reason) if {
	not claims_satisfied
}

# allow is decision.allow, for policies that only want the boolean.
allow := decision.allow

deny(status, rule, reason) := {"allow": false, "status": status, "rule": rule, "reason": reason}

groups := object.get(input, ["config", "groups"], [])

scopes := object.get(input, ["config", "scopes"], [])

claims := object.get(input, ["config", "claims"], [])

# authentication_required is true for an anonymous caller on a route that asks anything of the caller.
authentication_required if {
	lib.is_anonymous
	has_requirements
}

# has_requirements is true when the route asks anything of the caller. (Issue 5's IAM policies will add
# theirs here.)
has_requirements if count(groups) > 0

has_requirements if count(scopes) > 0

has_requirements if count(claims) > 0

groups_satisfied if count(groups) == 0

groups_satisfied if lib.is_member_of_any(groups)

scopes_satisfied if count(scopes) == 0

scopes_satisfied if lib.has_any_scope(scopes)

claims_satisfied if {
	every rule in claims {
		claim_rule_holds(rule)
	}
}

# claim_rule_holds(rule) is true when the caller's claim rule.claim equals the value rule.from names
# (see lib.claim_equals for how values compare):
# - {"from": "segment", "segment": i}: path segment i (0-based, as input.request.path_segments);
# - {"from": "header", "name": n}: request header n (lowercase), which must have exactly one value;
# - {"from": "query", "name": n}: query parameter n, which must have exactly one value;
# - {"from": "value", "values": [...]}: any of the listed values.
# A value taken from the request must be non-empty: an empty segment never matches an empty claim.
# Header and query values with several values never match, so a client cannot pass its own tenant next
# to another one and hope the upstream reads the other.
claim_rule_holds(rule) if {
	rule.from == "segment"
	claim_matches(rule.claim, input.request.path_segments[rule.segment])
}

claim_rule_holds(rule) if {
	rule.from == "header"
	[value] := input.request.headers[rule.name]
	claim_matches(rule.claim, value)
}

claim_rule_holds(rule) if {
	rule.from == "query"
	[value] := input.request.query[rule.name]
	claim_matches(rule.claim, value)
}

claim_rule_holds(rule) if {
	rule.from == "value"
	some value in rule.values
	claim_matches(rule.claim, value)
}

claim_matches(name, value) if {
	value != ""
	lib.claim_equals(name, value)
}

failed_claim_rules := [rule | some rule in claims; not claim_rule_holds(rule)]

default claim_failure_reason := "a claim rule failed"

claim_failure_reason := sprintf("claim %v does not match %s", [rule.claim, source(rule)]) if {
	rule := failed_claim_rules[0]
}

source(rule) := sprintf("path segment %d", [rule.segment]) if rule.from == "segment"

source(rule) := sprintf("header %s", [rule.name]) if rule.from == "header"

source(rule) := sprintf("query parameter %s", [rule.name]) if rule.from == "query"

source(rule) := "any of the allowed values" if rule.from == "value"
