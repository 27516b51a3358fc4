package policy

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// ErrInvalidPolicyDocument is wrapped by every error of ParsePolicyDocument and
// Rules.WithRolePolicies about a document: malformed JSON, an unknown key, an unsupported operator or
// condition key, a bad pattern.
var ErrInvalidPolicyDocument = errors.New("invalid IAM policy document")

// Limits on role policies, so that a configuration cannot make decisions slow. IAM's own limits are
// lower (10,240 characters for a role's inline policies).
const (
	maxPolicyDocumentBytes = 64 << 10
	maxStatements          = 100 // per document
	maxElementValues       = 100 // actions, resources, values of one condition key
	maxConditions          = 32  // operator/key pairs of one statement
	maxRolePolicies        = 64  // roles of one route
	maxRoleStatements      = 200 // statements of one role, all its documents together
)

// Defaults of ExecuteAPI.
const (
	// DefaultAPIID is the API id of the resource ARN when none is configured.
	DefaultAPIID = "api"
	// DefaultStage is the stage of the resource ARN when none is configured: API Gateway's default
	// stage of HTTP APIs.
	DefaultStage = "$default"
)

// PolicyDocument is an IAM policy document, the JSON users attach to the IAM roles of a Cognito
// identity pool, parsed and validated by ParsePolicyDocument. It is immutable.
type PolicyDocument struct {
	name       string
	statements []iamStatement
}

// Name is the name the document was parsed under (its file), as reasons and errors quote it.
func (d *PolicyDocument) Name() string { return d.name }

type iamStatement struct {
	id          string // for reasons: "<document> statement <n> (<Sid>)"
	effect      string
	actions     []string // expression bodies, lowercase
	notAction   bool
	resources   []pattern
	notResource bool
	conditions  []iamCondition
}

type iamCondition struct {
	operator string // without set qualifier and IfExists, e.g. "StringNotLike"
	set      string // "", "ForAnyValue" or "ForAllValues"
	ifExists bool
	key      string // canonical, lowercase
	typ      string
	values   []any // pattern (string operators), CIDR string (IP operators), bool (Bool, Null)
}

// The condition operators the gateway evaluates, and the type of key each applies to.
var iamOperators = map[string]string{
	"StringEquals":              typeString,
	"StringNotEquals":           typeString,
	"StringEqualsIgnoreCase":    typeString,
	"StringNotEqualsIgnoreCase": typeString,
	"StringLike":                typeString,
	"StringNotLike":             typeString,
	"IpAddress":                 typeIP,
	"NotIpAddress":              typeIP,
	"Bool":                      typeBool,
	"Null":                      "",
}

const supportedOperators = "StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, " +
	"StringLike, StringNotLike, IpAddress, NotIpAddress, Bool (each with IfExists), Null; " +
	"ForAnyValue: and ForAllValues: on the String operators"

