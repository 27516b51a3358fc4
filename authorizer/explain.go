package authorizer

import (
	"encoding/json"

	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
)

// PolicyInput is the input document the policy was given when Authorize decided req as d: the
// request, the identity d verified and the route's rules, credentials left out. Nil when the policy
// never saw the request (its credentials did not verify, or there is no policy).
func (a *Authorizer) PolicyInput(req Request, d *Decision) (json.RawMessage, error) {
	if d.Identity == nil || a.cfg.Policy == nil {
		return nil, nil
	}
	return policy.InputDocument(policy.Input{
		Request: req.HTTP, Path: d.Path, RemoteIP: req.RemoteIP, Identity: d.Identity,
		Rules: a.cfg.Rules, Redaction: a.cfg.Redaction,
	})
}
