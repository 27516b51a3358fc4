package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"golang.org/x/net/http/httpguts"
)

// Errors of Decide, for errors.Is. Each comes wrapped with the policy and the decision it concerns.
// The caller fails closed: ErrBadRequest is the client's fault (400), every other error is the
// gateway's (5xx), and none is ever an allow.
var (
	// ErrBadRequest: the request cannot be put in the policy input as sent (a path that is not
	// normalized, a malformed or oversized query).
	ErrBadRequest = errors.New("request cannot be decided on")
	// ErrEvaluation: the policy failed while evaluating (a conflict between rules, a built-in error
	// with strict built-in errors, a cancelled context).
	ErrEvaluation = errors.New("policy evaluation failed")
	// ErrUndefined: the policy does not define the decision for this input.
	ErrUndefined = errors.New("decision is undefined")
	// ErrDecisionType: the decision is neither a boolean nor a well-formed decision object.
	ErrDecisionType = errors.New("decision is malformed")
	// ErrUnavailable: no good policy has been loaded yet (the bundles OPA's configuration names have
	// not all activated once), so there is nothing to decide with: the caller answers 503. The
	// embedded built-in policy does not stand in for a bundle, or a bundle that never arrived would
	// open the API to every caller.
	ErrUnavailable = errors.New("no policy loaded yet")
	// ErrMissingDecision: a bundle does not define the configured decision. OPA refuses to activate
	// it and keeps deciding with the last good policy, as for a bundle that does not compile.
	ErrMissingDecision = errors.New("bundle does not define the decision")
)

// Decision is the policy's answer for one request.
type Decision struct {
	// Allow lets the request through.
	Allow bool
	// Status is the response status of a deny: 401, 403 (the default) or any 4xx/5xx the policy
	// chose. It is 200 on an allow.
	Status int
	// Reason is the policy's explanation of a deny, for the log (never for the client). At most
	// 512 bytes.
	Reason string
	// Rule names, in a few characters, what decided: the built-in policy sets "authentication",
	// "groups", "scopes" (map it to error="insufficient_scope"), "claims" or "iam" on a deny; your policy
	// may set any short name (letters, digits, "_", "-", ".", ":"). Bounded, so it suits a metrics
	// label; empty when the policy did not say.
	Rule string
	// Headers go to the upstream on an allow (the caller strips client-sent X-Cognito-* first and
	// decides which names it refuses to take from a policy). Names are canonical and valid, values
	// free of control characters.
	Headers map[string]string
}

// The built-in policy's rules (Decision.Rule) of a deny.
const (
	RuleAuthentication = "authentication"
	RuleGroups         = "groups"
	RuleScopes         = "scopes"
	RuleClaims         = "claims"
	// RuleIAM is a deny of an identity-pool caller by its role's policies (Rules.WithRolePolicies).
	RuleIAM = "iam"
)

// Limits on what a policy may return, so a runaway policy cannot flood the upstream or the log.
const (
	maxReason      = 512
	maxRule        = 64
	maxHeaders     = 32
	maxHeaderValue = 4096
)

var decisionAllow = ast.InternedTerm("allow")

// parseDecision reads and validates the decision: a boolean, or an object with a boolean "allow" and
// optional "status", "reason", "rule" and "headers". Unknown keys are refused, so that a misspelled
// "header" does not silently drop what the policy meant to send.
func parseDecision(v ast.Value) (Decision, error) {
	switch v := v.(type) {
	case ast.Boolean:
		if v {
			return Decision{Allow: true, Status: http.StatusOK}, nil
		}
		return Decision{Status: http.StatusForbidden}, nil
	case ast.Object:
		return parseDecisionObject(v)
	default:
		return Decision{}, fmt.Errorf("%w: got %s, want a boolean or an object", ErrDecisionType, ast.ValueName(v))
	}
}

