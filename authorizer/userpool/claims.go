package userpool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// verifiedToken is a token whose signature verified, with what the per-verifier checks need. It is
// immutable once built (the cache sets sum as it stores it, before anyone else sees it): cached ones
// are shared. It is the cache's entry, so its size is the cache's: the identity is held by value (one
// allocation for both), what the identity holds is not held twice, and the claims held in fields are
// not kept again in the JSON of the others.
type verifiedToken struct {
	// id is the identity the token proves; Verify returns &id. Its claims are those of residual and
	// of the fields held names (ClaimMap).
	id   identity.Identity
	keys *KeySet          // the KeySet that verified it
	key  *verificationKey // the key that verified it
	sum  [32]byte         // the cache key (tokenHash), set by TokenCache.put
	// residual is the compact JSON array of the values of the claims that no field holds, named by
	// names in that order (nil when there are none): the names are alike in many tokens and shared
	// (listTable). It shares its allocation with the identity's Subject, Username and OriginJTI.
	residual string
	names    *[]string
	// extra holds the claims that Cognito access tokens do not have; nil when the token has none.
	extra    *tokenExtra
	authTime int64 // the auth_time claim of Cognito tokens, when held
	held     heldClaims
	alg      uint8 // algorithmNames[alg]
}

// tokenExtra are the aud and nbf claims of a token that has either.
type tokenExtra struct {
	audience []string // the aud claim
	// nbfSec and nbfNsec are the nbf claim, when held has hasNotBefore.
	nbfSec  int64
	nbfNsec int32
}

// algorithmNames are the algorithms a token can be verified with (signatureAlgorithm), by their index
// in a verifiedToken.
var algorithmNames = [...]string{"", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}

// algorithm is the token's alg header.
func (t *verifiedToken) algorithm() string { return algorithmNames[t.alg] }

// setAlgorithm records alg, one of algorithmNames.
func (t *verifiedToken) setAlgorithm(alg string) {
	t.alg = uint8(max(0, slices.Index(algorithmNames[:], alg)))
}

// audience is the aud claim.
func (t *verifiedToken) audience() []string {
	if t.extra == nil {
		return nil
	}
	return t.extra.audience
}

// heldClaims says which claims a verifiedToken holds in its fields rather than in its residual JSON, and
// two facts about it that no field holds. A claim is held only when it comes back from the field exactly
// as it was decoded.
type heldClaims uint32

const (
	heldIss               heldClaims = 1 << iota // id.Issuer
	heldSub                                      // id.Subject
	heldCognitoUsername                          // id.Username
	heldUsername                                 // id.Username
	heldPreferredUsername                        // id.Username
	heldClientID                                 // id.ClientID
	heldTokenUse                                 // id.TokenUse
	heldExp                                      // id.ExpiresAt, whole seconds
	heldIat                                      // id.IssuedAt, whole seconds
	heldNbf                                      // nbfSec, whole seconds
	heldOriginJTI                                // id.OriginJTI
	heldCognitoGroups                            // id.Groups, an array of strings
	heldGroups                                   // id.Groups, an array of strings
	heldScope                                    // id.Scopes joined by single spaces
	heldScp                                      // id.Scopes joined by single spaces
	heldAudString                                // audience[0], a string
	heldAudArray                                 // audience, an array of strings
	heldAuthTime                                 // authTime, an integer

	hasNotBefore // the token has an nbf claim (nbfSec, nbfNsec)
	accessToken  // token_use is "access" (the identity holds token_use for user-pool tokens only)
)

// usernameClaims are the claims Identity.Username is read from, first first, with their bits.
var usernameClaims = [...]struct {
	name string
	bit  heldClaims
}{{"cognito:username", heldCognitoUsername}, {"username", heldUsername}, {"preferred_username", heldPreferredUsername}}

// notAfter is the exp claim.
func (t *verifiedToken) notAfter() time.Time { return t.id.ExpiresAt }

// issuedAt is the iat claim, zero when absent.
func (t *verifiedToken) issuedAt() time.Time { return t.id.IssuedAt }

