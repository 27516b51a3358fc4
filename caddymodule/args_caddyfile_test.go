package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// The helpers that read subdirective arguments say what is wrong and where: the adapter's error names
// the file and line of the offending subdirective.
func TestCaddyfileArgumentErrors(t *testing.T) {
	cases := []struct{ name, body, want, at string }{
		{"missing argument", block("decision"), "wrong argument count", "Caddyfile:3"},
		{"extra argument", block("token_query a b"), "wrong argument count", "Caddyfile:3"},
		{"argument to a flag", block("allow_anonymous yes"), "wrong argument count", "Caddyfile:3"},
		{"no value", block("groups"), "wrong argument count: groups needs at least one argument", "Caddyfile:3"},
		{"no value in a sub-block", block("user_pool us-east-1_AbC123 {\nclient_id\n}"), "wrong argument count: client_id needs at least one argument", "Caddyfile:4"},
		{"duplicate subdirective", block("allow_anonymous\ntoken_cookie a\ntoken_cookie b"), "token_cookie given twice", "Caddyfile:5"},
		{"duplicate in a sub-block", poolBlock("login x {\nclient_id a\n}\nrole_mapping x token {\nambiguous deny\nambiguous deny\n}"), "ambiguous given twice", "Caddyfile:8"},
		{"bad duration", block("clock_skew soon"), `clock_skew: time: invalid duration "soon"`, "Caddyfile:3"},
		{"bad duration in a sub-block", block("cors * {\nmax_age forever\n}"), `max_age: time: invalid duration "forever"`, "Caddyfile:4"},
		{"duration without a value", poolBlock("credentials_ttl"), "wrong argument count", "Caddyfile:3"},
		{"bad stream_grace", block("allow_anonymous\nstream_grace a while"), "wrong argument count", "Caddyfile:4"},
		{"stream_grace not a duration", block("stream_grace 30"), `stream_grace: time: missing unit in duration "30"`, "Caddyfile:3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantAdaptError(t, tc.body, tc.want, tc.at) })
	}
}

// A duration out of the library's range adapts (the parser only parses) and is refused when Caddy
// provisions it, at the place of its directive (of its identity_pool block, which has a line of its own).
func TestCaddyfileRangeErrors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"token clock_skew", block("allow_anonymous\nclock_skew 11m"),
			"Caddyfile:2: clock_skew must be between 0 and " + userpool.MaxClockSkew.String() + ", not 11m0s"},
		{"negative token clock_skew", block("allow_anonymous\nclock_skew -1s"), "Caddyfile:2: clock_skew must be between 0 and"},
		{"signature clock_skew", block("identity_pool us-east-1:0a1b2c3d-0000-4000-8000-000000000001 {\nclock_skew 16m\n}"),
			"Caddyfile:3: identity_pool us-east-1:0a1b2c3d-0000-4000-8000-000000000001: clock_skew must be between 0 and " + sigv4.MaxClockSkew.String() + ", not 16m0s"},
		{"stream_grace", block("allow_anonymous\nstream_grace 2h"), "Caddyfile:2: stream_grace must be between 0 and 1h0m0s, not 2h0m0s"},
		{"negative stream_grace", block("allow_anonymous\nstream_grace -1s"), "Caddyfile:2: stream_grace must be between 0 and 1h0m0s, not -1s"},
	}
	for _, tc := range cases {
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

// The identity pool's configuration errors, found when Caddy provisions it, name its directive's place.
func TestIdentityPoolErrorsAtTheirPlace(t *testing.T) {
	err := validateIn(t, poolBlock("unauthenticated_role "+guestRoleARN+"\ncors https://app.example.com/login"))
	want := "Caddyfile:5: cognito_identity_pool " + testIdentityPoolID + `: cors: "https://app.example.com/login" is not an origin`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
}

// wantAdaptError fails the test unless adapting the Caddyfile body fails with an error that contains
// want and ends at the place at ("Caddyfile:3").
func wantAdaptError(t *testing.T, body, want, at string) {
	t.Helper()
	_, err := adapt(t, body)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
	if !strings.HasSuffix(err.Error(), "at "+at) {
		t.Errorf("error = %v, want it at %s", err, at)
	}
}
