package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"golang.org/x/net/http/httpguts"
)

// Limits on route settings, so a configuration cannot make every decision slow.
const (
	maxRuleEntries = 64  // groups, scopes, claim rules, values of one claim rule
	maxRuleText    = 256 // one group, scope, claim name, header or query name, value
	maxSegment     = 63  // highest path segment index a claim rule may name
)

// ClaimSource says where a claim rule takes the value the claim must equal.
type ClaimSource string

// The sources of a claim rule.
const (
	// FromSegment takes a segment of the request path, counted from 0 like Caddy's
	// {http.request.uri.path.N} placeholders: in /tenants/t1/orders, segment 1 is "t1".
	FromSegment ClaimSource = "segment"
	// FromHeader takes a request header, which must be present exactly once.
	FromHeader ClaimSource = "header"
	// FromQuery takes a query parameter, which must be present exactly once.
	FromQuery ClaimSource = "query"
	// FromValue takes a list of allowed values; the claim must equal one of them.
	FromValue ClaimSource = "value"
)

// ClaimRule requires a claim of the caller's token to equal a value taken from the request (a path
// segment, a header, a query parameter) or from a fixed list: the multi-tenant rule "the tenant in the
// URL is the caller's tenant" without writing Rego. A string claim compares as is, a number or boolean
// claim by its JSON form ("42", "true"), an array claim matches when one of its elements does; a missing
// claim never matches, nor does an empty value taken from the request. A header or query parameter sent
// several times never matches, so a client cannot send its own tenant next to another one and hope
// that the upstream reads the other.
//
// In JSON (the Caddy handler's "claims" list):
//
//	{"claim": "custom:tenant_id", "from": "segment", "segment": 1}
//	{"claim": "custom:tenant_id", "from": "header", "name": "X-Tenant-Id"}
//	{"claim": "custom:tenant_id", "from": "query", "name": "tenant"}
//	{"claim": "custom:plan", "from": "value", "values": ["pro", "enterprise"]}
//
// For the Caddyfile form, see ParseClaimRule.
type ClaimRule struct {
	// Claim is the name of the claim, e.g. "custom:tenant_id" (Cognito custom attribute) or "email".
	Claim string `json:"claim"`
	// From is where the expected value comes from.
	From ClaimSource `json:"from"`
	// Segment is the path segment index (from 0) for FromSegment.
	Segment int `json:"segment,omitempty"`
	// Name is the header name (case-insensitive) for FromHeader, the query parameter name
	// (case-sensitive) for FromQuery.
	Name string `json:"name,omitempty"`
	// Values are the allowed values for FromValue.
	Values []string `json:"values,omitempty"`
}

// ParseClaimRule parses the arguments of a Caddyfile `claim` line (the words after `claim`):
//
//	claim <claim> segment <index>     # the claim equals path segment <index>, counted from 0
//	claim <claim> header <name>       # the claim equals the request header <name>
//	claim <claim> query <name>        # the claim equals the query parameter <name>
//	claim <claim> value <value>...    # the claim equals one of the values
//
// For example, in front of /tenants/{tenant}/...:
//
//	cognito_authorizer /tenants/* {
//		user_pool us-east-1_AbC123
//		claim custom:tenant_id segment 1
//	}
//
// Every claim line of a route must hold. The result is validated as NewRules would.
func ParseClaimRule(args []string) (ClaimRule, error) {
	const syntax = "want <claim> segment <index> | header <name> | query <name> | value <value>..."
	if len(args) < 3 {
		return ClaimRule{}, fmt.Errorf("claim rule: %s, got %d argument(s)", syntax, len(args))
	}
	rule := ClaimRule{Claim: args[0], From: ClaimSource(args[1])}
	rest := args[2:]
	switch rule.From {
	case FromSegment, FromHeader, FromQuery:
		if len(rest) != 1 {
			return ClaimRule{}, fmt.Errorf("claim rule for %q: %s takes one argument, got %d", rule.Claim, rule.From, len(rest))
		}
		if rule.From != FromSegment {
			rule.Name = rest[0]
			break
		}
		n, err := strconv.Atoi(rest[0])
		if err != nil {
			return ClaimRule{}, fmt.Errorf("claim rule for %q: segment index %q is not a number", rule.Claim, rest[0])
		}
		rule.Segment = n
	case FromValue:
		rule.Values = rest
	default:
		return ClaimRule{}, fmt.Errorf("claim rule for %q: unknown source %q: %s", rule.Claim, rule.From, syntax)
	}
	if err := rule.Validate(); err != nil {
		return ClaimRule{}, err
	}
	return rule, nil
}

