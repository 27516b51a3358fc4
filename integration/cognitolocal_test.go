package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// cognitoLocal is a running cognito-local, the user-pool emulator (npm cognito-local, pinned in
// integration/js/package.json).
type cognitoLocal struct {
	// URL is its endpoint, http://127.0.0.1:<port>; issuers are URL + "/" + pool id.
	URL  string
	proc *process
}

// startCognitoLocal starts cognito-local on a free loopback port in a temporary working directory (it
// writes its database there), waits until it answers, and stops it at the end of the test. Each call
// starts an emulator of its own (about 0.7 s and 80 MiB); tests that share one create distinct pools.
func startCognitoLocal(t *testing.T) *cognitoLocal {
	t.Helper()
	requireEndToEnd(t)
	script := filepath.Join(needNPM(t, "integration/js"), "node_modules", "cognito-local", "lib", "bin", "start.js")
	node := need(t, "node")
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		env := childEnv([]string{"AWS_", "PORT=", "HOST=", "DEBUG="},
			"PORT="+strconv.Itoa(port),
			"HOST=127.0.0.1", // also the issuer's host: http://HOST:PORT/<pool id>
			"AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1",
		)
		p := startProcess(t, "cognito-local", t.TempDir(), env, node, script)
		err := p.waitFor("HTTP answer", 30*time.Second, func() error {
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url + "/")
			if err != nil {
				return err
			}
			return resp.Body.Close() // any status: it answers
		})
		if err == nil {
			return &cognitoLocal{URL: url, proc: p}
		}
		p.stop()
		if attempt < 3 && lostPortRace(p.out.String()) {
			continue
		}
		t.Fatalf("starting cognito-local: %v (its output follows)", err)
	}
}

// Output returns what cognito-local has printed so far.
func (c *cognitoLocal) Output() string { return c.proc.out.String() }

// client returns an aws-sdk-go-v2 user-pool client pointed at the emulator, with static dummy
// credentials (cognito-local accepts any), no retries and a timeout.
func (c *cognitoLocal) client() *cip.Client {
	return cip.New(cip.Options{
		BaseEndpoint:     aws.String(c.URL),
		Region:           "us-east-1",
		Credentials:      aws.CredentialsProviderFunc(dummyCredentials),
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
		RetryMaxAttempts: 1,
	})
}

func dummyCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDINTEGRATION", SecretAccessKey: "integration-dummy-secret"}, nil
}

// userPool is a user pool created in cognito-local for one test, with one app client that allows
// USER_PASSWORD_AUTH.
type userPool struct {
	ID       string // local_xxxxxxxx
	ClientID string // the app client the pool was created with
	Issuer   string // http://127.0.0.1:<port>/<ID>, the tokens' iss
	JWKSURL  string // Issuer + "/.well-known/jwks.json"

	client *cip.Client
	mu     sync.Mutex
	groups map[string]bool // created so far
}

// tokens are what a sign-in returns.
type tokens struct {
	Access, ID, Refresh string
}

// testPassword satisfies any password policy; cognito-local's users are throwaway.
const testPassword = "Integration-Passw0rd!"

// newUserPool creates a pool (email as username, as cognito-local's default pool wants) and an app client
// in the emulator.
func newUserPool(t *testing.T, emu *cognitoLocal) *userPool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	client := emu.client()
	pool, err := client.CreateUserPool(ctx, &cip.CreateUserPoolInput{
		PoolName:           aws.String(t.Name()),
		UsernameAttributes: []types.UsernameAttributeType{types.UsernameAttributeTypeEmail},
		// A custom attribute for tests of claim rules (custom:tenant_id, in ID tokens).
		Schema: []types.SchemaAttributeType{{
			Name: aws.String("tenant_id"), AttributeDataType: types.AttributeDataTypeString, Mutable: aws.Bool(true),
		}},
	})
	if err != nil {
		t.Fatalf("creating a user pool in cognito-local: %v", err)
	}
	p := &userPool{
		ID:     aws.ToString(pool.UserPool.Id),
		client: client,
		groups: map[string]bool{},
	}
	p.Issuer = emu.URL + "/" + p.ID
	p.JWKSURL = p.Issuer + "/.well-known/jwks.json"
	p.ClientID = p.AddClient(t, "app")
	return p
}

// AddClient creates another app client (USER_PASSWORD_AUTH and refresh allowed, no secret) and returns
// its id: tokens of a client the authorizer does not accept.
func (p *userPool) AddClient(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := p.client.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(p.ID),
		ClientName: aws.String(name),
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{
			types.ExplicitAuthFlowsTypeAllowUserPasswordAuth,
			types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth,
		},
	})
	if err != nil {
		t.Fatalf("creating app client %q in pool %s: %v", name, p.ID, err)
	}
	return aws.ToString(out.UserPoolClient.ClientId)
}

