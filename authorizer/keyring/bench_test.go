package keyring

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkOpen opens an envelope of a typical session token's size, the work of every SigV4 request
// signed with identity-pool credentials (identitypool's BenchmarkOpenSessionToken adds the decoding).
func BenchmarkOpen(b *testing.B) {
	k := newTestRing(b, nil, newClock())
	ctx := context.Background()
	sealed, err := k.Seal(ctx, testHeader, bytes.Repeat([]byte("p"), 400), testAdditional)
	must(b, err)
	buf := make([]byte, len(sealed))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, sealed)
		if _, _, err := k.Open(ctx, buf, len(testHeader), testAdditional); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k := newTestRing(b, nil, newClock())
	ctx := context.Background()
	plaintext := bytes.Repeat([]byte("p"), 400)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Seal(ctx, testHeader, plaintext, testAdditional); err != nil {
			b.Fatal(err)
		}
	}
}
