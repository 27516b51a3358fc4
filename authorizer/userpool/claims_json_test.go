package userpool

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/upstream"
)

// TestClaimsKeptAsJSONProjectSame: the verifier keeps a token's claims as its JSON, decoded on demand,
// instead of the decoded map it kept before. Every projection of the identity (the claims, each claim,
// the upstream headers and context, the assertion claims, the placeholders) is the same as that of the
// identity with the decoded map, for payloads that stress the decoding: whitespace between tokens,
// escapes, Unicode, nested objects, big and fractional numbers, duplicate names, a claim equal to a
// substring of another.
func TestClaimsKeptAsJSONProjectSame(t *testing.T) {
	t.Parallel()
	ed := key("ed25519")
	f := newFixture(t, fixtureConfig{keys: []*signingKey{ed}, issuer: Issuer{Algorithms: []string{"EdDSA"}, TokenUse: TokenUseAny}})
	now := f.clock.Now().Unix()
	payloads := map[string]string{
		"cognito access token": string(mustJSON(accessClaims(f.clock.Now()))),
		"cognito id token":     string(mustJSON(idClaims(f.clock.Now()))),
		"whitespace, escapes, nesting, numbers": fmt.Sprintf(`{ "sub" : "u\u00e9\n1", "iss":"%s",
			"client_id": "%s", "token_use": "access", "exp": %d, "iat": %d.25,
			"username": "a\"b", "scope": "  x   y ",
			"cognito:groups": ["g1", 7, "g\u00e92", null, "g1"],
			"tenant": {"id": 12345678901234567890, "tags": ["a", {"b": [true, false, null]}]},
			"ratio": 1e-7, "dup": "first", "dup": "second", "empty": "", "sub2": "u"
		}`, testIssuer, testClient, now+600, now),
		// Claims the token holds in fields next to ones it must keep as JSON, because the field would
		// give them back otherwise (a fractional date, a scope with two spaces, groups as a string, an
		// empty client_id) or because they come in a form the field does not record.
		"held and kept claims": fmt.Sprintf(`{"sub":"same","iss":"%s","token_use":"id","aud":["%s","other"],
			"exp":%d,"iat":%d.5,"nbf":%d,"auth_time":1.5e9,"cognito:username":"same","username":"same",
			"preferred_username":"pref","scope":"a  b","cognito:groups":null,"groups":"solo","origin_jti":"",
			"client_id":"","scp":["x"],"version":2}`, testIssuer, testClient, now+600, now-10, now-10),
		"an aud string, integer dates, groups of strings": fmt.Sprintf(`{"sub":"s","iss":"%s","token_use":"id",
			"aud":"%s","exp":%d,"iat":%d,"nbf":%d.25,"auth_time":%d,"cognito:groups":["b","a"],"scope":"x y",
			"origin_jti":"o","username":"u"}`, testIssuer, testClient, now+600, now-10, now-10, now-10),
		"nothing but what the fields hold": fmt.Sprintf(`{"sub":"s","iss":"%s","token_use":"access",
			"client_id":"%s","exp":%d}`, testIssuer, testClient, now+600),
	}
	for name, payload := range payloads {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hdr := b64json(map[string]any{"alg": "EdDSA", "kid": ed.kid})
			input := hdr + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
			token := input + "." + base64.RawURLEncoding.EncodeToString(signWith(ed.priv, "EdDSA", []byte(input)))
			got, err := f.verifier.Verify(verifyCtx(t), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Claims != nil {
				t.Fatal("the verifier kept a decoded map")
			}
			decoded, err := decodeClaims([]byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			// before is the identity as the verifier built it when it kept the decoded map.
			before := &identity.Identity{
				Kind: got.Kind, Authenticated: got.Authenticated, Issuer: got.Issuer, Subject: got.Subject,
				Username: got.Username, ClientID: got.ClientID, TokenUse: got.TokenUse, Groups: got.Groups,
				Scopes: got.Scopes, Claims: decoded, ExpiresAt: got.ExpiresAt,
			}
			same := func(what string, a, b any) {
				t.Helper()
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%s: kept as JSON %#v, as a map %#v", what, a, b)
				}
			}
			same("ClaimMap", got.ClaimMap(), decoded)
			for name := range decoded {
				a, aok := got.Claim(name)
				b, bok := before.Claim(name)
				same("Claim "+name, []any{a, aok}, []any{b, bok})
				pa, _ := upstream.Placeholder(got, "claims."+name)
				pb, _ := upstream.Placeholder(before, "claims."+name)
				same("placeholder claims."+name, pa, pb)
			}
			if _, ok := got.Claim("absent"); ok {
				t.Error("Claim(absent) reports a claim")
			}
			same("Headers", upstream.ForwardAll.Headers(got), upstream.ForwardAll.Headers(before))
			same("Context", string(upstream.Context(got)), string(upstream.Context(before)))
			same("Metadata", upstream.Metadata(got), upstream.Metadata(before))
			same("assertion claims", upstream.Claims(got), upstream.Claims(before))
			// A decoded map is the caller's: changing it changes no later projection.
			got.ClaimMap()["sub"] = "changed"
			same("ClaimMap after a caller changed one", got.ClaimMap(), decoded)
		})
	}
}