// AddUser creates a confirmed user with email as username and testPassword as permanent password (no
// invitation message), in the given groups (created when new), and returns the user's sub.
func (p *userPool) AddUser(t *testing.T, email string, groups ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := p.client.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId:    aws.String(p.ID),
		Username:      aws.String(email),
		MessageAction: types.MessageActionTypeSuppress,
		UserAttributes: []types.AttributeType{
			{Name: aws.String("email"), Value: aws.String(email)},
			{Name: aws.String("email_verified"), Value: aws.String("true")},
		},
	})
	if err != nil {
		t.Fatalf("creating user %s in pool %s: %v", email, p.ID, err)
	}
	if _, err := p.client.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(p.ID),
		Username:   aws.String(email),
		Password:   aws.String(testPassword),
		Permanent:  true,
	}); err != nil {
		t.Fatalf("setting the password of %s: %v", email, err)
	}
	for _, g := range groups {
		p.CreateGroup(t, g)
		if _, err := p.client.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{
			UserPoolId: aws.String(p.ID),
			Username:   aws.String(email),
			GroupName:  aws.String(g),
		}); err != nil {
			t.Fatalf("adding %s to group %s: %v", email, g, err)
		}
	}
	for _, a := range out.User.Attributes {
		if aws.ToString(a.Name) == "sub" {
			return aws.ToString(a.Value)
		}
	}
	t.Fatalf("cognito-local created %s without a sub attribute", email)
	return ""
}

// CreateGroup creates a group once; later calls with the same name do nothing.
func (p *userPool) CreateGroup(t *testing.T, name string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.groups[name] {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := p.client.CreateGroup(ctx, &cip.CreateGroupInput{
		UserPoolId: aws.String(p.ID),
		GroupName:  aws.String(name),
	}); err != nil {
		t.Fatalf("creating group %s in pool %s: %v", name, p.ID, err)
	}
	p.groups[name] = true
}

// SignIn signs the user in with USER_PASSWORD_AUTH through the pool's first app client.
func (p *userPool) SignIn(t *testing.T, email string) tokens {
	t.Helper()
	return p.SignInWith(t, p.ClientID, email)
}

// SignInWith signs the user in through the given app client.
func (p *userPool) SignInWith(t *testing.T, clientID, email string) tokens {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := p.client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow:       types.AuthFlowTypeUserPasswordAuth,
		ClientId:       aws.String(clientID),
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": testPassword},
	})
	if err != nil {
		t.Fatalf("signing %s in to pool %s: %v", email, p.ID, err)
	}
	r := out.AuthenticationResult
	if r == nil {
		t.Fatalf("signing %s in to pool %s: a challenge (%s) instead of tokens", email, p.ID, out.ChallengeName)
	}
	return tokens{Access: aws.ToString(r.AccessToken), ID: aws.ToString(r.IdToken), Refresh: aws.ToString(r.RefreshToken)}
}

// userPoolBlock is the `user_pool` subdirective of cognito_authorizer that accepts this pool's first
// app client, with issuer and JWKS URL given (cognito-local's discovery document names the wrong port),
// plus the given subdirective lines (e.g. "token_use any").
func (p *userPool) userPoolBlock(lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user_pool %s {\n\tclient_id %s\n\tissuer %s\n\tjwks_url %s\n", p.ID, p.ClientID, p.Issuer, p.JWKSURL)
	for _, l := range lines {
		b.WriteString("\t" + l + "\n")
	}
	b.WriteString("}")
	return b.String()
}

// String names the pool in failure messages.
func (p *userPool) String() string { return fmt.Sprintf("user pool %s (client %s)", p.ID, p.ClientID) }

// SetAttributes sets user attributes of a user, e.g. {"custom:tenant_id": "t1"}; ID tokens issued
// afterwards carry them.
func (p *userPool) SetAttributes(t *testing.T, email string, attrs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var list []types.AttributeType
	for name, value := range attrs {
		list = append(list, types.AttributeType{Name: aws.String(name), Value: aws.String(value)})
	}
	if _, err := p.client.AdminUpdateUserAttributes(ctx, &cip.AdminUpdateUserAttributesInput{
		UserPoolId: aws.String(p.ID), Username: aws.String(email), UserAttributes: list,
	}); err != nil {
		t.Fatalf("setting attributes of %s: %v", email, err)
	}
}
