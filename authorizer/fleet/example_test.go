package fleet_test

import (
	"fmt"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
)

// A global sign-out revokes the tokens a user was issued before it, not those of the next sign-in; a
// revoked refresh token revokes the tokens it issued.
func ExampleRevocations_Revoked() {
	signOut := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	now := signOut.Add(time.Minute)
	set := fleet.NewRevocations(fleet.RevocationsOptions{Now: func() time.Time { return now }})
	must(set.Add(fleet.Entry{Kind: fleet.Subject, Value: "7d3f0c1e", Cutoff: signOut, Expires: signOut.Add(30 * 24 * time.Hour)}))
	must(set.Add(fleet.Entry{Kind: fleet.OriginJTI, Value: "refresh-1", Expires: signOut.Add(24 * time.Hour)}))

	for _, c := range []struct {
		name string
		cred fleet.Credential
	}{
		{"issued before the sign-out", fleet.Credential{Subject: "7d3f0c1e", IssuedAt: signOut.Add(-time.Hour)}},
		{"issued after it", fleet.Credential{Subject: "7d3f0c1e", IssuedAt: signOut.Add(time.Second)}},
		{"from the revoked refresh token", fleet.Credential{Subject: "someone", OriginJTI: "refresh-1", IssuedAt: now}},
		{"of another user", fleet.Credential{Subject: "someone", OriginJTI: "refresh-2", IssuedAt: now}},
	} {
		fmt.Printf("%s: revoked %v\n", c.name, set.Revoked(c.cred, now))
	}
	// Output:
	// issued before the sign-out: revoked true
	// issued after it: revoked false
	// from the revoked refresh token: revoked true
	// of another user: revoked false
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
