package userpool

import (
	"reflect"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
)

func TestIssuerConstructors(t *testing.T) {
	t.Parallel()
	clients := []string{"app"}
	rs256 := []string{"RS256"}
	tests := []struct {
		name    string
		build   func() (IssuerConfig, error)
		want    IssuerConfig
		wantErr bool
	}{
		{
			name:  "cognito defaults",
			build: func() (IssuerConfig, error) { return CognitoIssuer("us-east-1_AbC123", clients) },
			want: IssuerConfig{
				Issuer: Issuer{Kind: identity.KindUserPool, Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
					ClientIDs: clients, Algorithms: rs256},
				KeySet: KeySetConfig{JWKSURL: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123/.well-known/jwks.json", Algorithms: rs256},
			},
		},
		{
			name: "cognito china region",
			build: func() (IssuerConfig, error) {
				return CognitoIssuer("cn-north-1_abc", clients, WithTokenUse(TokenUseID))
			},
			want: IssuerConfig{
				Issuer: Issuer{Kind: identity.KindUserPool, Issuer: "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_abc",
					ClientIDs: clients, TokenUse: TokenUseID, Algorithms: rs256},
				KeySet: KeySetConfig{JWKSURL: "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_abc/.well-known/jwks.json", Algorithms: rs256},
			},
		},
		{
			name: "cognito-local issuer, pool id not checked",
			build: func() (IssuerConfig, error) {
				return CognitoIssuer("local_abc", clients, WithIssuerURL("http://localhost:9229/local_abc"), WithTokenUse(TokenUseAny))
			},
			want: IssuerConfig{
				Issuer: Issuer{Kind: identity.KindUserPool, Issuer: "http://localhost:9229/local_abc",
					ClientIDs: clients, TokenUse: TokenUseAny, Algorithms: rs256},
				KeySet: KeySetConfig{JWKSURL: "http://localhost:9229/local_abc/.well-known/jwks.json", Algorithms: rs256},
			},
		},
		{
			name: "cognito jwks override",
			build: func() (IssuerConfig, error) {
				return CognitoIssuer("eu-west-1_X", clients, WithIssuerURL(""), WithJWKSURL("http://keys.internal/jwks.json"))
			},
			want: IssuerConfig{
				Issuer: Issuer{Kind: identity.KindUserPool, Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
					ClientIDs: clients, Algorithms: rs256},
				KeySet: KeySetConfig{JWKSURL: "http://keys.internal/jwks.json", Algorithms: rs256},
			},
		},
		{name: "cognito empty pool id", build: func() (IssuerConfig, error) { return CognitoIssuer("", clients) }, wantErr: true},
		{name: "cognito bare pool id", build: func() (IssuerConfig, error) { return CognitoIssuer("local_abc", clients) }, wantErr: true},
		{name: "cognito host in pool id", build: func() (IssuerConfig, error) { return CognitoIssuer("evil.com/us-east-1_AbC", clients) }, wantErr: true},
		{name: "cognito dots in pool id", build: func() (IssuerConfig, error) { return CognitoIssuer("us-east-1_AbC/../x", clients) }, wantErr: true},
		{name: "cognito upper-case region", build: func() (IssuerConfig, error) { return CognitoIssuer("US-EAST-1_AbC", clients) }, wantErr: true},
		{
			name:    "cognito bad token use",
			build:   func() (IssuerConfig, error) { return CognitoIssuer("us-east-1_AbC", clients, WithTokenUse("refresh")) },
			wantErr: true,
		},
		{
			name:    "cognito algorithms",
			build:   func() (IssuerConfig, error) { return CognitoIssuer("us-east-1_AbC", clients, WithAlgorithms("ES256")) },
			wantErr: true,
		},
		{
			name: "cognito issuer not http",
			build: func() (IssuerConfig, error) {
				return CognitoIssuer("us-east-1_AbC", clients, WithIssuerURL("ftp://x/y"))
			},
			wantErr: true,
		},
		{
			name:    "cognito jwks not a URL",
			build:   func() (IssuerConfig, error) { return CognitoIssuer("us-east-1_AbC", clients, WithJWKSURL("keys.json")) },
			wantErr: true,
		},
		{
			name:  "oidc discovery",
			build: func() (IssuerConfig, error) { return OIDCIssuer("https://example.eu.auth0.com/", clients) },
			want: IssuerConfig{
				Issuer: Issuer{Kind: identity.KindOIDC, Issuer: "https://example.eu.auth0.com/", ClientIDs: clients, Algorithms: rs256},
				KeySet: KeySetConfig{Discovery: "https://example.eu.auth0.com/", Algorithms: rs256},
			},
		},
		{
			name: "oidc plain http, jwks and algorithms",
			build: func() (IssuerConfig, error) {
				return OIDCIssuer("http://keycloak:8080/realms/r", clients, WithJWKSURL("http://keycloak:8080/certs"), WithAlgorithms("ES256", "RS256"))
			},
			want: IssuerConfig{
				Issuer: Issuer{Kind: identity.KindOIDC, Issuer: "http://keycloak:8080/realms/r", ClientIDs: clients,
					Algorithms: []string{"ES256", "RS256"}},
				KeySet: KeySetConfig{JWKSURL: "http://keycloak:8080/certs", Algorithms: []string{"ES256", "RS256"}},
			},
		},
		{name: "oidc empty issuer", build: func() (IssuerConfig, error) { return OIDCIssuer("", clients) }, wantErr: true},
		{name: "oidc issuer not a URL", build: func() (IssuerConfig, error) { return OIDCIssuer("example.com", clients) }, wantErr: true},
		{
			name:    "oidc token use",
			build:   func() (IssuerConfig, error) { return OIDCIssuer("https://x/", clients, WithTokenUse(TokenUseID)) },
			wantErr: true,
		},
		{
			name:    "oidc issuer override",
			build:   func() (IssuerConfig, error) { return OIDCIssuer("https://x/", clients, WithIssuerURL("https://y/")) },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.build()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// A constructed issuer is one the verifier takes, once its keys are set.
func TestIssuerConfigWithKeys(t *testing.T) {
	t.Parallel()
	c, err := CognitoIssuer("us-east-1_AbC123", []string{"app"})
	if err != nil {
		t.Fatal(err)
	}
	keys := &KeySet{}
	iss := c.WithKeys(keys)
	if iss.Keys != keys || c.Issuer.Keys != nil {
		t.Fatalf("WithKeys: %p, config keeps %p", iss.Keys, c.Issuer.Keys)
	}
	if _, err := NewVerifier([]Issuer{iss}, Options{}); err != nil {
		t.Fatal(err)
	}
}
