package caddymodule

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer"
	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
	"github.com/caddy-cognito/caddy-cognito/authorizer/identity"
	"github.com/caddy-cognito/caddy-cognito/internal/testidp"
	"github.com/caddy-cognito/caddy-cognito/internal/testredis"
)

var revocationNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func revocationGate(t testing.TB, entries ...fleet.Entry) *gate {
	t.Helper()
	set := fleet.NewRevocations(fleet.RevocationsOptions{Now: func() time.Time { return revocationNow }})
	for _, e := range entries {
		if err := set.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return &gate{revocations: set}
}

func TestCheckRevocation(t *testing.T) {
	later := revocationNow.Add(time.Hour)
	g := revocationGate(t,
		fleet.Entry{Kind: fleet.OriginJTI, Value: "refresh-revoked", Expires: later},
		fleet.Entry{Kind: fleet.Subject, Value: "signed-out", Cutoff: revocationNow.Add(-time.Minute), Expires: later},
		fleet.Entry{Kind: fleet.IdentityID, Value: "eu-west-1:revoked", Expires: later},
	)
	token := func(jti, sub string, iat time.Time) *identity.Identity {
		return &identity.Identity{Kind: identity.KindUserPool, Subject: sub, OriginJTI: jti, IssuedAt: iat}
	}
	creds := func(identityID, loginSub, jti string, iat time.Time) *identity.Identity {
		return &identity.Identity{Kind: identity.KindIdentityPool, Subject: identityID, Pool: &identity.PoolCredentials{
			IdentityID:   identityID,
			LoginSubject: loginSub,
		},
			OriginJTI: jti, IssuedAt: iat}
	}
	old, fresh := revocationNow.Add(-time.Hour), revocationNow
	cases := []struct {
		name    string
		scheme  authorizer.Scheme
		id      *identity.Identity
		revoked bool
	}{
		{"token of a revoked refresh token", authorizer.SchemeBearer, token("refresh-revoked", "u1", fresh), true},
		{"token issued before a sign-out", authorizer.SchemeBearer, token("r1", "signed-out", old), true},
		{"token without iat, subject signed out", authorizer.SchemeBearer, token("r1", "signed-out", time.Time{}), true},
		{"token issued after the sign-out", authorizer.SchemeBearer, token("r1", "signed-out", fresh), false},
		{"another user's token", authorizer.SchemeBearer, token("r1", "u1", old), false},
		{"OIDC token of a revoked refresh token", authorizer.SchemeBearer, &identity.Identity{Kind: identity.KindOIDC, Subject: "u1", OriginJTI: "refresh-revoked"}, true},
		{"credentials of a revoked identity", authorizer.SchemeSigV4, creds("eu-west-1:revoked", "", "", time.Time{}), true},
		{"credentials of a signed-out login", authorizer.SchemeSigV4, creds("eu-west-1:ok", "signed-out", "r1", old), true},
		{"credentials of a revoked refresh token", authorizer.SchemeSigV4, creds("eu-west-1:ok", "u1", "refresh-revoked", fresh), true},
		{"credentials of a login after the sign-out", authorizer.SchemeSigV4, creds("eu-west-1:ok", "signed-out", "r1", fresh), false},
		// The identity-pool Subject is the identity id, never taken for a user's sub.
		{"credentials whose identity id is a signed-out sub", authorizer.SchemeSigV4, creds("signed-out", "", "", time.Time{}), false},
		{"guest credentials", authorizer.SchemeSigV4, creds("eu-west-1:guest", "", "", time.Time{}), false},
		{"anonymous", authorizer.SchemeNone, identity.Anonymous(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &authorizer.Decision{Allow: true, Scheme: tc.scheme, Identity: tc.id, Label: "allowed"}
			got := g.checkRevocation(d, revocationNow)
			if !tc.revoked {
				if got != d {
					t.Fatalf("refused: %+v", got)
				}
				return
			}
			if got.Allow || got.Shadow || got.Status != http.StatusUnauthorized || got.Label != "revoked" || got.Reason == nil {
				t.Fatalf("decision %+v, want a 401 labelled revoked with a reason", got)
			}
			if tc.scheme == authorizer.SchemeSigV4 {
				if got.Message != "credentials revoked" || got.Code != "UnrecognizedClientException" || got.Challenge != "" {
					t.Errorf("SigV4 refusal %q %q %q", got.Message, got.Code, got.Challenge)
				}
			} else if got.Message != "token revoked" || got.Challenge == "" {
				t.Errorf("bearer refusal %q, challenge %q", got.Message, got.Challenge)
			}
		})
	}
	// A refused decision stays as it was; a revoked identity in shadow mode is refused for real.
	denied := &authorizer.Decision{Status: 403, Identity: token("refresh-revoked", "u1", fresh)}
	if g.checkRevocation(denied, revocationNow) != denied {
		t.Error("a refused decision was changed")
	}
	shadow := &authorizer.Decision{Allow: true, Shadow: true, Scheme: authorizer.SchemeBearer, Identity: token("refresh-revoked", "u1", fresh)}
	if got := g.checkRevocation(shadow, revocationNow); got.Allow {
		t.Error("shadow mode let a revoked token through")
	}
}

// BenchmarkCheckRevocation is what every allowed request pays, against a set of 100000 entries: a
// token not revoked (the common case) and one that is.
func BenchmarkCheckRevocation(b *testing.B) {
	later := revocationNow.Add(time.Hour)
	var entries []fleet.Entry
	for i := range 100_000 {
		kind := []fleet.Kind{fleet.OriginJTI, fleet.Subject, fleet.IdentityID}[i%3]
		e := fleet.Entry{Kind: kind, Value: "value-" + string(rune('a'+i%26)) + time.Duration(i).String(), Expires: later}
		if kind == fleet.Subject {
			e.Cutoff = revocationNow
		}
		entries = append(entries, e)
	}
	entries = append(entries, fleet.Entry{Kind: fleet.OriginJTI, Value: "refresh-revoked", Expires: later})
	g := revocationGate(b, entries...)
	for _, bc := range []struct {
		name string
		id   *identity.Identity
	}{
		{"token not revoked", &identity.Identity{Kind: identity.KindUserPool, Subject: "3f2b6c1e-1111-4a5b-9c8d-000000000001",
			OriginJTI: "5a1b2c3d-4e5f-4061-8273-8495a6b7c8d9", IssuedAt: revocationNow}},
		{"credentials not revoked", &identity.Identity{Kind: identity.KindIdentityPool, Pool: &identity.PoolCredentials{
			IdentityID:   "eu-west-1:3f2a1b4c-5d6e-8f70-8123-456789abcdef",
			LoginSubject: "3f2b6c1e-1111-4a5b-9c8d-000000000001",
		},
			OriginJTI: "5a1b2c3d-4e5f-4061-8273-8495a6b7c8d9", IssuedAt: revocationNow}},
		{"token revoked", &identity.Identity{Kind: identity.KindUserPool, Subject: "u", OriginJTI: "refresh-revoked"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := &authorizer.Decision{Allow: true, Scheme: authorizer.SchemeBearer, Identity: bc.id}
			b.ReportAllocs()
			for b.Loop() {
				g.checkRevocation(d, time.Now())
			}
		})
	}
}

// Through Caddy, with redis: a revocation written to Redis by another instance refuses the token here
// within a second; the refusal is a 401 "token revoked", counted as revoked; removing it lets the
// token through again.
func TestRevocationFromRedis(t *testing.T) {
	srv := testredis.Start(t)
	idp := testidp.New(t)
	c := newFleetCaddy(t)
	c.load(t, srv.URL(), "", site(idp, newEcho(t).URL, ""))
	token := idp.AccessToken(t, map[string]any{"origin_jti": "refresh-of-alice"})
	get := func() response {
		req, _ := http.NewRequest("GET", c.base+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return doRequest(t, req)
	}
	if res := get(); res.status != 200 {
		t.Fatalf("before: %d %s", res.status, res.body)
	}
	replica, err := fleet.NewRedis(fleet.RedisOptions{URL: srv.URL(), Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	ctx := context.Background()
	revokedAt := time.Now()
	if err := replica.Revoke(ctx, fleet.Entry{Kind: fleet.OriginJTI, Value: "refresh-of-alice", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	res := get()
	for res.status == 200 && time.Since(revokedAt) < time.Second {
		time.Sleep(10 * time.Millisecond)
		res = get()
	}
	if res.status != http.StatusUnauthorized || refusal(t, res) != "token revoked" {
		t.Fatalf("after the revocation: %d %s", res.status, res.body)
	}
	t.Logf("refused %v after the revocation was written", time.Since(revokedAt).Round(time.Millisecond))
	if line := waitLog(t, c.log, `"rule":"revoked"`); line == "" {
		t.Error("no denial log line for the revocation")
	}
	if err := replica.Unrevoke(ctx, fleet.OriginJTI, "refresh-of-alice"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Second); get().status != 200; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the token is still refused a second after the revocation was removed")
		}
	}
}
