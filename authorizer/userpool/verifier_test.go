package userpool

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

func TestVerifyAcceptsValidTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fc    fixtureConfig
		token func(f *fixture) string
		want  idFields
	}{
		{
			name:  "cognito access token",
			token: func(f *fixture) string { return key("rsa1").sign(nil, accessClaims(f.clock.Now())) },
			want: idFields{
				Kind: identity.KindUserPool, Authenticated: true, Issuer: testIssuer,
				Subject: "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60", Username: "alice", ClientID: testClient,
				TokenUse: "access", Groups: []string{"admins", "orders"},
				Scopes: []string{"aws.cognito.signin.user.admin", "openid", "orders/read"},
			},
		},
		{
			name:  "cognito id token",
			fc:    fixtureConfig{issuer: Issuer{TokenUse: TokenUseID}},
			token: func(f *fixture) string { return key("rsa1").sign(nil, idClaims(f.clock.Now())) },
			want: idFields{
				Kind: identity.KindUserPool, Authenticated: true, Issuer: testIssuer,
				Subject: "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60", Username: "alice", ClientID: testClient,
				TokenUse: "id", Groups: []string{"admins"},
			},
		},
		{
			name:  "id token where any token use is accepted",
			fc:    fixtureConfig{issuer: Issuer{TokenUse: TokenUseAny}},
			token: func(f *fixture) string { return key("rsa1").sign(nil, idClaims(f.clock.Now())) },
			want: idFields{
				Kind: identity.KindUserPool, Authenticated: true, Issuer: testIssuer,
				Subject: "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60", Username: "alice", ClientID: testClient,
				TokenUse: "id", Groups: []string{"admins"},
			},
		},
		{
			name:  "access token where any token use is accepted",
			fc:    fixtureConfig{issuer: Issuer{TokenUse: TokenUseAny, ClientIDs: []string{"other", testClient}}},
			token: func(f *fixture) string { return key("rsa1").sign(nil, accessClaims(f.clock.Now())) },
			want: idFields{
				Kind: identity.KindUserPool, Authenticated: true, Issuer: testIssuer,
				Subject: "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60", Username: "alice", ClientID: testClient,
				TokenUse: "access", Groups: []string{"admins", "orders"},
				Scopes: []string{"aws.cognito.signin.user.admin", "openid", "orders/read"},
			},
		},
		{
			name: "oidc token with an aud array, scp array and groups, signed ES256",
			fc: fixtureConfig{
				keys:   []*signingKey{key("ec")},
				issuer: Issuer{Kind: identity.KindOIDC, Issuer: "https://idp.example.com/", ClientIDs: []string{"api://orders"}, Algorithms: []string{"ES256"}},
			},
			token: func(f *fixture) string {
				return key("ec").sign(map[string]any{"typ": "at+jwt"}, map[string]any{
					"iss": "https://idp.example.com/", "sub": "auth0|42", "aud": []any{"api://other", "api://orders"},
					"exp": f.clock.unix(time.Hour), "preferred_username": "bob", "groups": []any{"eng", 7, "ops"},
					"scp": []any{"orders.read", "orders.write"}, "token_use": "access",
				})
			},
			want: idFields{
				Kind: identity.KindOIDC, Authenticated: true, Issuer: "https://idp.example.com/", Subject: "auth0|42",
				Username: "bob", ClientID: "api://other", Groups: []string{"eng", "ops"},
				Scopes: []string{"orders.read", "orders.write"},
			},
		},
		{
			name: "oidc token signed EdDSA with a client_id claim",
			fc: fixtureConfig{
				keys:   []*signingKey{key("ed25519")},
				issuer: Issuer{Kind: identity.KindOIDC, Issuer: "https://idp.example.com", ClientIDs: []string{"api"}, Algorithms: []string{"EdDSA"}},
			},
			token: func(f *fixture) string {
				return key("ed25519").sign(nil, map[string]any{
					"iss": "https://idp.example.com", "sub": "u1", "aud": "api", "client_id": "spa",
					"exp": f.clock.unix(time.Hour), "scope": "a  b",
				})
			},
			want: idFields{
				Kind: identity.KindOIDC, Authenticated: true, Issuer: "https://idp.example.com", Subject: "u1",
				ClientID: "spa", Scopes: []string{"a", "b"},
			},
		},
		{
			name: "PS256 when allowed",
			fc:   fixtureConfig{keys: []*signingKey{key("rsa1").withAlg("PS256")}, issuer: Issuer{Algorithms: []string{"PS256"}}},
			token: func(f *fixture) string {
				return key("rsa1").withAlg("PS256").sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"cognito:groups": nil, "scope": nil}))
			},
			want: idFields{
				Kind: identity.KindUserPool, Authenticated: true, Issuer: testIssuer,
				Subject: "5f2e7a9c-0b1d-4c3e-9f8a-1b2c3d4e5f60", Username: "alice", ClientID: testClient, TokenUse: "access",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.fc)
			token := tt.token(f)
			got, err := f.verifier.Verify(verifyCtx(t), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var payload map[string]any
			seg := strings.Split(token, ".")[1]
			dec := json.NewDecoder(base64.NewDecoder(base64.RawURLEncoding, strings.NewReader(seg)))
			dec.UseNumber()
			if err := dec.Decode(&payload); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.ClaimMap(), payload) {
				t.Errorf("ClaimMap() = %#v, want %#v", got.ClaimMap(), payload)
			}
			// The verifier keeps the JSON, not a decoded map, in what it caches.
			if got.Claims != nil {
				t.Errorf("Claims = %#v, want nil (the claims kept as JSON)", got.Claims)
			}
			exp, _ := payload["exp"].(json.Number).Int64()
			if !got.ExpiresAt.Equal(time.Unix(exp, 0)) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, time.Unix(exp, 0))
			}
			gotFields := fieldsOf(got)
			if !reflect.DeepEqual(gotFields, tt.want) {
				t.Errorf("identity = %+v\nwant       %+v", gotFields, tt.want)
			}
		})
	}
}