// notBefore is the nbf claim, zero when absent.
func (t *verifiedToken) notBefore() time.Time {
	if t.held&hasNotBefore == 0 {
		return time.Time{}
	}
	return time.Unix(t.extra.nbfSec, int64(t.extra.nbfNsec))
}

// clientID is the client_id claim, "" when absent (the identity's ClientID falls back on aud).
func (t *verifiedToken) clientID() string {
	if t.held&heldClientID == 0 {
		return ""
	}
	return t.id.ClientID
}

// tokenUse is the token_use claim as the checks need it: all of it for user-pool tokens, whether it
// is "access" for others.
func (t *verifiedToken) tokenUse() string {
	switch {
	case t.id.Kind == identity.KindUserPool:
		return t.id.TokenUse
	case t.held&accessToken != 0:
		return TokenUseAccess
	}
	return ""
}

// ClaimMap returns the token's claims, decoded afresh (identity.ClaimSource): those of the residual
// JSON, and the held ones rebuilt from the fields, exactly as decodeClaims decoded them.
func (t *verifiedToken) ClaimMap() map[string]any {
	claims := make(map[string]any, 16)
	if t.names != nil {
		dec := json.NewDecoder(strings.NewReader(t.residual))
		dec.UseNumber()
		var values []any
		if err := dec.Decode(&values); err != nil || len(values) != len(*t.names) {
			// The residual JSON was encoded from decoded claims; it decodes the same way again.
			return nil
		}
		for i, name := range *t.names {
			claims[name] = values[i]
		}
	}
	id, h := &t.id, t.held
	put := func(bit heldClaims, name string, v any) {
		if h&bit != 0 {
			claims[name] = v
		}
	}
	put(heldIss, "iss", id.Issuer)
	put(heldSub, "sub", id.Subject)
	for _, u := range usernameClaims {
		put(u.bit, u.name, id.Username)
	}
	put(heldClientID, "client_id", id.ClientID)
	put(heldTokenUse, "token_use", id.TokenUse)
	if h&heldExp != 0 {
		claims["exp"] = json.Number(strconv.FormatInt(id.ExpiresAt.Unix(), 10))
	}
	if h&heldIat != 0 {
		claims["iat"] = json.Number(strconv.FormatInt(id.IssuedAt.Unix(), 10))
	}
	if h&heldAuthTime != 0 {
		claims["auth_time"] = json.Number(strconv.FormatInt(t.authTime, 10))
	}
	if h&heldNbf != 0 {
		claims["nbf"] = json.Number(strconv.FormatInt(t.extra.nbfSec, 10))
	}
	put(heldOriginJTI, "origin_jti", id.OriginJTI)
	if h&(heldCognitoGroups|heldGroups) != 0 {
		groups := make([]any, len(id.Groups))
		for i, g := range id.Groups {
			groups[i] = g
		}
		put(heldCognitoGroups, "cognito:groups", groups)
		put(heldGroups, "groups", groups)
	}
	if h&(heldScope|heldScp) != 0 {
		scope := strings.Join(id.Scopes, " ")
		put(heldScope, "scope", scope)
		put(heldScp, "scp", scope)
	}
	if h&heldAudString != 0 {
		claims["aud"] = t.extra.audience[0]
	}
	if h&heldAudArray != 0 {
		aud := make([]any, len(t.extra.audience))
		for i, a := range t.extra.audience {
			aud[i] = a
		}
		claims["aud"] = aud
	}
	return claims
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
// issuer that verified the token; claims are its payload, decoded by decodeClaims. The token keeps the
// claims that its fields do not hold as compact JSON, not the decoded map (which would take several
// times the memory in the cache), and shares what many tokens have alike: strings (issuer, client,
// token use, group names) through intern, the lists of groups, scopes and claim names through lists when
// it is not nil.
func newVerifiedToken(kind identity.Kind, claims map[string]any, lists *listTable) (*verifiedToken, error) {
	iss, issOK := claims["iss"].(string)
	sub, ok := claims["sub"].(string)
	if !ok || sub == "" {
		return nil, fmt.Errorf("%w: sub claim missing or not a non-empty string", ErrMalformed)
	}
	t := &verifiedToken{}
	id := &t.id
	id.Kind, id.Authenticated = kind, true
	var err error
	var present bool
	if id.ExpiresAt, present, err = numericDate(claims, "exp"); err != nil {
		return nil, err
	} else if !present {
		return nil, fmt.Errorf("%w: exp claim missing", ErrMalformed)
	}
	nbf, hasNbf, err := numericDate(claims, "nbf")
	if err != nil {
		return nil, err
	}
	if id.IssuedAt, _, err = numericDate(claims, "iat"); err != nil {
		return nil, err
	}
	var clientID string
	if v, ok := claims["client_id"]; ok {
		if clientID, ok = v.(string); !ok {
			return nil, fmt.Errorf("%w: client_id claim is not a string", ErrMalformed)
		}
	}
	aud, err := audience(claims["aud"])
	if err != nil {
		return nil, err
	}
	tokenUse, tokenUseOK := claims["token_use"].(string)

	h := heldClaims(0)
	hold := func(bit heldClaims, ok bool) {
		if ok {
			h |= bit
		}
	}
	id.Issuer = intern(iss)
	hold(heldIss, issOK)
	h |= heldSub
	username := firstString(claims, "cognito:username", "username", "preferred_username")
	for _, u := range usernameClaims {
		s, ok := claims[u.name].(string)
		hold(u.bit, ok && s != "" && s == username)
	}
	originJTI := firstString(claims, "origin_jti")
	hold(heldOriginJTI, originJTI != "")
	id.ClientID = intern(clientID)
	hold(heldClientID, clientID != "")
	for i, a := range aud {
		aud[i] = intern(a)
	}
	if aud != nil || hasNbf {
		t.extra = &tokenExtra{audience: aud}
	}
	switch claims["aud"].(type) {
	case string:
		h |= heldAudString
	case []any:
		h |= heldAudArray
	}
	if id.ClientID == "" && len(aud) > 0 {
		id.ClientID = aud[0]
	}
	if kind == identity.KindUserPool {
		id.TokenUse = intern(tokenUse)
		hold(heldTokenUse, tokenUseOK)
	}
	hold(accessToken, tokenUse == TokenUseAccess)
	hold(heldExp, wholeSeconds(claims["exp"], id.ExpiresAt))
	hold(heldIat, wholeSeconds(claims["iat"], id.IssuedAt))
	if hasNbf {
		h |= hasNotBefore
		t.extra.nbfSec, t.extra.nbfNsec = nbf.Unix(), int32(nbf.Nanosecond())
		hold(heldNbf, wholeSeconds(claims["nbf"], nbf))
	}
	if n, ok := claims["auth_time"].(json.Number); ok {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && strconv.FormatInt(i, 10) == string(n) {
			t.authTime = i
			h |= heldAuthTime
		}
	}
	var groupsFrom, scopesFrom string
	id.Groups, groupsFrom = stringList(claims, false, lists, "cognito:groups", "groups")
	hold(heldCognitoGroups, groupsFrom == "cognito:groups")
	hold(heldGroups, groupsFrom == "groups")
	id.Scopes, scopesFrom = stringList(claims, true, lists, "scope", "scp")
	hold(heldScope, scopesFrom == "scope")
	hold(heldScp, scopesFrom == "scp")
	t.held = h

	// The residual JSON, then the strings of this token alone, in one allocation.
	residual, names, err := residualJSON(claims, h)
	if err != nil {
		return nil, err
	}
	if names != nil {
		t.names = lists.shareNames(names)
	}
	var b strings.Builder
	b.Grow(len(residual) + len(sub) + len(username) + len(originJTI))
	b.Write(residual)
	for _, s := range []string{sub, username, originJTI} {
		b.WriteString(s)
	}
	all := b.String()
	t.residual, all = all[:len(residual)], all[len(residual):]
	id.Subject, all = all[:len(sub)], all[len(sub):]
	if username == sub {
		id.Username = id.Subject // often so for Cognito access tokens: one copy
	} else {
		id.Username = all[:len(username)]
	}
	id.OriginJTI = all[len(username):]
	id.SetClaimSource(t)
	return t, nil
}

// residualJSON encodes the values of the claims that h does not hold as a compact JSON array, and
// returns it with their names, sorted; or nil, nil when h holds all of them. Encoding what was decoded
// (numbers as json.Number) decodes to the same values.
func residualJSON(claims map[string]any, h heldClaims) ([]byte, []string, error) {
	var names []string
	for name := range claims {
		if h&heldNames[name] == 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, nil, nil
	}
	slices.Sort(names)
	values := make([]any, len(names))
	for i, name := range names {
		values[i] = claims[name]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(values); err != nil {
		return nil, nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), names, nil
}

// heldNames are the claims a heldClaims bit stands for.
var heldNames = map[string]heldClaims{
	"iss": heldIss, "sub": heldSub, "cognito:username": heldCognitoUsername, "username": heldUsername,
	"preferred_username": heldPreferredUsername, "client_id": heldClientID, "token_use": heldTokenUse,
	"exp": heldExp, "iat": heldIat, "nbf": heldNbf, "origin_jti": heldOriginJTI,
	"cognito:groups": heldCognitoGroups, "groups": heldGroups, "scope": heldScope, "scp": heldScp,
	"aud": heldAudString | heldAudArray, "auth_time": heldAuthTime,
}

// wholeSeconds reports whether the NumericDate claim v was written as t's seconds, so that it is
// rebuilt from t exactly.
func wholeSeconds(v any, t time.Time) bool {
	n, ok := v.(json.Number)
	return ok && t.Nanosecond() == 0 && string(n) == strconv.FormatInt(t.Unix(), 10)
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

// maxSharedLists bounds a listTable: the lists of groups and scopes that many tokens have alike are
// few; past the bound, a token keeps a list of its own.
const maxSharedLists = 4096

// listTable shares the lists of groups and scopes between the tokens of a verifier: one slice for all
// the tokens with the same groups, not one each. It holds at most maxSharedLists lists, the first
// seen. It is safe for concurrent use.
type listTable struct {
	mu    sync.Mutex
	lists map[string]*[]string
}

// share returns the table's list equal to list (kind tells scopes from groups), adding list when the
// table has room. The lists it returns have no spare capacity, so that an append to one copies it.
func (lt *listTable) share(kind byte, list []string) []string {
	return *lt.sharePtr(kind, list)
}

// shareNames returns the table's list of claim names equal to names (residualJSON's), as a pointer:
// a token holds one of these, not a slice.
func (lt *listTable) shareNames(names []string) *[]string {
	for i, n := range names {
		names[i] = intern(n)
	}
	return lt.sharePtr('n', names)
}

func (lt *listTable) sharePtr(kind byte, list []string) *[]string {
	list = slices.Clip(list)
	if lt == nil {
		return &list
	}
	// Each string with its length before it: no two lists have the same key.
	key := make([]byte, 0, 64)
	key = append(key, kind)
	for _, s := range list {
		key = binary.AppendUvarint(key, uint64(len(s)))
		key = append(key, s...)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if shared, ok := lt.lists[string(key)]; ok {
		return shared
	}
	if len(lt.lists) < maxSharedLists {
		if lt.lists == nil {
			lt.lists = make(map[string]*[]string)
		}
		lt.lists[string(key)] = &list
	}
	return &list
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
// non-string members ignored) or a string, split on spaces when split is set. It also returns the
// claim's name when the list gives back the claim exactly (groups: an array of strings; scopes: a
// string split on single spaces), else "". Lists are shared through lists.
func stringList(claims map[string]any, split bool, lists *listTable, names ...string) ([]string, string) {
	for _, name := range names {
		switch v := claims[name].(type) {
		case string:
			if !split {
				if v == "" {
					return nil, ""
				}
				return []string{intern(v)}, ""
			}
			// The fields are substrings of the interned claim: no copy per token.
			fields := lists.share('s', strings.Fields(intern(v)))
			if strings.Join(fields, " ") == v {
				return fields, name
			}
			return fields, ""
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, intern(s))
				}
			}
			from := name
			if split || len(out) != len(v) { // scopes are held as a string only
				from = ""
			}
			return lists.share('g', out), from
		}
	}
	return nil, ""
}
