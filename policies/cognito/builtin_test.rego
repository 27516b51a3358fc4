package cognito.builtin_test

import data.cognito.builtin

alice := {
	"kind": "user_pool",
	"authenticated": true,
	"groups": ["admins"],
	"scopes": ["orders/read"],
	"claims": {"custom:tenant_id": "t1", "tenants": ["t1", "t2"], "tier": 2, "empty": ""},
}

anonymous := {"kind": "none", "authenticated": false, "groups": [], "scopes": [], "claims": {}}

guest := {"kind": "identity_pool", "authenticated": false, "identity_id": "us-east-1:1"}

request := {
	"method": "GET",
	"path": "/tenants/t1/orders",
	"path_segments": ["tenants", "t1", "orders"],
	"headers": {"x-tenant-id": ["t1"], "x-pair": ["t1", "t2"]},
	"query": {"tenant": ["t1"], "twice": ["t2", "t1"]},
}

config(groups, scopes, claims) := {"groups": groups, "scopes": scopes, "claims": claims}

none := config([], [], [])

decide(identity, cfg) := decide_at(identity, cfg, request)

decide_at(identity, cfg, req) := d if {
	d := builtin.decision with input as {"request": req, "identity": identity, "config": cfg}
}

allowed := {"allow": true}

any_role(cfg) := object.union(cfg, {"allow_any_role": true})

test_no_requirements_admits_every_token_and_anonymous_caller if {
	decide(alice, none) == allowed
	decide(anonymous, none) == allowed
}

test_identity_pool_callers_are_denied_without_role_policies if {
	# IAM's rule: a role that no policy allows anything can do nothing, guests included.
	d := decide(guest, none)
	d.allow == false
	d.status == 403
	d.rule == "iam"
	decide(guest, object.union(none, {"iam": null, "allow_any_role": false})).rule == "iam"
	decide(guest, config(["admins"], [], [])).rule == "iam"

	# Only a literal true lets them through.
	decide(guest, object.union(none, {"allow_any_role": "true"})).rule == "iam"
}

test_allow_any_role_decides_identity_pool_callers_like_tokens if {
	decide(guest, any_role(none)) == allowed

	# Token callers do not change.
	decide(alice, any_role(none)) == allowed
	decide(anonymous, any_role(config(["admins"], [], []))).rule == "authentication"
}

test_missing_config_fails_closed if {
	d := builtin.decision with input as {"request": request, "identity": alice}
	d.allow == false
	d.status == 403
}

test_anonymous_with_a_requirement_is_401 if {
	d := decide(anonymous, config(["admins"], [], []))
	d.allow == false
	d.status == 401
	d.rule == "authentication"
	decide(anonymous, config([], ["orders/read"], [])).status == 401
	decide(anonymous, config([], [], [{"claim": "sub", "from": "value", "values": ["x"]}])).status == 401
}

test_groups_any_of if {
	decide(alice, config(["ops", "admins"], [], [])) == allowed
	d := decide(alice, config(["ops"], [], []))
	d.allow == false
	d.status == 403
	d.rule == "groups"
	contains(d.reason, "ops")
}

test_identity_pool_caller_has_no_groups if {
	d := decide(guest, any_role(config(["admins"], [], [])))
	d.status == 403
	d.rule == "groups"
}

test_scopes_any_of_and_distinguishable if {
	decide(alice, config([], ["orders/write", "orders/read"], [])) == allowed
	d := decide(alice, config([], ["orders/write"], []))
	d.allow == false
	d.status == 403
	d.rule == "scopes"
}

test_groups_checked_before_scopes if {
	decide(alice, config(["ops"], ["orders/write"], [])).rule == "groups"
	decide(alice, config(["admins"], ["orders/write"], [])).rule == "scopes"
	decide(alice, config(["admins"], ["orders/read"], [])) == allowed
}

segment_rule(i) := {"claim": "custom:tenant_id", "from": "segment", "segment": i}

test_claim_from_path_segment if {
	decide(alice, config([], [], [segment_rule(1)])) == allowed
	d := decide(alice, config([], [], [segment_rule(2)]))
	d.status == 403
	d.rule == "claims"
	d.reason == "claim custom:tenant_id does not match path segment 2"
}

