package userpool

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"go.uber.org/zap"
)

const (
	// maxKeysPerSet bounds the keys taken from one JWKS (real ones hold two or three).
	maxKeysPerSet = 100
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
)

// verificationKey is one usable public key of a JWKS.
type verificationKey struct {
	kid  string
	raw  any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	kind keyKind
	algs []string // the algorithms it verifies: its alg, or every algorithm that fits its type
}

// allows reports whether the key verifies alg, an algorithm that needs a key of kind.
func (key *verificationKey) allows(alg string, kind keyKind) bool {
	return key.kind == kind && slices.Contains(key.algs, alg)
}

var rsaAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// parseJWKS returns the usable keys of a JWKS document by kid. Keys that do not fit (no kid, not for
// signatures, symmetric, weak, an alg that does not match the key or is not allowed) are dropped and
// logged; a document without any usable key is an error, so the previous keys stay in use.
func parseJWKS(body []byte, allowed []string, log *zap.Logger) (map[string]*verificationKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New("the document has no keys array")
	}
	if len(doc.Keys) > maxKeysPerSet {
		return nil, fmt.Errorf("the document has %d keys, more than the limit of %d", len(doc.Keys), maxKeysPerSet)
	}
	keys := make(map[string]*verificationKey, len(doc.Keys))
	for i, raw := range doc.Keys {
		key, err := parseVerificationKey(raw, allowed)
		if err != nil {
			log.Warn("dropping a JWKS key", zap.Int("index", i), zap.Error(err))
			continue
		}
		if _, dup := keys[key.kid]; dup {
			log.Warn("dropping a JWKS key whose kid is already taken", zap.Int("index", i), zap.String("kid", key.kid))
			continue
		}
		keys[key.kid] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("none of its %d keys is a usable signature key", len(doc.Keys))
	}
	return keys, nil
}

// parseVerificationKey turns one JWK into a verification key, or says why it cannot be used.
func parseVerificationKey(raw json.RawMessage, allowed []string) (*verificationKey, error) {
	var probe struct {
		Kty string `json:"kty"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, errors.New("not a JSON object with a string kty")
	}
	if probe.Kty == "oct" {
		// Refused before parsing: a symmetric key would turn every holder of the JWKS into a token
		// signer, and its parse errors could quote the secret.
		return nil, errors.New("symmetric (oct) keys are never accepted")
	}
	jk, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid JWK: %w", err)
	}
	kid, _ := jk.KeyID()
	if kid == "" {
		return nil, errors.New("key has no kid, so no token can name it")
	}
	if use, ok := jk.KeyUsage(); ok && use != "sig" {
		return nil, fmt.Errorf("key %s: use %s is not sig", quote(kid), quote(use))
	}
	if ops, ok := jk.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, fmt.Errorf("key %s: key_ops does not include verify", quote(kid))
	}
	switch jk.KeyType() {
	case jwa.RSA(), jwa.EC(), jwa.OKP():
	default:
		return nil, fmt.Errorf("key %s: key type %s is not accepted (only RSA, EC and OKP public keys)", quote(kid), quote(jk.KeyType().String()))
	}
	if jk.Has("d") {
		// A published private key lets anyone sign tokens: trust nothing signed by it.
		return nil, fmt.Errorf("key %s: the JWKS publishes its private part", quote(kid))
	}
	if err := jk.Validate(); err != nil {
		return nil, fmt.Errorf("key %s: invalid key", quote(kid))
	}
	pub, err := jk.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("key %s: no public key", quote(kid))
	}
	var rawKey any
	if err := jwk.Export(pub, &rawKey); err != nil {
		return nil, fmt.Errorf("key %s: unsupported key", quote(kid))
	}
	key := &verificationKey{kid: kid}
	switch pk := rawKey.(type) {
	case *rsa.PublicKey:
		if bits := pk.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("key %s: RSA key of %d bits is weaker than %d bits", quote(kid), bits, minRSABits)
		}
		key.raw, key.kind, key.algs = pk, kindRSA, rsaAlgorithms
	case *ecdsa.PublicKey:
		switch pk.Curve {
		case elliptic.P256():
			key.kind, key.algs = kindP256, []string{"ES256"}
		case elliptic.P384():
			key.kind, key.algs = kindP384, []string{"ES384"}
		case elliptic.P521():
			key.kind, key.algs = kindP521, []string{"ES512"}
		default:
			return nil, fmt.Errorf("key %s: unsupported curve", quote(kid))
		}
		key.raw = pk
	case ed25519.PublicKey:
		key.raw, key.kind, key.algs = pk, kindEd25519, []string{"EdDSA", "Ed25519"}
	default:
		return nil, fmt.Errorf("key %s: unsupported key type %T", quote(kid), rawKey)
	}
	if alg, ok := jk.Algorithm(); ok {
		name := alg.String()
		if !slices.Contains(key.algs, name) {
			return nil, fmt.Errorf("key %s: alg %s does not fit the key", quote(kid), quote(name))
		}
		key.algs = []string{name}
	}
	if len(allowed) > 0 {
		key.algs = slices.DeleteFunc(slices.Clone(key.algs), func(a string) bool { return !slices.Contains(allowed, a) })
		if len(key.algs) == 0 {
			return nil, fmt.Errorf("key %s: fits none of the allowed algorithms", quote(kid))
		}
	}
	return key, nil
}

// parseDiscovery returns the jwks_uri of an OpenID Provider configuration document, which must name
// issuer exactly.
func parseDiscovery(body []byte, issuer string) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("decoding: %w", err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("it names issuer %s, not %s", quote(doc.Issuer), quote(issuer))
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("jwks_uri: %w", err)
	}
	if u, _ := url.Parse(doc.JWKSURI); u.Scheme == "http" {
		if iu, _ := url.Parse(issuer); iu.Scheme == "https" {
			return "", fmt.Errorf("jwks_uri %s is plain http for an https issuer", quote(doc.JWKSURI))
		}
	}
	return doc.JWKSURI, nil
}

// readLimited reads a response body of at most limit bytes.
func readLimited(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("response of %d bytes is larger than the limit of %d", resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("response is larger than the limit of %d bytes", limit)
	}
	return body, nil
}
