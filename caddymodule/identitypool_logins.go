package caddymodule

import (
	"fmt"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
)

// logins translates the configured login providers to the library's, refusing a URL that is not an
// absolute http(s) URL.
func logins(in []Login) ([]authorizer.Login, error) {
	out := make([]authorizer.Login, 0, len(in))
	for _, l := range in {
		for _, u := range []string{l.Issuer, l.JWKSURL} {
			if err := authorizer.CheckURL(u); err != nil {
				return nil, fmt.Errorf("login %s: %w", l.Provider, err)
			}
		}
		out = append(out, authorizer.Login{Provider: l.Provider, ClientIDs: l.ClientIDs, Issuer: l.Issuer,
			JWKSURL: l.JWKSURL, Algorithms: l.Algorithms})
	}
	return out, nil
}
