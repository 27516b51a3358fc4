# METADATA
# title: IAM-style role policies of caddy-cognito
# description: |
#   Decides identity-pool callers by the IAM policy documents attached to their role (`role_policy`
#   in the Caddyfile), as IAM decides a request to API Gateway with IAM authorization: the action is
#   `execute-api:Invoke`, the resource
#   `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>` (the method in upper
#   case, so that a Deny on GET also stops a "get" an upstream may read as GET; the decoded path the
#   upstream receives, without its leading slash). An explicit Deny wins over an Allow, and a request
#   no statement allows is denied (implicit deny); so is every request of a role without a policy. A
#   deny's `rule` is "iam".
#
#   The gateway parses and validates the documents when it starts, and hands them to this policy in
#   `input.config.iam`, compiled:
#
#     {"resource_prefix": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/",
#      "roles": {"<role ARN>": [<statement>, ...]}}
#
#   A statement is
#
#     {"id": "guest.json statement 1 (PublicRead)", "effect": "Allow" or "Deny",
#      "action": <pattern>, "not_action": false, "resource": <pattern>, "not_resource": false,
#      "condition": [<condition>...], "vars": [{"key": "cognito-identity.amazonaws.com:sub"}, ...],
#      "plain": false}
#
#   "action" and "resource" each join all of the statement's Action (NotAction, with "not_action"
#   true) or Resource (NotResource) values. A pattern is an anchored RE2 expression, matched in linear
#   time whatever the path's length: IAM's `*` is `.*` (any run of characters, `/` and `:` included, as
#   in a resource), `?` is `.` (one character), every other character is literal (escaped), and
#   `(?s)^(?:...|...)$` anchors the whole. Action patterns are lowercase (actions compare
#   case-insensitively); resource patterns are whole ARNs, case-sensitive. A "plain" statement has no
#   variables and no conditions, and its patterns are expressions. In any other statement they are
#   sprintf formats over the values of its policy variables ("vars": each with its context key,
#   lowercase, and the "default" value the document gave, if any): the nth variable is `\Q%[n]s\E`,
#   its value quoted so that it matches only itself (an identity id holding `*` matches only a `*`),
#   a literal `%` is `%%`, and a pattern without variables ends with `%.0[1]s` (which prints nothing).
#
#   A condition is
#
#     {"operator": "StringLike", "set": "" | "ForAnyValue" | "ForAllValues", "if_exists": false,
#      "key": "cognito-identity.amazonaws.com:amr", "values": ...}
#
#   with the operators StringEquals, StringNotEquals, StringEqualsIgnoreCase,
#   StringNotEqualsIgnoreCase, StringLike, StringNotLike ("values": one pattern joining the values,
#   as resources; the Equals ones have no wildcard), IpAddress, NotIpAddress (a list of CIDRs), Bool
#   (a list of booleans) and Null (a list of booleans: true, the key is absent). Every condition of a
#   statement must hold; a condition holds when the key's value matches any of its values (none of
#   them, for the negated operators). A key absent from the request fails a condition, except for the
#   negated operators, `...IfExists`, and ForAllValues, as in IAM. The keys are the caller's
#   (`input.identity.context`: cognito-identity.amazonaws.com:sub, the identity id;
#   cognito-identity.amazonaws.com:aud, the pool; cognito-identity.amazonaws.com:amr, multivalued,
#   so only with ForAnyValue or ForAllValues; aws:principaltag/<tag>) and the request's (aws:sourceip,
#   aws:securetransport).
#
#   This evaluator fails closed where IAM would be lenient. A statement it cannot evaluate (a policy
#   variable without a value and without a default, an unknown operator or key, an operator on a key
#   of another type, a multivalued key without a set operator) never allows; and a Deny statement
#   whose action matches denies unless it is certain to spare the request (its resource certainly
#   does not match, or one of its conditions certainly fails). The gateway refuses all of these at
#   startup, but a value missing from a request.
package cognito.iam

