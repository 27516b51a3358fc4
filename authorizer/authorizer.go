// Package authorizer decides HTTP requests the way Amazon Cognito and API Gateway would: it finds the
// credentials in a request (a user-pool or OIDC bearer token, or an AWS Signature Version 4 made with
// identity-pool credentials), verifies them, and asks the policy. It knows nothing of Caddy: the Caddy
// module turns its Decision into headers, placeholders or an error response. NewTokenVerifier builds
// the bearer-token side from a declarative Issuers, drawing key sets and the token cache from the
// host's Shared store.
package authorizer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/policy"
	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// Config configures an Authorizer.
type Config struct {
	// Tokens verifies bearer tokens. Nil: requests with a bearer token are refused.
	Tokens *userpool.Verifier
	// Signatures verifies requests signed with AWS Signature Version 4 (with identity-pool credentials:
	// see SessionCredentials). Nil: signed requests are refused.
	Signatures *sigv4.Verifier
	// AllowAnonymous lets requests without credentials through as identity.KindNone instead of
	// answering 401.
	AllowAnonymous bool
	// TokenQuery and TokenCookie name a query parameter and a cookie that may carry the bearer token
	// when the Authorization header is absent (browsers opening a WebSocket, for example). Empty: not
	// looked at.
	TokenQuery, TokenCookie string

	// Policy decides every request whose credentials verified (and anonymous ones, with
	// AllowAnonymous). Nil: every verified caller is allowed.
	Policy *policy.Engine
	// Rules are this route's settings for the policy (input.config).
	Rules *policy.Rules
	// Redaction names the route's own credential carriers (TokenQuery), kept out of the policy input.
	Redaction *policy.Redaction
	// Shadow lets every request through that would be refused for its credentials or by the policy,
	// marking the decision (Decision.Shadow) so the refusal is logged and the upstream told, never
	// enforced. Malformed requests (an ambiguous path, credentials in two places) are still refused.
	Shadow bool
}

// Request is what Authorize decides on.
type Request struct {
	// HTTP is the request as it will reach the upstream (after Caddy's rewrites).
	HTTP *http.Request
	// Sent is the same request as the client sent it, before any rewrite; nil if nothing was
	// rewritten. It may share HTTP's header and body. SigV4 signatures are checked against it.
	Sent *http.Request
	// RemoteIP is the client's address as the gateway trusts it (after trusted proxies); empty: the
	// host of HTTP.RemoteAddr.
	RemoteIP string
}

// Authorizer decides requests. It is safe for concurrent use.
type Authorizer struct {
	cfg Config
}

// New returns an Authorizer for cfg.
func New(cfg Config) *Authorizer {
	return &Authorizer{cfg: cfg}
}

// Scheme is how a request presented its credentials; it shapes the error response (an OAuth bearer
// challenge or an API Gateway SigV4 error).
type Scheme uint8

// The credential schemes.
const (
	SchemeNone Scheme = iota
	SchemeBearer
	SchemeSigV4
)

// Decision is the outcome of Authorize.
type Decision struct {
	// Allow says whether the request may reach the upstream.
	Allow bool
	// Identity is the verified caller (identity.KindNone for anonymous callers); nil when the
	// credentials could not be verified.
	Identity *identity.Identity
	// Scheme is how the request presented its credentials.
	Scheme Scheme
	// Path is the request path the decision was made on; it is what the upstream receives.
	Path string

	// On deny:

	// Status is the HTTP status to answer with.
	Status int
	// Code is the machine-readable error: an RFC 6750 error code for bearer callers (invalid_request,
	// invalid_token, insufficient_scope), or an API Gateway error type for SigV4 callers; empty when
	// there is nothing to say beyond the status (no credentials at all).
	Code string
	// Message is the generic message safe to show the client.
	Message string
	// Challenge is the WWW-Authenticate value to answer with, empty for none. Only a route that
	// accepts bearer tokens challenges for one (RFC 6750); a route that accepts only SigV4 answers as
	// API Gateway's IAM authorization does (403 and an x-amzn-ErrorType, no challenge), and one that
	// accepts only anonymous callers advertises nothing.
	Challenge string
	// Reason is the detailed reason, for the log only. It never contains a credential.
	Reason error
	// Label names in a few characters why the request was allowed or refused ("allowed",
	// "no_credentials", "invalid_token", "InvalidSignatureException", the policy's rule...): bounded,
	// so it suits a metrics label.
	Label string

	// Headers are the policy's headers for the upstream, on allow.
	Headers map[string]string
	// PolicyTime is how long the policy took; zero when it did not run.
	PolicyTime time.Duration
	// Shadow is set on a request allowed only because of shadow mode: Status, Code, Message, Reason
	// and Label describe the refusal that was not enforced.
	Shadow bool
}

