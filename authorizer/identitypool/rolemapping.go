package identitypool

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// RoleMappingType is how a role mapping chooses a role, as in Cognito's `RoleMapping.Type`.
type RoleMappingType string

const (
	// RoleMappingToken takes the role from the login token: `CustomRoleArn` if the client asks for one of
	// the token's `cognito:roles`, else `cognito:preferred_role`, else the only entry of `cognito:roles`.
	RoleMappingToken RoleMappingType = "Token"
	// RoleMappingRules takes the role of the first rule that matches the token's claims.
	RoleMappingRules RoleMappingType = "Rules"
)

// AmbiguousRoleResolution is what happens when a role mapping finds no role, as in Cognito's
// `RoleMapping.AmbiguousRoleResolution`.
type AmbiguousRoleResolution string

const (
	// ResolveAuthenticatedRole falls back to the pool's authenticated role.
	ResolveAuthenticatedRole AmbiguousRoleResolution = "AuthenticatedRole"
	// ResolveDeny refuses credentials. It is the default.
	ResolveDeny AmbiguousRoleResolution = "Deny"
)

// MatchType is how a rule compares a claim with its value, as in Cognito's `MappingRule.MatchType`.
type MatchType string

// The match types. A claim that is a list of strings (such as `cognito:groups`) matches Equals and Contains
// when one element equals the value, StartsWith when one element starts with it, and NotEqual when no
// element equals it; Contains is membership, not a substring of the list, so `admin` does not match a
// user in `superadmins`. Numbers and booleans compare as their JSON text; objects never match. A rule on a
// claim the token does not have is skipped, NotEqual included.
const (
	MatchEquals     MatchType = "Equals"
	MatchContains   MatchType = "Contains"
	MatchStartsWith MatchType = "StartsWith"
	MatchNotEqual   MatchType = "NotEqual"
)

// RoleMapping chooses the role of an authenticated identity from its login token, for one provider.
type RoleMapping struct {
	// Type is Token or Rules.
	Type RoleMappingType
	// Rules are tried in order for the Rules type; the first match wins. At most 25.
	Rules []MappingRule
	// AmbiguousRoleResolution applies when no rule matches, or (Token type) the token has neither a
	// preferred role nor exactly one role. Default Deny.
	AmbiguousRoleResolution AmbiguousRoleResolution
}

// MappingRule maps a claim value to a role.
type MappingRule struct {
	// Claim is the claim name, e.g. `cognito:groups` or `custom:tier` (1 to 64 characters).
	Claim string
	// MatchType is Equals, Contains, StartsWith or NotEqual.
	MatchType MatchType
	// Value is what the claim is compared with (1 to 128 characters).
	Value string
	// RoleARN is the role given when the rule matches.
	RoleARN string
}

const maxMappingRules = 25

var (
	// errRoleDenied: no role found and the mapping says Deny.
	errRoleDenied = errors.New("role mapping found no role and ambiguous role resolution is Deny")
	// errCustomRoleNotInToken: CustomRoleArn is not one of the token's cognito:roles.
	errCustomRoleNotInToken = errors.New("CustomRoleArn is not one of the login token's cognito:roles")
	// errCustomRoleUnsupported: CustomRoleArn asked where no Token role mapping applies.
	errCustomRoleUnsupported = errors.New("CustomRoleArn needs a role mapping of type Token for the login's provider")
)

func (m *RoleMapping) validate() error {
	switch m.AmbiguousRoleResolution {
	case "", ResolveDeny, ResolveAuthenticatedRole:
	default:
		return fmt.Errorf("ambiguous role resolution %q is not AuthenticatedRole or Deny", m.AmbiguousRoleResolution)
	}
	switch m.Type {
	case RoleMappingToken:
		if len(m.Rules) > 0 {
			return errors.New("a Token role mapping has no rules")
		}
	case RoleMappingRules:
		if len(m.Rules) == 0 || len(m.Rules) > maxMappingRules {
			return fmt.Errorf("a Rules role mapping needs 1 to %d rules, not %d", maxMappingRules, len(m.Rules))
		}
		for i, r := range m.Rules {
			if err := r.validate(); err != nil {
				return fmt.Errorf("rule %d: %w", i+1, err)
			}
		}
	default:
		return fmt.Errorf("role mapping type %q is not Token or Rules", m.Type)
	}
	return nil
}

