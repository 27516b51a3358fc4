package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a refused request: what to answer the client and why, for the log.
//
// Type and Message are what API Gateway would answer (the `x-amzn-ErrorType` header and the JSON
// `{"message": ...}` body); Status is the HTTP status to send. Err is the detailed reason for the log:
// it wraps one of the sentinel errors below (test it with errors.Is) and never holds the secret key,
// the signature or the session token.
type Error struct {
	// Type is API Gateway's error type, e.g. "InvalidSignatureException".
	Type string
	// Message is a generic message for the client, in API Gateway's words.
	Message string
	// Status is the HTTP status code: 403 for authentication failures, 413 for a body over the
	// limit, 400 for a body that could not be read, 500 when the credential source failed, 503 when
	// the replay store failed.
	Status int
	// Err is the reason, for the log.
	Err error
}

// Error returns the detailed reason, fit for a log line (not for the client: use Message).
func (e *Error) Error() string { return "sigv4: " + e.Type + ": " + e.Err.Error() }

// Unwrap returns the detailed reason, so errors.Is(err, sigv4.ErrSignatureMismatch) works.
func (e *Error) Unwrap() error { return e.Err }

// The reasons a request is refused. Each *Error wraps exactly one of them.
var (
	// ErrNotSigned: the request carries neither an AWS4 Authorization header nor X-Amz-Algorithm
	// in its query.
	ErrNotSigned = errors.New("request is not signed with AWS Signature Version 4")
	// ErrMalformedSignature: the Authorization header or the presigned query parameters are
	// incomplete or garbled (missing or repeated fields, bad date, bad X-Amz-Expires...).
	ErrMalformedSignature = errors.New("malformed signature")
	// ErrHeaderNotSigned: host, or a present x-amz-* header other than x-amz-content-sha256 and
	// x-amz-security-token, is not in SignedHeaders.
	ErrHeaderNotSigned = errors.New("required header not signed")
	// ErrScopeMismatch: the credential scope names another date, region or service.
	ErrScopeMismatch = errors.New("credential scope mismatch")
	// ErrSignatureExpired: the signing date is older than the clock skew allows, or a presigned
	// request is past X-Amz-Expires.
	ErrSignatureExpired = errors.New("signature expired")
	// ErrSignatureNotYetCurrent: the signing date is further in the future than the clock skew allows.
	ErrSignatureNotYetCurrent = errors.New("signature not yet current")
	// ErrMalformedRequest: the request cannot be put in canonical form (bad percent-encoding, a
	// signed header missing or sent under several spellings, too many query parameters...).
	ErrMalformedRequest = errors.New("request cannot be canonicalized")
	// ErrSignatureMismatch: the signature does not match the request.
	ErrSignatureMismatch = errors.New("signature does not match")
	// ErrUnsupportedPayload: x-amz-content-sha256 is UNSIGNED-PAYLOAD where that is not allowed,
	// a streaming (chunk-signed) payload, or not a SHA-256 in hex.
	ErrUnsupportedPayload = errors.New("unsupported payload hash")
	// ErrPayloadHashMismatch: the body does not hash to x-amz-content-sha256 (signed or not).
	ErrPayloadHashMismatch = errors.New("body does not match x-amz-content-sha256")
	// ErrBodyTooLarge: the body is longer than Options.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrBodyRead: the body could not be read.
	ErrBodyRead = errors.New("reading the request body")

	// ErrUnknownCredential: the credential source does not know the access key id or the session
	// token. A CredentialSource may wrap it; any error it returns that wraps neither
	// ErrExpiredCredential nor ErrCredentialSourceUnavailable is treated the same way.
	ErrUnknownCredential = errors.New("unknown credential")
	// ErrExpiredCredential: the credential has expired. A CredentialSource wraps it for a session
	// token it recognizes as expired; the verifier also returns it when Credential.Expires is past.
	ErrExpiredCredential = errors.New("expired credential")
	// ErrCredentialSourceUnavailable: the credential source could not decide (storage down, a
	// timeout). A CredentialSource wraps it; the verifier answers 500, never an allow.
	ErrCredentialSourceUnavailable = errors.New("credential source unavailable")
)

// Messages in API Gateway's words.
const (
	msgMissingToken = "Missing Authentication Token"
	msgMismatch     = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidToken = "The security token included in the request is invalid."
	// S3's words for a body that does not hash to x-amz-content-sha256.
	msgPayloadHashMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgExpiredToken        = "The security token included in the request is expired"
)

// refuse builds the *Error for a reason (one of the sentinels) with a client message and a detail.
func refuse(reason error, message, detail string, args ...any) *Error {
	e := &Error{Message: message, Status: http.StatusForbidden}
	switch reason {
	case ErrNotSigned:
		e.Type = "MissingAuthenticationTokenException"
	case ErrMalformedSignature, ErrHeaderNotSigned:
		e.Type = "IncompleteSignatureException"
	case ErrUnknownCredential:
		e.Type = "UnrecognizedClientException"
	case ErrExpiredCredential:
		e.Type = "ExpiredTokenException"
	case ErrBodyTooLarge:
		e.Type, e.Status = "RequestTooLargeException", http.StatusRequestEntityTooLarge
	case ErrBodyRead:
		e.Type, e.Status = "BadRequestException", http.StatusBadRequest
	case ErrCredentialSourceUnavailable:
		e.Type, e.Status = "InternalServerErrorException", http.StatusInternalServerError
	case ErrReplayStoreUnavailable:
		e.Type, e.Status = "ServiceUnavailableException", http.StatusServiceUnavailable
	default:
		e.Type = "InvalidSignatureException"
	}
	if detail == "" {
		e.Err = reason
	} else {
		e.Err = fmt.Errorf("%w: "+detail, append([]any{reason}, args...)...)
	}
	return e
}

// malformed is the common IncompleteSignatureException.
func malformed(detail string, args ...any) *Error {
	return refuse(ErrMalformedSignature, "Invalid or incomplete AWS Signature Version 4 authorization.", detail, args...)
}

// uncanonical is a request that cannot be put in canonical form: to the client, a mismatch.
func uncanonical(detail string, args ...any) *Error {
	return refuse(ErrMalformedRequest, msgMismatch, detail, args...)
}

// sourceError maps a CredentialSource error to the client's answer. The source's message goes to
// the log only; the access key id is not a secret (AWS logs it too).
func sourceError(accessKeyID string, err error) *Error {
	switch {
	case errors.Is(err, ErrExpiredCredential):
		return refuse(ErrExpiredCredential, msgExpiredToken, "access key %s: %v", accessKeyID, err)
	case errors.Is(err, ErrCredentialSourceUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return refuse(ErrCredentialSourceUnavailable, "Internal server error", "access key %s: %v", accessKeyID, err)
	default:
		return refuse(ErrUnknownCredential, msgInvalidToken, "access key %s: %v", accessKeyID, err)
	}
}

// NotSigV4 is API Gateway's answer, on a route with IAM authorization, to an Authorization header
// that is not a SigV4 one (a bearer token, Basic credentials): an IncompleteSignatureException that
// names the header by its SHA-256, as API Gateway does, so the answer never echoes a credential.
func NotSigV4(authorization string) *Error {
	sum := sha256.Sum256([]byte(authorization))
	scheme, _, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	return refuse(ErrMalformedSignature,
		"Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '"+
			base64.StdEncoding.EncodeToString(sum[:])+"'.",
		"the Authorization header is not AWS4-HMAC-SHA256 (scheme %.32q)", scheme)
}