// Errors the Decision's Reason can wrap, beyond those of the verifiers and ErrBadPath.
var (
	// ErrNoCredentials: the request carried no credentials and anonymous access is off.
	ErrNoCredentials = errors.New("no credentials in the request")
	// ErrAmbiguousCredentials: the request carried credentials in more than one place.
	ErrAmbiguousCredentials = errors.New("credentials in more than one place")
	// ErrUnsupportedScheme: the Authorization header used a scheme this authorizer does not accept.
	ErrUnsupportedScheme = errors.New("unsupported authorization scheme")
)

// Authorize decides a request. It never panics, and never allows a request whose credentials failed
// or that the policy refused, unless Shadow is set.
func (a *Authorizer) Authorize(ctx context.Context, req Request) *Decision {
	d := a.authenticate(ctx, req)
	if d.Allow && a.cfg.Policy != nil {
		a.decide(ctx, req, d)
	}
	if d.Allow {
		d.Label = "allowed"
		return d
	}
	a.challenge(d)
	if a.cfg.Shadow && d.Status != http.StatusBadRequest {
		d.Allow, d.Shadow = true, true
	}
	return d
}

// challenge shapes a refusal by what the route accepts, so that it never asks for credentials the
// route would refuse. A route that accepts bearer tokens challenges for one (RFC 6750) on a 401, a
// missing scope or a malformed request. A route that does not turns a 401 into a 403: as API
// Gateway's IAM authorization answers (MissingAuthenticationTokenException) when it accepts SigV4, a
// plain 403 when it accepts only anonymous callers; and it drops the RFC 6750 error codes.
func (a *Authorizer) challenge(d *Decision) {
	if a.cfg.Tokens != nil {
		if d.Scheme != SchemeSigV4 && (d.Status == http.StatusUnauthorized || d.Code == "insufficient_scope" || d.Code == "invalid_request") {
			d.Challenge = bearerChallenge(d.Code)
		}
		return
	}
	if d.Scheme == SchemeSigV4 {
		return
	}
	switch {
	case a.cfg.Signatures != nil && d.Status == http.StatusUnauthorized:
		d.Scheme, d.Status, d.Code, d.Message = SchemeSigV4, http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"
	case a.cfg.Signatures != nil && d.Status == http.StatusBadRequest:
		d.Scheme, d.Code = SchemeSigV4, "BadRequestException"
	case d.Status == http.StatusUnauthorized:
		d.Status, d.Code, d.Message = http.StatusForbidden, "", "Forbidden"
	default:
		d.Code = ""
	}
}

// bearerChallenge is the RFC 6750 WWW-Authenticate value for an error code ("" for a request that
// carried no bearer credentials).
func bearerChallenge(code string) string {
	if code == "" {
		return "Bearer"
	}
	return `Bearer error="` + code + `"`
}

// authenticate finds and verifies the request's credentials.
func (a *Authorizer) authenticate(ctx context.Context, req Request) *Decision {
	r, sent := req.HTTP, req.Sent
	if sent == nil {
		sent = r
	}
	path, err := DecisionPath(r)
	if err != nil {
		return &Decision{Status: http.StatusBadRequest, Code: "invalid_request", Message: "Bad Request", Reason: err, Label: "bad_path"}
	}
	cred, err := a.findCredentials(sent)
	if a.cfg.Tokens == nil && a.cfg.Signatures != nil && (errors.Is(err, ErrUnsupportedScheme) || err == nil && cred.scheme == SchemeBearer) {
		return notSigV4(path, sent)
	}
	if errors.Is(err, ErrUnsupportedScheme) {
		// RFC 6750 3.1: a request without credentials of this scheme gets the bare challenge.
		return &Decision{Path: path, Status: http.StatusUnauthorized, Message: "Unauthorized", Reason: err, Label: "unsupported_scheme"}
	}
	if err != nil {
		return &Decision{Path: path, Status: http.StatusBadRequest, Code: "invalid_request", Message: "Bad Request",
			Reason: err, Label: "ambiguous_credentials"}
	}
	switch cred.scheme {
	case SchemeBearer:
		return a.bearer(ctx, path, cred.token)
	case SchemeSigV4:
		return a.signed(path, r, sent)
	}
	switch {
	case a.cfg.AllowAnonymous:
		return &Decision{Allow: true, Path: path, Identity: identity.Anonymous()}
	case a.cfg.Tokens == nil && a.cfg.Signatures != nil:
		// Only SigV4 is accepted here: answer as API Gateway's IAM authorization does.
		return &Decision{Path: path, Scheme: SchemeSigV4, Status: http.StatusForbidden,
			Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token", Reason: ErrNoCredentials,
			Label: "no_credentials"}
	default:
		return &Decision{Path: path, Status: http.StatusUnauthorized, Message: "Unauthorized", Reason: ErrNoCredentials,
			Label: "no_credentials"}
	}
}