// ParsePolicyDocument parses and validates an IAM policy document. name (usually the file it was read
// from) is quoted in errors and in the reasons of denials.
//
// The document is an identity-based policy of the 2012-10-17 language: "Version" (required, the only
// version with policy variables), "Id", and "Statement" (one statement or a list), each statement with
// "Sid", "Effect" (Allow or Deny), exactly one of "Action" and "NotAction", exactly one of "Resource"
// and "NotResource", and "Condition". Everything else is an error, as are duplicate keys, duplicate
// Sids, "Principal" (identity-based policies have none), and anything the gateway could not evaluate:
//
//   - actions: "*" or "<service>:<action>", with the wildcards * and ?, compared case-insensitively;
//   - resources: "*" or ARNs, with the wildcards * and ? (case-sensitive), policy variables
//     (${cognito-identity.amazonaws.com:sub}, ${cognito-identity.amazonaws.com:aud},
//     ${aws:PrincipalTag/<tag>}, ${aws:SourceIp}, each with an optional default:
//     ${aws:PrincipalTag/team, 'none'}) and the escapes ${*}, ${?} and ${$};
//   - conditions: the operators StringEquals, StringNotEquals, StringEqualsIgnoreCase,
//     StringNotEqualsIgnoreCase, StringLike, StringNotLike (values may hold policy variables),
//     IpAddress, NotIpAddress, Bool, each with IfExists, ForAnyValue: and ForAllValues: on the String
//     ones, and Null; on the keys cognito-identity.amazonaws.com:sub (the identity id),
//     cognito-identity.amazonaws.com:aud (the identity pool id), cognito-identity.amazonaws.com:amr
//     (multivalued, so only with ForAnyValue: or ForAllValues:), aws:PrincipalTag/<tag>, aws:SourceIp
//     (the client's address as the gateway trusts it) and aws:SecureTransport (whether the request
//     reached the gateway over TLS: false behind a proxy that terminates TLS).
//
// Errors wrap ErrInvalidPolicyDocument.
func ParsePolicyDocument(name string, data []byte) (*PolicyDocument, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrInvalidPolicyDocument, name, fmt.Sprintf(format, args...))
	}
	if len(data) > maxPolicyDocumentBytes {
		return nil, fail("larger than %d bytes", maxPolicyDocumentBytes)
	}
	v, err := decodeStrictJSON(data)
	if err != nil {
		return nil, fail("%v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fail("not a JSON object")
	}
	for _, key := range sortedKeys(doc) {
		switch key {
		case "Version", "Id", "Statement":
		default:
			return nil, fail("unknown key %.64q (want Version, Id, Statement)", key)
		}
	}
	switch version := doc["Version"]; version {
	case "2012-10-17":
	case nil:
		return nil, fail(`no "Version": want "2012-10-17" (the policy language with policy variables)`)
	default:
		return nil, fail(`"Version" %.32v: want "2012-10-17" (the policy language with policy variables)`, version)
	}
	if id, ok := doc["Id"]; ok {
		if s, ok := id.(string); !ok || !validUTF8Text(s) {
			return nil, fail(`"Id" must be a string`)
		}
	}
	var list []any
	switch s := doc["Statement"].(type) {
	case map[string]any:
		list = []any{s}
	case []any:
		list = s
	case nil:
		return nil, fail(`no "Statement"`)
	default:
		return nil, fail(`"Statement" must be an object or a list of objects`)
	}
	if len(list) == 0 || len(list) > maxStatements {
		return nil, fail(`"Statement" must hold 1 to %d statements, not %d`, maxStatements, len(list))
	}
	d := &PolicyDocument{name: name}
	sids := map[string]bool{}
	for i, raw := range list {
		where := fmt.Sprintf("statement %d", i+1)
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, fail("%s: not an object", where)
		}
		if sid, ok := obj["Sid"].(string); ok && sid != "" {
			where += fmt.Sprintf(" (%.64s)", sid)
			if sids[sid] {
				return nil, fail("%s: Sid %q is used twice", where, sid)
			}
			sids[sid] = true
		}
		s, err := parseStatement(obj)
		if err != nil {
			return nil, fail("%s: %v", where, err)
		}
		s.id = name + " " + where
		d.statements = append(d.statements, s)
	}
	return d, nil
}

