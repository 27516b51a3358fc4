package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

// A fleet through the real binary: three instances that share only a key_secret and one real
// redis-server, behind one virtual host (api.fleet.test, as a load balancer would present them).
// Credentials from one instance's identity pool and cognito-local's tokens are accepted by all; a
// signed POST is accepted once by the fleet; a revocation through one instance's admin API reaches
// all three within a second; a Redis outage refuses POSTs with 503 (counted in the metrics), and once
// Redis is back the instances resync, and no replay is accepted.

const (
	fleetHost   = "api.fleet.test"
	fleetSecret = "Xq8vN2rT5wKz9LmP3cYb7HdJ4fGs6AeU1oRiQnV0"
)

type fleetInstance struct {
	name string
	srv  *caddyServer
}

func startFleetInstance(t *testing.T, name, redisURL string, emuPool *userPool, provider, upstream string) fleetInstance {
	t.Helper()
	caddyfile := fmt.Sprintf(`{
	cognito {
		key_secret {env.FLEET_KEY_SECRET}
		redis %[1]s {
			prefix fleet:
			dial_timeout 500ms
			read_timeout 500ms
			write_timeout 500ms
		}
	}
}
http://:{$SITE_PORT} {
	bind 127.0.0.1
	cognito_identity_pool /identity* %[2]s {
		login %[3]s {
			client_id %[4]s
			issuer %[5]s
			jwks_url %[6]s
		}
		authenticated_role %[7]s
		unauthenticated_role %[8]s
	}
	cognito_authorizer {
		%[9]s
		identity_pool %[2]s {
			replay_protection
		}
		allow_any_role
	}
	reverse_proxy %[10]s
}
`, redisURL, e2ePoolID, provider, emuPool.ClientID, emuPool.Issuer, emuPool.JWKSURL, e2eUserRole, e2eGuestRole,
		emuPool.userPoolBlock(), upstream)
	srv := launchCaddy(t, caddyLaunch{
		bin: caddyBinary(t), caddyfile: caddyfile, name: "caddy " + name,
		drop: []string{"CADDY", "SITE", "XDG_", "AWS_", "FLEET_"},
		env: func(c *caddyServer, sitePort int) []string {
			return []string{"SITE_PORT=" + strconv.Itoa(sitePort), "FLEET_KEY_SECRET=" + fleetSecret}
		},
		waitSite: true,
	})
	return fleetInstance{name: name, srv: srv}
}

// fleetRequest is a request to the fleet's virtual host, sent to one instance.
type fleetRequest struct {
	method, path, body string
	header             http.Header
}

func (i fleetInstance) send(t *testing.T, r fleetRequest) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), r.method, i.srv.BaseURL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = fleetHost
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s to %s: %v", r.method, r.path, i.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(b)
}

// signed is a request to the virtual host signed with creds, as the AWS SDK signs it.
func signedFleetRequest(t *testing.T, creds aws.Credentials, method, path, body string) fleetRequest {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+fleetHost+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, sha256Hex(body), "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return fleetRequest{method: method, path: path, body: body, header: req.Header}
}

func bearerRequest(token string) fleetRequest {
	return fleetRequest{method: http.MethodGet, path: apiPath, header: http.Header{"Authorization": {"Bearer " + token}}}
}

