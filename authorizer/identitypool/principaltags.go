package identitypool

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/internal/clip"
)

// Cognito's default principal tags ("attributes for access control" with UseDefaults): the login's `sub`
// as `username` and its app client (`aud`, or `client_id` of an access token) as `client`.
const (
	defaultTagUsername = "username"
	defaultTagClient   = "client"
)

// STS session-tag limits, which Cognito's tags obey.
const (
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// validateTagMap checks the configured tag -> claim mappings.
func validateTagMap(tags map[string]string) error {
	if len(tags) > maxPrincipalTags-2 {
		return fmt.Errorf("%d principal tags, at most %d besides the defaults", len(tags), maxPrincipalTags-2)
	}
	seen := make(map[string]string, len(tags))
	for tag, claim := range tags {
		if err := validateTagText(tag, 1, maxTagKeyLen); err != nil {
			return fmt.Errorf("principal tag %q: %w", clip.String(tag, 64), err)
		}
		if strings.HasPrefix(strings.ToLower(tag), "aws:") {
			return fmt.Errorf("principal tag %q: the aws: prefix is reserved", tag)
		}
		// STS tag keys are unique regardless of case.
		if other, dup := seen[strings.ToLower(tag)]; dup {
			return fmt.Errorf("principal tags %q and %q differ only in case", other, tag)
		}
		seen[strings.ToLower(tag)] = tag
		if claim == "" || len(claim) > 64 {
			return fmt.Errorf("principal tag %q: claim name must have 1 to 64 characters", tag)
		}
	}
	return nil
}

// principalTags returns the session tags of a login: the defaults, then the configured tag -> claim
// mappings (which may override a default). A claim the token lacks gives no tag. A claim that cannot be a
// tag (an object or a list, too long, characters STS refuses) fails the request rather than silently
// dropping a tag a policy may rely on.
func principalTags(id *identity.Identity, mapping map[string]string) (map[string]string, error) {
	tags := make(map[string]string, 2+len(mapping))
	if id.Subject != "" {
		tags[defaultTagUsername] = id.Subject
	}
	if id.ClientID != "" {
		tags[defaultTagClient] = id.ClientID
	}
	for tag, claim := range mapping {
		v, ok := id.Claim(claim)
		if !ok {
			continue
		}
		s, ok := scalarText(v)
		if !ok {
			return nil, fmt.Errorf("claim %s (%T) cannot be principal tag %s: not a string, number or boolean", claim, v, tag)
		}
		tags[tag] = s
	}
	for tag, v := range tags {
		if err := validateTagText(v, 0, maxTagValueLen); err != nil {
			return nil, fmt.Errorf("principal tag %s: %w", tag, err)
		}
	}
	return tags, nil
}

// validateTagText applies STS's rule for tag keys and values: letters, spaces, digits and _.:/=+-@.
func validateTagText(s string, minLen, maxLen int) error {
	if n := len([]rune(s)); n < minLen || n > maxLen {
		return fmt.Errorf("has %d characters, not %d to %d", n, minLen, maxLen)
	}
	for _, c := range s {
		if !unicode.IsLetter(c) && !unicode.IsNumber(c) && !unicode.Is(unicode.Zs, c) && !strings.ContainsRune("_.:/=+-@", c) {
			return fmt.Errorf("has the character %q, which session tags do not allow", c)
		}
	}
	return nil
}
