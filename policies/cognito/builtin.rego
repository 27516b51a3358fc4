# METADATA
# title: The built-in policy of caddy-cognito
# description: |
#   Decides on the route settings the authorizer puts in `input.config`:
#   - `groups`: the caller must be in at least one of them (an empty list: no requirement);
#   - `scopes`: the caller's token must grant at least one of them (an empty list: no requirement);
#   - `claims`: every claim rule must hold (see claim_rule_holds).
#   A route with no requirement at all admits every caller the authorizer lets reach the policy,
#   anonymous ones included; a route with any requirement refuses anonymous callers with 401.
#   On a deny, `rule` names the first check that failed, in this order: "authentication" (401),
#   "groups" (403), "scopes" (403, which the authorizer maps to error="insufficient_scope"),
#   "claims" (403). Anything malformed or undefined ends in the default deny (403, rule "policy").
#
#   On a route with role policies (`input.config.iam`, see data.cognito.iam), identity-pool callers
#   are decided by their role's IAM-style policies instead (a deny's rule is "iam"); token callers
#   and anonymous ones keep the rules above. On a route without role policies, identity-pool callers
#   are denied (403, rule "iam"), as IAM denies a role that no policy allows anything, unless the
#   route sets `input.config.allow_any_role` (`allow_any_role` in the Caddyfile): then they are
#   decided by the rules above, like token callers.
#
#   Your own policy can reuse it: `import data.cognito.builtin` and build on `builtin.decision`.
package cognito.builtin

import data.cognito.iam
import data.cognito.lib

default decision := {"allow": false, "status": 403, "rule": "policy", "reason": "denied by the built-in policy"}

decision := iam.decision if {
	input.identity.kind == "identity_pool"
	is_object(input.config.iam)
} else := deny(403, "iam", "the route has no role policy: implicit deny (allow_any_role lets any role through)") if {
	input.identity.kind == "identity_pool"
	not any_role_allowed
} else := {"allow": true} if {
	allowed
} else := deny(401, "authentication", "authentication required") if {
	lib.is_anonymous
	not open_route
} else := deny(403, "groups", sprintf("caller is in none of the required groups %v", [input.config.groups])) if {
	not groups_held
} else := deny(403, "scopes", sprintf("token grants none of the required scopes %v", [input.config.scopes])) if {
	not scopes_held
} else := deny(403, "claims", claim_failure_reason) if {
	not claims_hold
}

# any_role_allowed is true on a route that lets identity-pool callers of any role through.
any_role_allowed if input.config.allow_any_role == true

# allow is decision.allow, for policies that only want the boolean.
allow := decision.allow

deny(status, rule, reason) := {"allow": false, "status": status, "rule": rule, "reason": reason}

# allowed is true when the caller meets every requirement of the route. It is spelled out as one
# plain conjunction per combination of requirements, which rule indexing picks, because this is the
# path of every allowed request and every rule it evaluates costs time on every request (the Rego
# tests check every combination against the requirements stated plainly). An anonymous caller's
# identity has no groups, scopes or claims, so only a route with nothing but claim rules needs to
# refuse it by kind. Identity-pool callers get here only on a route with allow_any_role.

# Routes without claim rules.
allowed if {
	input.config.claims == []
	input.config.groups == []
	input.config.scopes == []
}

allowed if {
	input.config.claims == []
	input.config.groups == []
	input.config.scopes[_] == input.identity.scopes[_]
}

allowed if {
	input.config.claims == []
	input.config.scopes == []
	input.config.groups[_] == input.identity.groups[_]
}

allowed if {
	input.config.claims == []
	input.config.groups[_] == input.identity.groups[_]
	input.config.scopes[_] == input.identity.scopes[_]
}

# Routes with claim rules: the same, and every claim rule holds.
allowed if {
	input.config.claims != []
	input.config.groups == []
	input.config.scopes == []
	input.identity.kind != "none"
	claims_hold
}

allowed if {
	input.config.claims != []
	input.config.groups == []
	input.config.scopes[_] == input.identity.scopes[_]
	claims_hold
}

allowed if {
	input.config.claims != []
	input.config.scopes == []
	input.config.groups[_] == input.identity.groups[_]
	claims_hold
}

allowed if {
	input.config.claims != []
	input.config.groups[_] == input.identity.groups[_]
	input.config.scopes[_] == input.identity.scopes[_]
	claims_hold
}

# open_route is true for a route without any requirement.
open_route if {
	input.config.groups == []
	input.config.scopes == []
	input.config.claims == []
}

# The checks one by one, to name the one that failed on a deny.

groups_held if input.config.groups == []

groups_held if lib.is_member_of_any(input.config.groups)

scopes_held if input.config.scopes == []

scopes_held if lib.has_any_scope(input.config.scopes)

claims_hold if {
	is_array(input.config.claims)
	every rule in input.config.claims {
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
# A header or query parameter sent several times never matches, so a client cannot send its own
# tenant next to another one and hope that the upstream reads the other.
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

default claim_failure_reason := "a claim rule failed"

claim_failure_reason := sprintf("claim %v does not match %s", [rule.claim, source(rule)]) if {
	rule := [r | some r in input.config.claims; not claim_rule_holds(r)][0]
}

source(rule) := sprintf("path segment %d", [rule.segment]) if rule.from == "segment"

source(rule) := sprintf("header %s", [rule.name]) if rule.from == "header"

source(rule) := sprintf("query parameter %s", [rule.name]) if rule.from == "query"

source(rule) := "any of the allowed values" if rule.from == "value"
