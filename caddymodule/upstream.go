package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// The headers the upstream receives on allow. Every client-sent header in the X-Cognito- namespace is
// removed first, so these can only come from the gateway.
const (
	headerSub            = "X-Cognito-Sub"
	headerUsername       = "X-Cognito-Username"
	headerGroups         = "X-Cognito-Groups"
	headerScopes         = "X-Cognito-Scopes"
	headerClientID       = "X-Cognito-Client-Id"
	headerIdentityID     = "X-Cognito-Identity-Id"
	headerIdentityPoolID = "X-Cognito-Identity-Pool-Id"
	headerAuthType       = "X-Cognito-Authentication-Type"
	headerAuthProvider   = "X-Cognito-Authentication-Provider"
	headerRoleARN        = "X-Cognito-Role-Arn"
	headerContext        = "X-Cognito-Context"
	headerShadowDecision = "X-Cognito-Shadow-Decision"
	headerShadowStatus   = "X-Cognito-Shadow-Status"
)

// stripIdentityHeaders removes every header a client could use to pose as the gateway: any name that,
// lowercased and with underscores read as hyphens, starts with "x-cognito-" (CGI-style backends
// read X_Cognito_Sub as X-Cognito-Sub).
func stripIdentityHeaders(h http.Header) {
	const prefix = "x-cognito-"
	for name := range h {
		if len(name) < len(prefix) {
			continue
		}
		spoof := true
		for i := 0; i < len(prefix); i++ {
			c := name[i]
			if c == '_' {
				c = '-'
			} else if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != prefix[i] {
				spoof = false
				break
			}
		}
		if spoof {
			delete(h, name)
		}
	}
}

// forward prepares an allowed request for the upstream: identity headers, the signed assertion (when
// configured) and placeholders.
func (g *gate) forward(r *http.Request, d *authorizer.Decision, assertion string) {
	stripIdentityHeaders(r.Header)
	g.stripCredentials(r, d)
	id := d.Identity
	if id == nil {
		// Shadow mode let through a request whose credentials failed: it goes on as nobody.
		id = identity.Anonymous()
	}
	// The policy's headers first: the identity headers are the gateway's and win over them.
	for name, value := range d.Headers {
		r.Header[name] = []string{value}
	}
	for _, hv := range upstreamHeaders(id) {
		if g.noContext && hv.name == headerContext {
			continue
		}
		r.Header[hv.name] = []string{hv.value}
	}
	if d.Shadow {
		r.Header[headerShadowDecision] = []string{"deny"}
		r.Header[headerShadowStatus] = []string{strconv.Itoa(d.Status)}
	}
	if assertion != "" {
		r.Header[g.assertion.header] = []string{assertion}
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", headerSafe(id.UserID()))
		repl.Map(placeholders(id, d))
	}
}

// stripCredentials removes the credentials of a request once they have been used: a SigV4 request's
// session token header, a presigned URL's X-Amz-Signature and X-Amz-Security-Token query parameters,
// and the bearer token of token_query (the rest of the query is kept byte for byte). The upstream has
// no use for them, and the upstream's logs, reverse_proxy's debug log and `{http.request.uri}` would
// print them. Caddy's access log records the request as it arrived, before any handler: filter them
// out of it with a log filter.
func (g *gate) stripCredentials(r *http.Request, d *authorizer.Decision) {
	signed := d.Scheme == authorizer.SchemeSigV4
	if signed {
		r.Header.Del("X-Amz-Security-Token")
	}
	if !signed && g.tokenQuery == "" {
		return
	}
	drop := func(name string) bool {
		return signed && (strings.EqualFold(name, "X-Amz-Signature") || strings.EqualFold(name, "X-Amz-Security-Token")) ||
			g.tokenQuery != "" && name == g.tokenQuery
	}
	if q, ok := withoutQueryParams(r.URL.RawQuery, drop); ok {
		r.URL.RawQuery = q
		r.URL.ForceQuery = false
	}
	if path, query, found := strings.Cut(r.RequestURI, "?"); found {
		if q, ok := withoutQueryParams(query, drop); ok {
			r.RequestURI = path
			if q != "" {
				r.RequestURI += "?" + q
			}
		}
	}
}

// withoutQueryParams returns raw without the parameters whose name (decoded) drop accepts, and
// whether any was removed.
func withoutQueryParams(raw string, drop func(name string) bool) (string, bool) {
	if raw == "" {
		return raw, false
	}
	var kept []string
	removed := false
	for piece := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(piece, "=")
		if decoded, err := url.QueryUnescape(name); err == nil {
			name = decoded
		}
		if drop(name) {
			removed = true
			continue
		}
		kept = append(kept, piece)
	}
	if !removed {
		return raw, false
	}
	return strings.Join(kept, "&"), true
}

