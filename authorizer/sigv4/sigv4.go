// Package sigv4 verifies requests signed with AWS Signature Version 4, the way API Gateway's IAM
// authorization does: the Authorization-header form and the presigned-URL (query) form, checked
// against the request exactly as the client sent it.
//
// A Verifier knows one region and one service (default "execute-api") and asks a CredentialSource
// for the secret behind an access key id (and session token). It enforces:
//
//   - host and every x-amz-* header present in the request are signed, but x-amz-content-sha256 and
//     x-amz-security-token, which AWS accepts unsigned outside S3: the body is hashed all the same
//     and an unsigned content hash must be its hash; the session token must have been issued with
//     the access key that signed (the CredentialSource checks it);
//   - the credential scope names the request's date, the configured region and service, and
//     aws4_request;
//   - the signing date is within the clock skew (default 5 minutes); a presigned request is used
//     before X-Amz-Expires (at most 7 days) and before its credential expires;
//   - the payload hash is the signed x-amz-content-sha256, or the SHA-256 of the body, which is
//     read (up to Options.MaxBodyBytes) and put back for the upstream; a body that does not match
//     its x-amz-content-sha256, signed or not, is refused; UNSIGNED-PAYLOAD only signed, and with
//     Options.AllowUnsignedPayload;
//   - the signature is compared in constant time.
//
// Failures are *Error values carrying API Gateway's error type and message for the client, and
// the reason for the log (never the secret, the signature or the session token).
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

// Defaults for Options.
const (
	DefaultService             = "execute-api"
	DefaultClockSkew           = 5 * time.Minute
	DefaultMaxBodyBytes        = 10 << 20 // API Gateway's payload limit is 10 MB
	DefaultSigningKeyCacheSize = 4096
)

// MaxClockSkew is the largest ClockSkew a Verifier accepts. A header-signed request can be sent again
// for twice its skew, so a wider window turns every captured request into a long-lived credential.
const MaxClockSkew = 15 * time.Minute

// Credential is what a CredentialSource knows about an access key id.
type Credential struct {
	// SecretAccessKey is the secret the request must be signed with.
	SecretAccessKey string
	// Expires is when the credential stops being valid; zero for no expiry.
	Expires time.Time
	// Identity is whom the credential belongs to; handed back in Result.
	Identity *identity.Identity
}

// CredentialSource resolves an access key id, and the session token sent with it (empty if none),
// to a credential.
//
// It returns an error for a key or token it does not recognize, and for a session token that was not
// issued with accessKeyID: the token may be sent unsigned (x-amz-security-token is not always in
// SignedHeaders), so this check is what ties it to the signature. Wrap ErrExpiredCredential for an
// expired one (the client gets ExpiredTokenException) and ErrCredentialSourceUnavailable when it
// cannot decide (the client gets a 500); any other error means "unknown" (UnrecognizedClientException).
// Its error text goes to the log: it must not contain the session token or the secret.
type CredentialSource func(ctx context.Context, accessKeyID, sessionToken string) (*Credential, error)

// Options configure a Verifier.
type Options struct {
	// Region is the region the credential scope must name, e.g. "us-east-1". Required.
	Region string
	// Service is the service the credential scope must name. Default "execute-api".
	Service string
	// ClockSkew is how far the signing date of a header-signed request may be from now, either
	// way; it also bounds how far in the future a presigned request's date may be. Default 5m, at
	// most MaxClockSkew.
	ClockSkew time.Duration
	// MaxBodyBytes is the largest body read to hash it. Default 10 MiB (API Gateway's limit).
	// Bodies are held in memory while the request is verified and forwarded.
	MaxBodyBytes int64
	// AllowUnsignedPayload accepts a signed x-amz-content-sha256: UNSIGNED-PAYLOAD (the body is then
	// not covered by the signature), and presigned requests signed with an UNSIGNED-PAYLOAD hash that
	// send no unsigned x-amz-content-sha256. An unsigned UNSIGNED-PAYLOAD is always refused: an
	// unauthenticated header must not take the body out of the signature.
	AllowUnsignedPayload bool
	// S3 selects S3's canonical URI: the path is neither normalized nor encoded twice.
	S3 bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SigningKeyCacheSize bounds the cache of derived signing keys (one per secret and day).
	// Default 4096.
	SigningKeyCacheSize int
	// ReplayCache, when set, refuses a non-idempotent request (POST, PATCH...) whose signature was
	// already accepted and is still valid, with ErrReplayedSignature. It may be shared by verifiers
	// of the same credentials. Default: none, as AWS (a signed request may be sent again until its
	// signature expires).
	ReplayCache *ReplayCache
	// ReplayStore, when set, records the signatures of non-idempotent requests in a store that the
	// instances of a fleet share (fleet.Redis), so that a signature accepted by one is refused by every
	// other. When the store fails, the request is checked against ReplayCache if it is set, and refused
	// with ErrReplayStoreUnavailable (503) if not: a replay is never accepted unchecked. With both set,
	// ReplayCache also remembers what the store accepted, so a replay to this instance is caught during
	// an outage too.
	ReplayStore ReplayStore
}

