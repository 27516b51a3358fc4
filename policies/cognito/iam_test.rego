package cognito.iam_test

import data.cognito.builtin
import data.cognito.iam

# Statements here are in the compiled form the gateway produces from IAM JSON (see the package
# documentation of data.cognito.iam). The helpers take patterns in IAM's syntax and compile them as
# the gateway does.

prefix := "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/"

# compiled(patterns) is the anchored expression of IAM patterns: * and ? are wildcards, <0> and <1>
# stand for the statement's first and second policy variables, <*> and <?> for the escapes ${*} and
# ${?}, everything else is literal (no pattern here has a literal %, which the patterns of a
# statement with variables double for sprintf).
compiled(patterns) := concat("", ["(?s)^", body(patterns[0]), "$"]) if {
	count(patterns) == 1
} else := concat("", ["(?s)^(?:", concat("|", [body(p) | some p in patterns]), ")$"])

body(p) := strings.replace_n(
	{
		"*": ".*", "?": ".", "<0>": "\\Q%[1]s\\E", "<1>": "\\Q%[2]s\\E", "<*>": "\\*", "<?>": "\\?",
		"\\": "\\\\", ".": "\\.", "+": "\\+", "(": "\\(", ")": "\\)", "|": "\\|",
		"[": "\\[", "]": "\\]", "{": "\\{", "}": "\\}", "^": "\\^", "$": "\\$",
	},
	p,
)

# arn(rest) is a resource pattern of the test API: the prefix, then rest.
arn(rest) := concat("", [prefix, rest])

guest_role := "arn:aws:iam::123456789012:role/guest"

user_role := "arn:aws:iam::123456789012:role/user"

provider := "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"

pool_id := "us-east-1:99999999-9999-9999-9999-999999999999"

# caller is an identity-pool caller as the gateway puts it in the input: its IAM context keys by
# lowercase name (see the documentation of authorizer/policy).
caller(role, id, providers, tags) := {
	"kind": "identity_pool", "authenticated": providers != [],
	"identity_id": id, "identity_pool_id": pool_id, "role_arn": role,
	"principal_tags": tags, "login_providers": providers,
	"groups": [], "scopes": [], "claims": {},
	"context": object.union(
		{
			"cognito-identity.amazonaws.com:sub": id,
			"cognito-identity.amazonaws.com:aud": pool_id,
			"cognito-identity.amazonaws.com:amr": amr(providers),
		},
		{concat("", ["aws:principaltag/", lower(k)]): v | some k, v in tags},
	),
}

amr(providers) := ["unauthenticated"] if {
	providers == []
} else := array.concat(["authenticated"], array.concat(providers, [concat(":", [p, "CognitoSignIn", "alice-sub"]) | some p in providers]))

guest := caller(guest_role, "us-east-1:11111111-1111-1111-1111-111111111111", [], {})

alice := caller(user_role, "us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", [provider], {"Tenant": "t1", "username": "alice-sub"})

bob := caller(user_role, "us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", [provider], {"Tenant": "t2"})

# with_tags(identity, tags) is identity with exactly these principal tags.
with_tags(identity, tags) := caller(identity.role_arn, identity.identity_id, identity.login_providers, tags)

# with_id(identity, id) is identity with another identity id.
with_id(identity, id) := caller(identity.role_arn, id, identity.login_providers, identity.principal_tags)

statement(effect, actions, resources) := {
	"id": sprintf("test statement %s %v", [effect, resources]),
	"effect": effect, "action": compiled(actions), "not_action": false,
	"resource": compiled(resources), "not_resource": false, "condition": [], "vars": [], "plain": true,
}

allow(resources) := statement("Allow", ["execute-api:invoke"], resources)

deny_statement(resources) := statement("Deny", ["execute-api:invoke"], resources)

not_action(effect, actions) := object.union(statement(effect, actions, ["*"]), {"not_action": true})

not_resource(effect, resources) := object.union(statement(effect, ["execute-api:invoke"], resources), {"not_resource": true})

sub_var := {"key": "cognito-identity.amazonaws.com:sub"}

tag_var(tag) := {"key": concat("", ["aws:principaltag/", tag])}

