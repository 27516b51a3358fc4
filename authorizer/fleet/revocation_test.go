package fleet

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRevoked(t *testing.T) {
	t.Parallel()
	r := NewRevocations(RevocationsOptions{Now: func() time.Time { return t0 }})
	exp := t0.Add(time.Hour)
	for _, e := range []Entry{
		{Kind: OriginJTI, Value: "refresh-1", Expires: exp},
		{Kind: Subject, Value: "user-1", Cutoff: t0, Expires: exp},
		{Kind: IdentityID, Value: "us-east-1:abc", Expires: exp},
	} {
		if err := r.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		c    Credential
		at   time.Time
		want bool
	}{
		{"revoked refresh token", Credential{OriginJTI: "refresh-1"}, t0, true},
		{"other refresh token", Credential{OriginJTI: "refresh-2"}, t0, false},
		{"issued before the sign-out", Credential{Subject: "user-1", IssuedAt: t0.Add(-time.Second)}, t0, true},
		{"issued at the sign-out", Credential{Subject: "user-1", IssuedAt: t0}, t0, false},
		{"another user", Credential{Subject: "user-2", IssuedAt: t0.Add(-time.Second)}, t0, false},
		{"revoked identity", Credential{IdentityID: "us-east-1:abc"}, t0, true},
		{"entry expired", Credential{OriginJTI: "refresh-1"}, exp, false},
		{"nothing", Credential{}, t0, false},
	} {
		if got := r.Revoked(tc.c, tc.at); got != tc.want {
			t.Errorf("%s: Revoked = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRevocationsAddListExpire(t *testing.T) {
	t.Parallel()
	now := t0
	r := NewRevocations(RevocationsOptions{MaxEntries: 2, Now: func() time.Time { return now }})
	if err := r.Add(Entry{Kind: Subject, Value: "u", Cutoff: t0, Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// An earlier cut-off does not undo a later one.
	if err := r.Add(Entry{Kind: Subject, Value: "u", Cutoff: t0.Add(-time.Hour), Expires: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if l := r.List(); len(l) != 1 || !l[0].Cutoff.Equal(t0) || !l[0].Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("List = %+v", l)
	}
	if err := r.Add(Entry{Kind: OriginJTI, Value: "j", Expires: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(Entry{Kind: IdentityID, Value: "i", Expires: t0.Add(time.Hour)}); !errors.Is(err, ErrFull) {
		t.Errorf("Add to a full set = %v, want ErrFull", err)
	}
	now = t0.Add(2 * time.Minute) // j expires and makes room
	if err := r.Add(Entry{Kind: IdentityID, Value: "i", Expires: t0.Add(time.Hour)}); err != nil {
		t.Errorf("Add after an expiry: %v", err)
	}
	if !r.Expire(IdentityID, "i") || r.Expire(IdentityID, "i") {
		t.Error("Expire does not report what it forgot")
	}
	for name, e := range map[string]Entry{
		"empty value":   {Kind: OriginJTI, Expires: t0.Add(time.Hour)},
		"no cut-off":    {Kind: Subject, Value: "u", Expires: t0.Add(time.Hour)},
		"unknown kind":  {Kind: 9, Value: "u", Expires: t0.Add(time.Hour)},
		"control chars": {Kind: OriginJTI, Value: "a\nb", Expires: t0.Add(time.Hour)},
	} {
		if err := r.Add(e); err == nil {
			t.Errorf("%s: Add accepted %+v", name, e)
		}
	}
}

func TestMemoryReplayStore(t *testing.T) {
	t.Parallel()
	var s ReplayStore = sigv4.NewReplayCache(10)
	for i, want := range []bool{true, false} {
		fresh, err := s.Seen(t.Context(), "signature", time.Minute)
		if err != nil || fresh != want {
			t.Errorf("Seen #%d = %v, %v; want %v", i, fresh, err, want)
		}
	}
}

// BenchmarkRevoked is the check every request pays: a token with an origin_jti and a subject, against
// a set of 100000 entries none of which revokes it.
func BenchmarkRevoked(b *testing.B) {
	r := NewRevocations(RevocationsOptions{Now: func() time.Time { return t0 }})
	for i := range 100_000 {
		kind := []Kind{OriginJTI, Subject, IdentityID}[i%3]
		if err := r.Add(Entry{Kind: kind, Value: "value-" + strconv.Itoa(i), Cutoff: t0, Expires: t0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	c := Credential{OriginJTI: "4f1c8a52-0c1e-4c1e-9d7e-2b8f6a1d0e3c", Subject: "8d2e5f6a-1b2c-4d3e-9f8a-7b6c5d4e3f2a",
		IdentityID: "us-east-1:0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e", IssuedAt: t0}
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if r.Revoked(c, now) {
			b.Fatal("revoked")
		}
	}
}

func BenchmarkRevokedParallel(b *testing.B) {
	r := NewRevocations(RevocationsOptions{Now: func() time.Time { return t0 }})
	for i := range 100_000 {
		if err := r.Add(Entry{Kind: OriginJTI, Value: "value-" + strconv.Itoa(i), Expires: t0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	c := Credential{OriginJTI: "value-42", Subject: "8d2e5f6a-1b2c-4d3e-9f8a-7b6c5d4e3f2a", IssuedAt: t0}
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !r.Revoked(c, now) {
				b.Fatal("not revoked")
			}
		}
	})
}