func parseStatement(obj map[string]any) (iamStatement, error) {
	var s iamStatement
	for _, key := range sortedKeys(obj) {
		switch key {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return s, fmt.Errorf("%q: a role's policy is identity-based and names no principal", key)
		default:
			return s, fmt.Errorf("unknown key %.64q (want Sid, Effect, Action or NotAction, Resource or NotResource, Condition)", key)
		}
	}
	if sid, ok := obj["Sid"]; ok {
		if text, ok := sid.(string); !ok || len(text) > 128 || !validUTF8Text(text) {
			return s, errors.New(`"Sid" must be a string of at most 128 characters`)
		}
	}
	switch effect := obj["Effect"]; effect {
	case "Allow", "Deny":
		s.effect = effect.(string)
	case nil:
		return s, errors.New(`no "Effect" (want Allow or Deny)`)
	default:
		return s, fmt.Errorf(`"Effect" %.32v: want Allow or Deny`, effect)
	}

	actionKey, err := oneOf(obj, "Action", "NotAction")
	if err != nil {
		return s, err
	}
	s.notAction = actionKey == "NotAction"
	actions, err := stringElement(obj[actionKey], actionKey)
	if err != nil {
		return s, err
	}
	for _, a := range actions {
		g, err := actionRegex(a)
		if err != nil {
			return s, fmt.Errorf("%s: %w", actionKey, err)
		}
		s.actions = append(s.actions, g)
	}

	resourceKey, err := oneOf(obj, "Resource", "NotResource")
	if err != nil {
		return s, err
	}
	s.notResource = resourceKey == "NotResource"
	resources, err := stringElement(obj[resourceKey], resourceKey)
	if err != nil {
		return s, err
	}
	for _, r := range resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return s, fmt.Errorf("%s %.64q: want * or an ARN (arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>)", resourceKey, r)
		}
		p, err := parsePattern(r, true, true)
		if err != nil {
			return s, fmt.Errorf("%s: %w", resourceKey, err)
		}
		s.resources = append(s.resources, p)
	}

	if raw, ok := obj["Condition"]; ok {
		if s.conditions, err = parseConditions(raw); err != nil {
			return s, fmt.Errorf("Condition: %w", err)
		}
	}
	return s, nil
}

// oneOf returns which of the two keys obj has; exactly one is required.
func oneOf(obj map[string]any, a, b string) (string, error) {
	_, hasA := obj[a]
	_, hasB := obj[b]
	switch {
	case hasA && hasB:
		return "", fmt.Errorf("both %q and %q: give one", a, b)
	case hasA:
		return a, nil
	case hasB:
		return b, nil
	}
	return "", fmt.Errorf("no %q (or %q)", a, b)
}

// stringElement reads an element that is a string or a non-empty list of strings.
func stringElement(v any, what string) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		if len(v) == 0 || len(v) > maxElementValues {
			return nil, fmt.Errorf("%q must hold 1 to %d values, not %d", what, maxElementValues, len(v))
		}
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%q must hold strings", what)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%q must be a string or a list of strings", what)
}

// actionRegex validates an action pattern and returns its expression body, lowercase: actions
// compare case-insensitively.
func actionRegex(a string) (string, error) {
	service, name, found := strings.Cut(a, ":")
	valid := a == "*" || (found && service != "" && name != "")
	for _, c := range []byte(a) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == ':' || c == '*' || c == '?') {
			valid = false
		}
	}
	if !valid || len(a) > 256 {
		return "", fmt.Errorf("%.64q is not an action: want * or <service>:<action>, e.g. execute-api:Invoke", a)
	}
	p, err := parsePattern(strings.ToLower(a), true, false)
	if err != nil {
		return "", err
	}
	return p.regexBody(nil), nil
}

// parseConditions reads a Condition block: {"<operator>": {"<key>": <value or values>}}.
func parseConditions(raw any) ([]iamCondition, error) {
	block, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("must be an object of operators")
	}
	var out []iamCondition
	for _, op := range sortedKeys(block) {
		keys, ok := block[op].(map[string]any)
		if !ok || len(keys) == 0 {
			return nil, fmt.Errorf("%s: must be a non-empty object of condition keys", op)
		}
		base, set, ifExists, err := parseOperator(op)
		if err != nil {
			return nil, err
		}
		for _, rawKey := range sortedKeys(keys) {
			c, err := parseCondition(base, set, ifExists, rawKey, keys[rawKey])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			if out = append(out, c); len(out) > maxConditions {
				return nil, fmt.Errorf("more than %d conditions", maxConditions)
			}
		}
	}
	return out, nil
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its operator, set qualifier and IfExists.
func parseOperator(op string) (base, set string, ifExists bool, err error) {
	base = op
	for _, qualifier := range []string{"ForAnyValue", "ForAllValues"} {
		if rest, ok := strings.CutPrefix(base, qualifier+":"); ok {
			base, set = rest, qualifier
		}
	}
	if rest, ok := strings.CutSuffix(base, "IfExists"); ok && rest != "Null" {
		base, ifExists = rest, true
	}
	typ, known := iamOperators[base]
	switch {
	case !known:
		return "", "", false, fmt.Errorf("condition operator %.64q is not supported (supported: %s)", op, supportedOperators)
	case set != "" && typ != typeString:
		return "", "", false, fmt.Errorf("condition operator %s: %s applies to the String operators only", op, set)
	}
	return base, set, ifExists, nil
}

