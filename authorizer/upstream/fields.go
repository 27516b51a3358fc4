package upstream

import (
	"slices"
	"strconv"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Field is one fact about the caller that goes upstream, and every place it goes.
type Field struct {
	// Name is the placeholder `{cognito.<Name>}` and, when Metadata is set, the authentication
	// metadata key (`{http.auth.user.<Name>}`).
	Name string
	// Aliases are other placeholder names of the field.
	Aliases []string
	// Header is the request header that carries it, for callers of Kinds; "" for none.
	Header string
	// Kinds are the kinds of identity whose requests carry Header.
	Kinds []identity.Kind
	// Metadata says whether the field is in the authentication metadata.
	Metadata bool
	// Claim is its claim in the identity assertion; "" for none. String and list claims are left out
	// when empty.
	Claim string

	// text is the value as headers, placeholders and metadata carry it: header-safe.
	text func(*identity.Identity) string
	// value, when set, is the placeholder's value instead of text, typed for Caddy's expressions.
	value func(*identity.Identity) any
	// claim is the raw value of Claim and whether to claim it.
	claim func(*identity.Identity) (any, bool)
}

// The headers the upstream receives on allow. Every client-sent header in the X-Cognito- namespace is
// removed first (StripHeaders), so these can only come from the gateway.
const (
	HeaderSub            = "X-Cognito-Sub"
	HeaderUsername       = "X-Cognito-Username"
	HeaderGroups         = "X-Cognito-Groups"
	HeaderScopes         = "X-Cognito-Scopes"
	HeaderClientID       = "X-Cognito-Client-Id"
	HeaderIdentityID     = "X-Cognito-Identity-Id"
	HeaderIdentityPoolID = "X-Cognito-Identity-Pool-Id"
	HeaderAuthType       = "X-Cognito-Authentication-Type"
	HeaderAuthProvider   = "X-Cognito-Authentication-Provider"
	HeaderRoleARN        = "X-Cognito-Role-Arn"
	// HeaderContext carries Context, base64url-encoded without padding.
	HeaderContext = "X-Cognito-Context"
	// HeaderShadowDecision and HeaderShadowStatus tell the upstream of a request that shadow mode let
	// through although the policy denied it.
	HeaderShadowDecision = "X-Cognito-Shadow-Decision"
	HeaderShadowStatus   = "X-Cognito-Shadow-Status"
)

var (
	tokenKinds = []identity.Kind{identity.KindUserPool, identity.KindOIDC}
	poolKinds  = []identity.Kind{identity.KindIdentityPool}
)

// fields is the one list. Its order is the order of the headers.
var fields = []Field{
	{Name: "kind", Metadata: true, Claim: "kind",
		text:  func(id *identity.Identity) string { return string(id.Kind) },
		claim: func(id *identity.Identity) (any, bool) { return string(id.Kind), true }},
	{Name: "authenticated", Claim: "authenticated",
		text:  func(id *identity.Identity) string { return strconv.FormatBool(id.Authenticated) },
		value: func(id *identity.Identity) any { return id.Authenticated },
		claim: func(id *identity.Identity) (any, bool) { return id.Authenticated, true }},
	{Name: "user_id", Claim: "sub",
		text:  func(id *identity.Identity) string { return headerSafe(id.UserID()) },
		claim: func(id *identity.Identity) (any, bool) { return id.UserID(), true }},
	{Name: "issuer", Claim: "token_iss",
		text:  func(id *identity.Identity) string { return headerSafe(id.Issuer) },
		claim: func(id *identity.Identity) (any, bool) { return id.Issuer, id.Issuer != "" }},
	{Name: "sub", Aliases: []string{"subject"}, Header: HeaderSub, Kinds: tokenKinds, Metadata: true,
		text: func(id *identity.Identity) string { return headerSafe(id.Subject) }},
	{Name: "username", Header: HeaderUsername, Kinds: tokenKinds, Metadata: true, Claim: "username",
		text:  func(id *identity.Identity) string { return headerSafe(id.Username) },
		claim: func(id *identity.Identity) (any, bool) { return id.Username, id.Username != "" }},
	{Name: "groups", Header: HeaderGroups, Kinds: tokenKinds, Metadata: true, Claim: "groups",
		text:  func(id *identity.Identity) string { return headerList(id.Groups, ',') },
		claim: func(id *identity.Identity) (any, bool) { return id.Groups, len(id.Groups) > 0 }},
	{Name: "scopes", Header: HeaderScopes, Kinds: tokenKinds, Metadata: true, Claim: "scopes",
		text:  func(id *identity.Identity) string { return headerList(id.Scopes, ' ') },
		claim: func(id *identity.Identity) (any, bool) { return id.Scopes, len(id.Scopes) > 0 }},
	{Name: "client_id", Header: HeaderClientID, Kinds: tokenKinds, Metadata: true, Claim: "client_id",
		text:  func(id *identity.Identity) string { return headerSafe(id.ClientID) },
		claim: func(id *identity.Identity) (any, bool) { return id.ClientID, id.ClientID != "" }},
	{Name: "token_use", Claim: "token_use",
		text:  func(id *identity.Identity) string { return headerSafe(id.TokenUse) },
		claim: func(id *identity.Identity) (any, bool) { return id.TokenUse, id.TokenUse != "" }},
	{Name: "identity_id", Header: HeaderIdentityID, Kinds: poolKinds, Metadata: true, Claim: "identity_id",
		text:  func(id *identity.Identity) string { return headerSafe(poolOf(id).IdentityID) },
		claim: func(id *identity.Identity) (any, bool) { v := poolOf(id).IdentityID; return v, v != "" }},
	{Name: "identity_pool_id", Header: HeaderIdentityPoolID, Kinds: poolKinds, Metadata: true, Claim: "identity_pool_id",
		text:  func(id *identity.Identity) string { return headerSafe(poolOf(id).IdentityPoolID) },
		claim: func(id *identity.Identity) (any, bool) { v := poolOf(id).IdentityPoolID; return v, v != "" }},
	{Name: "authentication_type", Header: HeaderAuthType, Kinds: poolKinds,
		text: func(id *identity.Identity) string {
			if id.Kind != identity.KindIdentityPool {
				return ""
			}
			return authenticationType(id)
		}},
	{Name: "authentication_provider", Header: HeaderAuthProvider, Kinds: poolKinds,
		text: func(id *identity.Identity) string { return headerSafe(poolOf(id).AuthenticationProvider) }},
	{Name: "role_arn", Header: HeaderRoleARN, Kinds: poolKinds, Metadata: true, Claim: "role_arn",
		text:  func(id *identity.Identity) string { return headerSafe(poolOf(id).RoleARN) },
		claim: func(id *identity.Identity) (any, bool) { v := poolOf(id).RoleARN; return v, v != "" }},
	{Name: "principal_tags", Claim: "principal_tags",
		// Its placeholders are per tag: {cognito.principal_tags.<tag>}.
		claim: func(id *identity.Identity) (any, bool) { v := poolOf(id).PrincipalTags; return v, len(v) > 0 }},
	{Name: "login_providers", Claim: "login_providers",
		text:  func(id *identity.Identity) string { return headerList(poolOf(id).LoginProviders, ',') },
		claim: func(id *identity.Identity) (any, bool) { v := poolOf(id).LoginProviders; return v, len(v) > 0 }},
	{Name: "expires_at",
		// The assertion's own `exp` stands for it, never past it.
		text: func(id *identity.Identity) string {
			if id.ExpiresAt.IsZero() {
				return ""
			}
			return strconv.FormatInt(id.ExpiresAt.Unix(), 10)
		},
		value: func(id *identity.Identity) any {
			if id.ExpiresAt.IsZero() {
				return ""
			}
			return id.ExpiresAt.Unix()
		}},
}

// byName finds a field by placeholder name; built once, read only.
var byName = func() map[string]*Field {
	m := make(map[string]*Field, len(fields)+4)
	for i := range fields {
		f := &fields[i]
		if f.text == nil {
			continue // no placeholder of its own
		}
		m[f.Name] = f
		for _, a := range f.Aliases {
			m[a] = f
		}
	}
	return m
}()

// Fields returns the list of identity fields that go upstream, in header order: a copy, so the
// package's own stays as it is.
func Fields() []Field {
	fs := slices.Clone(fields)
	for i := range fs {
		fs[i].Aliases = slices.Clone(fs[i].Aliases)
		fs[i].Kinds = slices.Clone(fs[i].Kinds)
	}
	return fs
}

// Text is the field's value for id as headers, placeholders and metadata carry it (header-safe).
func (f *Field) Text(id *identity.Identity) string {
	if f.text == nil {
		return ""
	}
	return f.text(id)
}

func (f *Field) carries(k identity.Kind) bool { return f.Header != "" && slices.Contains(f.Kinds, k) }

func authenticationType(id *identity.Identity) string {
	if id.Authenticated {
		return "authenticated"
	}
	return "unauthenticated"
}
