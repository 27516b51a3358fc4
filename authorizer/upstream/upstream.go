package upstream

import (
	"net/http"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Header is one header for the upstream.
type Header struct{ Name, Value string }

// UserID is the caller's user id as `{http.auth.user.id}` carries it: header-safe.
func UserID(id *identity.Identity) string { return headerSafe(id.UserID()) }

// Metadata is the caller's authentication metadata (Caddy's `{http.auth.user.<key>}`), every key present,
// values header-safe.
func Metadata(id *identity.Identity) map[string]string {
	m := make(map[string]string, 9)
	for i := range fields {
		if f := &fields[i]; f.Metadata {
			m[f.Name] = f.text(id)
		}
	}
	return m
}

// Placeholder is the value of the placeholder `{cognito.<name>}` for id, and whether name is one:
// a field's Name or alias, `claims.<claim>` or `principal_tags.<tag>`. Values are encoded as headers
// are: a placeholder ends up in a header as often as anywhere, and a claim holding CR/LF must not break
// the upstream request or inject a header. An absent claim or tag is "".
func Placeholder(id *identity.Identity, name string) (any, bool) {
	if f, ok := byName[name]; ok {
		if f.value != nil {
			return f.value(id), true
		}
		return f.text(id), true
	}
	if claim, ok := strings.CutPrefix(name, "claims."); ok {
		v, ok := id.Claim(claim)
		if !ok {
			return "", true
		}
		return placeholderClaim(v), true
	}
	if tag, ok := strings.CutPrefix(name, "principal_tags."); ok {
		return headerSafe(poolOf(id).PrincipalTags[tag]), true
	}
	return nil, false
}

// Claims are the identity claims of the assertion for id, raw (not header-encoded), `sub` included;
// the signer adds `iss`, `aud`, `iat`, `nbf` and `exp`.
func Claims(id *identity.Identity) map[string]any {
	c := make(map[string]any, len(fields))
	for i := range fields {
		f := &fields[i]
		if f.claim == nil {
			continue
		}
		if v, ok := f.claim(id); ok {
			c[f.Claim] = v
		}
	}
	return c
}

// StripHeaders removes every header a client could use to pose as the gateway: any name that,
// lowercased and with underscores read as hyphens, starts with "x-cognito-" (CGI-style backends
// read X_Cognito_Sub as X-Cognito-Sub).
func StripHeaders(h http.Header) {
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

// poolOf is id's identity-pool part, empty for the kinds that have none.
func poolOf(id *identity.Identity) *identity.PoolCredentials {
	if p := id.Pool; p != nil {
		return p
	}
	return &identity.PoolCredentials{}
}