func parseDecisionObject(obj ast.Object) (Decision, error) {
	var d Decision
	allow := obj.Get(decisionAllow)
	if allow == nil {
		return Decision{}, fmt.Errorf("%w: object without \"allow\"", ErrDecisionType)
	}
	b, ok := allow.Value.(ast.Boolean)
	if !ok {
		return Decision{}, fmt.Errorf("%w: \"allow\" must be a boolean, got %s", ErrDecisionType, ast.ValueName(allow.Value))
	}
	d.Allow = bool(b)
	err := obj.Iter(func(k, v *ast.Term) error {
		key, _ := k.Value.(ast.String)
		switch string(key) {
		case "allow":
			return nil
		case "status":
			return d.setStatus(v.Value)
		case "reason":
			s, ok := v.Value.(ast.String)
			if !ok {
				return fmt.Errorf("\"reason\" must be a string, got %s", ast.ValueName(v.Value))
			}
			d.Reason = truncate(string(s), maxReason)
			return nil
		case "rule":
			return d.setRule(v.Value)
		case "headers":
			return d.setHeaders(v.Value)
		default:
			return fmt.Errorf("unknown key %.32s (want allow, status, reason, rule, headers)", k)
		}
	})
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrDecisionType, err)
	}
	switch {
	case d.Status == 0 && d.Allow:
		d.Status = http.StatusOK
	case d.Status == 0:
		d.Status = http.StatusForbidden
	case d.Allow && d.Status != http.StatusOK:
		return Decision{}, fmt.Errorf("%w: \"status\" %d on an allow (a status belongs to a deny)", ErrDecisionType, d.Status)
	case !d.Allow && (d.Status < 400 || d.Status > 599):
		return Decision{}, fmt.Errorf("%w: \"status\" %d on a deny, want 400-599", ErrDecisionType, d.Status)
	}
	return d, nil
}

func (d *Decision) setStatus(v ast.Value) error {
	n, ok := v.(ast.Number)
	if !ok {
		return fmt.Errorf("\"status\" must be a number, got %s", ast.ValueName(v))
	}
	status, ok := n.Int()
	if !ok || status < 100 || status > 599 {
		return fmt.Errorf("\"status\" %.16s is not an HTTP status", n.String())
	}
	d.Status = status
	return nil
}

func (d *Decision) setRule(v ast.Value) error {
	s, ok := v.(ast.String)
	if !ok {
		return fmt.Errorf("\"rule\" must be a string, got %s", ast.ValueName(v))
	}
	if len(s) == 0 || len(s) > maxRule {
		return fmt.Errorf("\"rule\" must have 1 to %d characters", maxRule)
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':') {
			return fmt.Errorf("\"rule\" %.64q has a character other than letters, digits, _ - . :", string(s))
		}
	}
	d.Rule = string(s)
	return nil
}

// setHeaders validates the headers a policy sends upstream: names must be HTTP tokens, values free of
// CR, LF and other control characters (header injection), each at most 4 KiB, at most 32 headers,
// and no two names may be the same header. Messages name the header but never quote a value, which
// may carry data a policy took from its own documents.
func (d *Decision) setHeaders(v ast.Value) error {
	obj, ok := v.(ast.Object)
	if !ok {
		return fmt.Errorf("\"headers\" must be an object, got %s", ast.ValueName(v))
	}
	if obj.Len() > maxHeaders {
		return fmt.Errorf("\"headers\" has %d entries, at most %d", obj.Len(), maxHeaders)
	}
	headers := make(map[string]string, obj.Len())
	err := obj.Iter(func(k, v *ast.Term) error {
		name, ok := k.Value.(ast.String)
		if !ok || !httpguts.ValidHeaderFieldName(string(name)) {
			return fmt.Errorf("\"headers\": invalid header name %.64s", k)
		}
		value, ok := v.Value.(ast.String)
		if !ok {
			return fmt.Errorf("\"headers\": value of %s must be a string, got %s", name, ast.ValueName(v.Value))
		}
		if len(value) > maxHeaderValue {
			return fmt.Errorf("\"headers\": value of %s is longer than %d bytes", name, maxHeaderValue)
		}
		if !httpguts.ValidHeaderFieldValue(string(value)) {
			return fmt.Errorf("\"headers\": value of %s contains a control character", name)
		}
		canonical := textproto.CanonicalMIMEHeaderKey(string(name))
		if _, dup := headers[canonical]; dup {
			return fmt.Errorf("\"headers\": %s is given twice", canonical)
		}
		headers[canonical] = string(value)
		return nil
	})
	if err != nil {
		return err
	}
	if len(headers) > 0 {
		d.Headers = headers
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
