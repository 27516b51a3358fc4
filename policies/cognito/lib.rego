# METADATA
# title: Helpers for policies over the caddy-cognito input document
# description: |
#   Import with `import data.cognito.lib`. Every helper reads `input` as the authorizer builds it
#   (see the package documentation of authorizer/policy), so they work unchanged in the built-in policy
#   and in your own.
package cognito.lib

# is_member_of(group) is true when the caller is in the group (`cognito:groups`, or an OIDC `groups` claim).
is_member_of(group) if group in input.identity.groups

# is_member_of_any(groups) is true when the caller is in at least one of the groups.
is_member_of_any(groups) if {
	some group in groups
	group in input.identity.groups
}

# has_scope(scope) is true when the caller's token grants the OAuth scope, e.g. "orders/read".
has_scope(scope) if scope in input.identity.scopes

# has_any_scope(scopes) is true when the caller's token grants at least one of the scopes.
has_any_scope(scopes) if {
	some scope in scopes
	scope in input.identity.scopes
}

# is_anonymous is true for a request that carried no credentials (only possible with allow_anonymous).
is_anonymous if input.identity.kind == "none"

# path_matches(pattern) is true when the request path matches the glob pattern, segment by segment:
# `*` matches within one segment, `**` across any number of segments, `?` one character,
# `{a,b}` either alternative, `[a-z]` a class. "/orders/*" matches "/orders/42" but not
# "/orders/42/items"; "/orders/**" matches both (and "/orders/").
path_matches(pattern) if glob.match(pattern, ["/"], input.request.path)

# path_matches_any(patterns) is true when the request path matches at least one of the glob patterns.
path_matches_any(patterns) if {
	some pattern in patterns
	path_matches(pattern)
}

# claim_equals(name, value) is true when the caller's claim `name` equals the string `value`: a string
# claim by equality, a number or boolean claim by its JSON form ("42", "true"), an array claim when one
# of its elements does. A missing claim, an object or null never equals anything.
claim_equals(name, value) if scalar_equals(input.identity.claims[name], value)

claim_equals(name, value) if {
	claim := input.identity.claims[name]
	is_array(claim)
	some element in claim
	scalar_equals(element, value)
}

# scalar_equals(x, value) compares one claim value with a string, as claim_equals describes.
scalar_equals(x, value) if {
	is_string(x)
	x == value
}

scalar_equals(x, value) if {
	is_number(x)
	json.marshal(x) == value
}

scalar_equals(x, value) if {
	is_boolean(x)
	json.marshal(x) == value
}