// ReplayStore remembers keys for a while: Seen records key for ttl and reports whether it was fresh
// (not recorded yet). An error means the store could not tell. fleet.Redis is one.
type ReplayStore interface {
	Seen(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)
}

// Verifier verifies SigV4-signed requests. It is safe for concurrent use.
type Verifier struct {
	src     CredentialSource
	opts    Options
	keys    *keyCache
	scratch sync.Pool // *scratch

	// trace, when set (by tests), sees each canonical request and string to sign computed.
	trace func(canonicalRequest, stringToSign []byte)
}

// SigningKeyCacheStats returns the counts of v's cache of derived signing keys.
func (v *Verifier) SigningKeyCacheStats() SigningKeyCacheStats { return v.keys.stats() }

// scratch is per-request working memory, pooled so that verifying allocates little.
type scratch struct {
	buf    []byte // canonical request
	sts    []byte // 64 bytes of HMAC block, then the string to sign
	q      query
	names  []string
	values [][]string
	hash   [32]byte // SHA-256 of the last canonical request, for the log
}

// Result is a verified request.
type Result struct {
	// AccessKeyID is the access key id that signed the request.
	AccessKeyID string
	// Credential is what the CredentialSource returned for it.
	Credential *Credential
	// Presigned is true for the query (presigned URL) form.
	Presigned bool
	// SignedAt is the request's signing date (X-Amz-Date).
	SignedAt time.Time
	// ValidUntil is when this signature stops being accepted: SignedAt plus the clock skew, or
	// plus X-Amz-Expires when presigned, and never after the credential expires. A replay cache
	// keyed on Signature needs to remember it until then.
	ValidUntil time.Time
	// Signature is the request's signature (64 lowercase hex digits, one spelling per signature).
	Signature string
}