// Validate reports the first thing wrong with the rule: an empty or overlong claim name, an unknown
// source, a field that does not belong to the source, a segment index out of range, an invalid header
// name, a header or query parameter that carries credentials (those never reach the policy, so the
// rule could never hold), or an empty value.
func (c ClaimRule) Validate() error {
	if err := checkText("claim name", c.Claim); err != nil {
		return fmt.Errorf("claim rule: %w", err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("claim rule for %q: "+format, append([]any{c.Claim}, args...)...)
	}
	switch c.From {
	case FromSegment:
		if c.Segment < 0 || c.Segment > maxSegment {
			return fail("segment index %d is out of range 0-%d", c.Segment, maxSegment)
		}
		if c.Name != "" || len(c.Values) > 0 {
			return fail("from segment takes only a segment index")
		}
	case FromHeader:
		if c.Segment != 0 || len(c.Values) > 0 {
			return fail("from header takes only a header name")
		}
		if !httpguts.ValidHeaderFieldName(c.Name) || len(c.Name) > maxRuleText {
			return fail("invalid header name %.64q", c.Name)
		}
		if isDefaultCredentialHeader(strings.ToLower(c.Name)) {
			return fail("header %s carries credentials, which never reach the policy", c.Name)
		}
	case FromQuery:
		if c.Segment != 0 || len(c.Values) > 0 {
			return fail("from query takes only a parameter name")
		}
		if err := checkText("query parameter name", c.Name); err != nil {
			return fail("%w", err)
		}
		if isDefaultCredentialParam(c.Name) {
			return fail("query parameter %s carries credentials, which never reach the policy", c.Name)
		}
	case FromValue:
		if c.Segment != 0 || c.Name != "" {
			return fail("from value takes only values")
		}
		if len(c.Values) == 0 || len(c.Values) > maxRuleEntries {
			return fail("from value needs 1 to %d values, got %d", maxRuleEntries, len(c.Values))
		}
		for _, v := range c.Values {
			if err := checkText("value", v); err != nil {
				return fail("%w", err)
			}
		}
	default:
		return fail("unknown source %.32q (want segment, header, query or value)", c.From)
	}
	return nil
}

// Rules are one route's settings for the built-in policy (input.config), validated and converted to
// the policy's input form once, when the route is provisioned: many routes share one Engine, each
// with its own Rules. Rules are immutable and safe for concurrent use. A nil *Rules is a route without
// requirements for token and anonymous callers; the built-in policy denies its identity-pool callers
// (see WithAnyRole).
type Rules struct {
	config *ast.Term // input.config, shared by every input of the route, never modified
	use    inputUse  // what the built-in policy reads of the request for these rules

	// What config is built from, for WithRolePolicies and WithAnyRole.
	groups, scopes []string
	claims         []any
	iam            *ast.Term // the compiled role policies; nil: none
	anyRole        bool
}

// WithAnyRole returns a copy of r (nil: a route without requirements) on which the built-in policy
// lets every identity-pool caller through whatever its role, guests included, deciding it by the
// route's groups, scopes and claim rules like a token caller (which it passes only when the route
// has none). Without it, or role policies (WithRolePolicies), the built-in policy denies every
// identity-pool caller, as IAM denies a role that no policy allows anything. It is an error on rules
// with role policies, which the two would contradict.
func (r *Rules) WithAnyRole() (*Rules, error) {
	base := r
	if base == nil {
		base = &Rules{}
	}
	if base.iam != nil {
		return nil, errors.New("any role: the route has role policies, which decide its identity-pool callers")
	}
	out := *base
	out.anyRole = true
	out.config = configTerm(out.groups, out.scopes, out.claims, nil, true)
	return &out, nil
}

// NewRules validates a route's settings and converts them for the policy: groups (the caller must be in
// at least one; empty: no requirement), scopes (the token must grant at least one; empty: no
// requirement) and claim rules (all must hold). It refuses empty or overlong entries, scopes with
// spaces (a token's scopes are space-separated, so such a scope could never match) and invalid claim
// rules (see ClaimRule.Validate).
func NewRules(groups, scopes []string, claims []ClaimRule) (*Rules, error) {
	for _, list := range []struct {
		what   string
		values []string
	}{{"groups", groups}, {"scopes", scopes}} {
		if len(list.values) > maxRuleEntries {
			return nil, fmt.Errorf("%s: %d entries, at most %d", list.what, len(list.values), maxRuleEntries)
		}
		for _, v := range list.values {
			if err := checkText(list.what[:len(list.what)-1], v); err != nil {
				return nil, fmt.Errorf("%s: %w", list.what, err)
			}
		}
	}
	for _, s := range scopes {
		if strings.ContainsAny(s, " \t") {
			return nil, fmt.Errorf("scopes: %q contains a space; list each scope as its own argument", s)
		}
	}
	if len(claims) > maxRuleEntries {
		return nil, fmt.Errorf("claim rules: %d rules, at most %d", len(claims), maxRuleEntries)
	}
	claimValues := make([]any, len(claims))
	var use inputUse
	for i, c := range claims {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		claimValues[i] = claimRuleValue(c)
		use = use.or(inputUse{headers: c.From == FromHeader, query: c.From == FromQuery, segments: c.From == FromSegment})
	}
	groups, scopes = stringList(groups), stringList(scopes)
	return &Rules{config: configTerm(groups, scopes, claimValues, nil, false), use: use, groups: groups, scopes: scopes, claims: claimValues}, nil
}

// configTerm is the input.config object, always with every key present so the policy never reads an
// undefined setting: "iam" is null on a route without role policies (see Rules.WithRolePolicies),
// "allow_any_role" false unless Rules.WithAnyRole set it.
func configTerm(groups, scopes []string, claims []any, iam *ast.Term, anyRole bool) *ast.Term {
	if iam == nil {
		iam = ast.NullTerm()
	}
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("groups"), ast.NewTerm(ast.MustInterfaceToValue(stringList(groups)))),
		ast.Item(ast.InternedTerm("scopes"), ast.NewTerm(ast.MustInterfaceToValue(stringList(scopes)))),
		// Claim rules hold only strings, ints and lists of strings, which always convert.
		ast.Item(ast.InternedTerm("claims"), ast.NewTerm(ast.MustInterfaceToValue(append([]any{}, claims...)))),
		ast.Item(ast.InternedTerm("iam"), iam),
		ast.Item(ast.InternedTerm("allow_any_role"), ast.InternedTerm(anyRole)),
	)
}

func claimRuleValue(c ClaimRule) map[string]any {
	v := map[string]any{"claim": c.Claim, "from": string(c.From)}
	switch c.From {
	case FromSegment:
		v["segment"] = c.Segment
	case FromHeader:
		v["name"] = strings.ToLower(c.Name)
	case FromQuery:
		v["name"] = c.Name
	case FromValue:
		v["values"] = stringList(c.Values)
	}
	return v
}

// stringList copies ss, never nil, so the input always has a list.
func stringList(ss []string) []string {
	return append([]string{}, ss...)
}

// checkText refuses empty, overlong, non-UTF-8 and control-character settings: none can match a
// well-formed token, and all would make log lines confusing.
func checkText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case len(s) > maxRuleText:
		return fmt.Errorf("%s is longer than %d bytes", what, maxRuleText)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %.64q is not valid UTF-8", what, s)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s %.64q contains a control character", what, s)
	}
	return nil
}