// within waits up to d for every instance to answer r with status, and fails otherwise.
func within(t *testing.T, d time.Duration, fleet []fleetInstance, r fleetRequest, status int) time.Duration {
	t.Helper()
	start := time.Now()
	for _, i := range fleet {
		for {
			got, _, body := i.send(t, r)
			if got == status {
				break
			}
			if time.Since(start) > d {
				t.Fatalf("%s: %s %s answered %d (%s), want %d within %v", i.name, r.method, r.path, got, body, status, d)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// metric is the sum of the samples of a metric (with labels, e.g. `name{action="refuse"}`) the
// instance's admin endpoint exports.
func (i fleetInstance) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(i.srv.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	base, labels, _ := strings.Cut(name, "{")
	labels = strings.TrimSuffix(labels, "}")
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, base)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') || !strings.Contains(rest, labels) {
			continue
		}
		f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		sum += f
	}
	return sum
}

func (i fleetInstance) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, i.srv.AdminURL+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// claimOf is a claim of a JWT, read without verifying it.
func claimOf(t *testing.T, token, claim string) any {
	t.Helper()
	parts := strings.Split(token, ".")
	var claims map[string]any
	if len(parts) != 3 || json.Unmarshal([]byte(decodeSegment(t, parts[1])), &claims) != nil {
		t.Fatalf("not a JWT: %.20s...", token)
	}
	return claims[claim]
}

func TestFleetSharesCredentialsReplayAndRevocations(t *testing.T) {
	need(t, "redis-server")
	rdb := testredis.Start(t)
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	provider := "cognito-idp.us-east-1.amazonaws.com/" + pool.ID
	pool.AddUser(t, "alice@example.com")
	pool.AddUser(t, "bob@example.com")
	up := startUpstream(t)
	fleet := []fleetInstance{
		startFleetInstance(t, "A", rdb.URL(), pool, provider, up.Addr),
		startFleetInstance(t, "B", rdb.URL(), pool, provider, up.Addr),
		startFleetInstance(t, "C", rdb.URL(), pool, provider, up.Addr),
	}
	a := fleet[0]

	// Credentials from A's identity pool, for alice's login.
	alice := pool.SignIn(t, "alice@example.com")
	client := cognitoidentity.New(cognitoidentity.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(a.srv.BaseURL + "/identity"), Credentials: aws.AnonymousCredentials{},
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, RetryMaxAttempts: 1,
	})
	credentialsFor := func(t *testing.T, idToken string) aws.Credentials {
		t.Helper()
		logins := map[string]string{provider: idToken}
		id, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(e2ePoolID), Logins: logins})
		if err != nil {
			t.Fatalf("GetId: %v", err)
		}
		out, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId, Logins: logins})
		if err != nil {
			t.Fatalf("GetCredentialsForIdentity: %v", err)
		}
		c := out.Credentials
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken}
	}
	creds := credentialsFor(t, alice.ID)

	t.Run("credentials and tokens are accepted by every instance", func(t *testing.T) {
		for _, i := range fleet {
			if status, _, body := i.send(t, signedFleetRequest(t, creds, http.MethodGet, apiPath, "")); status != 200 {
				t.Errorf("%s: credentials from A: %d %s", i.name, status, body)
			}
			if status, _, body := i.send(t, bearerRequest(alice.Access)); status != 200 {
				t.Errorf("%s: alice's access token: %d %s", i.name, status, body)
			}
		}
	})

	t.Run("a signed POST is accepted once by the fleet", func(t *testing.T) {
		post := signedFleetRequest(t, creds, http.MethodPost, "/orders", `{"amount":100}`)
		if status, _, body := a.send(t, post); status != 200 {
			t.Fatalf("A: first POST %d %s", status, body)
		}
		for _, i := range fleet {
			status, header, body := i.send(t, post)
			if status != 403 || header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
				t.Errorf("%s: the POST replayed: %d %s", i.name, status, body)
			}
		}
		if got := fleet[1].metric(t, "caddy_cognito_replay_refusals_total"); got < 1 {
			t.Errorf("B counts %v replay refusals", got)
		}
	})

	// cognito-local (5.3.0) issues no origin_jti, so a token is revoked here by its user's sub (a jti
	// revocation is tested with a signer of our own in caddymodule), and credentials by identity id.
	t.Run("a token and credentials revoked through A are refused by all within a second", func(t *testing.T) {
		bob := pool.SignIn(t, "bob@example.com")
		bobCreds := credentialsFor(t, bob.ID)
		within(t, time.Second, fleet, bearerRequest(bob.Access), 200)
		sub, _ := claimOf(t, bob.Access, "sub").(string)
		start := time.Now()
		if status, body := a.admin(t, "POST", "/cognito/revocations", `{"kind":"sub","value":"`+sub+`","ttl":"720h"}`); status != 201 {
			t.Fatalf("admin POST: %d %s", status, body)
		}
		within(t, time.Second-time.Since(start), fleet, bearerRequest(bob.Access), 401)
		within(t, time.Second-time.Since(start), fleet, signedFleetRequest(t, bobCreds, http.MethodGet, apiPath, ""), 401)
		t.Logf("bob's token and credentials refused by all three %v after the admin call", time.Since(start).Round(time.Millisecond))
		if _, _, body := fleet[2].send(t, bearerRequest(bob.Access)); !strings.Contains(body, "token revoked") {
			t.Errorf("C's refusal: %s", body)
		}
		if status, list := fleet[1].admin(t, "GET", "/cognito/revocations", ""); status != 200 || !strings.Contains(list, sub) {
			t.Errorf("B's list: %d %s", status, list)
		}

		// Guest credentials carry no login: revoked by their identity id.
		out, err := client.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(e2ePoolID)})
		if err != nil {
			t.Fatal(err)
		}
		guest, err := client.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: out.IdentityId})
		if err != nil {
			t.Fatal(err)
		}
		g := guest.Credentials
		guestCreds := aws.Credentials{AccessKeyID: *g.AccessKeyId, SecretAccessKey: *g.SecretKey, SessionToken: *g.SessionToken}
		within(t, time.Second, fleet, signedFleetRequest(t, guestCreds, http.MethodGet, apiPath, ""), 200)
		start = time.Now()
		if status, body := a.admin(t, "POST", "/cognito/revocations", `{"kind":"identity","value":"`+*out.IdentityId+`","ttl":"1h"}`); status != 201 {
			t.Fatalf("admin POST identity: %d %s", status, body)
		}
		within(t, time.Second-time.Since(start), fleet, signedFleetRequest(t, guestCreds, http.MethodGet, apiPath, ""), 401)
	})

	t.Run("a sign-out cut-off refuses older tokens and credentials, accepts newer", func(t *testing.T) {
		sub, _ := claimOf(t, alice.Access, "sub").(string)
		if status, body := a.admin(t, "POST", "/cognito/revocations", `{"kind":"sub","value":"`+sub+`","ttl":"720h"}`); status != 201 {
			t.Fatalf("admin POST: %d %s", status, body)
		}
		within(t, time.Second, fleet, bearerRequest(alice.Access), 401)
		within(t, time.Second, fleet, signedFleetRequest(t, creds, http.MethodGet, apiPath, ""), 401)
		_, _, body := fleet[1].send(t, signedFleetRequest(t, creds, http.MethodGet, apiPath, ""))
		if !strings.Contains(body, "credentials revoked") {
			t.Errorf("B's refusal of the credentials: %s", body)
		}
		time.Sleep(1100 * time.Millisecond) // iat has whole seconds: sign in after the cut-off's second
		again := pool.SignIn(t, "alice@example.com")
		within(t, time.Second, fleet, bearerRequest(again.Access), 200)
		fresh := credentialsFor(t, again.ID)
		within(t, time.Second, fleet, signedFleetRequest(t, fresh, http.MethodGet, apiPath, ""), 200)
		creds = fresh
	})

	t.Run("redis stopped and restarted", func(t *testing.T) {
		ctx := context.Background()
		peek := redis.NewClient(&redis.Options{Addr: rdb.Addr()})
		defer peek.Close()
		before := signedFleetRequest(t, creds, http.MethodPost, "/orders", `{"amount":1}`)
		if status, _, body := a.send(t, before); status != 200 {
			t.Fatalf("POST before the outage: %d %s", status, body)
		}
		// A revocation written straight into Redis with no publication: only a resync finds it.
		carol := "carol-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if err := peek.Set(ctx, "fleet:revoked:sub:"+carol, time.Now().UnixMilli(), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		// A persistent Redis keeps what it holds across a restart: save it, as its persistence would.
		if err := peek.Save(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		rdb.Stop()

		b := fleet[1]
		errorsBefore := b.metric(t, `caddy_cognito_replay_store_errors_total{action="refuse"}`)
		during := signedFleetRequest(t, creds, http.MethodPost, "/orders", `{"amount":2}`)
		status, header, body := b.send(t, during)
		if status != 503 || header.Get("X-Amzn-ErrorType") != "ServiceUnavailableException" || !strings.Contains(body, "retry later") {
			t.Fatalf("B: a POST with redis down: %d %v %s", status, header, body)
		}
		if got := b.metric(t, `caddy_cognito_replay_store_errors_total{action="refuse"}`); got != errorsBefore+1 {
			t.Errorf("B's replay store errors %v, want %v", got, errorsBefore+1)
		}
		if status, _, body := b.send(t, before); status != 503 {
			t.Errorf("B: the pre-outage POST replayed with redis down: %d %s (want 503: never accepted)", status, body)
		}
		within(t, time.Second, fleet, signedFleetRequest(t, creds, http.MethodGet, apiPath, ""), 200)
		within(t, time.Second, fleet, bearerRequest(alice.Access), 401) // revocations stay enforced from memory

		rdb.Restart()
		// Every instance reconnects and resyncs: the unpublished revocation reaches them.
		for _, i := range fleet {
			deadline := time.Now().Add(15 * time.Second)
			for !strings.Contains(func() string { _, l := i.admin(t, "GET", "/cognito/revocations", ""); return l }(), carol) {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not resync within 15s of redis restarting", i.name)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		for _, i := range fleet {
			if status, _, body := i.send(t, before); status != 403 {
				t.Errorf("%s: the pre-outage POST replayed after the restart: %d %s", i.name, status, body)
			}
		}
		if status, _, body := fleet[2].send(t, during); status != 200 {
			t.Fatalf("C: the POST refused during the outage, sent again: %d %s", status, body)
		}
		for _, i := range fleet {
			if status, _, _ := i.send(t, during); status != 403 {
				t.Errorf("%s: its replay: %d", i.name, status)
			}
		}
		for _, i := range fleet {
			if log := i.srv.LogText(); strings.Contains(log, "panic") || strings.Contains(log, fleetSecret) {
				t.Errorf("%s logged a panic or the key secret", i.name)
			}
		}
	})
}
