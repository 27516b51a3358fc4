package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// An IAM pattern (a resource, an action, a condition value) is read into atoms: literal text, the
// wildcards `*` and `?`, and policy variables. Literal text never holds a wildcard: `${*}`, `${?}` and
// `${$}` (and, where wildcards mean nothing, `*` and `?` themselves) become literal characters.

type atomKind uint8

const (
	atomText atomKind = iota
	atomAny           // * : any run of characters, / and : included
	atomOne           // ? : one character
	atomVar           // ${key} or ${key, 'default'}
)

type atom struct {
	kind atomKind
	text string // atomText: the text; atomVar: the context key, lowercase
	// A variable's default value, used when the request has no value for the key.
	def    string
	hasDef bool
}

type pattern []atom

// Limits on one pattern, so that a policy cannot make matching slow.
const (
	maxPatternBytes = 2048
	maxWildcards    = 16
)

// parsePattern reads an IAM pattern. With wildcards, `*` and `?` are wildcards (resources, actions,
// String*Like values); without, they are literal (String*Equals values). Policy variables are allowed
// only with vars.
func parsePattern(s string, wildcards, vars bool) (pattern, error) {
	switch {
	case s == "":
		return nil, errors.New("empty")
	case len(s) > maxPatternBytes:
		return nil, fmt.Errorf("longer than %d bytes", maxPatternBytes)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return nil, fmt.Errorf("%.64q contains a control character", s)
	}
	var p pattern
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			p = append(p, atom{kind: atomText, text: text.String()})
			text.Reset()
		}
	}
	stars := 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case wildcards && (c == '*' || c == '?'):
			flush()
			if stars++; stars > maxWildcards {
				return nil, fmt.Errorf("%.64q has more than %d wildcards", s, maxWildcards)
			}
			kind := atomAny
			if c == '?' {
				kind = atomOne
			}
			p = append(p, atom{kind: kind})
			i++
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			v, n, err := parseVariable(s[i:])
			if err != nil {
				return nil, fmt.Errorf("%.64q: %w", s, err)
			}
			i += n
			if v.kind == atomText {
				text.WriteString(v.text)
				continue
			}
			if !vars {
				return nil, fmt.Errorf("%.64q: policy variables are not allowed here", s)
			}
			flush()
			p = append(p, v)
		default:
			text.WriteByte(c)
			i++
		}
	}
	flush()
	return p, nil
}

// parseVariable reads the `${...}` at the start of s and returns it (an escape as literal text) with
// its length.
func parseVariable(s string) (atom, int, error) {
	for _, esc := range []string{"${*}", "${?}", "${$}"} {
		if strings.HasPrefix(s, esc) {
			return atom{kind: atomText, text: esc[2:3]}, len(esc), nil
		}
	}
	end := strings.IndexAny(s, ",}")
	if end < 0 {
		return atom{}, 0, errors.New("unterminated policy variable")
	}
	key, err := variableKey(s[2:end])
	if err != nil {
		return atom{}, 0, err
	}
	v := atom{kind: atomVar, text: key}
	if s[end] == '}' {
		return v, end + 1, nil
	}
	// ${key, 'default'}: spaces around the quoted default are ignored.
	rest := strings.TrimLeft(s[end+1:], " ")
	if !strings.HasPrefix(rest, "'") {
		return atom{}, 0, fmt.Errorf("policy variable %s: want ${%s, 'default value'}", key, key)
	}
	closing := strings.IndexByte(rest[1:], '\'')
	if closing < 0 {
		return atom{}, 0, fmt.Errorf("policy variable %s: unterminated default value", key)
	}
	v.def, v.hasDef = rest[1:1+closing], true
	after := strings.TrimLeft(rest[2+closing:], " ")
	if !strings.HasPrefix(after, "}") {
		return atom{}, 0, fmt.Errorf("policy variable %s: want } after the default value", key)
	}
	return v, len(s) - len(after) + 1, nil
}

// The context keys the gateway gives a value, lowercase (context keys are case-insensitive).
const (
	keySub             = "cognito-identity.amazonaws.com:sub"
	keyAud             = "cognito-identity.amazonaws.com:aud"
	keyAMR             = "cognito-identity.amazonaws.com:amr"
	keySourceIP        = "aws:sourceip"
	keySecureTransport = "aws:securetransport"
	keyPrincipalTag    = "aws:principaltag/"
)

// The types of the context keys' values, as the operators need them.
const (
	typeString = "string"
	typeIP     = "ip"
	typeBool   = "bool"
)