# with_vars(s, vars) gives s its policy variables. As the gateway does, a pattern that uses none
# consumes them without printing them (%.0[1]s), since sprintf would append unused ones.
with_vars(s, vars) := object.union(s, {
	"vars": vars, "plain": false,
	"resource": consuming(s.resource),
	"condition": [object.union(c, {"values": consuming(c.values)}) | some c in s.condition],
})

consuming(f) := f if {
	not is_string(f)
} else := f if {
	contains(f, "%[")
} else := concat("", [f, "%.0[1]s"])

with_conditions(s, conditions) := object.union(s, {"condition": conditions, "plain": false})

condition(operator, key, values) := {"operator": operator, "set": "", "if_exists": false, "key": key, "values": values}

# cond is a condition of a String operator, its values compiled (so a literal * is <*>).
cond(operator, key, values) := condition(operator, key, compiled(values))

# decide_as(identity, statements, method, path, request) decides with statements attached to the
# identity's role.
decide_as(identity, statements, method, path, request) := d if {
	d := iam.decision with input as {
		"request": object.union({"method": method, "path": path, "remote_ip": "203.0.113.9", "tls": true}, request),
		"identity": identity,
		"config": {"groups": [], "scopes": [], "claims": [], "iam": {"resource_prefix": prefix, "roles": {identity.role_arn: statements}}},
	}
}

decide(identity, statements, method, path) := decide_as(identity, statements, method, path, {})

allowed(identity, statements, method, path) if decide(identity, statements, method, path).allow == true

refused(identity, statements, method, path) if {
	d := decide(identity, statements, method, path)
	d.allow == false
	d.status == 403
	d.rule == "iam"
}

# Effects and precedence.

test_allow_on_the_exact_resource if {
	allowed(guest, [allow([arn("GET/public/items")])], "GET", "/public/items")
	refused(guest, [allow([arn("GET/public/items")])], "GET", "/public/items/1")
	refused(guest, [allow([arn("GET/public/items")])], "POST", "/public/items")
}

test_implicit_deny_names_the_resource if {
	d := decide(guest, [allow([arn("GET/public/*")])], "DELETE", "/public/items")
	d.rule == "iam"
	d.reason == concat("", ["no statement allows execute-api:Invoke on ", prefix, "DELETE/public/items"])
}

test_role_without_policy_is_an_implicit_deny if {
	d := iam.decision with input as {
		"request": {"method": "GET", "path": "/public/items", "remote_ip": "203.0.113.9", "tls": true},
		"identity": guest,
		"config": {"iam": {"resource_prefix": prefix, "roles": {user_role: [allow(["*"])]}}},
	}
	d == {"allow": false, "status": 403, "rule": "iam", "reason": sprintf("role %s has no role policy: implicit deny", [guest_role])}
	refused(guest, [], "GET", "/public/items")
}

test_explicit_deny_wins_in_any_order if {
	every statements in [
		[allow(["*"]), deny_statement([arn("*/private/*")])],
		[deny_statement([arn("*/private/*")]), allow(["*"])],
	] {
		allowed(guest, statements, "GET", "/public/x")
		refused(guest, statements, "GET", "/private/x")
		contains(decide(guest, statements, "GET", "/private/x").reason, "explicitly denied by test statement Deny")
	}
}

test_deny_alone_allows_nothing if {
	refused(guest, [deny_statement([arn("GET/private/*")])], "GET", "/public/x")
}

test_every_applying_deny_is_named if {
	d := decide(
		guest, [
			object.union(deny_statement([arn("*")]), {"id": "a.json statement 1"}),
			object.union(deny_statement([arn("GET/*")]), {"id": "b.json statement 2 (NoGet)"}),
		],
		"GET", "/x",
	)
	d.reason == "explicitly denied by a.json statement 1, b.json statement 2 (NoGet)"
}

# Wildcards, as IAM reads them in a resource.

test_star_matches_across_slashes if {
	allowed(guest, [allow([arn("GET/public/*")])], "GET", "/public/a/b/c")
	allowed(guest, [allow([arn("GET/public/*")])], "GET", "/public/")
	refused(guest, [allow([arn("GET/public/*")])], "GET", "/public")
	allowed(guest, [allow([arn("GET/*/items")])], "GET", "/a/b/c/items")
}

