package userpool

import "errors"

// Errors returned by Verify, for errors.Is. Every error Verify returns wraps exactly one of them; the
// wrapping text says what was wrong (the claim, the issuer, the key id) and never contains the token, a
// signature or a key.
var (
	// ErrMalformed: the token is not a well-formed compact JWS with a JSON object payload, or a required
	// part is missing or has the wrong type (header alg/kid, claims iss/sub/exp/token_use).
	ErrMalformed = errors.New("malformed token")
	// ErrTooLarge: the token is longer than Options.MaxTokenBytes; nothing of it was parsed.
	ErrTooLarge = errors.New("token too large")
	// ErrUnknownIssuer: the token's iss is not one of the configured issuers. Nothing was fetched.
	ErrUnknownIssuer = errors.New("untrusted issuer")
	// ErrUnknownKey: the token's kid matches no key of its issuer, even after a refetch of the JWKS.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrSignature: the signature does not verify with the issuer's key.
	ErrSignature = errors.New("invalid signature")
	// ErrAlgorithm: the token's alg is not allowed for its issuer or does not fit the key.
	ErrAlgorithm = errors.New("signing algorithm not allowed")
	// ErrExpired: the token's exp has passed, clock skew included.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: the token's nbf, or its iat, is later than now plus the clock skew.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrAudience: the token was issued to a client (client_id of an access token, aud otherwise) that is
	// not configured for its issuer.
	ErrAudience = errors.New("token audience not accepted")
	// ErrTokenUse: a user-pool token whose token_use is not the configured one.
	ErrTokenUse = errors.New("token use not accepted")
	// ErrKeysUnavailable: the issuer's keys were never fetched, or were dropped after their stale window
	// ran out during an outage. The token could not be judged: the caller should answer 503, not 401.
	ErrKeysUnavailable = errors.New("signing keys unavailable")
)