const knownKeys = "cognito-identity.amazonaws.com:sub, cognito-identity.amazonaws.com:aud, " +
	"cognito-identity.amazonaws.com:amr, aws:PrincipalTag/<tag>, aws:SourceIp, aws:SecureTransport"

// contextKey returns the canonical form of a condition key, the type of its values, and whether it
// is multivalued. An unknown key is an error: treating it as absent would make negated operators
// hold.
func contextKey(raw string) (key, typ string, multivalued bool, err error) {
	key = strings.ToLower(strings.TrimSpace(raw))
	switch key {
	case keySub, keyAud:
		return key, typeString, false, nil
	case keyAMR:
		return key, typeString, true, nil
	case keySourceIP:
		return key, typeIP, false, nil
	case keySecureTransport:
		return key, typeBool, false, nil
	}
	if tag, ok := strings.CutPrefix(key, keyPrincipalTag); ok {
		if tag == "" || len(tag) > 128 {
			return "", "", false, fmt.Errorf("condition key %.64q: a tag name has 1 to 128 characters", raw)
		}
		return key, typeString, false, nil
	}
	return "", "", false, fmt.Errorf("unknown condition key %.64q (the gateway knows %s)", raw, knownKeys)
}

// variableKey returns the canonical key of a policy variable: a single-valued context key.
func variableKey(raw string) (string, error) {
	key, _, multivalued, err := contextKey(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("policy variable: %w", err)
	case multivalued:
		return "", fmt.Errorf("policy variable ${%s}: a multivalued key cannot be a variable", raw)
	case key == keySecureTransport:
		return "", fmt.Errorf("policy variable ${%s}: a boolean key cannot be a variable", raw)
	}
	return key, nil
}

// hasVariables reports whether p has a policy variable.
func (p pattern) hasVariables() bool {
	return slices.ContainsFunc(p, func(a atom) bool { return a.kind == atomVar })
}

// varTable numbers the policy variables of one statement. Patterns are sprintf formats over their
// values: the nth distinct variable is `\Q%[n]s\E` (its value quoted: the evaluator splits any `\E`
// out of it), and a literal `%` is `%%`.
type varTable struct {
	index map[atom]int
	list  []any
}

func (t *varTable) placeholder(a atom) string {
	n, ok := t.index[a]
	if !ok {
		if t.index == nil {
			t.index = map[atom]int{}
		}
		t.list = append(t.list, map[string]any{"key": a.text})
		if a.hasDef {
			t.list[len(t.list)-1].(map[string]any)["default"] = a.def
		}
		n = len(t.list)
		t.index[a] = n
	}
	return `\Q%[` + strconv.Itoa(n) + `]s\E`
}

// noVariables is appended to a pattern without variables in a statement with some, so that sprintf
// consumes the statement's values without printing them (fmt would otherwise append them).
const noVariables = "%.0[1]s"

// Patterns are compiled to anchored RE2 expressions, which match in time linear in the input: a
// glob engine backtracks, and a long request path against a pattern with a few wildcards would cost
// seconds.
const (
	regexStart = "(?s)^" // `.` matches any character, newline included
	regexEnd   = "$"
)

// anchored joins the bodies of patterns into one anchored expression matching what any of them
// matches; with none, an expression that matches no resource, action or value (only the empty
// string).
func anchored(bodies []string) string {
	switch len(bodies) {
	case 0:
		return regexStart + regexEnd
	case 1:
		return regexStart + bodies[0] + regexEnd
	}
	return regexStart + "(?:" + strings.Join(bodies, "|") + ")" + regexEnd
}

// regexBody writes p as a regular expression in a sprintf format: literal text escaped (and `%`
// doubled), `*` as `.*`, `?` as `.`, variables as placeholders of vars.
func (p pattern) regexBody(vars *varTable) string {
	var b strings.Builder
	for _, a := range p {
		switch a.kind {
		case atomText:
			b.WriteString(quoteText(a.text))
		case atomAny:
			b.WriteString(".*")
		case atomOne:
			b.WriteByte('.')
		case atomVar:
			b.WriteString(vars.placeholder(a))
		}
	}
	return b.String()
}

// splitSegments splits p at its first n-1 colons of literal text (an ARN's segments; the last holds
// the rest, colons included).
func splitSegments(p pattern, n int) []pattern {
	segments := []pattern{nil}
	for _, a := range p {
		if a.kind != atomText {
			segments[len(segments)-1] = append(segments[len(segments)-1], a)
			continue
		}
		text := a.text
		for len(segments) < n {
			before, after, found := strings.Cut(text, ":")
			if !found {
				break
			}
			if before != "" {
				segments[len(segments)-1] = append(segments[len(segments)-1], atom{kind: atomText, text: before})
			}
			segments = append(segments, nil)
			text = after
		}
		if text != "" {
			segments[len(segments)-1] = append(segments[len(segments)-1], atom{kind: atomText, text: text})
		}
	}
	return segments
}

