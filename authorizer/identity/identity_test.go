package identity

import (
	"sync"
	"testing"
)

// TestMemoConcurrent: the memo is made on first use; first uses at once all get the one value that won.
func TestMemoConcurrent(t *testing.T) {
	t.Parallel()
	type memoKey struct{}
	id := &Identity{Kind: KindUserPool}
	const workers = 16
	got := make([]any, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			got[w] = id.Memo(memoKey{}, func() any { return new(int) })
		})
	}
	wg.Wait()
	for w, v := range got {
		if v != got[0] {
			t.Fatalf("worker %d got %p, worker 0 %p: two values for one key", w, v, got[0])
		}
	}
	if again := id.Memo(memoKey{}, func() any { return new(int) }); again != got[0] {
		t.Error("a later use derived the value again")
	}
	if other := id.Memo(struct{ k int }{1}, func() any { return "other" }); other != "other" {
		t.Errorf("another key gave %v", other)
	}
}

// TestClaimSource: ClaimMap and Claim read the claims from the source when Claims is nil, and Claims
// when it is set.
func TestClaimSource(t *testing.T) {
	t.Parallel()
	id := &Identity{}
	if id.ClaimMap() != nil {
		t.Error("an identity without claims has a claim map")
	}
	id.SetClaimSource(fixedClaims{"a": "1"})
	if v, ok := id.Claim("a"); !ok || v != "1" {
		t.Errorf("Claim(a) = %v, %v from the source", v, ok)
	}
	if _, ok := id.Claim("b"); ok {
		t.Error("Claim(b) reports a claim the source does not have")
	}
	id.Claims = map[string]any{"b": "2"}
	if _, ok := id.Claim("a"); ok {
		t.Error("Claims set, Claim still read the source")
	}
	js := &Identity{}
	js.SetClaimsJSON([]byte(`{"n":12345678901234567890}`))
	if v, _ := js.Claim("n"); v == nil || js.ClaimsJSON() == "" {
		t.Errorf("claims kept as JSON: Claim(n) = %v, ClaimsJSON %q", v, js.ClaimsJSON())
	}
}

type fixedClaims map[string]any

func (c fixedClaims) ClaimMap() map[string]any { return c }