# decision is the decision for an identity-pool caller on a route with role policies.
decision := d if {
	statements := input.config.iam.roles[input.identity.role_arn]
	d := decide(statements, concat("", [input.config.iam.resource_prefix, upper(input.request.method), input.request.path]))
} else := deny(sprintf("role %s has no role policy: implicit deny", [input.identity.role_arn]))

deny(reason) := {"allow": false, "status": 403, "rule": "iam", "reason": reason}

# decide(statements, resource) decides execute-api:Invoke on resource: explicit deny, then allow,
# then implicit deny.
decide(statements, resource) := deny(explicit_denial(statements, resource)) if {
	any_denies(statements, resource)
} else := {"allow": true} if {
	any_allows(statements, resource)
} else := deny(sprintf("no statement allows execute-api:Invoke on %s", [resource]))

# any_denies and any_allows stop at the first statement that denies, or allows.
any_denies(statements, resource) if {
	some s in statements
	s.effect == "Deny"
	denies(s, resource)
}

any_allows(statements, resource) if {
	some s in statements
	s.effect == "Allow"
	allows(s, resource)
}

explicit_denial(statements, resource) := sprintf("explicitly denied by %s", [concat(", ", [s.id |
	some s in statements
	s.effect == "Deny"
	denies(s, resource)
])])

# allows(s, resource) is true when the Allow statement s applies: its action, its resource and every
# condition certainly match. The first clause is the common statement, marked plain: without
# variables or conditions.
allows(s, resource) if {
	s.plain == true
	s.vars == []
	s.condition == []
	regex.match(s.action, "execute-api:invoke") != s.not_action
	regex.match(s.resource, resource) != s.not_resource
}

allows(s, resource) if {
	not s.plain
	regex.match(s.action, "execute-api:invoke") != s.not_action
	values := variables(s)
	regex.match(sprintf(s.resource, values), resource) != s.not_resource
	is_array(s.condition)
	every c in s.condition {
		holds(c, values)
	}
}

# denies(s, resource) is true when the Deny statement s names the action and is not certain to spare
# the request: a Deny statement the gateway cannot evaluate denies.
denies(s, resource) if {
	regex.match(s.action, "execute-api:invoke") != s.not_action
	not spared(s, resource)
}

spared(s, resource) if {
	s.plain == true
	s.vars == []
	s.condition == []
	regex.match(s.resource, resource) == s.not_resource
} else if {
	not s.plain
	values := variables(s)
	regex.match(sprintf(s.resource, values), resource) == s.not_resource
} else if {
	not s.plain
	values := variables(s)
	some c in s.condition
	condition(c, values) == false
}

# variables(s) is the list of the values of s's policy variables, for sprintf into its patterns
# (where each placeholder is quoted, \Q%[n]s\E, so that a value matches only itself); undefined when a
# variable has no value (and no default).
variables(s) := [] if {
	s.vars == []
} else := values if {
	values := [replace(x, "\\E", "\\E\\\\E\\Q") | some v in s.vars; x := var_value(v)]
	count(values) == count(s.vars)
}

# var_value(v) is the value of a policy variable: its context key's, else its default.
var_value(v) := x if {
	x := input.identity.context[v.key]
	is_string(x)
} else := x if {
	x := context_value(v.key)
	is_string(x)
} else := v["default"]

# context_value(key) is the value of a context key, undefined when the request has none: the
# caller's (input.identity.context), or the request's.
context_value(key) := v if {
	v := input.identity.context[key]
} else := input.request.remote_ip if {
	key == "aws:sourceip"
	net.cidr_is_valid(sprintf("%s/32", [input.request.remote_ip]))
} else := input.request.tls if {
	key == "aws:securetransport"
	is_boolean(input.request.tls)
}

# values_of(key) is the key's values as a set of request values: [] when absent.
values_of(key) := v if {
	v := input.identity.context[key]
	is_array(v)
} else := [v] if {
	v := context_value(key)
	not is_array(v)
} else := []

# condition(c, values) is whether condition c holds, its policy variables' values given; undefined
# when c cannot be evaluated (an unknown operator or key, an operator on a key of another type, a
# multivalued key without a set operator, values of the wrong type).
condition(c, values) if {
	holds(c, values)
} else := false if known(c)

