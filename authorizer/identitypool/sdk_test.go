package identitypool

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// The protocol driven by the real aws-sdk-go-v2 Cognito Identity client, against the pool mounted under a
// route of an httptest server, with anonymous credentials, as an app would call Amazon Cognito.

func newSDKClient(t *testing.T, e *testEnv) (*cognitoidentity.Client, *httptest.Server) {
	t.Helper()
	// The SDK posts to the BaseEndpoint's path as is ("/identity"); the JWKS lives below it.
	mux := http.NewServeMux()
	mux.Handle("/identity", e.pool)
	mux.Handle("/identity/", e.pool)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := cognitoidentity.New(cognitoidentity.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL + "/identity"),
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
	return client, srv
}

func TestSDKGuestFlow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	client, _ := newSDKClient(t, e)
	ctx := t.Context()
	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testPoolID)})
	must(t, err)
	out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	must(t, err)
	c := out.Credentials
	if *out.IdentityId != *id.IdentityId || !accessKeyPattern.MatchString(*c.AccessKeyId) || !secretPattern.MatchString(*c.SecretKey) {
		t.Fatalf("credentials %+v for %s", c, *out.IdentityId)
	}
	if !c.Expiration.Equal(e.clock.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("expiration %v, want one hour from %v", c.Expiration, e.clock.Now())
	}
	s, err := e.keys.OpenSessionToken(ctx, *c.SessionToken)
	must(t, err)
	if s.RoleARN != unauthRole || s.SecretAccessKey != *c.SecretKey || s.IdentityID != *id.IdentityId {
		t.Fatalf("session %v does not match the credentials", s)
	}

	tok, err := client.GetOpenIdToken(ctx, &cognitoidentity.GetOpenIdTokenInput{IdentityId: id.IdentityId})
	must(t, err)
	claims := verifyOpenIDToken(t, e, *tok.Token)
	if claims.sub != *id.IdentityId || !slices.Equal(claims.amr, []string{"unauthenticated"}) {
		t.Fatalf("guest OpenID token: %+v", claims)
	}
}

func TestSDKAuthenticatedFlow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) {
		c.RoleMappings = map[string]RoleMapping{testUserPoolName: {Type: RoleMappingRules,
			AmbiguousRoleResolution: ResolveAuthenticatedRole,
			Rules:                   []MappingRule{{Claim: "cognito:groups", MatchType: MatchContains, Value: "admins", RoleARN: adminRole}}}}
		c.PrincipalTags = map[string]string{"tenant": "custom:tenant"}
	})
	client, _ := newSDKClient(t, e)
	ctx := t.Context()
	tok := e.userPool.token(t, "user-1", map[string]any{"cognito:groups": []any{"admins"}, "custom:tenant": "t-7"})
	logins := map[string]string{testUserPoolName: tok}

	id, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testPoolID), Logins: logins})
	must(t, err)
	out, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
	must(t, err)
	s, err := e.keys.OpenSessionToken(ctx, *out.Credentials.SessionToken)
	must(t, err)
	if s.RoleARN != adminRole || s.PrincipalTags["tenant"] != "t-7" || s.PrincipalTags["username"] != "user-1" ||
		!slices.Equal(s.LoginProviders, []string{testUserPoolName}) {
		t.Fatalf("session %v tags %v", s, s.PrincipalTags)
	}

	oid, err := client.GetOpenIdToken(ctx, &cognitoidentity.GetOpenIdTokenInput{IdentityId: id.IdentityId, Logins: logins})
	must(t, err)
	claims := verifyOpenIDToken(t, e, *oid.Token)
	wantAMR := []string{"authenticated", testUserPoolName, testUserPoolName + ":CognitoSignIn:user-1"}
	if claims.sub != *id.IdentityId || !slices.Equal(claims.amr, wantAMR) || claims.tags["tenant"][0] != "t-7" {
		t.Fatalf("OpenID token claims %+v", claims)
	}
}

// TestSDKErrors: the SDK turns the pool's errors into its typed exceptions.
func TestSDKErrors(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	client, _ := newSDKClient(t, e)
	ctx := t.Context()
	forged := e.userPool.tokenWith(t, rsaKeys()[1], "user-1", e.clock.Now().Add(time.Hour), nil)
	tests := []struct {
		name string
		call func() error
		want any
	}{
		{"unknown pool", func() error {
			_, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(otherPoolID)})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"forged login", func() error {
			_, err := client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(testPoolID), Logins: map[string]string{testUserPoolName: forged}})
			return err
		}, new(*types.NotAuthorizedException)},
		{"forged guest id", func() error {
			_, err := client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String("us-east-1:0f8fad5b-d9cb-469f-a165-70867728950e")})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"malformed identity id", func() error {
			_, err := client.GetOpenIdToken(ctx, &cognitoidentity.GetOpenIdTokenInput{IdentityId: aws.String("us-east-1:nope")})
			return err
		}, new(*types.InvalidParameterException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ok bool
			switch want := tt.want.(type) {
			case **types.ResourceNotFoundException:
				ok = errors.As(err, want)
			case **types.NotAuthorizedException:
				ok = errors.As(err, want)
			case **types.InvalidParameterException:
				ok = errors.As(err, want)
			}
			if !ok {
				t.Fatalf("error %v (%T), want %T", err, err, tt.want)
			}
		})
	}
}

type openIDClaims struct {
	sub  string
	amr  []string
	tags map[string][]string
}

// verifyOpenIDToken checks an OpenID token against the JWKS the pool serves, as a relying party would.
func verifyOpenIDToken(t *testing.T, e *testEnv, token string) openIDClaims {
	t.Helper()
	w := httptest.NewRecorder()
	e.pool.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/identity/.well-known/jwks.json", nil))
	set, err := jwk.Parse(w.Body.Bytes())
	must(t, err)
	tok, err := jwt.ParseString(token, jwt.WithKeySet(set), jwt.WithIssuer("https://auth.example.com/identity"),
		jwt.WithAudience(testPoolID), jwt.WithClock(jwt.ClockFunc(e.clock.Now)))
	must(t, err)
	// Cognito's tokens carry aud as a string, not a list.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	must(t, err)
	if !strings.Contains(string(payload), `"aud":"`+testPoolID+`"`) {
		t.Fatalf("aud is not the pool id as a string: %s", payload)
	}
	var c openIDClaims
	c.sub, _ = tok.Subject()
	iat, _ := tok.IssuedAt()
	exp, _ := tok.Expiration()
	if exp.Sub(iat) != openIDTokenTTL {
		t.Fatalf("OpenID token lives %s", exp.Sub(iat))
	}
	var amr []any
	must(t, tok.Get("amr", &amr))
	for _, a := range amr {
		c.amr = append(c.amr, a.(string))
	}
	var tags map[string]any
	if tok.Get(awsTagsClaim, &tags) == nil {
		c.tags = map[string][]string{}
		for k, v := range tags["principal_tags"].(map[string]any) {
			for _, s := range v.([]any) {
				c.tags[k] = append(c.tags[k], s.(string))
			}
		}
	}
	return c
}