// notSigV4 refuses credentials other than SigV4 on a route that accepts only SigV4, as API Gateway's
// IAM authorization does.
func notSigV4(path string, r *http.Request) *Decision {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		// A token in the query or a cookie: to API Gateway, an unsigned request.
		return &Decision{Path: path, Scheme: SchemeSigV4, Status: http.StatusForbidden,
			Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token",
			Reason: errors.New("bearer tokens are not accepted here: no user_pool or oidc issuer configured"), Label: "unsupported_scheme"}
	}
	e := sigv4.NotSigV4(auth)
	return &Decision{Path: path, Scheme: SchemeSigV4, Status: e.Status, Code: e.Type, Message: e.Message, Reason: e,
		Label: "unsupported_scheme"}
}

// decide asks the policy about an authenticated request, and turns d into its answer. A policy that
// fails (an evaluation error, an undefined or malformed decision) is a 500, and no policy loaded yet
// (a bundle that never activated) a 503: the gateway cannot decide, and never allows.
func (a *Authorizer) decide(ctx context.Context, req Request, d *Decision) {
	start := time.Now()
	pd, err := a.cfg.Policy.Decide(ctx, policy.Input{
		Request: req.HTTP, Path: d.Path, RemoteIP: req.RemoteIP, Identity: d.Identity,
		Rules: a.cfg.Rules, Redaction: a.cfg.Redaction,
	})
	d.PolicyTime = time.Since(start)
	if err != nil {
		d.Allow, d.Reason = false, err
		if errors.Is(err, policy.ErrBadRequest) {
			d.Status, d.Code, d.Message, d.Label = http.StatusBadRequest, "invalid_request", "Bad Request", "bad_request"
			if d.Scheme == SchemeSigV4 {
				d.Code = "BadRequestException"
			}
			return
		}
		if errors.Is(err, policy.ErrUnavailable) {
			// No good policy was ever loaded (the bundle has not arrived): nothing to decide with.
			d.Status, d.Code, d.Message, d.Label = http.StatusServiceUnavailable, "", "Service Unavailable", "policy_unavailable"
			return
		}
		d.Status, d.Code, d.Message, d.Label = http.StatusInternalServerError, "", "Internal Server Error", "policy_error"
		return
	}
	if pd.Allow {
		d.Headers = pd.Headers
		return
	}
	d.Allow, d.Status, d.Label = false, pd.Status, pd.Rule
	if d.Label == "" {
		d.Label = "policy"
	}
	d.Reason = fmt.Errorf("denied by %s: %s", a.cfg.Policy, pd.Reason)
	switch {
	case d.Scheme == SchemeSigV4:
		// As API Gateway answers an IAM deny.
		d.Code, d.Message = "AccessDeniedException", "User is not authorized to access this resource"
	case pd.Status == http.StatusUnauthorized:
		d.Message = "Unauthorized"
		if d.Identity.Kind != identity.KindNone {
			d.Code = "invalid_token"
		}
	case pd.Rule == policy.RuleScopes:
		d.Code, d.Message = "insufficient_scope", "Forbidden"
	default:
		d.Message = http.StatusText(pd.Status)
	}
}

