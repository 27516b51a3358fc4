package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// check_user_pool in a user_pool block: its interval, its block, and what it refuses, where.
func TestCaddyfileCheckUserPool(t *testing.T) {
	pool := func(lines string) string {
		return block("user_pool us-east-1_AbC123 {\nclient_id a\n" + lines + "\n}")
	}
	cases := []struct{ name, body, want string }{
		{"interval only", pool("check_user_pool 60s"), `"check_user_pool":{"interval":60000000000}`},
		{"with its block", pool("check_user_pool 30s {\ntimeout 1s\nwhen_unavailable allow\n}"),
			`"check_user_pool":{"interval":30000000000,"timeout":1000000000,"when_unavailable":"allow"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := findHandler(mustDecode(t, cfg), "cognito_authorizer", false)
			if !strings.Contains(string(h), tc.want) {
				t.Errorf("handler %s, want it to contain %s", h, tc.want)
			}
		})
	}
	errs := []struct{ name, body, want, at string }{
		{"no interval", pool("check_user_pool"), "wrong argument count", "Caddyfile:5"},
		{"not a duration", pool("check_user_pool often"), `check_user_pool: time: invalid duration "often"`, "Caddyfile:5"},
		{"two intervals", pool("check_user_pool 1s 2s"), "wrong argument count", "Caddyfile:5"},
		{"bad when_unavailable", pool("check_user_pool 1s {\nwhen_unavailable maybe\n}"), `when_unavailable must be refuse or allow, not "maybe"`, "Caddyfile:6"},
		{"misspelled", pool("check_user_pool 1s {\ntimout 1s\n}"), `unrecognized check_user_pool subdirective "timout" (did you mean timeout?)`, "Caddyfile:6"},
		{"misspelled name", pool("check_userpool 1s"), `unrecognized user_pool subdirective "check_userpool" (did you mean check_user_pool?)`, "Caddyfile:5"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantAdaptError(t, tc.body, tc.want, tc.at) })
	}
	ranges := []struct{ name, body, want string }{
		{"interval too short", pool("check_user_pool 500ms"), "Caddyfile:3: user_pool us-east-1_AbC123: check_user_pool: the interval must be between 1s and 1h0m0s, not 500ms"},
		{"interval too long", pool("check_user_pool 2h"), "the interval must be between 1s and 1h0m0s, not 2h0m0s"},
		{"timeout too long", pool("check_user_pool 1m {\ntimeout 1m\n}"), "check_user_pool: timeout must be between 0 and 30s, not 1m0s"},
		{"ID tokens", pool("token_use id\ncheck_user_pool 1m"), "check_user_pool: it asks about access tokens, and token_use id accepts none"},
	}
	for _, tc := range ranges {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, tc.body+"\n\trespond ok")
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			if err := validateJSON(t, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func mustDecode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