// NewVerifier returns a Verifier that resolves credentials with src.
func NewVerifier(src CredentialSource, opts Options) (*Verifier, error) {
	if src == nil {
		return nil, errors.New("sigv4: a credential source is required")
	}
	if opts.Region == "" || !isScopePart(opts.Region) {
		return nil, fmt.Errorf("sigv4: region %q: want letters, digits and dashes, e.g. us-east-1", opts.Region)
	}
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if !isScopePart(opts.Service) {
		return nil, fmt.Errorf("sigv4: service %q: want letters, digits and dashes, e.g. execute-api", opts.Service)
	}
	switch {
	case opts.ClockSkew < 0 || opts.ClockSkew > MaxClockSkew:
		return nil, fmt.Errorf("sigv4: clock skew %v is outside 0..%v", opts.ClockSkew, MaxClockSkew)
	case opts.ClockSkew == 0:
		opts.ClockSkew = DefaultClockSkew
	}
	switch {
	case opts.MaxBodyBytes < 0:
		return nil, fmt.Errorf("sigv4: max body bytes %d is negative", opts.MaxBodyBytes)
	case opts.MaxBodyBytes == 0:
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	switch {
	case opts.SigningKeyCacheSize < 0:
		return nil, fmt.Errorf("sigv4: signing key cache size %d is negative", opts.SigningKeyCacheSize)
	case opts.SigningKeyCacheSize == 0:
		opts.SigningKeyCacheSize = DefaultSigningKeyCacheSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{src: src, opts: opts, keys: newKeyCache(opts.SigningKeyCacheSize)}, nil
}

func isScopePart(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// IsSigned reports whether r claims a SigV4 signature: an Authorization header starting with
// AWS4-HMAC-SHA256, or X-Amz-Algorithm, X-Amz-Credential or X-Amz-Signature in the query (a
// presigned URL, perhaps missing other parameters, which Verify then names). It does not verify
// anything.
func IsSigned(r *http.Request) bool {
	for _, a := range r.Header["Authorization"] {
		if strings.HasPrefix(a, algorithm) {
			return true
		}
	}
	_, raw, err := requestTarget(r)
	if err != nil {
		return false
	}
	for raw != "" {
		var piece string
		piece, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(piece, "=")
		if strings.ContainsAny(k, "%+") {
			if ek, ok := canonicalComponent(k); ok {
				k = ek
			}
		}
		if presignFieldOf(k)&claimsPresigned != 0 {
			return true
		}
	}
	return false
}

// Verify checks the SigV4 signature of r and returns who signed it.
//
// r must be the request as the client sent it, before any rewrite: Verify reads the path and query
// from r.RequestURI (where Go's server keeps the request-target exactly as received) and falls
// back to r.URL when RequestURI is empty, as for a request built in process. It reads the body
// when the signature covers it and replaces r.Body with a buffered copy holding the same bytes.
//
// Errors are *Error.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	res, err := v.verify(r)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (v *Verifier) verify(r *http.Request) (*Result, *Error) {
	now := v.opts.Now()
	path, rawQuery, err := requestTarget(r)
	if err != nil {
		return nil, uncanonical("%v", err)
	}

	sc, _ := v.scratch.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	defer v.putScratch(sc)

	if e := parseQuery(rawQuery, &sc.q); e != nil {
		return nil, e
	}
	var a authParams
	if e := v.authParams(r, &sc.q, &a); e != nil {
		return nil, e
	}
	signedAt, e := v.checkScopeAndTime(&a, now)
	if e != nil {
		return nil, e
	}
	if sc.names, e = splitSignedHeaders(a.signedHeaders, sc.names[:0]); e != nil {
		return nil, e
	}
	if sc.values, e = collectSignedHeaders(r, sc.names, sc.values); e != nil {
		return nil, e
	}
	if r.Host == "" {
		return nil, uncanonical("the request has no host")
	}
	claimed, e := claimedPayloadHash(r, v.opts.AllowUnsignedPayload, slices.Contains(sc.names, "x-amz-content-sha256"))
	if e != nil {
		return nil, e
	}

	cred, err := v.src(r.Context(), a.accessKeyID, a.sessionToken)
	if err != nil {
		return nil, sourceError(a.accessKeyID, err)
	}
	if cred == nil || cred.SecretAccessKey == "" {
		return nil, refuse(ErrCredentialSourceUnavailable, "Internal server error",
			"credential source returned no secret for access key %s", a.accessKeyID)
	}
	if !cred.Expires.IsZero() && !now.Before(cred.Expires) {
		return nil, refuse(ErrExpiredCredential, msgExpiredToken,
			"access key %s expired at %s", a.accessKeyID, cred.Expires.UTC().Format(time.RFC3339))
	}

	// The canonical request up to its last line, the payload hash.
	sc.buf = append(sc.buf[:0], method(r)...)
	sc.buf = append(sc.buf, '\n')
	var ok bool
	if sc.buf, ok = appendCanonicalPath(sc.buf, path, v.opts.S3); !ok {
		return nil, uncanonical("path has a malformed percent-escape")
	}
	sc.buf = append(sc.buf, '\n')
	sc.buf = appendCanonicalQuery(sc.buf, &sc.q, a.presigned)
	sc.buf = append(sc.buf, '\n')
	if sc.buf, e = appendCanonicalHeaders(sc.buf, r, sc.names, sc.values); e != nil {
		return nil, e
	}
	sc.buf = append(sc.buf, '\n')
	sc.buf = append(sc.buf, a.signedHeaders...)
	sc.buf = append(sc.buf, '\n')
	prefix := len(sc.buf)

	want := decodeHex32(a.signature) // syntax checked when parsed
	key := v.keys.get(cred.SecretAccessKey, a.amzDate[:8], v.opts.Region, v.opts.Service)

	if claimed.signed {
		// The signed header's hash: check the signature first, so a forged request costs no body read.
		sc.buf = append(sc.buf, claimed.hash...)
		if !v.matches(sc, &a, &key, &want) {
			return nil, mismatch(&a, sc)
		}
		if claimed.hash != unsignedPayload {
			sum, e := hashBody(r, v.opts.MaxBodyBytes)
			if e != nil {
				return nil, e
			}
			if decodeHex32(claimed.hash) != sum {
				return nil, refuse(ErrPayloadHashMismatch, msgPayloadHashMismatch, "")
			}
		}
	} else {
		// The body's own hash is what is signed; an unsigned x-amz-content-sha256 only has to agree
		// with it, so it can neither choose the body nor take it out of the signature.
		sum, e := hashBody(r, v.opts.MaxBodyBytes)
		if e != nil {
			return nil, e
		}
		if claimed.hash != "" && decodeHex32(claimed.hash) != sum {
			return nil, refuse(ErrPayloadHashMismatch, msgPayloadHashMismatch, "the unsigned x-amz-content-sha256 is not the SHA-256 of the body")
		}
		sc.buf = hex.AppendEncode(sc.buf, sum[:])
		if !v.matches(sc, &a, &key, &want) {
			// A presigned URL is usually signed without its body (S3's convention). Not with an
			// unsigned content hash, which would then vouch for a body the signature does not cover.
			unsigned := a.presigned && v.opts.AllowUnsignedPayload && claimed.hash == ""
			if unsigned {
				sc.buf = append(sc.buf[:prefix], unsignedPayload...)
			}
			if !unsigned || !v.matches(sc, &a, &key, &want) {
				return nil, mismatch(&a, sc)
			}
		}
	}

	validUntil := signedAt.Add(v.opts.ClockSkew)
	if a.presigned {
		validUntil = signedAt.Add(time.Duration(a.expires) * time.Second)
	}
	if !cred.Expires.IsZero() && cred.Expires.Before(validUntil) {
		validUntil = cred.Expires
	}
	if (v.opts.ReplayCache != nil || v.opts.ReplayStore != nil) && !idempotent(method(r)) {
		if e := v.firstUse(r, &a, &want, a.signature, validUntil, now); e != nil {
			return nil, e
		}
	}
	return &Result{
		AccessKeyID: a.accessKeyID,
		Credential:  cred,
		Presigned:   a.presigned,
		SignedAt:    signedAt,
		ValidUntil:  validUntil,
		Signature:   a.signature,
	}, nil
}

// firstUse records the signature of a non-idempotent request and refuses it if it was already
// recorded: in the shared ReplayStore when there is one, else (or when the store fails) in ReplayCache.
func (v *Verifier) firstUse(r *http.Request, a *authParams, sig *[32]byte, hexSig string, validUntil, now time.Time) *Error {
	replayed := func() *Error {
		return refuse(ErrReplayedSignature, msgReplayed, "access key %s: a %s request signed at %s was already accepted",
			a.accessKeyID, printable(method(r)), a.amzDate)
	}
	if v.opts.ReplayStore != nil {
		fresh, err := v.opts.ReplayStore.Seen(r.Context(), hexSig, validUntil.Sub(now))
		switch {
		case err == nil && !fresh:
			return replayed()
		case err == nil:
			if v.opts.ReplayCache != nil {
				v.opts.ReplayCache.first(sig, validUntil, now)
			}
			return nil
		case v.opts.ReplayCache == nil:
			return refuse(ErrReplayStoreUnavailable, msgReplayStoreUnavailable, "access key %s: a %s request: %v",
				a.accessKeyID, printable(method(r)), err)
		}
	}
	if !v.opts.ReplayCache.first(sig, validUntil, now) {
		return replayed()
	}
	return nil
}

// matches computes the signature of the canonical request in sc.buf and compares it with want in
// constant time.
func (v *Verifier) matches(sc *scratch, a *authParams, key, want *[32]byte) bool {
	sum := sha256.Sum256(sc.buf)
	sc.hash = sum
	sts := append(sc.sts[:0], make([]byte, 64)...) // HMAC block space
	sts = append(sts, algorithm+"\n"...)
	sts = append(sts, a.amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, a.scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, sum[:])
	sc.sts = sts
	if v.trace != nil {
		v.trace(sc.buf, sts[64:])
	}
	got := signBlock(key, sts)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// mismatch logs what helps a client developer compare with their signer's debug output: the
// access key id and the hash of the canonical request (the canonical request itself holds
// the session token when it is signed as a header, so it is not logged).
func mismatch(a *authParams, sc *scratch) *Error {
	return refuse(ErrSignatureMismatch, msgMismatch, "access key %s, scope %s, canonical request SHA-256 %x",
		a.accessKeyID, a.scope, sc.hash)
}

func (v *Verifier) putScratch(sc *scratch) {
	const keep = 64 << 10 // do not let one huge request pin a huge buffer in the pool
	if cap(sc.buf) > keep || cap(sc.sts) > keep || cap(sc.q.params) > 1024 {
		return
	}
	clear(sc.q.params[:cap(sc.q.params)])
	clear(sc.values[:cap(sc.values)])
	clear(sc.names[:cap(sc.names)])
	sc.q = query{params: sc.q.params[:0]}
	v.scratch.Put(sc)
}

// authParams finds the signature in the Authorization header or the query (exactly one of them).
func (v *Verifier) authParams(r *http.Request, q *query, a *authParams) *Error {
	var header string
	auths := r.Header["Authorization"]
	for _, h := range auths {
		if strings.HasPrefix(h, "AWS4-") {
			header = h
		}
	}
	presigned := q.present&claimsPresigned != 0
	switch {
	case header != "" && q.present&fAlgorithm != 0:
		return malformed("signed both in the Authorization header and in the query")
	case header != "":
		if len(auths) > 1 {
			return malformed("more than one Authorization header")
		}
		if e := parseAuthorization(header, a); e != nil {
			return e
		}
		if q.present&fSecurityToken != 0 {
			return malformed("X-Amz-Security-Token in the query of a header-signed request")
		}
		dates := r.Header["X-Amz-Date"]
		if len(dates) != 1 {
			return malformed("a header-signed request needs exactly one X-Amz-Date header, found %d", len(dates))
		}
		a.amzDate = dates[0]
		if tokens := r.Header["X-Amz-Security-Token"]; len(tokens) > 1 {
			return malformed("more than one X-Amz-Security-Token header")
		} else if len(tokens) == 1 {
			a.sessionToken = tokens[0]
		}
		return nil
	case presigned:
		if len(r.Header["X-Amz-Security-Token"]) > 0 {
			return malformed("X-Amz-Security-Token header on a presigned request")
		}
		return presignedParams(q, a)
	default:
		return refuse(ErrNotSigned, msgMissingToken, "")
	}
}

// checkScopeAndTime checks the credential scope against the request date and the configuration,
// and the request date against the clock.
func (v *Verifier) checkScopeAndTime(a *authParams, now time.Time) (time.Time, *Error) {
	signedAt, ok := parseAmzDate(a.amzDate)
	if !ok {
		return time.Time{}, malformed("X-Amz-Date is not in ISO 8601 basic format (20060102T150405Z)")
	}
	date, rest, _ := strings.Cut(a.scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")
	switch {
	case date != a.amzDate[:8]:
		return time.Time{}, refuse(ErrScopeMismatch,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
			"scope date %q is not the date of X-Amz-Date %s", printable(date), a.amzDate)
	case region != v.opts.Region:
		return time.Time{}, refuse(ErrScopeMismatch, "Credential should be scoped to a valid region.",
			"scope region %q is not %s", printable(region), v.opts.Region)
	case service != v.opts.Service:
		return time.Time{}, refuse(ErrScopeMismatch, "Credential should be scoped to correct service: '"+v.opts.Service+"'.",
			"scope service %q is not %s", printable(service), v.opts.Service)
	case term != scopeTerminator:
		return time.Time{}, refuse(ErrScopeMismatch, "Credential should be scoped with a valid terminator: 'aws4_request'.",
			"scope terminator %q is not aws4_request", printable(term))
	}

	skew := v.opts.ClockSkew
	if signedAt.After(now.Add(skew)) {
		msg := fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s.)",
			a.amzDate, now.Add(skew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout), skewText(skew))
		return time.Time{}, refuse(ErrSignatureNotYetCurrent, msg, "signed at %s, now %s", a.amzDate, now.UTC().Format(amzDateLayout))
	}
	if a.presigned {
		if exp := signedAt.Add(time.Duration(a.expires) * time.Second); now.After(exp) {
			msg := fmt.Sprintf("Signature expired: %s is now earlier than %s", exp.UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout))
			return time.Time{}, refuse(ErrSignatureExpired, msg, "presigned at %s for %ds, now %s", a.amzDate, a.expires, now.UTC().Format(amzDateLayout))
		}
	} else if signedAt.Before(now.Add(-skew)) {
		msg := fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
			a.amzDate, now.Add(-skew).UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout), skewText(skew))
		return time.Time{}, refuse(ErrSignatureExpired, msg, "signed at %s, now %s", a.amzDate, now.UTC().Format(amzDateLayout))
	}
	return signedAt, nil
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