// step is one position of a pattern without variables: a character, `*` or `?`.
type step struct {
	kind atomKind
	r    rune
}

func stepsOf(p pattern) []step {
	var st []step
	for _, a := range p {
		if a.kind != atomText {
			st = append(st, step{kind: a.kind})
			continue
		}
		for _, r := range a.text {
			st = append(st, step{kind: atomText, r: r})
		}
	}
	return st
}

// derive returns the positions of st that matching s can end at: st[i:] for each is what must match
// what follows s. The pattern matches s exactly when len(st) is among them.
func derive(st []step, s string) []int {
	closure := func(set map[int]bool) map[int]bool {
		for i := 0; i < len(st); i++ { // in order: a run of stars closes in one pass
			if set[i] && st[i].kind == atomAny {
				set[i+1] = true
			}
		}
		return set
	}
	set := closure(map[int]bool{0: true})
	for _, r := range s {
		next := map[int]bool{}
		for i := range set {
			if i == len(st) {
				continue
			}
			switch st[i].kind {
			case atomAny:
				next[i] = true
			case atomOne:
				next[i+1] = true
			default:
				if st[i].r == r {
					next[i+1] = true
				}
			}
		}
		if set = closure(next); len(set) == 0 {
			return nil
		}
	}
	positions := make([]int, 0, len(set))
	for i := range set {
		positions = append(positions, i)
	}
	slices.Sort(positions)
	return positions
}

func matchesAll(st []step, s string) bool {
	return slices.Contains(derive(st, s), len(st))
}

// patternOf turns steps back into a pattern.
func patternOf(st []step) pattern {
	var p pattern
	var text strings.Builder
	for _, s := range st {
		if s.kind == atomText {
			text.WriteRune(s.r)
			continue
		}
		if text.Len() > 0 {
			p = append(p, atom{kind: atomText, text: text.String()})
			text.Reset()
		}
		p = append(p, atom{kind: s.kind})
	}
	if text.Len() > 0 {
		p = append(p, atom{kind: atomText, text: text.String()})
	}
	return p
}

// resourceBodies compiles a resource pattern for the route's ARN header (arn, partition, service,
// region, account), returning the expressions (unanchored) over the whole resource ARN that together
// match what the pattern matches; none when it can never match (another service, region or account).
//
// The header segments are matched one by one, a wildcard staying within its segment, as IAM
// recommends reading them: `arn:aws:execute-api:*:111111111111:...` never matches another account,
// whatever the request path holds. After the account, in the API part, `*` matches any run of
// characters, `/` and `:` included. A pattern with fewer than six segments has its last segment
// matched against the rest of the ARN, so `*` and `arn:aws:execute-api:*` match everything.
func resourceBodies(p pattern, header [5]string, vars *varTable) ([]string, error) {
	segments := splitSegments(p, 6)
	last := len(segments) - 1
	for i := 0; i < last && i < 5; i++ {
		if segments[i].hasVariables() {
			return nil, errors.New("a policy variable can only appear after the account, in <api>/<stage>/<method>/<path>")
		}
		if !matchesAll(stepsOf(segments[i]), header[i]) {
			return nil, nil
		}
	}
	prefix := quoteText(strings.Join(header[:], ":") + ":")
	if last == 5 {
		return []string{prefix + segments[5].regexBody(vars)}, nil
	}
	if segments[last].hasVariables() {
		return nil, errors.New("a policy variable can only appear after the account, in <api>/<stage>/<method>/<path>")
	}
	st := stepsOf(segments[last])
	var out []string
	for _, i := range derive(st, strings.Join(header[last:], ":")+":") {
		body := patternOf(st[i:]).regexBody(vars)
		if body == ".*" {
			return []string{prefix + body}, nil
		}
		if re := prefix + body; i < len(st) && !slices.Contains(out, re) { // i == len(st): only an empty API part, never requested
			out = append(out, re)
		}
	}
	return out, nil
}

// quoteText is literal text in a pattern: escaped for RE2, with `%` doubled for sprintf.
func quoteText(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), "%", "%%")
}

// validUTF8Text reports whether s is valid UTF-8 without control characters.
func validUTF8Text(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
