package identitypool

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRoleMappingRules(t *testing.T) {
	t.Parallel()
	rule := func(claim string, mt MatchType, value, role string) MappingRule {
		return MappingRule{Claim: claim, MatchType: mt, Value: value, RoleARN: role}
	}
	groups := func(g ...string) []any {
		out := make([]any, len(g))
		for i, s := range g {
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name      string
		rules     []MappingRule
		ambiguous AmbiguousRoleResolution
		claims    map[string]any
		want      string // "" = the pool's authenticated role
		wantErr   error
	}{
		{"equals matches", []MappingRule{rule("tier", MatchEquals, "gold", adminRole)}, "", map[string]any{"tier": "gold"}, adminRole, nil},
		{"equals is exact", []MappingRule{rule("tier", MatchEquals, "gold", adminRole)}, "", map[string]any{"tier": "golden"}, "", errRoleDenied},
		{"equals is case sensitive", []MappingRule{rule("tier", MatchEquals, "gold", adminRole)}, "", map[string]any{"tier": "Gold"}, "", errRoleDenied},
		{"contains substring", []MappingRule{rule("email", MatchContains, "@example.com", adminRole)}, "", map[string]any{"email": "a@example.com"}, adminRole, nil},
		{"contains misses", []MappingRule{rule("email", MatchContains, "@example.com", adminRole)}, "", map[string]any{"email": "a@example.org"}, "", errRoleDenied},
		{"starts with", []MappingRule{rule("dept", MatchStartsWith, "eng", adminRole)}, "", map[string]any{"dept": "engineering"}, adminRole, nil},
		{"starts with is a prefix only", []MappingRule{rule("dept", MatchStartsWith, "eng", adminRole)}, "", map[string]any{"dept": "reengineering"}, "", errRoleDenied},
		{"not equal matches another value", []MappingRule{rule("tier", MatchNotEqual, "free", readerRole)}, "", map[string]any{"tier": "paid"}, readerRole, nil},
		{"not equal misses the value", []MappingRule{rule("tier", MatchNotEqual, "free", readerRole)}, "", map[string]any{"tier": "free"}, "", errRoleDenied},
		{"not equal skipped when claim absent", []MappingRule{rule("tier", MatchNotEqual, "free", readerRole)}, "", map[string]any{"other": "x"}, "", errRoleDenied},
		{"absent claim skipped, later rule matches", []MappingRule{
			rule("tier", MatchNotEqual, "free", readerRole),
			rule("dept", MatchEquals, "ops", adminRole),
		}, "", map[string]any{"dept": "ops"}, adminRole, nil},
		{"first match wins", []MappingRule{
			rule("dept", MatchStartsWith, "e", readerRole),
			rule("dept", MatchEquals, "eng", adminRole),
		}, "", map[string]any{"dept": "eng"}, readerRole, nil},
		{"order decides the other way round", []MappingRule{
			rule("dept", MatchEquals, "eng", adminRole),
			rule("dept", MatchStartsWith, "e", readerRole),
		}, "", map[string]any{"dept": "eng"}, adminRole, nil},
		{"list equals is membership", []MappingRule{rule("cognito:groups", MatchEquals, "admins", adminRole)}, "", map[string]any{"cognito:groups": groups("users", "admins")}, adminRole, nil},
		{"list contains is membership", []MappingRule{rule("cognito:groups", MatchContains, "admins", adminRole)}, "", map[string]any{"cognito:groups": groups("users", "admins")}, adminRole, nil},
		{"list contains is not a substring of an element", []MappingRule{rule("cognito:groups", MatchContains, "admin", adminRole)}, "", map[string]any{"cognito:groups": groups("superadmins")}, "", errRoleDenied},
		{"list contains is not a substring of the serialized list", []MappingRule{rule("cognito:groups", MatchContains, `a","b`, adminRole)}, "", map[string]any{"cognito:groups": groups("a", "b")}, "", errRoleDenied},
		{"list starts with", []MappingRule{rule("cognito:groups", MatchStartsWith, "team-", adminRole)}, "", map[string]any{"cognito:groups": groups("users", "team-a")}, adminRole, nil},
		{"list not equal when no element equals", []MappingRule{rule("cognito:groups", MatchNotEqual, "banned", readerRole)}, "", map[string]any{"cognito:groups": groups("users")}, readerRole, nil},
		{"list not equal misses when an element equals", []MappingRule{rule("cognito:groups", MatchNotEqual, "banned", readerRole)}, "", map[string]any{"cognito:groups": groups("users", "banned")}, "", errRoleDenied},
		{"boolean compares as text", []MappingRule{rule("paid", MatchEquals, "true", adminRole)}, "", map[string]any{"paid": true}, adminRole, nil},
		{"number compares as text", []MappingRule{rule("level", MatchEquals, "42", adminRole)}, "", map[string]any{"level": float64(42)}, adminRole, nil},
		{"json number compares as text", []MappingRule{rule("level", MatchEquals, "7", adminRole)}, "", map[string]any{"level": json.Number("7")}, adminRole, nil},
		{"object never matches", []MappingRule{rule("addr", MatchNotEqual, "x", adminRole)}, "", map[string]any{"addr": map[string]any{"a": "b"}}, "", errRoleDenied},
		{"no match falls back to authenticated role", []MappingRule{rule("tier", MatchEquals, "gold", adminRole)}, ResolveAuthenticatedRole, map[string]any{}, "", nil},
		{"no match with explicit deny", []MappingRule{rule("tier", MatchEquals, "gold", adminRole)}, ResolveDeny, map[string]any{}, "", errRoleDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RoleMapping{Type: RoleMappingRules, Rules: tt.rules, AmbiguousRoleResolution: tt.ambiguous}
			if err := m.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := m.resolve(tt.claims, "")
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("resolve = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRoleMappingToken(t *testing.T) {
	t.Parallel()
	roles := func(r ...string) []any {
		out := make([]any, len(r))
		for i, s := range r {
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name      string
		ambiguous AmbiguousRoleResolution
		claims    map[string]any
		custom    string
		want      string
		wantErr   error
	}{
		{"preferred role wins", ResolveDeny, map[string]any{"cognito:preferred_role": adminRole, "cognito:roles": roles(readerRole, adminRole)}, "", adminRole, nil},
		{"single role without preferred", ResolveDeny, map[string]any{"cognito:roles": roles(readerRole)}, "", readerRole, nil},
		{"several roles without preferred is ambiguous: deny", ResolveDeny, map[string]any{"cognito:roles": roles(readerRole, adminRole)}, "", "", errRoleDenied},
		{"several roles without preferred is ambiguous: authenticated role", ResolveAuthenticatedRole, map[string]any{"cognito:roles": roles(readerRole, adminRole)}, "", "", nil},
		{"no role claims is ambiguous", ResolveDeny, map[string]any{}, "", "", errRoleDenied},
		{"custom role among the roles", ResolveDeny, map[string]any{"cognito:preferred_role": adminRole, "cognito:roles": roles(readerRole, adminRole)}, readerRole, readerRole, nil},
		{"custom role not among the roles", ResolveAuthenticatedRole, map[string]any{"cognito:preferred_role": adminRole, "cognito:roles": roles(readerRole)}, adminRole, "", errCustomRoleNotInToken},
		{"custom role with no roles claim", ResolveAuthenticatedRole, map[string]any{}, adminRole, "", errCustomRoleNotInToken},
		{"custom role is compared exactly", ResolveDeny, map[string]any{"cognito:roles": roles(readerRole)}, strings.ToUpper(readerRole), "", errCustomRoleNotInToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RoleMapping{Type: RoleMappingToken, AmbiguousRoleResolution: tt.ambiguous}
			got, err := m.resolve(tt.claims, tt.custom)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("resolve = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRoleMappingTokenRefusesMalformedClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]any
	}{
		{"roles not a list", map[string]any{"cognito:roles": 42.0}},
		{"roles with a non-string", map[string]any{"cognito:roles": []any{readerRole, 1.0}}},
		{"preferred role not a string", map[string]any{"cognito:preferred_role": []any{adminRole}}},
		{"preferred role not an ARN", map[string]any{"cognito:preferred_role": "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RoleMapping{Type: RoleMappingToken, AmbiguousRoleResolution: ResolveAuthenticatedRole}
			if got, err := m.resolve(tt.claims, ""); err == nil {
				t.Fatalf("resolve = %q, want an error", got)
			}
		})
	}
}

func TestRoleMappingCustomRoleNeedsTokenType(t *testing.T) {
	t.Parallel()
	m := RoleMapping{Type: RoleMappingRules, Rules: []MappingRule{{Claim: "a", MatchType: MatchEquals, Value: "b", RoleARN: adminRole}}}
	if _, err := m.resolve(map[string]any{"a": "b"}, adminRole); !errors.Is(err, errCustomRoleUnsupported) {
		t.Fatalf("err = %v, want errCustomRoleUnsupported", err)
	}
}

func TestRoleMappingValidate(t *testing.T) {
	t.Parallel()
	ok := MappingRule{Claim: "a", MatchType: MatchEquals, Value: "b", RoleARN: adminRole}
	with := func(edit func(*MappingRule)) []MappingRule {
		r := ok
		edit(&r)
		return []MappingRule{r}
	}
	many := make([]MappingRule, 26)
	for i := range many {
		many[i] = ok
	}
	tests := []struct {
		name string
		m    RoleMapping
	}{
		{"unknown type", RoleMapping{Type: "Claims"}},
		{"lower-case type", RoleMapping{Type: "token"}},
		{"token type with rules", RoleMapping{Type: RoleMappingToken, Rules: []MappingRule{ok}}},
		{"rules type without rules", RoleMapping{Type: RoleMappingRules}},
		{"26 rules", RoleMapping{Type: RoleMappingRules, Rules: many}},
		{"unknown ambiguous resolution", RoleMapping{Type: RoleMappingToken, AmbiguousRoleResolution: "Allow"}},
		{"unknown match type", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.MatchType = "Regex" })}},
		{"empty claim", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.Claim = "" })}},
		{"long claim", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.Claim = strings.Repeat("c", 65) })}},
		{"empty value", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.Value = "" })}},
		{"long value", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.Value = strings.Repeat("v", 129) })}},
		{"role not an ARN", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.RoleARN = "Admin" })}},
		{"role of another service", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.RoleARN = "arn:aws:s3:::bucket-name-here" })}},
		{"role with a short account", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.RoleARN = "arn:aws:iam::1234:role/Admin" })}},
		{"role with a space", RoleMapping{Type: RoleMappingRules, Rules: with(func(r *MappingRule) { r.RoleARN = "arn:aws:iam::123456789012:role/Ad min" })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.m.validate(); err == nil {
				t.Fatal("validate accepted it")
			}
		})
	}
}