func parseCondition(operator, set string, ifExists bool, rawKey string, raw any) (iamCondition, error) {
	key, typ, multivalued, err := contextKey(rawKey)
	if err != nil {
		return iamCondition{}, err
	}
	c := iamCondition{operator: operator, set: set, ifExists: ifExists, key: key, typ: typ}
	opType := iamOperators[operator]
	switch {
	case operator == "Null":
		if ifExists {
			return c, errors.New("Null takes no IfExists")
		}
		opType = typeBool // its values: true (the key is absent) or false
	case opType != typ:
		return c, fmt.Errorf("%s is a %s key: %s compares %s values", rawKey, typ, operator, opType)
	case multivalued && set == "":
		return c, fmt.Errorf("%s is multivalued: use ForAnyValue:%s or ForAllValues:%s", rawKey, operator, operator)
	}
	var values []any
	switch v := raw.(type) {
	case []any:
		values = v
	default:
		values = []any{v}
	}
	if len(values) == 0 || len(values) > maxElementValues {
		return c, fmt.Errorf("%s: 1 to %d values, not %d", rawKey, maxElementValues, len(values))
	}
	for _, v := range values {
		cv, err := conditionValue(opType, strings.HasSuffix(operator, "Like"), v)
		if err != nil {
			return c, fmt.Errorf("%s: %w", rawKey, err)
		}
		c.values = append(c.values, cv)
	}
	return c, nil
}

// conditionValue converts one value of a condition for an operator comparing values of type typ.
func conditionValue(typ string, like bool, v any) (any, error) {
	text, ok := scalarText(v)
	if !ok {
		return nil, fmt.Errorf("values must be strings, numbers or booleans, not %T", v)
	}
	switch typ {
	case typeIP:
		if prefix, err := netip.ParsePrefix(text); err == nil {
			return prefix.Masked().String(), nil
		}
		addr, err := netip.ParseAddr(text)
		if err != nil || addr.Zone() != "" {
			return nil, fmt.Errorf("%.64q is neither an IP address nor a CIDR", text)
		}
		return netip.PrefixFrom(addr, addr.BitLen()).String(), nil
	case typeBool:
		switch strings.ToLower(text) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%.64q is not true or false", text)
	}
	return parsePattern(text, like, true)
}

// scalarText is a JSON string, number or boolean as text, as IAM reads condition values.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case fmt.Stringer: // json.Number
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// ExecuteAPI names the API requests are authorized against, as API Gateway builds the resource ARN
// of a request: arn:<partition>:execute-api:<Region>:<Account>:<APIID>/<Stage>/<METHOD>/<path>, the
// method in upper case (a Deny on GET also stops a "get" that an upstream may read as GET), the path
// decoded and without its leading slash. The partition follows from the region (aws, aws-cn for
// cn-*, aws-us-gov for us-gov-*).
type ExecuteAPI struct {
	// Region, e.g. us-east-1: the identity pool's. Required.
	Region string
	// Account is the 12-digit AWS account id. Default: the account of the roles, when they all have
	// the same.
	Account string
	// APIID is the API id, e.g. abc123xyz9. Default: DefaultAPIID.
	APIID string
	// Stage is the stage name, e.g. prod. Default: DefaultStage.
	Stage string
}