// payloadHash is what x-amz-content-sha256 says: hash is "" when the header is absent, else a
// SHA-256 in hex or UNSIGNED-PAYLOAD; signed is whether it is in SignedHeaders.
type payloadHash struct {
	hash   string
	signed bool
}

// claimedPayloadHash reads the x-amz-content-sha256 header: a SHA-256 in hex, or UNSIGNED-PAYLOAD when
// allowed and signed. Unsigned, UNSIGNED-PAYLOAD is refused even where allowed: an unauthenticated
// header would take the body out of the signature.
func claimedPayloadHash(r *http.Request, allowUnsigned, signed bool) (payloadHash, *Error) {
	vv := r.Header["X-Amz-Content-Sha256"]
	switch {
	case len(vv) == 0:
		return payloadHash{}, nil
	case len(vv) > 1:
		return payloadHash{}, malformed("more than one x-amz-content-sha256 header")
	}
	h := vv[0]
	switch {
	case h == unsignedPayload && !signed:
		return payloadHash{}, refuse(ErrUnsupportedPayload,
			"UNSIGNED-PAYLOAD is not accepted in an unsigned x-amz-content-sha256 header: sign the header, or the request body.", "")
	case h == unsignedPayload && allowUnsigned:
		return payloadHash{h, signed}, nil
	case h == unsignedPayload:
		return payloadHash{}, refuse(ErrUnsupportedPayload, "UNSIGNED-PAYLOAD is not accepted: sign the request body.", "")
	case strings.HasPrefix(h, "STREAMING-"):
		return payloadHash{}, refuse(ErrUnsupportedPayload, "Streaming (chunk-signed) payloads are not supported.", "x-amz-content-sha256 %s", printable(h))
	case len(h) != 64 || !isHexString(h):
		return payloadHash{}, refuse(ErrUnsupportedPayload, "x-amz-content-sha256 must be the SHA-256 of the body in hex.", "")
	}
	return payloadHash{h, signed}, nil
}