test_star_before_the_method_matches_every_method if {
	# As in IAM: `*` also spans the stage/method separators, so a resource with a `*` before the
	# method lets other methods through a path that ends like the pattern. Spell the method out.
	statements := [allow(["arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/reports/*"])]
	allowed(guest, statements, "GET", "/reports/q1")
	allowed(guest, statements, "POST", "/x/GET/reports/q1")
	refused(guest, statements, "POST", "/reports/q1")
}

test_star_alone_matches_everything if {
	allowed(guest, [allow(["*"])], "PATCH", "/anything/at/all")
}

test_question_mark_matches_exactly_one_character if {
	statements := [allow([arn("GET/items/?")])]
	allowed(guest, statements, "GET", "/items/a")
	allowed(guest, statements, "GET", "/items/é")
	allowed(guest, statements, "GET", "/items//")
	refused(guest, statements, "GET", "/items/ab")
	refused(guest, statements, "GET", "/items/")
}

test_resources_are_case_sensitive if {
	refused(guest, [allow([arn("GET/Public/*")])], "GET", "/public/x")
	refused(guest, [allow([arn("get/public/*")])], "GET", "/public/x")
	refused(guest, [allow([concat("", ["ARN:AWS", substring(prefix, 7, -1), "GET/public/x"])])], "GET", "/public/x")
}

test_methods_are_read_in_upper_case if {
	# HTTP methods are case-sensitive, but an upstream may read "get" as GET: a Deny on GET must stop it.
	statements := [allow([arn("*")]), deny_statement([arn("GET/admin/*")])]
	refused(guest, statements, "get", "/admin/x")
	refused(guest, statements, "gEt", "/admin/x")
	allowed(guest, statements, "get", "/public/x")
	contains(decide(guest, [], "get", "/x").reason, "GET/x")
}

test_escaped_wildcards_match_only_themselves if {
	# ${*} and ${?} in a document are compiled to escaped characters.
	statements := [allow([arn("GET/files/<*>"), arn("GET/ask/<?>")])]
	allowed(guest, statements, "GET", "/files/*")
	allowed(guest, statements, "GET", "/ask/?")
	refused(guest, statements, "GET", "/files/report.pdf")
	refused(guest, statements, "GET", "/ask/x")
}

# Actions: compiled lowercase, so they compare case-insensitively.

test_action_wildcards if {
	every actions in [["execute-api:invoke"], ["execute-api:*"], ["*"], ["execute-api:inv?ke"], ["execute-*"], ["s3:getobject", "execute-api:invoke"]] {
		allowed(guest, [statement("Allow", actions, ["*"])], "GET", "/x")
	}
	every actions in [["execute-api:invalidatecache"], ["execute-api:managecon*"], ["s3:*"], ["execute-api:invoke?"], ["execute-api:Invoke"]] {
		refused(guest, [statement("Allow", actions, ["*"])], "GET", "/x")
	}
}

test_not_action if {
	allowed(guest, [not_action("Allow", ["s3:*"])], "GET", "/x")
	refused(guest, [not_action("Allow", ["execute-api:*"])], "GET", "/x")
	allowed(guest, [allow(["*"]), not_action("Deny", ["execute-api:invoke"])], "GET", "/x")
	refused(guest, [allow(["*"]), not_action("Deny", ["s3:*", "sqs:*"])], "GET", "/x")
}

test_not_resource if {
	allowed(guest, [not_resource("Allow", [arn("*/private/*")])], "GET", "/public/x")
	refused(guest, [not_resource("Allow", [arn("*/private/*")])], "GET", "/private/x")

	# Deny everything outside the caller's own prefix.
	own := with_vars(not_resource("Deny", [arn("*/users/<0>/*")]), [sub_var])
	allowed(alice, [allow(["*"]), own], "GET", "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/profile")
	refused(alice, [allow(["*"]), own], "GET", "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/profile")
	refused(alice, [allow(["*"]), own], "GET", "/admin")
}

# Policy variables.

own_prefix := with_vars(allow([arn("GET/users/<0>/*")]), [sub_var])

test_variable_sub_in_a_resource if {
	allowed(alice, [own_prefix], "GET", "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/orders")
	refused(alice, [own_prefix], "GET", "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/orders")
	allowed(bob, [own_prefix], "GET", "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/orders")
	refused(bob, [own_prefix], "GET", "/users/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa/orders")
}