// RolePolicy attaches IAM policy documents to the role identity-pool credentials are issued for.
type RolePolicy struct {
	// RoleARN is the role, exactly as the identity pool gives it, e.g.
	// arn:aws:iam::123456789012:role/orders-guest.
	RoleARN string
	// Documents are the role's policies; their statements are evaluated together.
	Documents []*PolicyDocument
}

// WithRolePolicies returns a copy of r (nil: a route without requirements) whose identity-pool
// callers are decided by the IAM policy documents of their role, as IAM decides a request to API
// Gateway with IAM authorization: execute-api:Invoke on the request's resource ARN (see ExecuteAPI),
// the decoded path the upstream receives; an explicit Deny wins over an Allow, and a request no
// statement allows is denied, as is every request of a role that has no policy here (guests included:
// they carry the unauthenticated role). Token callers keep r's groups, scopes and claim rules.
//
// Resource patterns are compiled for the API: the header segments (partition, service, region,
// account) are matched one by one, so a pattern for another account, region or service never matches
// whatever the path; in the API part `*` matches any run of characters, `/` included, as in IAM (so
// `abc123/*/GET/*` also matches POST /x/GET/y: spell the stage and method out). Errors (a role ARN
// that is not one, a variable in a header segment, an unresolvable account) wrap
// ErrInvalidPolicyDocument where they concern a document.
func (r *Rules) WithRolePolicies(api ExecuteAPI, roles []RolePolicy) (*Rules, error) {
	if len(roles) > maxRolePolicies {
		return nil, fmt.Errorf("role policies: %d roles, at most %d", len(roles), maxRolePolicies)
	}
	accounts := map[string]bool{}
	for _, role := range roles {
		arn, err := identity.ParseRoleARN(role.RoleARN)
		if err != nil {
			return nil, fmt.Errorf("role policy: %w", err)
		}
		accounts[arn.Account] = true
	}
	header, err := api.header(accounts)
	if err != nil {
		return nil, err
	}
	compiled := map[string]any{}
	for _, role := range roles {
		if len(role.Documents) == 0 {
			return nil, fmt.Errorf("role policy for %s: no policy document", role.RoleARN)
		}
		list, _ := compiled[role.RoleARN].([]any)
		for _, doc := range role.Documents {
			if doc == nil {
				return nil, fmt.Errorf("role policy for %s: nil policy document", role.RoleARN)
			}
			for _, s := range doc.statements {
				v, err := s.compile(header)
				if err != nil {
					return nil, fmt.Errorf("%w %s: %s: %v", ErrInvalidPolicyDocument, doc.name, strings.TrimPrefix(s.id, doc.name+" "), err)
				}
				list = append(list, v)
			}
		}
		if len(list) > maxRoleStatements {
			return nil, fmt.Errorf("role policy for %s: %d statements, at most %d", role.RoleARN, len(list), maxRoleStatements)
		}
		compiled[role.RoleARN] = list
	}
	iam := map[string]any{
		"resource_prefix": strings.Join(header[:], ":") + ":" + api.apiID() + "/" + api.stage() + "/",
		"roles":           compiled,
	}
	base := r
	if base == nil {
		base = &Rules{}
	}
	if base.anyRole {
		return nil, errors.New("role policies: the route lets any role through (WithAnyRole), which they would contradict")
	}
	term, err := ast.InterfaceToValue(iam)
	if err != nil {
		return nil, fmt.Errorf("role policies: %w", err)
	}
	out := &Rules{groups: base.groups, scopes: base.scopes, claims: base.claims, use: base.use.or(iamUse), iam: ast.NewTerm(term)}
	out.config = configTerm(out.groups, out.scopes, out.claims, out.iam, false)
	return out, nil
}