# holds(c, values) is true when condition c is well-formed and holds for the request. A present key
# is checked by value_holds, whose every branch checks the types it needs; an absent key (which an
# unknown key looks like) only with a known condition.
holds(c, values) if {
	c.set == ""
	value_holds(c, values, context_value(c.key))
} else if {
	c.set == ""
	values_of(c.key) == []
	known(c)
	absent_holds(c)
} else if {
	c.set == "ForAnyValue"
	some v in values_of(c.key)
	value_holds(c, values, v)
} else if {
	c.set == "ForAnyValue"
	c.if_exists == true
	values_of(c.key) == []
	known(c)
} else if {
	c.set == "ForAllValues"
	known(c)
	every v in values_of(c.key) {
		value_holds(c, values, v)
	}
}

# absent_holds(c) is true when c holds for a key absent from the request: IfExists, the negated
# operators, and Null with true.
absent_holds(c) if {
	c.if_exists == true
} else if {
	c.operator in {"StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase", "NotIpAddress"}
} else if {
	c.operator == "Null"
	true in c.values
}

# value_holds(c, values, v) is true when one request value v satisfies c's operator, v and c's values
# of the operator's types.
value_holds(c, values, v) if {
	c.operator in {"StringEquals", "StringLike"}
	is_string(v)
	regex.match(sprintf(c.values, values), v)
} else if {
	c.operator in {"StringNotEquals", "StringNotLike"}
	is_string(v)
	is_string(c.values)
	not regex.match(sprintf(c.values, values), v)
} else if {
	c.operator == "StringEqualsIgnoreCase"
	is_string(v)
	regex.match(concat("", ["(?i)", sprintf(c.values, values)]), v)
} else if {
	c.operator == "StringNotEqualsIgnoreCase"
	is_string(v)
	is_string(c.values)
	not regex.match(concat("", ["(?i)", sprintf(c.values, values)]), v)
} else if {
	c.operator == "IpAddress"
	c.key == "aws:sourceip"
	typed(c.values, "ip")
	count(net.cidr_contains_matches(c.values, v)) > 0
} else if {
	c.operator == "NotIpAddress"
	c.key == "aws:sourceip"
	typed(c.values, "ip")
	count(net.cidr_contains_matches(c.values, v)) == 0
} else if {
	c.operator == "Bool"
	is_boolean(v)
	v in c.values
} else if {
	c.operator == "Null"
	false in c.values
}

# known(c) is true when the gateway can evaluate condition c: a known operator on a known key of its
# type, a set operator where one applies (and always on a multivalued key), values of the right type.
known(c) if {
	t := key_type(c.key)
	t == {
		"StringEquals": "string", "StringNotEquals": "string", "StringEqualsIgnoreCase": "string",
		"StringNotEqualsIgnoreCase": "string", "StringLike": "string", "StringNotLike": "string",
		"IpAddress": "ip", "NotIpAddress": "ip", "Bool": "bool",
	}[c.operator]
	is_boolean(c.if_exists)
	set_allowed(c, t)
	typed(c.values, t)
} else if {
	c.operator == "Null"
	key_type(c.key)
	c.set == ""
	c.if_exists == false
	typed(c.values, "bool")
}

# key_type(key) is the type of a context key's values.
key_type(key) := t if {
	t := {
		"cognito-identity.amazonaws.com:sub": "string", "cognito-identity.amazonaws.com:aud": "string",
		"cognito-identity.amazonaws.com:amr": "string", "aws:sourceip": "ip", "aws:securetransport": "bool",
	}[key]
} else := "string" if {
	startswith(key, "aws:principaltag/")
	count(key) > 17
}

set_allowed(c, t) if {
	c.set == ""
	c.key != "cognito-identity.amazonaws.com:amr"
} else if {
	c.set in {"ForAnyValue", "ForAllValues"}
	t == "string"
}

typed(values, "string") if is_string(values)

typed(values, "ip") if {
	count(values) > 0
	every v in values {
		net.cidr_is_valid(v)
	}
}

typed(values, "bool") if {
	count(values) > 0
	every v in values {
		is_boolean(v)
	}
}