test_variable_values_are_literal_never_patterns if {
	# A value with wildcards or pattern syntax matches only itself.
	starry := with_id(alice, "us-east-1:*")
	allowed(starry, [own_prefix], "GET", "/users/us-east-1:*/orders")
	refused(starry, [own_prefix], "GET", "/users/us-east-1:bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/orders")
	every id in [
		"us-east-1:?", "us-east-1:[ab]", "us-east-1:{a,b}", "us-east-1:\\", "us-east-1:${0}", "us-east-1:.*",
		"us-east-1:a+", "us-east-1:(a|b)", "us-east-1:^$", "us-east-1:\\E.*", "us-east-1:%s%[1]s%%",
	] {
		caller := with_id(alice, id)
		allowed(caller, [own_prefix], "GET", concat("", ["/users/", id, "/x"]))
		refused(caller, [own_prefix], "GET", "/users/us-east-1:a/x")
	}

	# A value with a slash stays one value: it cannot reach under another identity's prefix.
	slashed := with_id(alice, "us-east-1:a/b")
	allowed(slashed, [own_prefix], "GET", "/users/us-east-1:a/b/x")
	refused(slashed, [own_prefix], "GET", "/users/us-east-1:a/c/x")
}

test_formats_of_statements_with_variables_double_percent_signs if {
	s := object.union(allow(["*"]), {
		"resource": concat("", ["(?s)^", body(arn("GET/100")), "%%/\\Q%[1]s\\E$"]),
		"vars": [sub_var], "plain": false,
	})
	allowed(alice, [s], "GET", "/100%/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
	refused(alice, [s], "GET", "/100%%/us-east-1:aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")
}

test_variable_principal_tag_and_aud if {
	tenant := with_vars(allow([arn("GET/tenants/<0>/*")]), [tag_var("tenant")])
	allowed(alice, [tenant], "GET", "/tenants/t1/orders")
	refused(alice, [tenant], "GET", "/tenants/t2/orders")
	allowed(bob, [tenant], "GET", "/tenants/t2/orders")
	pool := with_vars(allow([arn("GET/pools/<0>")]), [{"key": "cognito-identity.amazonaws.com:aud"}])
	allowed(alice, [pool], "GET", "/pools/us-east-1:99999999-9999-9999-9999-999999999999")
}

test_missing_tag_variable_never_allows if {
	team := with_vars(allow([arn("GET/teams/<0>/*")]), [tag_var("team")])
	refused(alice, [team], "GET", "/teams/${0}/x")
	refused(alice, [team], "GET", "/teams//x")
	refused(guest, [team], "GET", "/teams/x/x")
	d := decide(alice, [team], "GET", "/teams/a/x")
	startswith(d.reason, "no statement allows")
}

test_missing_tag_variable_takes_its_default if {
	team := with_vars(allow([arn("GET/teams/<0>/*")]), [object.union(tag_var("team"), {"default": "everyone"})])
	allowed(alice, [team], "GET", "/teams/everyone/x")
	refused(alice, [team], "GET", "/teams/t1/x")
	allowed(with_tags(alice, {"Team": "red"}), [team], "GET", "/teams/red/x")
}

test_deny_with_a_missing_variable_denies if {
	# IAM would drop the statement; the gateway will not let a Deny it cannot read open a request.
	blocked := with_vars(deny_statement([arn("GET/teams/<0>/*")]), [tag_var("team")])
	d := decide(alice, [allow(["*"]), blocked], "GET", "/public/x")
	d.allow == false
	startswith(d.reason, "explicitly denied")
	allowed(with_tags(alice, {"team": "red"}), [allow(["*"]), blocked], "GET", "/public/x")

	# ...but only where its action applies.
	other := with_vars(statement("Deny", ["s3:*"], [arn("<0>")]), [tag_var("team")])
	allowed(alice, [allow(["*"]), other], "GET", "/public/x")
}

test_variable_in_a_condition_value if {
	# The owner tag must be the caller's own identity id.
	owner := with_vars(with_conditions(allow(["*"]), [cond("StringEquals", "aws:principaltag/owner", ["<0>"])]), [sub_var])
	mine := with_tags(alice, {"owner": alice.identity_id})
	theirs := with_tags(alice, {"owner": bob.identity_id})
	allowed(mine, [owner], "GET", "/x")
	refused(theirs, [owner], "GET", "/x")
	refused(alice, [owner], "GET", "/x")

	# In a StringLike value the variable is literal and the rest a pattern.
	prefixed := with_vars(with_conditions(allow(["*"]), [cond("StringLike", "aws:principaltag/owner", ["<0>/*"])]), [sub_var])
	allowed(with_tags(alice, {"owner": concat("", [alice.identity_id, "/device-1"])}), [prefixed], "GET", "/x")
	refused(with_tags(alice, {"owner": "us-east-1:zzz/device-1"}), [prefixed], "GET", "/x")
}

# Conditions.

guarded(conditions) := [with_conditions(allow(["*"]), conditions)]

test_string_equals if {
	allowed(alice, guarded([cond("StringEquals", "aws:principaltag/tenant", ["t9", "t1"])]), "GET", "/x")
	refused(bob, guarded([cond("StringEquals", "aws:principaltag/tenant", ["t9", "t1"])]), "GET", "/x")
	refused(alice, guarded([cond("StringEquals", "aws:principaltag/tenant", ["T1"])]), "GET", "/x")

	# StringEquals values come with their wildcards escaped: a `*` is only a `*`.
	refused(alice, guarded([cond("StringEquals", "aws:principaltag/tenant", ["t<*>"])]), "GET", "/x")
	allowed(with_tags(alice, {"tenant": "t*"}), guarded([cond("StringEquals", "aws:principaltag/tenant", ["t<*>"])]), "GET", "/x")
}

test_string_equals_ignore_case if {
	allowed(alice, guarded([cond("StringEqualsIgnoreCase", "aws:principaltag/tenant", ["T1"])]), "GET", "/x")
	refused(alice, guarded([cond("StringNotEqualsIgnoreCase", "aws:principaltag/tenant", ["T1"])]), "GET", "/x")
	allowed(alice, guarded([cond("StringNotEqualsIgnoreCase", "aws:principaltag/tenant", ["T2"])]), "GET", "/x")
}

test_string_like_and_not_like if {
	allowed(alice, guarded([cond("StringLike", "cognito-identity.amazonaws.com:sub", ["us-east-1:aaaa*"])]), "GET", "/x")
	refused(bob, guarded([cond("StringLike", "cognito-identity.amazonaws.com:sub", ["us-east-1:aaaa*"])]), "GET", "/x")
	refused(alice, guarded([cond("StringNotLike", "cognito-identity.amazonaws.com:sub", ["us-east-1:aaaa*", "x"])]), "GET", "/x")
	allowed(bob, guarded([cond("StringNotLike", "cognito-identity.amazonaws.com:sub", ["us-east-1:aaaa*", "x"])]), "GET", "/x")
}

test_absent_keys_as_iam if {
	# alice has no "team" tag.
	refused(alice, guarded([cond("StringEquals", "aws:principaltag/team", ["red"])]), "GET", "/x")
	allowed(alice, guarded([cond("StringNotEquals", "aws:principaltag/team", ["red"])]), "GET", "/x")
	allowed(alice, guarded([cond("StringNotLike", "aws:principaltag/team", ["r*"])]), "GET", "/x")
	allowed(alice, guarded([object.union(cond("StringEquals", "aws:principaltag/team", ["red"]), {"if_exists": true})]), "GET", "/x")
	refused(with_tags(alice, {"team": "blue"}), guarded([object.union(cond("StringEquals", "aws:principaltag/team", ["red"]), {"if_exists": true})]), "GET", "/x")
}

test_null if {
	allowed(alice, guarded([condition("Null", "aws:principaltag/team", [true])]), "GET", "/x")
	refused(alice, guarded([condition("Null", "aws:principaltag/tenant", [true])]), "GET", "/x")
	allowed(alice, guarded([condition("Null", "aws:principaltag/tenant", [false])]), "GET", "/x")
}

amr_any(values) := object.union(cond("StringLike", "cognito-identity.amazonaws.com:amr", values), {"set": "ForAnyValue"})

amr_all(values) := object.union(cond("StringLike", "cognito-identity.amazonaws.com:amr", values), {"set": "ForAllValues"})

test_amr_with_set_operators if {
	allowed(alice, guarded([amr_any(["authenticated"])]), "GET", "/x")
	refused(guest, guarded([amr_any(["authenticated"])]), "GET", "/x")
	allowed(guest, guarded([amr_any(["unauthenticated"])]), "GET", "/x")
	allowed(alice, guarded([amr_any([concat("", [provider, ":CognitoSignIn:*"])])]), "GET", "/x")
	refused(alice, guarded([amr_any(["accounts.google.com"])]), "GET", "/x")

	allowed(alice, guarded([amr_all(["authenticated", "cognito-idp.*"])]), "GET", "/x")
	refused(alice, guarded([amr_all(["authenticated"])]), "GET", "/x")
	refused(guest, guarded([amr_all(["authenticated", "cognito-idp.*"])]), "GET", "/x")
}

test_for_all_values_holds_for_an_absent_key if {
	# The IAM pitfall, kept: ForAllValues over no values is true. Pair it with a Null check.
	all_red := object.union(cond("StringEquals", "aws:principaltag/team", ["red"]), {"set": "ForAllValues"})
	allowed(alice, guarded([all_red]), "GET", "/x")
	refused(alice, guarded([all_red, condition("Null", "aws:principaltag/team", [false])]), "GET", "/x")
	any_red := object.union(all_red, {"set": "ForAnyValue"})
	refused(alice, guarded([any_red]), "GET", "/x")
	allowed(alice, guarded([object.union(any_red, {"if_exists": true})]), "GET", "/x")
}

test_bool_secure_transport if {
	statements := guarded([condition("Bool", "aws:securetransport", [true])])
	allowed(alice, statements, "GET", "/x")
	refused_plain := decide_as(alice, statements, "GET", "/x", {"tls": false})
	refused_plain.allow == false
	deny_plain := [allow(["*"]), with_conditions(deny_statement(["*"]), [condition("Bool", "aws:securetransport", [false])])]
	decide_as(alice, deny_plain, "GET", "/x", {"tls": false}).allow == false
	allowed(alice, deny_plain, "GET", "/x")
}

test_ip_address if {
	office := guarded([condition("IpAddress", "aws:sourceip", ["198.51.100.0/24", "203.0.113.0/24"])])
	allowed(alice, office, "GET", "/x")
	decide_as(alice, office, "GET", "/x", {"remote_ip": "192.0.2.1"}).allow == false
	outside := guarded([condition("NotIpAddress", "aws:sourceip", ["203.0.113.0/24"])])
	refused(alice, outside, "GET", "/x")
	decide_as(alice, outside, "GET", "/x", {"remote_ip": "2001:db8::1"}).allow == true
	v6 := guarded([condition("IpAddress", "aws:sourceip", ["2001:db8::/32"])])
	decide_as(alice, v6, "GET", "/x", {"remote_ip": "2001:db8::1"}).allow == true
	refused(alice, v6, "GET", "/x")
}

test_all_conditions_must_hold if {
	both := [cond("StringEquals", "aws:principaltag/tenant", ["t1"]), amr_any(["authenticated"])]
	allowed(alice, guarded(both), "GET", "/x")
	refused(bob, guarded(both), "GET", "/x")
	refused(guest, guarded(both), "GET", "/x")
}

test_conditional_deny if {
	statements := [allow(["*"]), with_conditions(deny_statement([arn("*/admin/*")]), [cond("StringNotEquals", "aws:principaltag/tenant", ["t1"])])]
	allowed(alice, statements, "GET", "/admin/x")
	refused(bob, statements, "GET", "/admin/x")
	allowed(bob, statements, "GET", "/public/x")
}

# What the evaluator cannot read fails closed.

test_unknown_operator_or_key_fails_closed if {
	every c in [
		condition("NumericEquals", "aws:principaltag/tenant", compiled(["1"])),
		condition("StringNotEquals", "aws:somethingelse", compiled(["x"])),
		condition("StringNotEquals", "aws:principaltag/", compiled(["x"])),
		condition("NotIpAddress", "aws:principaltag/tenant", ["203.0.113.0/24"]),
		condition("StringNotEquals", "cognito-identity.amazonaws.com:amr", compiled(["x"])),
		condition("NotIpAddress", "aws:sourceip", ["not-a-cidr"]),
		condition("StringNotEquals", "aws:principaltag/tenant", [compiled(["x"])]),
		condition("StringNotEquals", "aws:principaltag/tenant", 1),
		object.union(condition("StringNotEquals", "aws:principaltag/tenant", compiled(["x"])), {"set": "ForSomeValues"}),
		object.union(condition("NotIpAddress", "aws:sourceip", ["192.0.2.0/24"]), {"set": "ForAllValues"}),
		object.union(condition("Null", "aws:principaltag/team", [true]), {"if_exists": true}),
	] {
		refused(alice, guarded([c]), "GET", "/x")
		d := decide(alice, [allow(["*"]), with_conditions(deny_statement(["*"]), [c])], "GET", "/x")
		startswith(d.reason, "explicitly denied")
	}
}

test_malformed_statements_never_allow if {
	every s in [
		object.remove(allow(["*"]), {"vars"}),
		object.remove(allow(["*"]), {"condition"}),
		object.remove(not_resource("Allow", [arn("private/*")]), {"vars"}),
		object.remove(not_resource("Allow", [arn("private/*")]), {"not_resource"}),
		object.remove(not_action("Allow", ["s3:*"]), {"not_action"}),
		object.union(allow(["*"]), {"effect": "allow"}),
		object.remove(allow(["*"]), {"action"}),
		object.union(allow(["*"]), {"condition": {}}),
		object.union(allow(["*"]), {"condition": {}, "plain": false}),
		object.union(allow(["*"]), {"condition": [cond("StringEquals", "aws:principaltag/team", ["red"])]}),
		object.union(allow(["*"]), {"vars": [tag_var("team")], "resource": compiled(["*<0>"])}),
		object.union(allow(["*"]), {"condition": [{}]}),
	] {
		refused(alice, [s], "GET", "/x")
	}
}

# Adversarial resources. The gateway refuses dot segments and encoded slashes before the policy (see
# authorizer.DecisionPath): the evaluator sees the decoded path and reads it literally.

test_encoded_characters_stay_literal if {
	statements := [allow([arn("GET/public/*")]), deny_statement([arn("GET/private/*")])]

	# A path that decodes to "%2F" (sent as %252F) is one segment: not under /private/.
	allowed(guest, statements, "GET", "/public/a%2F..%2Fprivate")
	refused(guest, [allow([arn("GET/public/*")])], "GET", "/private%2Fx")
	refused(guest, statements, "GET", "/private/x")
}

test_dot_segments_are_literal_so_the_gateway_refuses_them_first if {
	# Read literally, /public/../private/x is under /public/: why such paths never reach the policy.
	allowed(guest, [allow([arn("GET/public/*")])], "GET", "/public/../private/x")
}

test_path_cannot_forge_another_account_or_api if {
	# The resource prefix is the gateway's; a path can only add to its end.
	statements := [allow(["arn:aws:execute-api:us-east-1:999999999999:other/prod/GET/*"])]
	refused(guest, statements, "GET", "/x:999999999999:other/prod/GET/y")
}

# The built-in policy hands identity-pool callers to the evaluator only on routes with role policies.

test_builtin_decides_identity_pool_callers_by_role if {
	cfg := {"groups": ["admins"], "scopes": [], "claims": [], "iam": {"resource_prefix": prefix, "roles": {guest_role: [allow([arn("GET/public/*")])]}}}
	request := {"method": "GET", "path": "/public/x", "path_segments": ["public", "x"], "remote_ip": "203.0.113.9", "tls": true}
	builtin.decision == {"allow": true} with input as {"request": request, "identity": guest, "config": cfg}
	d := builtin.decision with input as {"request": object.union(request, {"method": "POST"}), "identity": guest, "config": cfg}
	d.rule == "iam"

	# Token callers keep the route's groups.
	token := {"kind": "user_pool", "authenticated": true, "groups": ["admins"], "scopes": [], "claims": {}}
	builtin.decision == {"allow": true} with input as {"request": request, "identity": token, "config": cfg}
	no_group := builtin.decision with input as {"request": request, "identity": object.union(token, {"groups": []}), "config": cfg}
	no_group.rule == "groups"

	# A route without role policies denies identity-pool callers, unless it allows any role: then
	# they are decided like token callers.
	plain := builtin.decision with input as {"request": request, "identity": guest, "config": object.union(cfg, {"iam": null})}
	plain.rule == "iam"
	contains(plain.reason, "no role policy")
	any_role := builtin.decision with input as {"request": request, "identity": guest, "config": object.union(cfg, {"iam": null, "allow_any_role": true})}
	any_role.rule == "groups"
}