func (r *MappingRule) validate() error {
	if len(r.Claim) == 0 || len(r.Claim) > 64 {
		return fmt.Errorf("claim name must have 1 to 64 characters, not %d", len(r.Claim))
	}
	if len(r.Value) == 0 || len(r.Value) > 128 {
		return fmt.Errorf("value must have 1 to 128 characters, not %d", len(r.Value))
	}
	switch r.MatchType {
	case MatchEquals, MatchContains, MatchStartsWith, MatchNotEqual:
	default:
		return fmt.Errorf("match type %q is not Equals, Contains, StartsWith or NotEqual", r.MatchType)
	}
	_, err := identity.ParseRoleARN(r.RoleARN)
	return err
}

// resolve returns the role the mapping gives the holder of claims; "" means the pool's authenticated role.
// customRoleARN is what the client asked for, or "".
func (m *RoleMapping) resolve(claims map[string]any, customRoleARN string) (string, error) {
	var role string
	switch m.Type {
	case RoleMappingToken:
		roles, err := claimStrings(claims, "cognito:roles")
		if err != nil {
			return "", err
		}
		preferred, err := claimString(claims, "cognito:preferred_role")
		if err != nil {
			return "", err
		}
		switch {
		case customRoleARN != "":
			for _, r := range roles {
				if r == customRoleARN {
					return r, nil
				}
			}
			return "", errCustomRoleNotInToken
		case preferred != "":
			role = preferred
		case len(roles) == 1:
			role = roles[0]
		}
		if role != "" {
			if _, err := identity.ParseRoleARN(role); err != nil {
				return "", fmt.Errorf("role from the login token: %w", err)
			}
			return role, nil
		}
	case RoleMappingRules:
		if customRoleARN != "" {
			return "", errCustomRoleUnsupported
		}
		for i := range m.Rules {
			if m.Rules[i].matches(claims) {
				return m.Rules[i].RoleARN, nil
			}
		}
	}
	if m.AmbiguousRoleResolution == ResolveAuthenticatedRole {
		return "", nil
	}
	return "", errRoleDenied
}

func (r *MappingRule) matches(claims map[string]any) bool {
	v, ok := claims[r.Claim]
	if !ok {
		return false
	}
	if list, ok := v.([]any); ok {
		some := func(pred func(string) bool) bool {
			for _, e := range list {
				if s, ok := scalarText(e); ok && pred(s) {
					return true
				}
			}
			return false
		}
		equal := func(s string) bool { return s == r.Value }
		switch r.MatchType {
		case MatchEquals, MatchContains:
			return some(equal)
		case MatchStartsWith:
			return some(func(s string) bool { return strings.HasPrefix(s, r.Value) })
		case MatchNotEqual:
			return !some(equal)
		}
		return false
	}
	s, ok := scalarText(v)
	if !ok {
		return false
	}
	switch r.MatchType {
	case MatchEquals:
		return s == r.Value
	case MatchContains:
		return strings.Contains(s, r.Value)
	case MatchStartsWith:
		return strings.HasPrefix(s, r.Value)
	case MatchNotEqual:
		return s != r.Value
	}
	return false
}

// scalarText is the text of a string, number or boolean claim value.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// claimString returns a string claim, "" when absent.
func claimString(claims map[string]any, name string) (string, error) {
	v, ok := claims[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %s is a %T, not a string", name, v)
	}
	return s, nil
}

// claimStrings returns a claim that is a list of strings (or one string), nil when absent.
func claimStrings(claims map[string]any, name string) ([]string, error) {
	switch v := claims[name].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("claim %s has a %T element, not a string", name, e)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("claim %s is a %T, not a list of strings", name, v)
	}
}
