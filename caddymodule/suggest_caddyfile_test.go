package caddymodule

import (
	"strings"
	"testing"
)

// A misspelled subdirective, in either directive and in any of their blocks, is refused at its place
// with the name it was probably meant to be.
func TestCaddyfileSuggestsSubdirective(t *testing.T) {
	userPool := "user_pool us-east-1_AbC123 {\n"
	login := "login " + testUserPoolLogin + " {\nclient_id a\n}\n"
	cases := []struct{ name, body, want, at string }{
		{"top level", block("user_pol us-east-1_AbC123"), `unrecognized subdirective "user_pol" (did you mean user_pool?)`, "Caddyfile:3"},
		{"dropped letter", block("grups admin"), `unrecognized subdirective "grups" (did you mean groups?)`, "Caddyfile:3"},
		{"swapped letters", block("gorups admin"), `unrecognized subdirective "gorups" (did you mean groups?)`, "Caddyfile:3"},
		{"dash for underscore", block("token-cookie t"), `unrecognized subdirective "token-cookie" (did you mean token_cookie?)`, "Caddyfile:3"},
		{"stream_grace", block("stream_grce 1s"), `unrecognized subdirective "stream_grce" (did you mean stream_grace?)`, "Caddyfile:3"},
		{"after other subdirectives", block("allow_anonymous\nshadow\nopa_conifg x"), `unrecognized subdirective "opa_conifg" (did you mean opa_config?)`, "Caddyfile:5"},
		{"user_pool", block(userPool + "clientid a\n}"), `unrecognized user_pool subdirective "clientid" (did you mean client_id?)`, "Caddyfile:4"},
		{"user_pool prefix", block(userPool + "client a\n}"), `unrecognized user_pool subdirective "client" (did you mean client_id?)`, "Caddyfile:4"},
		{"oidc", block("oidc https://idp.example.com {\naudiences a\n}"), `unrecognized oidc subdirective "audiences" (did you mean audience?)`, "Caddyfile:4"},
		{"cors", block("cors * {\nmax-age 1h\n}"), `unrecognized cors subdirective "max-age" (did you mean max_age?)`, "Caddyfile:4"},
		{"assertion", block("assertion {\njwks_pth /keys\n}"), `unrecognized assertion subdirective "jwks_pth" (did you mean jwks_path?)`, "Caddyfile:4"},
		{"identity_pool", block("identity_pool " + testIdentityPoolID + " {\nreplay_protecton\n}"), `unrecognized identity_pool subdirective "replay_protecton" (did you mean replay_protection?)`, "Caddyfile:4"},
		{"identity_pool prefix", block("identity_pool " + testIdentityPoolID + " {\nreplay\n}"), `unrecognized identity_pool subdirective "replay" (did you mean replay_protection?)`, "Caddyfile:4"},
		{"forward", block("forward X-Cognito-Usrname"), `forward: unknown header "X-Cognito-Usrname" (did you mean X-Cognito-Username?)`, "Caddyfile:3"},
		{"forward lowercase", block("forward X-Cognito-Sub x-cognito-role-am"), `forward: unknown header "x-cognito-role-am" (did you mean X-Cognito-Role-Arn?)`, "Caddyfile:3"},
		{"forward a short name", block("forward client_id"), `forward: unknown header "client_id" (did you mean X-Cognito-Client-Id?)`, "Caddyfile:3"},
		{"cognito_identity_pool", poolBlock("credential_ttl 1h"), `unrecognized cognito_identity_pool subdirective "credential_ttl" (did you mean credentials_ttl?)`, "Caddyfile:3"},
		{"cognito_identity_pool cors", poolBlock("cors * {\nheader X-Amz-Date\n}"), `unrecognized cors subdirective "header" (did you mean headers?)`, "Caddyfile:4"},
		{"login", poolBlock("login x {\naudiance a\n}"), `unrecognized login subdirective "audiance" (did you mean audience?)`, "Caddyfile:4"},
		{"role_mapping", poolBlock(login + "role_mapping " + testUserPoolLogin + " token {\nambigous deny\n}"), `unrecognized role_mapping subdirective "ambigous" (did you mean ambiguous?)`, "Caddyfile:7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantAdaptError(t, tc.body, tc.want, tc.at) })
	}
}

// A name close to nothing the block knows is refused without a guess.
func TestCaddyfileSuggestsNothingFar(t *testing.T) {
	cases := []struct{ name, body, want, at string }{
		{"top level", block("frobnicate"), `unrecognized subdirective "frobnicate"`, "Caddyfile:3"},
		{"user_pool", block("user_pool us-east-1_AbC123 {\nsecret s\n}"), `unrecognized user_pool subdirective "secret"`, "Caddyfile:4"},
		{"cognito_identity_pool", poolBlock("roles x"), `unrecognized cognito_identity_pool subdirective "roles"`, "Caddyfile:3"},
		// A name of a sibling block is not a misspelling of this one's.
		{"another block's name", block("cors * {\nclient_id a\n}"), `unrecognized cors subdirective "client_id"`, "Caddyfile:4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapt(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "did you mean") {
				t.Errorf("error = %v, want no suggestion", err)
			}
			if !strings.HasSuffix(err.Error(), "at "+tc.at) {
				t.Errorf("error = %v, want it at %s", err, tc.at)
			}
		})
	}
}

func TestClosestName(t *testing.T) {
	known := []string{"client_id", "token_use", "issuer", "jwks_url", "ttl"}
	cases := []struct{ name, want string }{
		{"client_id", "client_id"},
		{"clinet_id", "client_id"}, // one swap
		{"client_i", "client_id"},
		{"cliend_ib", "client_id"},
		{"clxend_ib", ""}, // three edits
		{"client", "client_id"},
		{"issuers_list", "issuer"}, // starts with a known name
		{"tl", "ttl"},
		{"", ""},
		{"zzzzzz", ""},
	}
	for _, tc := range cases {
		if got := closestName(tc.name, known); got != tc.want {
			t.Errorf("closestName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	// Ties go to the alphabetically first, whatever the order of the known names.
	for _, k := range [][]string{{"abd", "abc"}, {"abc", "abd"}} {
		if got := closestName("abe", k); got != "abc" {
			t.Errorf("closestName(abe, %v) = %q, want abc", k, got)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"abc", "acb", 1},
		{"groups", "grups", 1},
		{"groups", "gorups", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment: a swapped pair is not edited again
	}
	for _, tc := range cases {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}
