package cognito.authz_test

import data.cognito.authz

test_default_decision_is_the_builtin_one if {
	authz.decision == {"allow": true} with input as {
		"request": {"path": "/", "path_segments": []},
		"identity": {"kind": "user_pool", "groups": ["admins"]},
		"config": {"groups": ["admins"], "scopes": [], "claims": []},
	}
	d := authz.decision with input as {
		"request": {"path": "/", "path_segments": []},
		"identity": {"kind": "none"},
		"config": {"groups": ["admins"], "scopes": [], "claims": []},
	}
	d.status == 401
}
