package authorizer

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/identitypool"
	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// TestSessionCacheStats checks that a session token opened counts a miss, the same token again a hit,
// and a token that does not open a miss that caches nothing.
func TestSessionCacheStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys, err := identitypool.NewKeyRing(ctx, keyring.NewMemoryStorage(), testPoolID, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sessions := NewSessionCache(keys)
	creds := poolCredentials(t, keys, "ASIAAAAAAAAAAAAAAAA1", time.Now().Add(time.Hour))
	for range 2 {
		if _, err := sessions.Credential(ctx, creds.AccessKeyID, creds.SessionToken); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sessions.Credential(ctx, creds.AccessKeyID, creds.SessionToken[:len(creds.SessionToken)-4]+"AAAA"); err == nil {
		t.Fatal("a forged session token opened")
	}
	want := userpool.CacheStats{Entries: 1, Hits: 1, Misses: 2}
	if got := sessions.Stats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}