test_claim_from_path_segment_out_of_range_denies if {
	decide(alice, config([], [], [segment_rule(3)])).rule == "claims"
	decide(alice, config([], [], [segment_rule(-1)])).rule == "claims"
}

test_claim_empty_segment_never_matches if {
	req := object.union(request, {"path": "/tenants//orders", "path_segments": ["tenants", "", "orders"]})
	rule := {"claim": "empty", "from": "segment", "segment": 1}
	decide_at(alice, config([], [], [rule]), req).rule == "claims"
}

test_claim_from_header_needs_exactly_one_value if {
	decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "header", "name": "x-tenant-id"}])) == allowed
	decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "header", "name": "x-pair"}])).rule == "claims"
	decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "header", "name": "x-missing"}])).rule == "claims"
}

test_claim_from_query_needs_exactly_one_value if {
	decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "query", "name": "tenant"}])) == allowed
	decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "query", "name": "twice"}])).rule == "claims"
	decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "query", "name": "nope"}])).rule == "claims"
}

test_claim_from_values_any_of if {
	decide(alice, config([], [], [{"claim": "tier", "from": "value", "values": ["1", "2"]}])) == allowed
	decide(alice, config([], [], [{"claim": "tier", "from": "value", "values": ["3"]}])).rule == "claims"
}

test_claim_array_contains_segment if {
	decide(alice, config([], [], [{"claim": "tenants", "from": "segment", "segment": 1}])) == allowed
}

test_every_claim_rule_must_hold if {
	ok := {"claim": "custom:tenant_id", "from": "segment", "segment": 1}
	bad := {"claim": "tier", "from": "value", "values": ["9"]}
	d := decide(alice, config([], [], [ok, bad]))
	d.rule == "claims"
	d.reason == "claim tier does not match any of the allowed values"
}

test_missing_claim_denies if {
	decide(alice, config([], [], [{"claim": "custom:other", "from": "segment", "segment": 1}])).rule == "claims"
}

test_malformed_claim_rule_fails_closed if {
	unknown := decide(alice, config([], [], [{"claim": "custom:tenant_id", "from": "cookie", "name": "t"}]))
	unknown.allow == false
	unknown.status == 403
	decide(alice, config([], [], [{"from": "segment", "segment": 1}])).allow == false
	decide(alice, config([], [], ["custom:tenant_id"])).allow == false
}

test_malformed_config_fails_closed if {
	decide(alice, config("admins", [], [])).allow == false
	decide(alice, config([], "orders/read", [])).allow == false
	decide(alice, config([], [], "nope")).allow == false
	decide(alice, config([], [], {"claim": "custom:tenant_id", "from": "value", "values": ["t1"]})).allow == false
	decide(anonymous, config("", [], [])).allow == false
}

# The allow path is spelled out per combination of requirements; check every combination against
# the rules stated plainly, for a member and for an anonymous caller.
test_every_combination_of_requirements if {
	tenant := {"claim": "custom:tenant_id", "from": "segment", "segment": 1}
	other := {"claim": "custom:tenant_id", "from": "value", "values": ["t9"]}
	every groups in [[], ["admins"], ["ops"], ["ops", "admins"]] {
		every scopes in [[], ["orders/read"], ["orders/write"]] {
			every claims in [[], [tenant], [other], [tenant, other]] {
				decide(alice, config(groups, scopes, claims)).allow == expected_allow(groups, scopes, claims)
				decide(anonymous, config(groups, scopes, claims)).allow == ({count(groups), count(scopes), count(claims)} == {0})
			}
		}
	}
}

expected_allow(groups, scopes, claims) := {
	satisfied(groups, alice.groups),
	satisfied(scopes, alice.scopes),
	count([c | some c in claims; c.values == ["t9"]]) == 0,
} == {true}

satisfied(required, held) := true if count(required) == 0 else := count({x | some x in required; x in held}) > 0

test_allow_mirrors_decision if {
	builtin.allow with input as {"request": request, "identity": alice, "config": none}
	not builtin.allow with input as {"request": request, "identity": alice, "config": config(["ops"], [], [])}
}
