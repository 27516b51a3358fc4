package cognito.lib_test

import data.cognito.lib

alice := {
	"kind": "user_pool",
	"authenticated": true,
	"groups": ["admins", "staff"],
	"scopes": ["orders/read", "openid"],
	"claims": {
		"custom:tenant_id": "t1",
		"email_verified": true,
		"level": 42,
		"tenants": ["t1", "t2"],
		"address": {"country": "FR"},
		"nothing": null,
	},
}

request(path) := {"method": "GET", "path": path}

test_is_member_of if {
	lib.is_member_of("admins") with input.identity as alice
	not lib.is_member_of("ops") with input.identity as alice
	not lib.is_member_of("admins") with input.identity as {"kind": "none", "groups": []}
	not lib.is_member_of("admins") with input.identity as {"kind": "identity_pool"}
}

test_is_member_of_any if {
	lib.is_member_of_any(["ops", "staff"]) with input.identity as alice
	not lib.is_member_of_any(["ops", "billing"]) with input.identity as alice
	not lib.is_member_of_any([]) with input.identity as alice
}

test_has_scope if {
	lib.has_scope("orders/read") with input.identity as alice
	not lib.has_scope("orders/write") with input.identity as alice
	not lib.has_scope("orders") with input.identity as alice
}

test_has_any_scope if {
	lib.has_any_scope(["orders/write", "openid"]) with input.identity as alice
	not lib.has_any_scope(["orders/write"]) with input.identity as alice
	not lib.has_any_scope([]) with input.identity as alice
}

test_is_anonymous if {
	lib.is_anonymous with input.identity as {"kind": "none", "authenticated": false}
	not lib.is_anonymous with input.identity as alice
	not lib.is_anonymous with input.identity as {"kind": "identity_pool", "authenticated": false}
}

test_path_matches_one_segment if {
	lib.path_matches("/orders/*") with input.request as request("/orders/42")
	not lib.path_matches("/orders/*") with input.request as request("/orders/42/items")
	not lib.path_matches("/orders/*") with input.request as request("/orders")
	not lib.path_matches("/orders/*") with input.request as request("/ordersX/42")
}

test_path_matches_any_depth if {
	lib.path_matches("/orders/**") with input.request as request("/orders/42")
	lib.path_matches("/orders/**") with input.request as request("/orders/42/items")
	lib.path_matches("/orders/**") with input.request as request("/orders/")
	not lib.path_matches("/orders/**") with input.request as request("/orders")
	not lib.path_matches("/orders/**") with input.request as request("/admin/orders/1")
}

test_path_matches_classes_and_alternatives if {
	lib.path_matches("/v[12]/{orders,items}/?") with input.request as request("/v2/items/7")
	not lib.path_matches("/v[12]/{orders,items}/?") with input.request as request("/v3/items/7")
	not lib.path_matches("/v[12]/{orders,items}/?") with input.request as request("/v1/users/7")
	not lib.path_matches("/v[12]/{orders,items}/?") with input.request as request("/v1/items/77")
}

test_path_matches_is_exact if {
	lib.path_matches("/admin") with input.request as request("/admin")
	not lib.path_matches("/admin") with input.request as request("/admin/")
	not lib.path_matches("/admin") with input.request as request("/Admin")
}

test_path_matches_any if {
	lib.path_matches_any(["/health", "/orders/*"]) with input.request as request("/orders/1")
	not lib.path_matches_any(["/health", "/orders/*"]) with input.request as request("/users/1")
	not lib.path_matches_any([]) with input.request as request("/orders/1")
}

test_claim_equals_string if {
	lib.claim_equals("custom:tenant_id", "t1") with input.identity as alice
	not lib.claim_equals("custom:tenant_id", "t2") with input.identity as alice
	not lib.claim_equals("custom:tenant_id", "T1") with input.identity as alice
	not lib.claim_equals("custom:missing", "t1") with input.identity as alice
}

test_claim_equals_number_and_boolean_by_json_form if {
	lib.claim_equals("level", "42") with input.identity as alice
	not lib.claim_equals("level", "42.0") with input.identity as alice
	not lib.claim_equals("level", "042") with input.identity as alice
	not lib.claim_equals("level", 42) with input.identity as alice
	lib.claim_equals("email_verified", "true") with input.identity as alice
	not lib.claim_equals("email_verified", "True") with input.identity as alice
}

test_claim_equals_array_contains if {
	lib.claim_equals("tenants", "t2") with input.identity as alice
	not lib.claim_equals("tenants", "t3") with input.identity as alice
	not lib.claim_equals("tenants", "[\"t1\",\"t2\"]") with input.identity as alice
}

test_claim_equals_never_objects_or_null if {
	not lib.claim_equals("address", "{\"country\":\"FR\"}") with input.identity as alice
	not lib.claim_equals("nothing", "null") with input.identity as alice
	not lib.claim_equals("nothing", "") with input.identity as alice
}
