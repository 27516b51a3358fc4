// Command client calls an API behind caddy-cognito the three ways the gateway accepts, with
// aws-sdk-go-v2:
//
//	-flow jwt    sign in to the user pool (USER_PASSWORD_AUTH) and send the access token (or, with
//	             -token id, the ID token) as `Authorization: Bearer`
//	-flow guest  get guest credentials from the identity pool and sign the request with SigV4
//	-flow user   sign in to the user pool, exchange the ID token at the identity pool for the user's
//	             credentials, and sign the request with SigV4
//
// The password is read from the environment variable COGNITO_PASSWORD, never from the command line.
// The API's answer is printed on stdout; a status other than 2xx ends the program with exit status 1.
//
//	COGNITO_PASSWORD=... go run -C examples/clients/go . -flow user \
//		-api http://localhost:8080/orders/42 \
//		-user-pool-id us-east-1_AbC123 -client-id <app client id> -username alice@example.com \
//		-identity-pool-id us-east-1:<uuid>
//
// With cognito-local instead of a real user pool, add -user-pool-endpoint http://localhost:9229.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cipTypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// maxResponseBytes bounds how much of the API's answer is read.
const maxResponseBytes = 1 << 20

// options are the command-line flags.
type options struct {
	flow, api, method, data, token           string
	userPoolID, clientID, username           string
	userPoolEndpoint                         string
	identityPoolID, identityEndpoint, region string
	timeout                                  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.flow, "flow", "", "jwt, guest or user (required)")
	flag.StringVar(&o.api, "api", "", "the API URL to call, e.g. http://localhost:8080/orders/42 (required)")
	flag.StringVar(&o.method, "method", http.MethodGet, "the HTTP method of the API request")
	flag.StringVar(&o.data, "data", "", "the body of the API request")
	flag.StringVar(&o.token, "token", "access", "jwt flow: the token to send, access or id")
	flag.StringVar(&o.userPoolID, "user-pool-id", "", "the user pool id, e.g. us-east-1_AbC123 (flow user)")
	flag.StringVar(&o.clientID, "client-id", "", "the user pool's app client id (flows jwt and user)")
	flag.StringVar(&o.username, "username", "", "the user's name or email (flows jwt and user); the password is read from COGNITO_PASSWORD")
	flag.StringVar(&o.userPoolEndpoint, "user-pool-endpoint", "", "the user pool service's URL, for cognito-local (default: Amazon Cognito)")
	flag.StringVar(&o.identityPoolID, "identity-pool-id", "", "the identity pool id, <region>:<uuid> (flows guest and user)")
	flag.StringVar(&o.identityEndpoint, "identity-endpoint", "", "the identity pool's URL (default: /identity of the API's origin)")
	flag.StringVar(&o.region, "region", "", "the region of the user pool (default: taken from -user-pool-id, else us-east-1)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "the time allowed for the whole run")
	flag.Parse()

	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(o options, stdout io.Writer) error {
	if o.api == "" {
		return errors.New("-api is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	httpClient := &http.Client{Timeout: 10 * time.Second}

	req, err := http.NewRequestWithContext(ctx, o.method, o.api, strings.NewReader(o.data))
	if err != nil {
		return fmt.Errorf("building the API request: %w", err)
	}
	switch o.flow {
	case "jwt":
		tokens, err := signIn(ctx, o, httpClient)
		if err != nil {
			return err
		}
		token := aws.ToString(tokens.AccessToken)
		if o.token == "id" {
			token = aws.ToString(tokens.IdToken)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	case "guest", "user":
		var logins map[string]string
		if o.flow == "user" {
			tokens, err := signIn(ctx, o, httpClient)
			if err != nil {
				return err
			}
			// The identity pool knows the user pool by this name, as Amazon Cognito does.
			logins = map[string]string{
				"cognito-idp." + userPoolRegion(o) + ".amazonaws.com/" + o.userPoolID: aws.ToString(tokens.IdToken),
			}
		}
		creds, err := identityPoolCredentials(o, httpClient, logins)
		if err != nil {
			return err
		}
		if err := signRequest(ctx, req, []byte(o.data), creds, identityPoolRegion(o.identityPoolID)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-flow must be jwt, guest or user, not %q", o.flow)
	}

	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("calling the API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("reading the API's answer: %w", err)
	}
	if _, err := stdout.Write(body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the API answered %s", resp.Status)
	}
	return nil
}

// signIn signs the user in to the user pool with USER_PASSWORD_AUTH (the app client must allow it; apps
// that must not see passwords use the SRP flow or the hosted UI instead).
func signIn(ctx context.Context, o options, httpClient *http.Client) (*cipTypes.AuthenticationResultType, error) {
	password := os.Getenv("COGNITO_PASSWORD")
	if o.clientID == "" || o.username == "" || password == "" {
		return nil, errors.New("signing in needs -client-id, -username and the password in COGNITO_PASSWORD")
	}
	client := cip.New(cip.Options{
		Region: userPoolRegion(o),
		// InitiateAuth is a public API: the request is not signed.
		Credentials:  aws.AnonymousCredentials{},
		HTTPClient:   httpClient,
		BaseEndpoint: optional(o.userPoolEndpoint),
	})
	out, err := client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow:       cipTypes.AuthFlowTypeUserPasswordAuth,
		ClientId:       aws.String(o.clientID),
		AuthParameters: map[string]string{"USERNAME": o.username, "PASSWORD": password},
	})
	if err != nil {
		return nil, fmt.Errorf("signing in to the user pool: %w", err)
	}
	if out.AuthenticationResult == nil {
		return nil, fmt.Errorf("signing in to the user pool: challenge %s (not handled by this example)", out.ChallengeName)
	}
	return out.AuthenticationResult, nil
}

// identityPoolCredentials returns the identity pool's credentials for the given logins (none: a
// guest), behind the SDK's credentials cache, which fetches new ones before these expire.
func identityPoolCredentials(o options, httpClient *http.Client, logins map[string]string) (aws.CredentialsProvider, error) {
	if o.identityPoolID == "" {
		return nil, errors.New("-identity-pool-id is required")
	}
	endpoint := o.identityEndpoint
	if endpoint == "" {
		u, err := url.Parse(o.api)
		if err != nil {
			return nil, fmt.Errorf("parsing -api: %w", err)
		}
		endpoint = u.Scheme + "://" + u.Host + "/identity"
	}
	pool := &identityPool{
		id:     o.identityPoolID,
		logins: logins,
		client: cognitoidentity.New(cognitoidentity.Options{
			Region: identityPoolRegion(o.identityPoolID),
			// GetId and GetCredentialsForIdentity are public APIs: the requests are not signed.
			Credentials:  aws.AnonymousCredentials{},
			HTTPClient:   httpClient,
			BaseEndpoint: aws.String(endpoint),
		}),
	}
	return aws.NewCredentialsCache(pool, func(c *aws.CredentialsCacheOptions) {
		c.ExpiryWindow = 5 * time.Minute
	}), nil
}

// identityPool is an aws.CredentialsProvider of identity-pool credentials (what the JavaScript SDK calls
// fromCognitoIdentityPool).
type identityPool struct {
	id         string
	logins     map[string]string
	client     *cognitoidentity.Client
	identityID string // from the first GetId, kept: the identity does not change (the cache calls Retrieve one at a time)
}

// Retrieve gets the identity id once, then fresh credentials for it.
func (p *identityPool) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if p.identityID == "" {
		id, err := p.client.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(p.id), Logins: p.logins})
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("getting an identity from the identity pool: %w", err)
		}
		p.identityID = aws.ToString(id.IdentityId)
	}
	out, err := p.client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{
		IdentityId: aws.String(p.identityID),
		Logins:     p.logins,
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("getting credentials for identity %s: %w", p.identityID, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("the identity pool answered identity %s without complete credentials", p.identityID)
	}
	return aws.Credentials{
		AccessKeyID:     *c.AccessKeyId,
		SecretAccessKey: *c.SecretKey,
		SessionToken:    *c.SessionToken,
		Source:          "identity pool " + p.id,
		CanExpire:       true,
		Expires:         *c.Expiration,
	}, nil
}

// signRequest signs req with SigV4 for the service execute-api, as API Gateway's IAM authorization
// expects; the gateway verifies it the same way.
func signRequest(ctx context.Context, req *http.Request, body []byte, provider aws.CredentialsProvider, region string) error {
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		return err
	}
	// The body's hash is part of the signature: the gateway checks that the body is the one signed.
	sum := sha256.Sum256(body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", region, time.Now()); err != nil {
		return fmt.Errorf("signing the API request: %w", err)
	}
	return nil
}

// identityPoolRegion is the region of an identity pool id, <region>:<uuid>: the region signatures are
// scoped to.
func identityPoolRegion(poolID string) string {
	region, _, _ := strings.Cut(poolID, ":")
	return region
}

// userPoolRegion is -region, else the region of the user pool id (<region>_<id>), else us-east-1
// (cognito-local's pools are named local_<id>).
func userPoolRegion(o options) string {
	if o.region != "" {
		return o.region
	}
	if region, _, ok := strings.Cut(o.userPoolID, "_"); ok && strings.Count(region, "-") >= 2 {
		return region
	}
	return "us-east-1"
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
