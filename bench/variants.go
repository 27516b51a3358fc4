package main

import "strings"

// The configurations measured side by side. A variant is one line: adding one is adding a line.
//
// site is the body of the variant's site block; {upstream} becomes the upstream's address, {issuer},
// {jwks}, {client} and {pool} the user pool's, {identity_pool} the identity pool's, {policy_dir} the
// directory of the policy files below. requests is what wrk sends (see requestKinds). needs names a
// Caddyfile option of this tree that the variant uses: a tree whose Caddyfile does not adapt it skips the
// variant (it reports why) instead of failing, so the table can run on older and newer trees. redis gives
// the app (the cognito global option) `redis` with the run's redis-server, which the run starts when a
// chosen variant has it; without redis-server installed those variants are skipped, and say so.
var variants = []variant{
	// The baselines: plain reverse_proxy, the same requests as those measured against it.
	{name: "plain", requests: bearerVaried, site: `reverse_proxy {upstream}`},
	// plain and jwt-context-on with reverse_proxy's logger excluded from the log: what its eager encoding
	// of the upstream request (every forwarded header) costs end to end.
	{name: "plain-unlogged-proxy", requests: bearerVaried, site: `reverse_proxy {upstream}`, unloggedProxy: true},
	{name: "plain-sigv4-get", requests: sigv4Get, site: `reverse_proxy {upstream}`},
	{name: "plain-sigv4-post-1k", requests: sigv4Post, site: `reverse_proxy {upstream}`},
	// The floors (bench/floor, compiled into the benchmark's Caddy only).
	{name: "floor-header", requests: bearerVaried, site: "route {\n\t\tbench_floor_header\n\t\treverse_proxy {upstream}\n\t}"},
	{name: "floor-authorizer", requests: bearerVaried, site: "route {\n\t\tbench_floor_authorizer\n\t\treverse_proxy {upstream}\n\t}"},
	{name: "floor-authorizer-sigv4-get", requests: sigv4Get, site: "route {\n\t\tbench_floor_authorizer\n\t\treverse_proxy {upstream}\n\t}"},
	{name: "floor-authorizer-sigv4-post-1k", requests: sigv4Post, site: "route {\n\t\tbench_floor_authorizer\n\t\treverse_proxy {upstream}\n\t}"},
	// The authorizer.
	{name: "jwt", requests: bearerVaried, site: jwtSite("groups readers")},
	{name: "jwt-unlogged-proxy", requests: bearerVaried, site: jwtSite("groups readers"), unloggedProxy: true},
	{name: "jwt-fixed-path", requests: bearerFixed, site: jwtSite("groups readers")},
	{name: "jwt-context-on", requests: bearerVaried, site: jwtSite("groups readers\n\t\tcontext_header on"), needs: "context_header on"},
	{name: "jwt-context-on-unlogged-proxy", requests: bearerVaried, site: jwtSite("groups readers\n\t\tcontext_header on"), needs: "context_header on", unloggedProxy: true},
	{name: "jwt-forward-all", requests: bearerVaried, site: jwtSite("groups readers\n\t\tforward all\n\t\tcontext_header on"), needs: "forward all"},
	{name: "jwt-rego", requests: bearerVaried, site: jwtSite("policy {policy_dir}/bench.rego")},
	{name: "jwt-rego-fixed-path", requests: bearerFixed, site: jwtSite("policy {policy_dir}/bench.rego")},
	{name: "sigv4-get", requests: sigv4Get, site: sigv4Site("allow_any_role")},
	{name: "sigv4-get-iam", requests: sigv4Get, site: sigv4Site("role_policy " + guestRole + " {policy_dir}/guest-policy.json")},
	{name: "sigv4-get-iam-32-paths", requests: sigv4Get32, site: sigv4Site("role_policy " + guestRole + " {policy_dir}/guest-policy.json")},
	{name: "sigv4-post-1k", requests: sigv4Post, site: sigv4Site("allow_any_role")},
	// The fleet: replay protection in memory and on Redis, and a JWT with the app's Redis (revocations
	// followed from it, each request checked in memory).
	{name: "sigv4-post-1k-replay", requests: sigv4Post, site: sigv4Site("allow_any_role", "replay_protection"), needs: "replay_protection"},
	{name: "sigv4-post-1k-replay-redis", requests: sigv4Post, site: sigv4Site("allow_any_role", "replay_protection"), needs: "redis", redis: true},
	{name: "jwt-redis", requests: bearerVaried, site: jwtSite("groups readers"), needs: "redis", redis: true},
}

// defaultVariants are those run without -variants.
var defaultVariants = func() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return names
}()

const guestRole = "arn:aws:iam::123456789012:role/bench-guest"

func jwtSite(rules string) string {
	return `cognito_authorizer {
		user_pool {pool} {
			client_id {client}
			issuer {issuer}
			jwks_url {jwks}
		}
		` + rules + `
	}
	reverse_proxy {upstream}`
}

// sigv4Site serves the identity pool that issues the guests' credentials (every instance derives the
// same keys from the run's key_secret, so credentials from one are good at all) and verifies requests
// signed with them, with the identity_pool options given.
func sigv4Site(rules string, poolOptions ...string) string {
	pool := "identity_pool {identity_pool}"
	if len(poolOptions) > 0 {
		pool += " {\n\t\t\t" + strings.Join(poolOptions, "\n\t\t\t") + "\n\t\t}"
	}
	return `cognito_identity_pool /identity* {identity_pool} {
		unauthenticated_role ` + guestRole + `
	}
	cognito_authorizer {
		` + pool + `
		` + rules + `
	}
	reverse_proxy {upstream}`
}

// policyFiles are written to {policy_dir}.
var policyFiles = map[string]string{
	// A custom Rego policy of the README's shape: a group, a path pattern, a scope.
	"bench.rego": `package cognito.authz

import data.cognito.lib

default decision := false

decision := {"allow": true, "headers": {"X-Tenant": input.identity.claims["custom:tenant"]}} if {
	lib.is_member_of("readers")
	lib.path_matches_any(["/items/*", "/"])
	lib.has_scope("orders/read")
}
`,
	// The guests' IAM role policy: GET on /items/* (and /).
	"guest-policy.json": `{
	"Version": "2012-10-17",
	"Statement": [
		{
			"Effect": "Allow",
			"Action": "execute-api:Invoke",
			"Resource": [
				"arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/items/*",
				"arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/"
			]
		}
	]
}
`,
}
