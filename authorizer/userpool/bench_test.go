package userpool

import (
	"context"
	"testing"
)

// benchFixture verifies, once, a realistic Cognito access token (RS256, 2048-bit key, about 1 KB).
func benchFixture(b *testing.B, cache *TokenCache) (*fixture, string) {
	f := newFixture(b, fixtureConfig{options: Options{Cache: cache}})
	token := key("rsa1").sign(nil, accessClaims(f.clock.Now()))
	if _, err := f.verifier.Verify(context.Background(), token); err != nil {
		b.Fatal(err)
	}
	return f, token
}

func BenchmarkVerifyCached(b *testing.B) {
	f, token := benchFixture(b, NewTokenCache(0))
	ctx := context.Background()
	b.SetBytes(int64(len(token)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	f, token := benchFixture(b, NewTokenCache(0))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.verifier.Verify(ctx, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyUncached(b *testing.B) {
	f, token := benchFixture(b, nil)
	ctx := context.Background()
	b.SetBytes(int64(len(token)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyForged is the cost of refusing a token with a bad signature (an attacker's flood).
func BenchmarkVerifyForged(b *testing.B) {
	f, _ := benchFixture(b, NewTokenCache(0))
	forged := key("rsa2").withKid(key("rsa1").kid).sign(nil, accessClaims(f.clock.Now()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(ctx, forged); err == nil {
			b.Fatal("forged token accepted")
		}
	}
}
