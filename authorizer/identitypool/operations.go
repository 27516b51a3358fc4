package identitypool

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/internal/clip"
)

// Inputs and outputs of the operations, with Cognito's field names.

type getIDInput struct {
	IdentityPoolId string
	AccountId      string
	Logins         map[string]string
}

type getIDOutput struct {
	IdentityId string
}

type getCredentialsInput struct {
	IdentityId    string
	Logins        map[string]string
	CustomRoleArn string
}

type credentialsOutput struct {
	AccessKeyId  string
	SecretKey    string
	SessionToken string
	// Expiration is in epoch seconds, as AWS JSON protocols send timestamps.
	Expiration int64
}

type getCredentialsOutput struct {
	IdentityId  string
	Credentials credentialsOutput
}

type getOpenIDTokenInput struct {
	IdentityId string
	Logins     map[string]string
}

type getOpenIDTokenOutput struct {
	IdentityId string
	Token      string
}

// maxLoginTokenLen is Cognito's limit on a value of Logins.
const maxLoginTokenLen = 50000

// login is a verified login: the provider and who its token proved.
type login struct {
	provider string
	id       *identity.Identity
}

func (p *Pool) getID(ctx context.Context, in *getIDInput) (any, error) {
	if err := p.checkPoolID(in.IdentityPoolId); err != nil {
		return nil, err
	}
	logins, err := p.verifyLogins(ctx, in.Logins)
	if err != nil {
		return nil, err
	}
	if err := p.checkRevoked("", logins); err != nil {
		return nil, err
	}
	if len(logins) == 0 {
		if p.cfg.UnauthenticatedRole == "" {
			return nil, errGuestsDisabled()
		}
		return &getIDOutput{IdentityId: p.cfg.Keys.newGuestIdentityID()}, nil
	}
	return &getIDOutput{IdentityId: p.identityIDOf(logins)}, nil
}

func (p *Pool) getCredentials(ctx context.Context, in *getCredentialsInput) (any, error) {
	logins, err := p.checkIdentity(ctx, in.IdentityId, in.Logins)
	if err != nil {
		return nil, err
	}
	if err := p.checkRevoked(in.IdentityId, logins); err != nil {
		return nil, err
	}
	var role string
	var tags map[string]string
	if len(logins) == 0 {
		if in.CustomRoleArn != "" {
			return nil, clientError(errTypeInvalidParameter, nil, "CustomRoleArn applies only to identities with logins")
		}
		role = p.cfg.UnauthenticatedRole
	} else {
		if role, err = p.resolveRole(logins[0], in.CustomRoleArn); err != nil {
			return nil, err
		}
		if tags, err = principalTags(logins[0].id, p.cfg.PrincipalTags); err != nil {
			return nil, clientError(errTypeInvalidParameter, err, "the login token's claims cannot become principal tags")
		}
	}
	s := &Session{
		AccessKeyID:            newAccessKeyID(),
		SecretAccessKey:        newSecretAccessKey(),
		IdentityID:             in.IdentityId,
		PoolID:                 p.cfg.PoolID,
		RoleARN:                role,
		PrincipalTags:          tags,
		LoginProviders:         providersOf(logins),
		AuthenticationProvider: authenticationProvider(logins),
		Expires:                time.Unix(p.cfg.Now().Add(p.cfg.CredentialsTTL).Unix(), 0),
	}
	if len(logins) > 0 {
		// The login whose role and tags the credentials carry is the one that revokes them.
		s.LoginSubject, s.LoginOriginJTI, s.LoginIssuedAt = logins[0].id.Subject, logins[0].id.OriginJTI, logins[0].id.IssuedAt
	}
	token, err := p.cfg.Keys.SealSession(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("issuing credentials to %s: %w", s.IdentityID, err)
	}
	if o := p.cfg.Observer; o != nil {
		o.Issued(role)
	}
	return &getCredentialsOutput{
		IdentityId: s.IdentityID,
		Credentials: credentialsOutput{
			AccessKeyId:  s.AccessKeyID,
			SecretKey:    s.SecretAccessKey,
			SessionToken: token,
			Expiration:   s.Expires.Unix(),
		},
	}, nil
}