// idFields are the identity fields taken from claims, but Claims and ExpiresAt (checked apart).
type idFields struct {
	Kind                                          identity.Kind
	Authenticated                                 bool
	Issuer, Subject, Username, ClientID, TokenUse string
	Groups, Scopes                                []string
}

func fieldsOf(id *identity.Identity) idFields {
	return idFields{
		Kind: id.Kind, Authenticated: id.Authenticated, Issuer: id.Issuer, Subject: id.Subject,
		Username: id.Username, ClientID: id.ClientID, TokenUse: id.TokenUse, Groups: id.Groups, Scopes: id.Scopes,
	}
}

// TestVerifyRefusesBadTokens is the attack catalogue: every token here must be refused with the given
// error, and the error must not carry the token or its signature.
func TestVerifyRefusesBadTokens(t *testing.T) {
	t.Parallel()
	rsa1 := key("rsa1")
	pubDER := must(x509.MarshalPKIXPublicKey(rsa1.priv.Public()))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attacker := key("rsa2")
	attackerIDP := newIDP(t, attacker)

	tests := []struct {
		name  string
		fc    fixtureConfig
		token func(f *fixture) string
		want  error
		hits  int64 // JWKS requests expected once the verification is over (the first fetch included)
	}{
		{name: "alg none with an empty signature", want: ErrMalformed, token: func(f *fixture) string {
			return b64json(map[string]any{"alg": "none", "kid": rsa1.kid}) + "." + b64json(accessClaims(f.clock.Now())) + "."
		}},
		{name: "alg none with a signature", want: ErrAlgorithm, token: func(f *fixture) string {
			return b64json(map[string]any{"alg": "none", "kid": rsa1.kid}) + "." + b64json(accessClaims(f.clock.Now())) + ".c2ln"
		}},
		{name: "alg None spelled otherwise", want: ErrAlgorithm, token: func(f *fixture) string {
			return b64json(map[string]any{"alg": "None", "kid": rsa1.kid}) + "." + b64json(accessClaims(f.clock.Now())) + ".c2ln"
		}},
		{name: "HS256 keyed with the RSA public key PEM", want: ErrAlgorithm, token: func(f *fixture) string {
			return hmacToken("HS256", rsa1.kid, pubPEM, accessClaims(f.clock.Now()))
		}},
		{name: "HS256 keyed with the RSA public key DER", want: ErrAlgorithm, token: func(f *fixture) string {
			return hmacToken("HS256", rsa1.kid, pubDER, accessClaims(f.clock.Now()))
		}},
		{name: "HS512 keyed with the RSA modulus", want: ErrAlgorithm, token: func(f *fixture) string {
			return hmacToken("HS512", rsa1.kid, rsa1.priv.Public().(*rsa.PublicKey).N.Bytes(), accessClaims(f.clock.Now()))
		}},
		{name: "valid RS512 signature where only RS256 is allowed", want: ErrAlgorithm, token: func(f *fixture) string {
			return rsa1.sign(map[string]any{"alg": "RS512"}, accessClaims(f.clock.Now()))
		}},
		{
			name: "ES256 header naming an RSA key", want: ErrAlgorithm,
			fc: fixtureConfig{issuer: Issuer{Algorithms: []string{"RS256", "ES256"}}},
			token: func(f *fixture) string {
				return key("ec").withKid(rsa1.kid).sign(nil, accessClaims(f.clock.Now()))
			},
		},
		{
			name: "PS256 under a key published for RS256", want: ErrAlgorithm,
			fc: fixtureConfig{issuer: Issuer{Algorithms: []string{"RS256", "PS256"}}},
			token: func(f *fixture) string {
				return rsa1.withAlg("PS256").sign(nil, accessClaims(f.clock.Now()))
			},
		},
		{name: "PSS signature labelled RS256", want: ErrSignature, token: func(f *fixture) string {
			input := b64json(map[string]any{"alg": "RS256", "kid": rsa1.kid}) + "." + b64json(accessClaims(f.clock.Now()))
			return input + "." + base64.RawURLEncoding.EncodeToString(signWith(rsa1.priv, "PS256", []byte(input)))
		}},
		{name: "missing kid", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(map[string]any{"kid": nil}, accessClaims(f.clock.Now()))
		}},
		{name: "empty kid", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(map[string]any{"kid": ""}, accessClaims(f.clock.Now()))
		}},
		{name: "numeric kid", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(map[string]any{"kid": 1}, accessClaims(f.clock.Now()))
		}},
		{name: "unknown kid", want: ErrUnknownKey, hits: 2, token: func(f *fixture) string {
			return attacker.withKid("no-such-key").sign(nil, accessClaims(f.clock.Now()))
		}},
		{name: "right kid, signed by another key", want: ErrSignature, token: func(f *fixture) string {
			return attacker.withKid(rsa1.kid).sign(nil, accessClaims(f.clock.Now()))
		}},
		{name: "jku header pointing at the attacker's JWKS", want: ErrUnknownKey, hits: 2, token: func(f *fixture) string {
			return attacker.sign(map[string]any{"jku": attackerIDP.URL}, accessClaims(f.clock.Now()))
		}},
		{name: "x5u header pointing at the attacker", want: ErrUnknownKey, hits: 2, token: func(f *fixture) string {
			return attacker.sign(map[string]any{"x5u": attackerIDP.URL + "/cert.pem"}, accessClaims(f.clock.Now()))
		}},
		{name: "embedded jwk header with the attacker's key", want: ErrUnknownKey, hits: 2, token: func(f *fixture) string {
			return attacker.sign(map[string]any{"jwk": attacker.jwk()}, accessClaims(f.clock.Now()))
		}},
		{name: "embedded jwk header under the trusted kid", want: ErrSignature, token: func(f *fixture) string {
			return attacker.withKid(rsa1.kid).sign(map[string]any{"jwk": attacker.withKid(rsa1.kid).jwk()}, accessClaims(f.clock.Now()))
		}},
		{name: "crit header", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(map[string]any{"crit": []any{"exp"}, "exp": 1}, accessClaims(f.clock.Now()))
		}},
		{name: "b64 header", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(map[string]any{"b64": false}, accessClaims(f.clock.Now()))
		}},
		{name: "expired", want: ErrExpired, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"exp": f.clock.unix(-2 * time.Minute)}))
		}},
		{name: "not yet valid", want: ErrNotYetValid, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"nbf": f.clock.unix(2 * time.Minute)}))
		}},
		{name: "issued in the future", want: ErrNotYetValid, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"iat": f.clock.unix(2 * time.Minute)}))
		}},
		{name: "exp missing", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"exp": nil}))
		}},
		{name: "exp a string", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"exp": "9999999999"}))
		}},
		{name: "exp beyond the year 10000", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"exp": 1e300}))
		}},
		{name: "nbf a boolean", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"nbf": true}))
		}},
		{name: "sub missing", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"sub": nil}))
		}},
		{name: "iss missing", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"iss": nil}))
		}},
		{name: "iss with a trailing slash", want: ErrUnknownIssuer, hits: 1, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"iss": testIssuer + "/"}))
		}},
		{name: "iss of an unconfigured issuer, with a jku: nothing fetched", want: ErrUnknownIssuer, hits: 1, token: func(f *fixture) string {
			return attacker.sign(map[string]any{"jku": attackerIDP.URL}, with(accessClaims(f.clock.Now()), map[string]any{"iss": attackerIDP.URL}))
		}},
		{name: "client_id of another app client", want: ErrAudience, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"client_id": "another-client"}))
		}},
		{name: "access token without client_id", want: ErrAudience, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"client_id": nil}))
		}},
		{name: "access token whose aud, not client_id, names the client", want: ErrAudience, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"client_id": "another-client", "aud": testClient}))
		}},
		{name: "client_id not a string", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"client_id": []any{testClient}}))
		}},
		{
			name: "id token of another app client", want: ErrAudience, fc: fixtureConfig{issuer: Issuer{TokenUse: TokenUseID}},
			token: func(f *fixture) string {
				return rsa1.sign(nil, with(idClaims(f.clock.Now()), map[string]any{"aud": []any{"another-client"}}))
			},
		},
		{
			name: "id token with an aud that is an object", want: ErrMalformed, fc: fixtureConfig{issuer: Issuer{TokenUse: TokenUseID}},
			token: func(f *fixture) string {
				return rsa1.sign(nil, with(idClaims(f.clock.Now()), map[string]any{"aud": map[string]any{"x": testClient}}))
			},
		},
		{
			name: "oidc token without aud", want: ErrAudience,
			fc: fixtureConfig{issuer: Issuer{Kind: identity.KindOIDC, Issuer: "https://idp.example.com", ClientIDs: []string{"api"}}},
			token: func(f *fixture) string {
				return rsa1.sign(nil, map[string]any{"iss": "https://idp.example.com", "sub": "u", "client_id": "api", "exp": f.clock.unix(time.Hour)})
			},
		},
		{name: "id token where access tokens are required", want: ErrTokenUse, token: func(f *fixture) string {
			return rsa1.sign(nil, with(idClaims(f.clock.Now()), map[string]any{"client_id": testClient}))
		}},
		{
			name: "access token where id tokens are required", want: ErrTokenUse, fc: fixtureConfig{issuer: Issuer{TokenUse: TokenUseID}},
			token: func(f *fixture) string {
				return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"aud": testClient}))
			},
		},
		{name: "token_use missing", want: ErrTokenUse, token: func(f *fixture) string {
			return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"token_use": nil}))
		}},
		{
			name: "token_use refresh where any is accepted", want: ErrTokenUse, fc: fixtureConfig{issuer: Issuer{TokenUse: TokenUseAny}},
			token: func(f *fixture) string {
				return rsa1.sign(nil, with(accessClaims(f.clock.Now()), map[string]any{"token_use": "refresh"}))
			},
		},
		{name: "tampered payload", want: ErrSignature, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			parts[1] = b64json(with(accessClaims(f.clock.Now()), map[string]any{"cognito:groups": []any{"admins", "root"}}))
			return strings.Join(parts, ".")
		}},
		{name: "tampered header", want: ErrSignature, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			parts[0] = b64json(map[string]any{"alg": "RS256", "kid": rsa1.kid, "typ": "JWT"})
			return strings.Join(parts, ".")
		}},
		{name: "flipped signature bit", want: ErrSignature, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[10] ^= 1
			parts[2] = base64.RawURLEncoding.EncodeToString(sig)
			return strings.Join(parts, ".")
		}},
		{name: "signature truncated", want: ErrSignature, token: func(f *fixture) string {
			tok := rsa1.sign(nil, accessClaims(f.clock.Now()))
			return tok[:len(tok)-42] // 300 characters: canonical base64url, 225 bytes
		}},
		{name: "signature dropped", want: ErrMalformed, token: func(f *fixture) string {
			tok := rsa1.sign(nil, accessClaims(f.clock.Now()))
			return tok[:strings.LastIndexByte(tok, '.')]
		}},
		{name: "cut inside the payload", want: ErrMalformed, token: func(f *fixture) string {
			tok := rsa1.sign(nil, accessClaims(f.clock.Now()))
			return tok[:strings.IndexByte(tok, '.')+30]
		}},
		{name: "payload cut short but well-formed base64", want: ErrMalformed, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			parts[1] = parts[1][:40]
			return strings.Join(parts, ".")
		}},
		{name: "payload a JSON array", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, []any{accessClaims(f.clock.Now())})
		}},
		{name: "signed payload with data after the object", want: ErrMalformed, token: func(f *fixture) string {
			hdr := b64json(map[string]any{"alg": "RS256", "kid": rsa1.kid})
			payload := base64.RawURLEncoding.EncodeToString(append(mustJSON(accessClaims(f.clock.Now())), []byte(` {"iss":"x"}`)...))
			input := hdr + "." + payload
			return input + "." + base64.RawURLEncoding.EncodeToString(signWith(rsa1.priv, "RS256", []byte(input)))
		}},
		{name: "header not JSON", want: ErrMalformed, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			parts[0] = base64.RawURLEncoding.EncodeToString([]byte("alg=RS256"))
			return strings.Join(parts, ".")
		}},
		{name: "padded base64", want: ErrMalformed, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			parts[0] = base64.URLEncoding.EncodeToString(mustJSON(map[string]any{"alg": "RS256", "kid": rsa1.kid + "x"}))
			return strings.Join(parts, ".")
		}},
		{name: "standard base64 alphabet", want: ErrMalformed, token: func(f *fixture) string {
			tok := rsa1.sign(nil, accessClaims(f.clock.Now()))
			return tok[:5] + "+" + tok[6:]
		}},
		{name: "trailing newline", want: ErrMalformed, token: func(f *fixture) string {
			return rsa1.sign(nil, accessClaims(f.clock.Now())) + "\n"
		}},
		{name: "with its Bearer prefix", want: ErrMalformed, token: func(f *fixture) string {
			return "Bearer " + rsa1.sign(nil, accessClaims(f.clock.Now()))
		}},
		{name: "five segments (JWE)", want: ErrMalformed, token: func(f *fixture) string {
			return b64json(map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": rsa1.kid}) + ".a2V5.aXY.Y2lwaGVy.dGFn"
		}},
		{name: "JSON serialization", want: ErrMalformed, token: func(f *fixture) string {
			parts := strings.Split(rsa1.sign(nil, accessClaims(f.clock.Now())), ".")
			return string(mustJSON(map[string]any{"protected": parts[0], "payload": parts[1], "signature": parts[2]}))
		}},
		{name: "empty", want: ErrMalformed, token: func(*fixture) string { return "" }},
		{name: "just dots", want: ErrMalformed, token: func(*fixture) string { return ".." }},
		{name: "oversized, checked before parsing", want: ErrTooLarge, token: func(*fixture) string {
			return strings.Repeat("!", DefaultMaxTokenBytes+1)
		}},
		{
			name: "over a configured size limit", want: ErrTooLarge, fc: fixtureConfig{options: Options{MaxTokenBytes: 512}},
			token: func(f *fixture) string { return rsa1.sign(nil, accessClaims(f.clock.Now())) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.fc)
			token := tt.token(f)
			before := attackerIDP.hits.Load()
			id, err := f.verifier.Verify(verifyCtx(t), token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v; want %v", id, err, tt.want)
			}
			if id != nil {
				t.Errorf("Verify returned an identity with its error: %+v", id)
			}
			t.Logf("refused: %v", err)
			msg := err.Error()
			if len(token) > 8 && strings.Contains(msg, token) {
				t.Errorf("error %q contains the token", msg)
			}
			if parts := strings.Split(token, "."); len(parts) == 3 && len(parts[2]) > 8 && strings.Contains(msg, parts[2]) {
				t.Errorf("error %q contains the signature", msg)
			}
			if len(msg) > 300 {
				t.Errorf("error of %d bytes: %q", len(msg), msg)
			}
			want := tt.hits
			if want == 0 {
				want = 1
			}
			if got := f.idp.hits.Load(); got != want {
				t.Errorf("JWKS fetched %d times, want %d", got, want)
			}
			if got := attackerIDP.hits.Load(); got != before {
				t.Errorf("the attacker's server got %d requests", got-before)
			}
		})
	}
}