type headerValue struct{ name, value string }

type upstreamHeadersKey struct{}

// upstreamHeaders are the headers for id, computed once per identity.
func upstreamHeaders(id *identity.Identity) []headerValue {
	return id.Memo(upstreamHeadersKey{}, func() any {
		var hv []headerValue
		add := func(name, value string) {
			if value != "" {
				hv = append(hv, headerValue{name, value})
			}
		}
		switch id.Kind {
		case identity.KindUserPool, identity.KindOIDC:
			add(headerSub, headerSafe(id.Subject))
			add(headerUsername, headerSafe(id.Username))
			add(headerGroups, headerList(id.Groups, ','))
			add(headerScopes, headerList(id.Scopes, ' '))
			add(headerClientID, headerSafe(id.ClientID))
		case identity.KindIdentityPool:
			add(headerIdentityID, headerSafe(id.IdentityID))
			add(headerIdentityPoolID, headerSafe(id.IdentityPoolID))
			add(headerAuthType, authenticationType(id))
			add(headerAuthProvider, headerSafe(id.AuthenticationProvider))
			add(headerRoleARN, headerSafe(id.RoleARN))
		case identity.KindNone:
			return hv
		}
		hv = append(hv, headerValue{headerContext, base64.RawURLEncoding.EncodeToString(contextJSON(id))})
		return hv
	}).([]headerValue)
}

func authenticationType(id *identity.Identity) string {
	if id.Authenticated {
		return "authenticated"
	}
	return "unauthenticated"
}

// headerSafe percent-encodes the bytes that cannot appear in a header value (control characters) and
// the percent sign itself, so the encoding is reversible and a claim cannot inject a header line.
func headerSafe(s string) string {
	return escape(s, func(c byte) bool { return c < 0x20 || c == 0x7f || c == '%' })
}

// headerList joins list elements with sep, each element percent-encoded like headerSafe and for sep
// too: a group named "admins,ops" must not read as two groups upstream.
func headerList(list []string, sep byte) string {
	if len(list) == 0 {
		return ""
	}
	var b strings.Builder
	for i, e := range list {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(escape(e, func(c byte) bool { return c < 0x20 || c == 0x7f || c == '%' || c == sep }))
	}
	return b.String()
}

