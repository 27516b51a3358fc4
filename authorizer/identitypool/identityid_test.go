package identitypool

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

func TestAuthenticatedIdentityID(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := keyring.NewMemoryStorage()
	k := newTestRing(t, storage, testPoolID, clock)
	again := newTestRing(t, storage, testPoolID, clock) // another instance on the same storage
	other := newTestRing(t, nil, otherPoolID, clock)
	elsewhere := newTestRing(t, nil, testPoolID, clock) // same pool id, other storage: other keys

	base := k.authenticatedIdentityID(testUserPoolName, "user-1")
	if !strings.HasPrefix(base, "us-east-1:") || !validUUID(strings.TrimPrefix(base, "us-east-1:")) {
		t.Fatalf("id %q is not <region>:<uuid>", base)
	}
	if base[len("us-east-1:")+14] != '8' {
		t.Fatalf("id %q is not a version-8 UUID", base)
	}
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"same login again", k.authenticatedIdentityID(testUserPoolName, "user-1"), true},
		{"same login on another instance", again.authenticatedIdentityID(testUserPoolName, "user-1"), true},
		{"after a rotation", func() string {
			must(t, again.ring.Rotate(t.Context()))
			return again.authenticatedIdentityID(testUserPoolName, "user-1")
		}(), true},
		{"other subject", k.authenticatedIdentityID(testUserPoolName, "user-2"), false},
		{"other provider", k.authenticatedIdentityID(testOIDCName, "user-1"), false},
		{"other pool", other.authenticatedIdentityID(testUserPoolName, "user-1"), false},
		{"other key ring", elsewhere.authenticatedIdentityID(testUserPoolName, "user-1"), false},
		// Length-prefixed fields: moving bytes between provider and subject changes the id.
		{"field boundary moved", k.authenticatedIdentityID(testUserPoolName+"u", "ser-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == base) != tt.same {
				t.Fatalf("id %q vs %q: same = %v, want %v", tt.got, base, tt.got == base, tt.same)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestGuestIdentityID(t *testing.T) {
	t.Parallel()
	clock := newClock()
	storage := keyring.NewMemoryStorage()
	k := newTestRing(t, storage, testPoolID, clock)
	peer := newTestRing(t, storage, testPoolID, clock)
	other := newTestRing(t, nil, otherPoolID, clock)
	elsewhere := newTestRing(t, nil, testPoolID, clock)
	west := newTestRing(t, nil, "us-west-2:1cf667a2-49a6-454b-9e45-23199d2c39c4", clock)

	id := k.newGuestIdentityID()
	if id == k.newGuestIdentityID() {
		t.Fatal("two guest ids are equal")
	}
	if err := k.checkGuestIdentityID(id); err != nil {
		t.Fatalf("own guest id refused: %v", err)
	}
	if err := peer.checkGuestIdentityID(id); err != nil {
		t.Fatalf("guest id refused by another instance of the pool: %v", err)
	}
	tests := []struct {
		name string
		ring *KeyRing
		id   string
		want error
	}{
		{"guest id of another pool", k, other.newGuestIdentityID(), errForgedIdentityID},
		{"guest id of the same pool id under other keys", k, elsewhere.newGuestIdentityID(), errForgedIdentityID},
		{"guest id of another region", k, west.newGuestIdentityID(), errForeignIdentityID},
		{"own id checked by another pool", other, id, errForgedIdentityID},
		{"made-up v4 uuid", k, "us-east-1:0f8fad5b-d9cb-469f-a165-70867728950e", errForgedIdentityID},
		{"authenticated id", k, k.authenticatedIdentityID(testUserPoolName, "u"), errNotGuestIdentityID},
		{"upper-case hex", k, strings.ToUpper(id[:10]) + strings.ToUpper(id[10:]), errMalformedIdentityID},
		{"no region", k, strings.TrimPrefix(id, "us-east-1:"), errMalformedIdentityID},
		{"empty", k, "", errMalformedIdentityID},
		{"trailing byte", k, id + "0", errMalformedIdentityID},
		{"bad region", k, "US-EAST-1:" + id[10:], errMalformedIdentityID},
		{"missing dash", k, id[:18] + "0" + id[19:], errMalformedIdentityID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.ring.checkGuestIdentityID(tt.id); !errors.Is(err, tt.want) {
				t.Fatalf("check(%q) = %v, want %v", tt.id, err, tt.want)
			}
		})
	}
}

// TestGuestIdentityIDBitFlips flips every bit of the UUID of a valid guest id: each flip must be refused
// (by the MAC, or as no longer a guest id), never accepted.
func TestGuestIdentityIDBitFlips(t *testing.T) {
	t.Parallel()
	k := newTestRing(t, nil, testPoolID, newClock())
	id := k.newGuestIdentityID()
	u, err := k.parseIdentityID(id)
	must(t, err)
	for i := range 16 * 8 {
		flipped := u
		flipped[i/8] ^= 1 << (i % 8)
		fid := "us-east-1:" + formatUUID(&flipped)
		if err := k.checkGuestIdentityID(fid); err == nil {
			t.Errorf("bit %d flipped: %s accepted", i, fid)
		}
	}
	// And every hex digit changed in the string form.
	for i := len("us-east-1:"); i < len(id); i++ {
		if id[i] == '-' {
			continue
		}
		for _, c := range "0123456789abcdef" {
			if byte(c) == id[i] {
				continue
			}
			mod := id[:i] + string(c) + id[i+1:]
			if err := k.checkGuestIdentityID(mod); err == nil {
				t.Fatalf("%s accepted (digit %d changed)", mod, i)
			}
		}
	}
}

func TestPoolIDValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{testPoolID, true},
		{"us-gov-west-1:1cf667a2-49a6-454b-9e45-23199d2c39c4", true},
		{"cn-north-1:1cf667a2-49a6-454b-9e45-23199d2c39c4", true},
		{"us-east-1:1CF667A2-49A6-454B-9E45-23199D2C39C4", false},
		{"us-east-1_AbC123", false},
		{"us-east-1:", false},
		{":1cf667a2-49a6-454b-9e45-23199d2c39c4", false},
		{"useast1:1cf667a2-49a6-454b-9e45-23199d2c39c4", false},
		{"us-east-x:1cf667a2-49a6-454b-9e45-23199d2c39c4", false},
		{"us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4:x", false},
		{"../../etc:1cf667a2-49a6-454b-9e45-23199d2c39c4", false},
		{"us-east-1:1cf667a2/49a6-454b-9e45-23199d2c39c4", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.id), func(t *testing.T) {
			_, _, err := ParsePoolID(tt.id)
			if (err == nil) != tt.ok {
				t.Fatalf("ParsePoolID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
			}
		})
	}
}
