package userpool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unique"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// verifiedToken is a token whose signature verified, with what the per-verifier checks need. It is
// immutable once built: cached ones are shared.
type verifiedToken struct {
	identity *identity.Identity
	keys     *KeySet          // the KeySet that verified it
	key      *verificationKey // the key that verified it
	alg      string
	tokenUse string
	clientID string   // the client_id claim
	audience []string // the aud claim
	notAfter time.Time
	// Zero when the claim is absent.
	notBefore time.Time
	issuedAt  time.Time
}

// decodeClaims decodes a JWT payload: one JSON object, numbers kept as json.Number.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	if claims == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: payload has data after its JSON object", ErrMalformed)
	}
	return claims, nil
}

// newVerifiedToken reads the claims that the checks and the identity need. kind is the kind of the
// issuer that verified the token; claims are payload, decoded by decodeClaims. The identity keeps the
// payload (compacted), not the decoded map, which would take twice the memory in the cache, and interns
// the strings that many tokens share (issuer, client, token use, groups, scopes).
func newVerifiedToken(kind identity.Kind, claims map[string]any, payload []byte) (*verifiedToken, error) {
	iss, _ := claims["iss"].(string)
	sub, ok := claims["sub"].(string)
	if !ok || sub == "" {
		return nil, fmt.Errorf("%w: sub claim missing or not a non-empty string", ErrMalformed)
	}
	t := &verifiedToken{}
	var err error
	var present bool
	if t.notAfter, present, err = numericDate(claims, "exp"); err != nil {
		return nil, err
	} else if !present {
		return nil, fmt.Errorf("%w: exp claim missing", ErrMalformed)
	}
	if t.notBefore, _, err = numericDate(claims, "nbf"); err != nil {
		return nil, err
	}
	if t.issuedAt, _, err = numericDate(claims, "iat"); err != nil {
		return nil, err
	}
	if v, ok := claims["client_id"]; ok {
		if t.clientID, ok = v.(string); !ok {
			return nil, fmt.Errorf("%w: client_id claim is not a string", ErrMalformed)
		}
	}
	if t.audience, err = audience(claims["aud"]); err != nil {
		return nil, err
	}
	t.tokenUse, _ = claims["token_use"].(string)

	id := &identity.Identity{
		Kind:          kind,
		Authenticated: true,
		Issuer:        intern(iss),
		Subject:       sub,
		Username:      firstString(claims, "cognito:username", "username", "preferred_username"),
		ClientID:      intern(t.clientID),
		Groups:        stringList(claims, false, "cognito:groups", "groups"),
		Scopes:        stringList(claims, true, "scope", "scp"),
		OriginJTI:     firstString(claims, "origin_jti"),
		IssuedAt:      t.issuedAt,
		ExpiresAt:     t.notAfter,
	}
	var compact bytes.Buffer
	compact.Grow(len(payload))
	if err := json.Compact(&compact, payload); err != nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	id.SetClaimsJSON(compact.Bytes())
	// The strings of this token alone point into the kept JSON rather than copies of their own.
	raw := id.ClaimsJSON()
	id.Subject, id.Username = within(raw, id.Subject), within(raw, id.Username)
	t.clientID = id.ClientID
	for i, a := range t.audience {
		t.audience[i] = intern(a)
	}
	if id.ClientID == "" && len(t.audience) > 0 {
		id.ClientID = t.audience[0]
	}
	t.tokenUse = intern(t.tokenUse)
	if kind == identity.KindUserPool {
		id.TokenUse = t.tokenUse
	}
	t.identity = id
	return t, nil
}

// intern returns the canonical copy of s (unique.Make): the issuer, client and group names of many
// cached tokens then share one string instead of one copy per token. unique keeps a string only while
// something refers to it, so the table is bounded by what the caches hold.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// within returns s as a substring of raw when raw holds its bytes (a claim written without escapes),
// else s: equal strings, one copy fewer.
func within(raw, s string) string {
	if i := strings.Index(raw, s); s != "" && i >= 0 {
		return raw[i : i+len(s)]
	}
	return s
}

// maxNumericDate is the year 10000: later dates are not real token lifetimes.
const maxNumericDate = 253402300800

// numericDate reads a NumericDate claim (seconds since the epoch, possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, true, fmt.Errorf("%w: %s claim is not a number", ErrMalformed, name)
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < 0 || i >= maxNumericDate {
			return time.Time{}, true, fmt.Errorf("%w: %s claim is out of range", ErrMalformed, name)
		}
		return time.Unix(i, 0), true, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f >= maxNumericDate {
		return time.Time{}, true, fmt.Errorf("%w: %s claim is out of range", ErrMalformed, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audience reads aud, a string or an array of strings.
func audience(v any) ([]string, error) {
	switch aud := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{aud}, nil
	case []any:
		out := make([]string, len(aud))
		for i, a := range aud {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("%w: aud claim holds a value that is not a string", ErrMalformed)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: aud claim is neither a string nor an array of strings", ErrMalformed)
	}
}

// firstString returns the first of the named claims that is a non-empty string.
func firstString(claims map[string]any, names ...string) string {
	for _, name := range names {
		if s, ok := claims[name].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// stringList returns the first of the named claims that is present, as a list: an array (its
// non-string members ignored) or a string, split on spaces when split is set.
func stringList(claims map[string]any, split bool, names ...string) []string {
	for _, name := range names {
		switch v := claims[name].(type) {
		case string:
			if split {
				// The fields are substrings of the interned claim: no copy per token.
				return strings.Fields(intern(v))
			}
			if v == "" {
				return nil
			}
			return []string{intern(v)}
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, intern(s))
				}
			}
			return out
		}
	}
	return nil
}