func (p *Pool) getOpenIDToken(ctx context.Context, in *getOpenIDTokenInput) (any, error) {
	if p.cfg.Issuer == "" {
		return nil, clientError(errTypeInvalidPoolConfig, nil,
			"GetOpenIdToken is disabled: the identity pool has no issuer URL configured")
	}
	logins, err := p.checkIdentity(ctx, in.IdentityId, in.Logins)
	if err != nil {
		return nil, err
	}
	if err := p.checkRevoked(in.IdentityId, logins); err != nil {
		return nil, err
	}
	var tags map[string]string
	if len(logins) > 0 {
		if tags, err = principalTags(logins[0].id, p.cfg.PrincipalTags); err != nil {
			return nil, clientError(errTypeInvalidParameter, err, "the login token's claims cannot become principal tags")
		}
	}
	token, err := p.signOpenIDToken(ctx, in.IdentityId, logins, tags)
	if err != nil {
		return nil, err
	}
	return &getOpenIDTokenOutput{IdentityId: in.IdentityId, Token: token}, nil
}

// checkRevoked refuses, as Cognito refuses a disabled identity or a revoked token, an identity id or
// a login that Config.Revoked says is revoked.
func (p *Pool) checkRevoked(identityID string, logins []login) error {
	if p.cfg.Revoked == nil {
		return nil
	}
	now := p.cfg.Now()
	for _, l := range logins {
		if p.cfg.Revoked(identityID, l.id, now) {
			return clientError(errTypeNotAuthorized, nil, "Invalid login token. The token of %s has been revoked.", l.provider)
		}
	}
	if identityID != "" && p.cfg.Revoked(identityID, nil, now) {
		return clientError(errTypeNotAuthorized, nil, "Access to Identity '%s' is forbidden.", identityID)
	}
	return nil
}

func (p *Pool) checkPoolID(id string) error {
	if id == "" {
		return clientError(errTypeInvalidParameter, nil, "IdentityPoolId is required")
	}
	if _, _, err := ParsePoolID(id); err != nil {
		return clientError(errTypeInvalidParameter, nil, "IdentityPoolId must be <region>:<uuid>")
	}
	if id != p.cfg.PoolID {
		return clientError(errTypeResourceNotFound, nil, "IdentityPool '%s' not found", id)
	}
	return nil
}

// checkIdentity verifies the logins and that identityID is theirs; with no logins, that it is a guest id
// of this pool and guests are allowed. It returns the logins sorted by provider.
func (p *Pool) checkIdentity(ctx context.Context, identityID string, raw map[string]string) ([]login, error) {
	if identityID == "" {
		return nil, clientError(errTypeInvalidParameter, nil, "IdentityId is required")
	}
	if _, err := p.cfg.Keys.parseIdentityID(identityID); err != nil {
		if errors.Is(err, errForeignIdentityID) {
			return nil, clientError(errTypeResourceNotFound, err, "Identity '%s' not found", identityID)
		}
		return nil, clientError(errTypeInvalidParameter, err, "IdentityId must be <region>:<uuid>")
	}
	logins, err := p.verifyLogins(ctx, raw)
	if err != nil {
		return nil, err
	}
	if len(logins) > 0 {
		if p.identityIDOf(logins) != identityID {
			return nil, clientError(errTypeNotAuthorized, nil, "the logins do not belong to identity %s", identityID)
		}
		return logins, nil
	}
	switch err := p.cfg.Keys.checkGuestIdentityID(identityID); {
	case errors.Is(err, errNotGuestIdentityID):
		return nil, clientError(errTypeNotAuthorized, err, "identity %s has logins: present at least one of them", identityID)
	case err != nil:
		return nil, clientError(errTypeResourceNotFound, err, "Identity '%s' not found", identityID)
	}
	if p.cfg.UnauthenticatedRole == "" {
		return nil, errGuestsDisabled()
	}
	return nil, nil
}

func errGuestsDisabled() error {
	return clientError(errTypeNotAuthorized, nil, "Unauthenticated access is not supported for this identity pool")
}

