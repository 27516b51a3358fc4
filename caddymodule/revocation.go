package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// The revocations of the process: one set, shared by every cognito_authorizer, the admin API
// (admin.api.cognito) and the cognito app's Redis follower, and kept across config reloads. Without
// Redis it is complete by itself (revocations come through this instance's admin API); with Redis,
// the app keeps it current from Redis.
const revocationsKey = "revocations"

// sharedRevocations lets a fleet.Revocations live in a caddy.UsagePool.
type sharedRevocations struct{ *fleet.Revocations }

func (sharedRevocations) Destruct() error { return nil }

// acquireRevocations returns the process's revocation set and the function that releases it.
func acquireRevocations() (*fleet.Revocations, func(), error) {
	v, _, err := shared.LoadOrNew(revocationsKey, func() (caddy.Destructor, error) {
		return sharedRevocations{fleet.NewRevocations(fleet.RevocationsOptions{})}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(sharedRevocations).Revocations, func() { _, _ = shared.Delete(revocationsKey) }, nil
}

// checkRevocation turns an allowed decision into a refusal when its identity is revoked: a token
// whose origin_jti is revoked or whose subject was signed out after it was issued, identity-pool
// credentials whose identity id is revoked or whose login token is. The check is a few map lookups
// under a read lock; d is returned as is when nothing is revoked.
func (g *gate) checkRevocation(d *authorizer.Decision, now time.Time) *authorizer.Decision {
	if !d.Allow || g.revocations == nil || d.Identity == nil {
		return d
	}
	id := d.Identity
	c, ok := revocationCredential(id)
	if !ok || !g.revocations.Revoked(c, now) {
		return d
	}
	r := &authorizer.Decision{Scheme: d.Scheme, Path: d.Path, Identity: id, Status: http.StatusUnauthorized, Label: "revoked",
		Reason: fmt.Errorf("revoked (origin_jti %q, sub %q, identity id %q, issued at %s)", c.OriginJTI, c.Subject, c.IdentityID,
			c.IssuedAt.UTC().Format(time.RFC3339))}
	if d.Scheme == authorizer.SchemeSigV4 {
		r.Code, r.Message = "UnrecognizedClientException", "credentials revoked"
	} else {
		r.Code, r.Message, r.Challenge = "invalid_token", "token revoked", `Bearer error="invalid_token", error_description="token revoked"`
	}
	return r
}

// revocationCredential is what a revocation check needs of id, as the verifiers leave it; false for an
// identity nothing can revoke (an anonymous request).
func revocationCredential(id *identity.Identity) (fleet.Credential, bool) {
	switch id.Kind {
	case identity.KindUserPool, identity.KindOIDC:
		return fleet.Credential{OriginJTI: id.OriginJTI, Subject: id.Subject, IssuedAt: id.IssuedAt}, true
	case identity.KindIdentityPool:
		cred := fleet.Credential{OriginJTI: id.OriginJTI, IssuedAt: id.IssuedAt}
		if p := id.Pool; p != nil {
			cred.Subject, cred.IdentityID = p.LoginSubject, p.IdentityID
		}
		return cred, true
	}
	return fleet.Credential{}, false
}

// poolRevocationCheck is cognito_identity_pool's view of the process's revocation set: an identity id,
// or a login token (its origin_jti, or its subject signed out after it was issued). The pool issues
// nothing to them, as every cognito_authorizer would refuse what it issued.
func poolRevocationCheck(r *fleet.Revocations) func(string, *identity.Identity, time.Time) bool {
	return func(identityID string, login *identity.Identity, now time.Time) bool {
		if login == nil {
			return r.Revoked(fleet.Credential{IdentityID: identityID}, now)
		}
		c, ok := revocationCredential(login)
		return ok && r.Revoked(c, now)
	}
}