// TestVerifyTimeEdges checks exp, nbf and iat against the clock skew, to the second.
func TestVerifyTimeEdges(t *testing.T) {
	t.Parallel()
	const skew = 30 * time.Second
	tests := []struct {
		name   string
		claims func(c *clock) map[string]any
		want   error
	}{
		{"exp one second inside the skew", func(c *clock) map[string]any { return map[string]any{"exp": c.unix(-skew + time.Second)} }, nil},
		{"exp exactly at the skew", func(c *clock) map[string]any { return map[string]any{"exp": c.unix(-skew)} }, ErrExpired},
		{"exp one second past the skew", func(c *clock) map[string]any { return map[string]any{"exp": c.unix(-skew - time.Second)} }, ErrExpired},
		{"exp fractional, 0.5s inside the skew", func(c *clock) map[string]any {
			return map[string]any{"exp": float64(c.unix(-skew)) + 0.5}
		}, nil},
		{"exp zero", func(*clock) map[string]any { return map[string]any{"exp": 0} }, ErrExpired},
		{"exp negative", func(*clock) map[string]any { return map[string]any{"exp": -1} }, ErrMalformed},
		{"nbf exactly at the skew", func(c *clock) map[string]any { return map[string]any{"nbf": c.unix(skew)} }, nil},
		{"nbf one second past the skew", func(c *clock) map[string]any { return map[string]any{"nbf": c.unix(skew + time.Second)} }, ErrNotYetValid},
		{"iat exactly at the skew", func(c *clock) map[string]any { return map[string]any{"iat": c.unix(skew)} }, nil},
		{"iat one second past the skew", func(c *clock) map[string]any { return map[string]any{"iat": c.unix(skew + time.Second)} }, ErrNotYetValid},
		{"iat long ago", func(c *clock) map[string]any { return map[string]any{"iat": c.unix(-48 * time.Hour)} }, nil},
	}
	f := newFixture(t, fixtureConfig{options: Options{ClockSkew: skew}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := key("rsa1").sign(nil, with(accessClaims(f.clock.Now()), tt.claims(f.clock)))
			_, err := f.verifier.Verify(verifyCtx(t), token)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifySeveralIssuers(t *testing.T) {
	t.Parallel()
	pool := newFixture(t, fixtureConfig{})
	oidc := newFixture(t, fixtureConfig{keys: []*signingKey{key("rsa2")}})
	v, err := NewVerifier([]Issuer{
		{Kind: identity.KindUserPool, Issuer: testIssuer, ClientIDs: []string{testClient}, Keys: pool.keys},
		{Kind: identity.KindOIDC, Issuer: "https://accounts.example.com", ClientIDs: []string{"web"}, Keys: oidc.keys},
	}, Options{Now: pool.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := pool.clock.Now()
	oidcClaims := map[string]any{"iss": "https://accounts.example.com", "sub": "g-1", "aud": "web", "exp": now.Add(time.Hour).Unix()}
	tests := []struct {
		name     string
		token    string
		want     error
		wantKind identity.Kind
	}{
		{"user pool token", key("rsa1").sign(nil, accessClaims(now)), nil, identity.KindUserPool},
		{"oidc token", key("rsa2").sign(nil, oidcClaims), nil, identity.KindOIDC},
		{"oidc claims signed with the user pool's key", key("rsa1").withKid(key("rsa2").kid).sign(nil, oidcClaims), ErrSignature, ""},
		{"user pool claims under the oidc issuer's kid", key("rsa2").sign(nil, accessClaims(now)), ErrUnknownKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(verifyCtx(t), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if err == nil && id.Kind != tt.wantKind {
				t.Errorf("Kind = %s, want %s", id.Kind, tt.wantKind)
			}
		})
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	t.Parallel()
	ks := newFixture(t, fixtureConfig{noWait: true}).keys
	good := func() Issuer {
		return Issuer{Kind: identity.KindUserPool, Issuer: testIssuer, ClientIDs: []string{testClient}, Keys: ks}
	}
	tests := []struct {
		name    string
		issuers func() []Issuer
		opts    Options
		want    string
	}{
		{"no issuer", func() []Issuer { return nil }, Options{}, "no issuer"},
		{"no kind", func() []Issuer { i := good(); i.Kind = ""; return []Issuer{i} }, Options{}, "neither"},
		{"identity pool kind", func() []Issuer { i := good(); i.Kind = identity.KindIdentityPool; return []Issuer{i} }, Options{}, "neither"},
		{"empty issuer", func() []Issuer { i := good(); i.Issuer = ""; return []Issuer{i} }, Options{}, "non-empty"},
		{"issuer with a space", func() []Issuer { i := good(); i.Issuer = testIssuer + " "; return []Issuer{i} }, Options{}, "spaces"},
		{"no key set", func() []Issuer { i := good(); i.Keys = nil; return []Issuer{i} }, Options{}, "no key set"},
		{"no client id", func() []Issuer { i := good(); i.ClientIDs = nil; return []Issuer{i} }, Options{}, "client id"},
		{"empty client id", func() []Issuer { i := good(); i.ClientIDs = []string{""}; return []Issuer{i} }, Options{}, "client id"},
		{"bad token use", func() []Issuer { i := good(); i.TokenUse = "refresh"; return []Issuer{i} }, Options{}, "token use"},
		{"token use for oidc", func() []Issuer {
			i := good()
			i.Kind, i.TokenUse = identity.KindOIDC, TokenUseAccess
			return []Issuer{i}
		}, Options{}, "user pools only"},
		{"HS256 allowed", func() []Issuer { i := good(); i.Algorithms = []string{"RS256", "HS256"}; return []Issuer{i} }, Options{}, "never allowed"},
		{"none allowed", func() []Issuer { i := good(); i.Algorithms = []string{"none"}; return []Issuer{i} }, Options{}, "never allowed"},
		{"unknown algorithm", func() []Issuer { i := good(); i.Algorithms = []string{"RS1"}; return []Issuer{i} }, Options{}, "unsupported"},
		{"same issuer twice", func() []Issuer { return []Issuer{good(), good()} }, Options{}, "twice"},
		{"negative skew", func() []Issuer { return []Issuer{good()} }, Options{ClockSkew: -time.Second}, "clock skew"},
		{"skew of an hour", func() []Issuer { return []Issuer{good()} }, Options{ClockSkew: time.Hour}, "clock skew"},
		{"negative token size", func() []Issuer { return []Issuer{good()} }, Options{MaxTokenBytes: -1}, "token size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.issuers(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier = %v, %v; want an error containing %q", v, err, tt.want)
			}
		})
	}
}

func TestCognitoIssuerURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		poolID string
		want   string
	}{
		{"us-east-1_AbC123def", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123def"},
		{"ap-southeast-2_x", "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_x"},
		{"us-gov-west-1_Q1", "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Q1"},
		{"cn-north-1_abc", "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_abc"},
		{"", ""},
		{"us-east-1", ""},
		{"us-east-1_", ""},
		{"_AbC123", ""},
		{"local_abc", ""},
		{"us-east-1_AbC/../x", ""},
		{"us-east-1_AbC?x=1", ""},
		{"evil.com/us-east-1_AbC", ""},
		{"US-EAST-1_AbC", ""},
		{"us-east-1_AbC\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.poolID, func(t *testing.T) {
			got, err := CognitoIssuerURL(tt.poolID)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Fatalf("CognitoIssuerURL(%q) = %q, %v; want %q", tt.poolID, got, err, tt.want)
			}
		})
	}
	if got := CognitoJWKSURL("http://localhost:9229/local_abc/"); got != "http://localhost:9229/local_abc/.well-known/jwks.json" {
		t.Errorf("CognitoJWKSURL = %q", got)
	}
}