func escape(s string, must func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if must(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; must(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// contextJSON is X-Cognito-Context: the identity in the shape of API Gateway's requestContext, so
// backends moving off API Gateway read the same fields. Token callers get `authorizer` (as a REST API
// Cognito authorizer gives `claims`, and an HTTP API JWT authorizer gives `jwt.claims` and
// `jwt.scopes`, claim values as strings); identity-pool callers get `identity` (as IAM authorization
// gives it).
func contextJSON(id *identity.Identity) []byte {
	type jwtContext struct {
		Claims map[string]string `json:"claims"`
		Scopes []string          `json:"scopes"`
	}
	type authorizerContext struct {
		PrincipalID string            `json:"principalId"`
		Claims      map[string]string `json:"claims"`
		JWT         jwtContext        `json:"jwt"`
	}
	type identityContext struct {
		CognitoIdentityID             string `json:"cognitoIdentityId"`
		CognitoIdentityPoolID         string `json:"cognitoIdentityPoolId"`
		CognitoAuthenticationType     string `json:"cognitoAuthenticationType"`
		CognitoAuthenticationProvider string `json:"cognitoAuthenticationProvider,omitempty"`
		UserArn                       string `json:"userArn,omitempty"`
		Caller                        string `json:"caller,omitempty"`
		User                          string `json:"user,omitempty"`
		AccessKey                     string `json:"accessKey,omitempty"`
		AccountID                     string `json:"accountId,omitempty"`
	}
	var ctx struct {
		Authorizer *authorizerContext `json:"authorizer,omitempty"`
		Identity   *identityContext   `json:"identity,omitempty"`
	}
	switch id.Kind {
	case identity.KindUserPool, identity.KindOIDC:
		claims := stringClaims(id.Claims)
		ctx.Authorizer = &authorizerContext{
			PrincipalID: id.Subject,
			Claims:      claims,
			JWT:         jwtContext{Claims: claims, Scopes: id.Scopes},
		}
	case identity.KindIdentityPool:
		ctx.Identity = &identityContext{
			CognitoIdentityID:             id.IdentityID,
			CognitoIdentityPoolID:         id.IdentityPoolID,
			CognitoAuthenticationType:     authenticationType(id),
			CognitoAuthenticationProvider: id.AuthenticationProvider,
			UserArn:                       assumedRoleARN(id),
			Caller:                        callerID(id),
			User:                          callerID(id),
			AccessKey:                     id.AccessKeyID,
			AccountID:                     accountID(id.RoleARN),
		}
	}
	b, _ := json.Marshal(ctx)
	return b
}

// stringClaims renders claim values as API Gateway does: strings as they are, other values as
// their JSON text, arrays as "[a b]".
func stringClaims(claims map[string]any) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		out[k] = claimString(v)
	}
	return out
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// assumedRoleARN is the STS assumed-role ARN API Gateway shows as userArn:
// arn:aws:sts::<account>:assumed-role/<role name>/CognitoIdentityCredentials.
func assumedRoleARN(id *identity.Identity) string {
	account, name := accountID(id.RoleARN), roleName(id.RoleARN)
	if account == "" || name == "" {
		return ""
	}
	return "arn:aws:sts::" + account + ":assumed-role/" + name + "/CognitoIdentityCredentials"
}

// callerID is API Gateway's caller/user for assumed-role credentials: <role id>:<session name>. The
// gateway has no IAM role id, so the role name stands in for it.
func callerID(id *identity.Identity) string {
	if name := roleName(id.RoleARN); name != "" {
		return name + ":CognitoIdentityCredentials"
	}
	return ""
}

// accountID is the account of an IAM ARN (arn:aws:iam::<account>:role/<name>).
func accountID(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func roleName(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	_, name, ok := strings.Cut(parts[5], "/")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:] // role paths: role/service-role/<name>
	}
	return name
}

// placeholders resolves {cognito.*} for an allowed request of id, lazily: nothing is computed for
// placeholders no one uses. Values are encoded as the X-Cognito-* headers are (headerSafe, headerList):
// a placeholder ends up in header_up as often as anywhere, and a claim holding CR/LF must not break
// the upstream request or inject a header.
func placeholders(id *identity.Identity, d *authorizer.Decision) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		name, ok := strings.CutPrefix(key, "cognito.")
		if !ok {
			return nil, false
		}
		switch name {
		case "shadow.decision":
			if d.Shadow {
				return "deny", true
			}
			return "allow", true
		case "shadow.status":
			if d.Shadow {
				return d.Status, true
			}
			return "", true
		case "shadow.reason":
			if d.Shadow {
				return d.Label, true
			}
			return "", true
		case "kind":
			return string(id.Kind), true
		case "authenticated":
			return id.Authenticated, true
		case "user_id":
			return headerSafe(id.UserID()), true
		case "issuer":
			return headerSafe(id.Issuer), true
		case "sub", "subject":
			return headerSafe(id.Subject), true
		case "username":
			return headerSafe(id.Username), true
		case "client_id":
			return headerSafe(id.ClientID), true
		case "token_use":
			return headerSafe(id.TokenUse), true
		case "groups":
			return headerList(id.Groups, ','), true
		case "scopes":
			return headerList(id.Scopes, ' '), true
		case "identity_id":
			return headerSafe(id.IdentityID), true
		case "identity_pool_id":
			return headerSafe(id.IdentityPoolID), true
		case "role_arn":
			return headerSafe(id.RoleARN), true
		case "authentication_type":
			if id.Kind != identity.KindIdentityPool {
				return "", true
			}
			return authenticationType(id), true
		case "authentication_provider":
			return headerSafe(id.AuthenticationProvider), true
		case "login_providers":
			return headerList(id.LoginProviders, ','), true
		case "expires_at":
			if id.ExpiresAt.IsZero() {
				return "", true
			}
			return id.ExpiresAt.Unix(), true
		}
		if claim, ok := strings.CutPrefix(name, "claims."); ok {
			v, ok := id.Claims[claim]
			if !ok {
				return "", true
			}
			return placeholderClaim(v), true
		}
		if tag, ok := strings.CutPrefix(name, "principal_tags."); ok {
			return headerSafe(id.PrincipalTags[tag]), true
		}
		return nil, false
	}
}

// placeholderClaim renders a claim for a placeholder: arrays comma-joined (like {cognito.groups}),
// encoded as headers are.
func placeholderClaim(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = claimString(e)
		}
		return headerList(parts, ',')
	}
	return headerSafe(claimString(v))
}
