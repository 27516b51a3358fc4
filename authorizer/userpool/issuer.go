package userpool

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Token uses of a user-pool Issuer (Cognito's token_use claim).
const (
	TokenUseAccess = "access" // access tokens only (the default)
	TokenUseID     = "id"     // ID tokens only
	TokenUseAny    = "any"    // either
)

// Issuer is one trusted token issuer, as configured: a Cognito user pool or a generic OIDC provider.
// Tokens are matched to an Issuer by their exact iss claim.
type Issuer struct {
	// Kind is identity.KindUserPool or identity.KindOIDC.
	Kind identity.Kind
	// Issuer is the exact iss tokens must carry, e.g.
	// "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123" (see CognitoIssuerURL).
	Issuer string
	// ClientIDs are the accepted app clients. For user pools: the client_id of access tokens and the aud
	// of ID tokens. For OIDC: the accepted audiences (the token's aud, a string or an array, must contain
	// one). At least one is required: a token issued to another application of the same issuer is
	// refused.
	ClientIDs []string
	// TokenUse is, for user pools only, which tokens are accepted: "access" (default), "id" or "any".
	// It must be empty for OIDC issuers.
	TokenUse string
	// Algorithms is the allow-list of signature algorithms; default RS256. Allowed values: RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519. "none" and HMAC (HS*) are refused:
	// a verifier that holds only public keys must never accept a shared-secret signature.
	Algorithms []string
	// Keys is where the issuer's public keys come from. A KeySet may be shared by several verifiers.
	Keys *KeySet
	// UserCheck, for user pools only, also asks the pool about every access token that verifies
	// (GetUser, remembered for its interval); ID tokens are not asked about: GetUser takes only access
	// tokens. Nil: tokens are judged on their signature and times alone.
	UserCheck *UserCheck
}

// poolIDPattern is the shape of a user pool id: <region>_<id>, e.g. us-east-1_AbC123def.
var poolIDPattern = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})_([0-9A-Za-z]{1,40})$`)

// CognitoIssuerURL returns the iss of the tokens of the Amazon Cognito user pool poolID,
// https://cognito-idp.<region>.amazonaws.com/<poolID> (amazonaws.com.cn in the China regions), the
// region being taken from the id. It refuses ids that are not of the form <region>_<id>.
func CognitoIssuerURL(poolID string) (string, error) {
	m := poolIDPattern.FindStringSubmatch(poolID)
	if m == nil {
		return "", fmt.Errorf("user pool id %s is not of the form <region>_<id>, e.g. us-east-1_AbC123", quote(poolID))
	}
	region := m[1]
	domain := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return "https://cognito-idp." + region + "." + domain + "/" + poolID, nil
}

// CognitoJWKSURL returns the JWKS URL of a user pool given its issuer: <issuer>/.well-known/jwks.json.
func CognitoJWKSURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json"
}

// keyKind is the kind of public key an algorithm needs.
type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindP384
	kindP521
	kindEd25519
)

// signatureAlgorithm resolves an allowed algorithm name; HMAC and "none" are never allowed.
func signatureAlgorithm(name string) (jwa.SignatureAlgorithm, keyKind, bool) {
	var kind keyKind
	switch name {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		kind = kindRSA
	case "ES256":
		kind = kindP256
	case "ES384":
		kind = kindP384
	case "ES512":
		kind = kindP521
	case "EdDSA", "Ed25519":
		kind = kindEd25519
	default:
		return jwa.SignatureAlgorithm{}, 0, false
	}
	alg, ok := jwa.LookupSignatureAlgorithm(name)
	return alg, kind, ok
}

// checkAlgorithms validates an algorithm allow-list from configuration.
func checkAlgorithms(names []string) error {
	for _, name := range names {
		if _, _, ok := signatureAlgorithm(name); !ok {
			if name == "none" || strings.HasPrefix(name, "HS") {
				return fmt.Errorf("algorithm %s is never allowed: tokens must be signed with a public-key algorithm", quote(name))
			}
			return fmt.Errorf("unsupported algorithm %s (want one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519)", quote(name))
		}
	}
	return nil
}

// quote renders a value taken from untrusted input for an error message: quoted, and cut short so a
// hostile value cannot flood the logs.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