// verifyLogins checks the Logins map and verifies every token, in provider order. Every provider is
// checked to be configured before any token is verified.
func (p *Pool) verifyLogins(ctx context.Context, raw map[string]string) ([]login, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > maxLogins {
		return nil, clientError(errTypeInvalidParameter, nil, "Logins has %d entries, at most %d", len(raw), maxLogins)
	}
	providers := sortedKeys(raw)
	for _, provider := range providers {
		if _, ok := p.cfg.Logins[provider]; !ok {
			return nil, clientError(errTypeNotAuthorized, nil,
				"Token is not from a supported provider of this identity pool: %q", clip.String(provider, 128))
		}
		if n := len(raw[provider]); n == 0 || n > maxLoginTokenLen {
			return nil, clientError(errTypeInvalidParameter, nil,
				"the login token of %s must have 1 to %d characters, not %d", provider, maxLoginTokenLen, n)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	logins := make([]login, 0, len(providers))
	for _, provider := range providers {
		id, err := p.cfg.Logins[provider].Verify(ctx, raw[provider])
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return nil, &apiError{status: http.StatusServiceUnavailable, typ: errTypeInternal,
					msg: fmt.Sprintf("verifying the login token of %s timed out", provider), cause: err}
			}
			return nil, clientError(errTypeNotAuthorized, err, "Invalid login token for %s", provider)
		}
		if id == nil || id.Subject == "" {
			return nil, clientError(errTypeNotAuthorized, nil, "the login token of %s has no subject", provider)
		}
		logins = append(logins, login{provider: provider, id: id})
	}
	return logins, nil
}

// identityIDOf derives the identity id of a set of logins from the first by provider name, so adding a
// second login to a request keeps the identity of the first.
func (p *Pool) identityIDOf(logins []login) string {
	return p.cfg.Keys.authenticatedIdentityID(logins[0].provider, logins[0].id.Subject)
}

// resolveRole chooses the role of an authenticated identity from its first login, as Cognito's role
// mappings do.
func (p *Pool) resolveRole(l login, customRoleARN string) (string, error) {
	role := ""
	if m := p.roleMapping(l.provider, l.id.ClientID); m != nil {
		var err error
		role, err = m.resolve(l.id.ClaimMap(), customRoleARN)
		switch {
		case errors.Is(err, errCustomRoleUnsupported):
			return "", clientError(errTypeInvalidParameter, err, "%s", err.Error())
		case errors.Is(err, errRoleDenied), errors.Is(err, errCustomRoleNotInToken):
			return "", clientError(errTypeNotAuthorized, err, "%s", err.Error())
		case err != nil:
			return "", clientError(errTypeNotAuthorized, err, "the login token of %s has unusable role claims", l.provider)
		}
	} else if customRoleARN != "" {
		return "", clientError(errTypeInvalidParameter, errCustomRoleUnsupported, "%s", errCustomRoleUnsupported.Error())
	}
	if role == "" {
		role = p.cfg.AuthenticatedRole
	}
	if role == "" {
		return "", clientError(errTypeInvalidPoolConfig, nil, "the identity pool has no authenticated role")
	}
	return role, nil
}

func providersOf(logins []login) []string {
	if len(logins) == 0 {
		return nil
	}
	out := make([]string, len(logins))
	for i, l := range logins {
		out[i] = l.provider
	}
	return out
}

// authenticationProvider is API Gateway's `cognitoAuthenticationProvider`: each provider, and for a user
// pool also `<provider>:CognitoSignIn:<sub>`, comma-separated. Also the `amr` entries after
// "authenticated" in OpenID tokens.
func authenticationProvider(logins []login) string {
	var b strings.Builder
	for _, l := range logins {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.provider)
		if strings.HasPrefix(l.provider, "cognito-idp.") {
			b.WriteString("," + l.provider + ":CognitoSignIn:" + l.id.Subject)
		}
	}
	return b.String()
}

// accessKeyEncoding writes the alphabet of AWS access key ids (base32: A-Z, 2-7).
var accessKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newAccessKeyID returns `ASIA` and 16 random characters (80 bits), the form of temporary access key ids.
func newAccessKeyID() string {
	return "ASIA" + accessKeyEncoding.EncodeToString(randomBytes(10))
}

// newSecretAccessKey returns 40 random base64 characters (240 bits), the form of AWS secret keys.
func newSecretAccessKey() string {
	return base64.StdEncoding.EncodeToString(randomBytes(30))
}