// TestVerifyWaitsNoLongerThanItsContext: a request that needs a refetch from a hanging JWKS endpoint
// gives up when its context ends.
func TestVerifyWaitsNoLongerThanItsContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hanging atomic.Bool
	f := newFixture(t, fixtureConfig{})
	f.idp.handle(func(w http.ResponseWriter, r *http.Request) {
		hanging.Store(true)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(verifyCtx(t), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.verifier.Verify(ctx, key("rsa2").withKid("rotated").sign(nil, accessClaims(f.clock.Now())))
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Verify: %v, want ErrUnknownKey", err)
	}
	if !hanging.Load() {
		t.Fatal("no refetch was attempted")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Verify took %v with a context of 100ms", d)
	}
}

// nonCanonical returns seg with a padding bit of its last character set: another base64url string for the
// same bytes, which lenient decoders (Go's without Strict, jwx's) accept. ok is false when seg has no
// padding bits (a length that is a multiple of 4).
func nonCanonical(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 < 2 {
		return "", false
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last^1]), true
}

// TestVerifyRefusesNonCanonicalBase64 mutates the last character of each part of a validly signed token
// into a different string that decodes to the same bytes: every one is refused as malformed, before any
// key is looked up, with the part named in the reason.
func TestVerifyRefusesNonCanonicalBase64(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	// A claim whose length leaves padding bits in the header and the payload (an RS256 signature, 256
	// bytes, always has 4).
	var token string
	for pad := ""; ; pad += "x" {
		token = key("rsa1").sign(map[string]any{"typ": "JWT" + pad}, with(accessClaims(f.clock.Now()), map[string]any{"pad": pad}))
		parts := strings.Split(token, ".")
		if len(parts[0])%4 >= 2 && len(parts[1])%4 >= 2 {
			break
		}
	}
	if _, err := f.verifier.Verify(verifyCtx(t), token); err != nil {
		t.Fatalf("the canonical token: %v", err)
	}
	for i, part := range []string{"header", "payload", "signature"} {
		t.Run(part, func(t *testing.T) {
			parts := strings.Split(token, ".")
			mutant, ok := nonCanonical(parts[i])
			if !ok {
				t.Fatalf("the %s has no padding bits", part)
			}
			same, err := base64.RawURLEncoding.DecodeString(mutant)
			if orig, _ := base64.RawURLEncoding.DecodeString(parts[i]); err != nil || string(same) != string(orig) {
				t.Fatalf("the mutant does not decode to the same bytes (%v): the test proves nothing", err)
			}
			parts[i] = mutant
			hits := f.idp.hits.Load()
			_, err = f.verifier.Verify(verifyCtx(t), strings.Join(parts, "."))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), part+" is not canonical base64url") {
				t.Fatalf("Verify: %v, want ErrMalformed saying the %s is not canonical base64url", err, part)
			}
			if got := f.idp.hits.Load(); got != hits {
				t.Errorf("%d JWKS requests for a malformed token", got-hits)
			}
		})
	}
}