// TestPoolRoleResolution drives role mapping through GetCredentialsForIdentity, so the mapping key
// lookup (provider:client before provider), the defaults and CustomRoleArn are covered end to end.
func TestPoolRoleResolution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mappings map[string]RoleMapping
		claims   map[string]any
		custom   string
		wantRole string
		wantType string
	}{
		{"no mapping: authenticated role", nil, nil, "", authRole, ""},
		{"no mapping refuses CustomRoleArn", nil, nil, adminRole, "", errTypeInvalidParameter},
		{"rules by group", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingRules, Rules: []MappingRule{
			{Claim: "cognito:groups", MatchType: MatchContains, Value: "admins", RoleARN: adminRole}}}},
			map[string]any{"cognito:groups": []any{"admins"}}, "", adminRole, ""},
		{"rules deny", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingRules, AmbiguousRoleResolution: ResolveDeny, Rules: []MappingRule{
			{Claim: "cognito:groups", MatchType: MatchContains, Value: "admins", RoleARN: adminRole}}}},
			map[string]any{"cognito:groups": []any{"users"}}, "", "", errTypeNotAuthorized},
		{"client-specific mapping first", map[string]RoleMapping{
			testUserPoolName:                      {Type: RoleMappingToken, AmbiguousRoleResolution: ResolveAuthenticatedRole},
			testUserPoolName + ":" + testClientID: {Type: RoleMappingRules, Rules: []MappingRule{{Claim: "sub", MatchType: MatchStartsWith, Value: "user", RoleARN: readerRole}}},
		}, map[string]any{"cognito:preferred_role": adminRole}, "", readerRole, ""},
		{"mapping of another client ignored", map[string]RoleMapping{
			testUserPoolName:                {Type: RoleMappingToken, AmbiguousRoleResolution: ResolveAuthenticatedRole},
			testUserPoolName + ":other-app": {Type: RoleMappingRules, Rules: []MappingRule{{Claim: "sub", MatchType: MatchStartsWith, Value: "user", RoleARN: readerRole}}},
		}, map[string]any{"cognito:preferred_role": adminRole}, "", adminRole, ""},
		{"token preferred role", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingToken}},
			map[string]any{"cognito:preferred_role": adminRole, "cognito:roles": []any{adminRole, readerRole}}, "", adminRole, ""},
		{"token custom role", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingToken}},
			map[string]any{"cognito:preferred_role": adminRole, "cognito:roles": []any{adminRole, readerRole}}, readerRole, readerRole, ""},
		{"token custom role outside the token", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingToken}},
			map[string]any{"cognito:roles": []any{readerRole}}, adminRole, "", errTypeNotAuthorized},
		{"token ambiguous: authenticated role", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingToken, AmbiguousRoleResolution: ResolveAuthenticatedRole}},
			map[string]any{"cognito:roles": []any{adminRole, readerRole}}, "", authRole, ""},
		{"token ambiguous: deny", map[string]RoleMapping{testUserPoolName: {Type: RoleMappingToken, AmbiguousRoleResolution: ResolveDeny}},
			map[string]any{"cognito:roles": []any{adminRole, readerRole}}, "", "", errTypeNotAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(c *Config) { c.RoleMappings = tt.mappings })
			tok := e.userPool.token(t, "user-1", tt.claims)
			logins := map[string]string{testUserPoolName: tok}
			id := e.mustOK(t, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})["IdentityId"]
			status, out, _ := e.call(t, "GetCredentialsForIdentity", map[string]any{"IdentityId": id, "Logins": logins, "CustomRoleArn": tt.custom})
			if tt.wantType != "" {
				if status != 400 || out["__type"] != tt.wantType {
					t.Fatalf("got %d %v, want 400 %s", status, out, tt.wantType)
				}
				return
			}
			if status != 200 {
				t.Fatalf("status %d: %v", status, out)
			}
			creds := out["Credentials"].(map[string]any)
			s, err := e.keys.OpenSessionToken(t.Context(), creds["SessionToken"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if s.RoleARN != tt.wantRole {
				t.Fatalf("role %q, want %q", s.RoleARN, tt.wantRole)
			}
		})
	}
}
