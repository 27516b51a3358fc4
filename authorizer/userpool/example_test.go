package userpool_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

func ExampleCognitoIssuerURL() {
	iss, err := userpool.CognitoIssuerURL("eu-west-1_AbC123def")
	fmt.Println(iss, err)
	fmt.Println(userpool.CognitoJWKSURL(iss))
	_, err = userpool.CognitoIssuerURL("evil.example.com/eu-west-1_AbC123def")
	fmt.Println(err)
	// Output:
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123def <nil>
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123def/.well-known/jwks.json
	// user pool id "evil.example.com/eu-west-1_AbC123def" is not of the form <region>_<id>, e.g. us-east-1_AbC123
}

// Verify a user-pool access token. A local server stands in for the pool's JWKS endpoint.
func ExampleVerifier() {
	signingKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwksServer := httptest.NewServer(jwksHandler(signingKey, "key-1"))
	defer jwksServer.Close()

	issuer, _ := userpool.CognitoIssuerURL("us-east-1_AbC123def")
	keys, err := userpool.NewKeySet(userpool.KeySetConfig{JWKSURL: jwksServer.URL}) // in production: CognitoJWKSURL(issuer)
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	verifier, err := userpool.NewVerifier([]userpool.Issuer{{
		Kind:      identity.KindUserPool,
		Issuer:    issuer,
		ClientIDs: []string{"my-app-client"},
		Keys:      keys,
	}}, userpool.Options{Cache: userpool.NewTokenCache(0)})
	if err != nil {
		panic(err)
	}

	token := accessToken(signingKey, "key-1", issuer, "my-app-client")
	id, err := verifier.Verify(context.Background(), token)
	fmt.Println(id.Subject, id.Username, id.Groups, id.Scopes, err)

	forged := accessToken(mustKey(), "key-1", issuer, "my-app-client")
	_, err = verifier.Verify(context.Background(), forged)
	fmt.Println(status(err), errors.Is(err, userpool.ErrSignature))
	// Output:
	// 0c1d2e3f alice [admins] [orders/read] <nil>
	// 401 true
}

// Trust an OIDC provider found by discovery, sharing one KeySet and one TokenCache between two
// verifiers (say, two routes) that accept different audiences.
func ExampleNewKeySet_discovery() {
	signingKey := mustKey()
	mux := http.NewServeMux()
	provider := httptest.NewServer(mux)
	defer provider.Close()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"issuer": %q, "jwks_uri": %q}`, provider.URL, provider.URL+"/keys")
	})
	mux.Handle("/keys", jwksHandler(signingKey, "k1"))

	keys, err := userpool.NewKeySet(userpool.KeySetConfig{Discovery: provider.URL})
	if err != nil {
		panic(err)
	}
	defer keys.Close()
	cache := userpool.NewTokenCache(0)
	route := func(audience string) *userpool.Verifier {
		v, err := userpool.NewVerifier([]userpool.Issuer{{
			Kind: identity.KindOIDC, Issuer: provider.URL, ClientIDs: []string{audience}, Keys: keys,
		}}, userpool.Options{Cache: cache})
		if err != nil {
			panic(err)
		}
		return v
	}
	orders, billing := route("orders-api"), route("billing-api")

	tok, _ := jwt.NewBuilder().Issuer(provider.URL).Subject("auth0|42").Audience([]string{"orders-api"}).
		Expiration(time.Now().Add(time.Hour)).Build()
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, "k1")
	signed, _ := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), signingKey, jws.WithProtectedHeaders(hdr)))

	id, err := orders.Verify(context.Background(), string(signed))
	fmt.Println(id.Kind, id.Subject, err)
	_, err = billing.Verify(context.Background(), string(signed))
	fmt.Println(errors.Is(err, userpool.ErrAudience))
	// Output:
	// oidc auth0|42 <nil>
	// true
}

// status is how a gateway answers a verification error.
func status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, userpool.ErrKeysUnavailable):
		return http.StatusServiceUnavailable // the gateway cannot judge the token
	default:
		return http.StatusUnauthorized
	}
}

func jwksHandler(priv *rsa.PrivateKey, kid string) http.HandlerFunc {
	pub, _ := jwk.Import(priv.Public())
	pub.Set(jwk.KeyIDKey, kid)
	pub.Set(jwk.AlgorithmKey, jwa.RS256())
	pub.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	set.AddKey(pub)
	body, _ := json.Marshal(set)
	return func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }
}

func accessToken(priv *rsa.PrivateKey, kid, issuer, client string) string {
	tok, _ := jwt.NewBuilder().
		Issuer(issuer).
		Subject("0c1d2e3f").
		IssuedAt(time.Now()).
		Expiration(time.Now().Add(time.Hour)).
		Claim("token_use", "access").
		Claim("client_id", client).
		Claim("username", "alice").
		Claim("cognito:groups", []string{"admins"}).
		Claim("scope", "orders/read").
		Build()
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, kid)
	signed, _ := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), priv, jws.WithProtectedHeaders(hdr)))
	return string(signed)
}

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// Trust a user pool's ID tokens, and an OIDC issuer whose keys are found by discovery.
func ExampleCognitoIssuer() {
	pool, err := userpool.CognitoIssuer("eu-west-1_AbC123def", []string{"my-app-client"}, userpool.WithTokenUse(userpool.TokenUseID))
	fmt.Println(pool.Issuer.Issuer, pool.Issuer.TokenUse, pool.KeySet.JWKSURL, err)
	local, err := userpool.CognitoIssuer("local_abc", []string{"my-app-client"}, userpool.WithIssuerURL("http://localhost:9229/local_abc"))
	fmt.Println(local.Issuer.Issuer, local.KeySet.JWKSURL, err)
	auth0, err := userpool.OIDCIssuer("https://example.eu.auth0.com/", []string{"https://api.example.com"})
	fmt.Println(auth0.Issuer.Issuer, auth0.KeySet.Discovery, auth0.Issuer.Algorithms, err)
	// Output:
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123def id https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123def/.well-known/jwks.json <nil>
	// http://localhost:9229/local_abc http://localhost:9229/local_abc/.well-known/jwks.json <nil>
	// https://example.eu.auth0.com/ https://example.eu.auth0.com/ [RS256] <nil>
}
