package identitypool

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// OpenID tokens (GetOpenIdToken) are what Cognito issues: `iss` the pool's issuer URL, `sub` the identity
// id, `aud` the pool id, `amr` "authenticated" and the login providers (or "unauthenticated"), valid 10
// minutes, signed ES256 by the newest key generation, with `kid`. Principal tags ride in AWS's
// `https://aws.amazon.com/tags` claim, as STS reads them from web identity tokens.

const awsTagsClaim = "https://aws.amazon.com/tags"

func (p *Pool) signOpenIDToken(ctx context.Context, identityID string, logins []login, tags map[string]string) (string, error) {
	now := p.cfg.Now()
	amr := []string{"unauthenticated"}
	if len(logins) > 0 {
		amr = append([]string{"authenticated"}, strings.Split(authenticationProvider(logins), ",")...)
	}
	t, err := jwt.NewBuilder().
		Issuer(p.cfg.Issuer).
		Subject(identityID).
		Audience([]string{p.cfg.PoolID}).
		IssuedAt(now).
		Expiration(now.Add(openIDTokenTTL)).
		Claim("amr", amr).
		Build()
	if err != nil {
		return "", fmt.Errorf("building an OpenID token: %w", err)
	}
	t.Options().Enable(jwt.FlattenAudience)
	if len(tags) > 0 {
		principal := make(map[string][]string, len(tags))
		for k, v := range tags {
			principal[k] = []string{v}
		}
		if err := t.Set(awsTagsClaim, map[string]any{"principal_tags": principal}); err != nil {
			return "", fmt.Errorf("building an OpenID token: %w", err)
		}
	}
	signed, err := p.cfg.Keys.ring.SignJWT(ctx, t)
	if err != nil {
		return "", fmt.Errorf("signing an OpenID token: %w", err)
	}
	return signed, nil
}

func (p *Pool) openIDConfiguration() []byte {
	data, _ := json.Marshal(map[string]any{
		"issuer":                                p.cfg.Issuer,
		"jwks_uri":                              p.cfg.Issuer + "/.well-known/jwks.json",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"claims_supported":                      []string{"iss", "sub", "aud", "amr", "iat", "exp", awsTagsClaim},
	})
	return data
}