// compile is the statement in the form data.cognito.iam evaluates.
func (s iamStatement) compile(header [5]string) (map[string]any, error) {
	vars := &varTable{}
	var resources []string
	resource := format{}
	for _, p := range s.resources {
		bodies, err := resourceBodies(p, header, vars)
		if err != nil {
			return nil, err
		}
		resource.variables = resource.variables || p.hasVariables()
		for _, b := range bodies {
			if !slices.Contains(resources, b) {
				resources = append(resources, b)
			}
		}
	}
	resource.text = anchored(resources)
	conditions := make([]any, len(s.conditions))
	formats := make([]format, len(s.conditions)) // of the String conditions' values
	for i, c := range s.conditions {
		if c.operator == "Null" || c.typ != typeString {
			continue
		}
		bodies := make([]string, len(c.values))
		for j, v := range c.values {
			bodies[j] = v.(pattern).regexBody(vars)
			formats[i].variables = formats[i].variables || v.(pattern).hasVariables()
		}
		formats[i].text = anchored(bodies)
	}
	// Every placeholder is now numbered: the formats can be finished.
	withVariables := len(vars.list) > 0
	plain := !withVariables && len(s.conditions) == 0
	for i, c := range s.conditions {
		var values any = append([]any{}, c.values...)
		if formats[i].text != "" {
			values = formats[i].finish(plain, withVariables)
		}
		conditions[i] = map[string]any{"operator": c.operator, "set": c.set, "if_exists": c.ifExists, "key": c.key, "values": values}
	}
	return map[string]any{
		"id": s.id, "effect": s.effect,
		"action": anchored(s.actions), "not_action": s.notAction,
		"resource": resource.finish(plain, withVariables), "not_resource": s.notResource,
		"condition": conditions,
		"vars":      append([]any{}, vars.list...),
		"plain":     plain,
	}, nil
}

// format is a compiled pattern, a sprintf format over its statement's variables.
type format struct {
	text      string
	variables bool // it uses one
}

// finish returns the pattern. In a plain statement (no variables, no conditions) it is an expression:
// its doubled `%` (the only ones it has) are undone. Otherwise it is a sprintf format over the
// statement's variables, and one that uses none consumes them without printing them (sprintf would
// append them).
func (f format) finish(plain, statementVariables bool) string {
	switch {
	case plain:
		return strings.ReplaceAll(f.text, "%%", "%")
	case statementVariables && !f.variables:
		return f.text + noVariables
	}
	return f.text
}

// header returns the ARN's header segments for the API: arn, partition, execute-api, region, account.
// accounts are the accounts of the roles, the default account when they are one.
func (a ExecuteAPI) header(accounts map[string]bool) ([5]string, error) {
	if a.Region == "" || len(a.Region) > 32 || strings.Trim(a.Region, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return [5]string{}, fmt.Errorf("execute-api: region %.64q is not an AWS region", a.Region)
	}
	account := a.Account
	if account == "" {
		if len(accounts) != 1 {
			return [5]string{}, fmt.Errorf("execute-api: give the account id: the roles are in %d accounts", len(accounts))
		}
		for account = range accounts {
		}
	}
	if !identity.IsAccountID(account) {
		return [5]string{}, fmt.Errorf("execute-api: account %.64q is not a 12-digit account id", account)
	}
	for _, f := range []struct{ what, v string }{{"API id", a.apiID()}, {"stage", a.stage()}} {
		if len(f.v) > 128 || strings.Trim(f.v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.$") != "" {
			return [5]string{}, fmt.Errorf("execute-api: %s %.64q: want letters, digits, -, _, . or $", f.what, f.v)
		}
	}
	partition := "aws"
	switch {
	case strings.HasPrefix(a.Region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(a.Region, "us-gov-"):
		partition = "aws-us-gov"
	}
	return [5]string{"arn", partition, "execute-api", a.Region, account}, nil
}

func (a ExecuteAPI) apiID() string {
	if a.APIID == "" {
		return DefaultAPIID
	}
	return a.APIID
}

func (a ExecuteAPI) stage() string {
	if a.Stage == "" {
		return DefaultStage
	}
	return a.Stage
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