// signed verifies a SigV4 request against the request as sent, then hands the buffered body (restored
// by the verifier on sent) to r.
func (a *Authorizer) signed(path string, r, sent *http.Request) *Decision {
	d := &Decision{Path: path, Scheme: SchemeSigV4}
	if a.cfg.Signatures == nil {
		if a.cfg.Tokens == nil {
			d.Status, d.Code, d.Message = http.StatusForbidden, "IncompleteSignatureException", "Forbidden"
		} else {
			// Only bearer tokens are accepted here: challenge for one.
			d.Scheme, d.Status, d.Message = SchemeNone, http.StatusUnauthorized, "Unauthorized"
		}
		d.Reason, d.Label = errors.New("SigV4 requests are not accepted here: no identity_pool configured"), "unsupported_scheme"
		return d
	}
	res, err := a.cfg.Signatures.Verify(sent)
	r.Body = sent.Body
	if err != nil {
		d.Reason = err
		var e *sigv4.Error
		if errors.As(err, &e) {
			d.Status, d.Code, d.Message, d.Label = e.Status, e.Type, e.Message, e.Type
		} else {
			d.Status, d.Message, d.Label = http.StatusInternalServerError, "Internal Server Error", "signature_error"
		}
		return d
	}
	if res.Credential == nil || res.Credential.Identity == nil {
		d.Status, d.Message, d.Label, d.Reason = http.StatusInternalServerError, "Internal Server Error", "signature_error",
			errors.New("the credential source returned no identity")
		return d
	}
	d.Allow, d.Identity = true, res.Credential.Identity
	return d
}

func (a *Authorizer) bearer(ctx context.Context, path, token string) *Decision {
	d := &Decision{Path: path, Scheme: SchemeBearer}
	if a.cfg.Tokens == nil {
		d.Status, d.Code, d.Message, d.Label, d.Reason = http.StatusUnauthorized, "invalid_token", "Unauthorized",
			"unsupported_scheme", errors.New("bearer tokens are not accepted here: no user_pool or oidc issuer configured")
		return d
	}
	id, err := a.cfg.Tokens.Verify(ctx, token)
	if err != nil {
		d.Reason = err
		if errors.Is(err, userpool.ErrKeysUnavailable) {
			// The gateway cannot decide: never an allow, never the caller's fault.
			d.Status, d.Message, d.Label = http.StatusServiceUnavailable, "Service Unavailable", "keys_unavailable"
			return d
		}
		if errors.Is(err, userpool.ErrUserPoolUnavailable) {
			d.Status, d.Message, d.Label = http.StatusServiceUnavailable, "Service Unavailable", "user_pool_unavailable"
			return d
		}
		if errors.Is(err, userpool.ErrUserRevoked) {
			d.Status, d.Code, d.Message, d.Label = http.StatusUnauthorized, "invalid_token", "Unauthorized", "user_revoked"
			return d
		}
		d.Status, d.Code, d.Message, d.Label = http.StatusUnauthorized, "invalid_token", "Unauthorized", "invalid_token"
		return d
	}
	d.Allow, d.Identity = true, id
	return d
}

type credentials struct {
	scheme Scheme
	token  string
}

// findCredentials looks for exactly one credential in the request. Credentials in two places (two
// Authorization headers, a header and a query token, a bearer token and a SigV4 signature) are refused
// rather than resolved by precedence: the verifier and the upstream could otherwise disagree on whose
// request this is.
func (a *Authorizer) findCredentials(r *http.Request) (credentials, error) {
	var places [4]credentials // one per place a credential can be: on the stack, not allocated per request
	found := places[:0]
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return credentials{}, ErrAmbiguousCredentials
	}
	if len(auth) == 1 {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			found = append(found, credentials{scheme: SchemeBearer, token: strings.TrimSpace(rest)})
		case scheme == "AWS4-HMAC-SHA256":
			found = append(found, credentials{scheme: SchemeSigV4})
		default:
			return credentials{}, ErrUnsupportedScheme
		}
	}
	// A presigned URL; the verifier itself refuses a request signed both ways.
	if (len(found) == 0 || found[0].scheme != SchemeSigV4) && sigv4.IsSigned(r) {
		found = append(found, credentials{scheme: SchemeSigV4})
	}
	if a.cfg.TokenQuery != "" && r.URL.Query().Has(a.cfg.TokenQuery) {
		q := r.URL.Query()[a.cfg.TokenQuery]
		if len(q) > 1 {
			return credentials{}, ErrAmbiguousCredentials
		}
		found = append(found, credentials{scheme: SchemeBearer, token: q[0]})
	}
	if a.cfg.TokenCookie != "" {
		cookies := r.CookiesNamed(a.cfg.TokenCookie)
		if len(cookies) > 1 {
			return credentials{}, ErrAmbiguousCredentials
		}
		if len(cookies) == 1 {
			found = append(found, credentials{scheme: SchemeBearer, token: cookies[0].Value})
		}
	}
	switch len(found) {
	case 0:
		return credentials{scheme: SchemeNone}, nil
	case 1:
		return found[0], nil
	default:
		return credentials{}, ErrAmbiguousCredentials
	}
}