// decodeHex32 decodes 64 hex digits, already checked to be hex.
func decodeHex32(s string) (out [32]byte) {
	for i := range out {
		out[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return out
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func method(r *http.Request) string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

// requestTarget returns the path and raw query as the client sent them.
//
// Go's server keeps the request-target verbatim in r.RequestURI. r.URL.RawPath is not a substitute:
// it is set only when the wire form differs from Go's own encoding, and EscapedPath() re-encodes
// the path when RawPath holds bytes Go would escape (a raw UTF-8 path comes back as %E1%88%B4),
// which the client never signed.
func requestTarget(r *http.Request) (path, rawQuery string, err error) {
	t := r.RequestURI
	if t == "" {
		if r.URL == nil {
			return "", "", errors.New("request has no URL")
		}
		t = r.URL.RequestURI() // what Go's client sends for a request built in process
	}
	if t[0] != '/' {
		// absolute-form (http://host/path?query), sent to proxies; authority-form and "*" have no path.
		i := strings.Index(t, "://")
		if i < 0 {
			return "", "", errors.New("request-target has no path")
		}
		rest := t[i+3:]
		j := strings.IndexAny(rest, "/?")
		if j < 0 {
			return "/", "", nil
		}
		t = rest[j:]
	}
	path, rawQuery, _ = strings.Cut(t, "?")
	if path == "" {
		path = "/"
	}
	return path, rawQuery, nil
}
