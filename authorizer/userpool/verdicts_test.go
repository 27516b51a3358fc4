package userpool

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mapStore is a VerdictStore in a map that counts its reads and writes, or fails when told to.
type mapStore struct {
	mu            sync.Mutex
	m             map[[32]byte]Verdict
	gets, sets    int
	failGet, fail bool
}

func (s *mapStore) Verdict(_ context.Context, sum [32]byte) (Verdict, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.failGet {
		return Verdict{}, false, errors.New("store down")
	}
	v, ok := s.m[sum]
	return v, ok, nil
}

func (s *mapStore) SetVerdict(_ context.Context, sum [32]byte, v Verdict) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	if s.fail {
		return errors.New("store down")
	}
	s.m[sum] = v
	return nil
}

// The store is read before the pool and written after a definite answer, never with "unavailable";
// an answer remembered locally does not touch it; a store failure falls back to the pool, never to an
// allow; a stored verdict is not kept locally past the interval whatever Until it carries.
func TestUserCheckSharesVerdicts(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	store := &mapStore{m: map[[32]byte]Verdict{}}
	cfg := func(c *UserCheckConfig) { c.Store = store; c.Interval = time.Minute }
	a, b := newTestCheck(t, p, cfg), newTestCheck(t, p, cfg)
	exp := time.Now().Add(time.Hour)
	ctx := context.Background()

	if err := a.Check(ctx, "tok-valid", exp); err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 1 || store.sets != 1 {
		t.Fatalf("after the first check: %d calls, %d sets", p.calls.Load(), store.sets)
	}
	if v := store.m[tokenHash("tok-valid")]; v.Revoked || time.Until(v.Until) > time.Minute || time.Until(v.Until) < 50*time.Second {
		t.Errorf("stored %+v; want valid for the interval", v)
	}
	if err := b.Check(ctx, "tok-valid", exp); err != nil || p.calls.Load() != 1 {
		t.Errorf("the other check = %v after %d calls; want nil, the pool not asked again", err, p.calls.Load())
	}
	gets := store.gets
	if err := b.Check(ctx, "tok-valid", exp); err != nil || store.gets != gets {
		t.Errorf("a local hit = %v, read the store %d times", err, store.gets-gets)
	}

	// Revoked on one is refused by the other without asking the pool.
	p.answerWith(http.StatusBadRequest, `{"__type":"NotAuthorizedException","message":"Access Token has been revoked"}`)
	if err := a.Check(ctx, "tok-revoked", exp); !errors.Is(err, ErrUserRevoked) {
		t.Fatalf("revoked = %v", err)
	}
	calls := p.calls.Load()
	p.answerWith(http.StatusOK, `{"Username":"alice"}`) // the pool would now say yes: it must not be asked
	if err := b.Check(ctx, "tok-revoked", exp); !errors.Is(err, ErrUserRevoked) || p.calls.Load() != calls {
		t.Errorf("the other check of a revoked token = %v, %d more calls; want ErrUserRevoked and none", err, p.calls.Load()-calls)
	}

	// "Unavailable" is never stored.
	p.answerWith(http.StatusInternalServerError, `{}`)
	sets := store.sets
	if err := a.Check(ctx, "tok-unavailable", exp); !errors.Is(err, ErrUserPoolUnavailable) || store.sets != sets {
		t.Errorf("unavailable = %v, %d sets", err, store.sets-sets)
	}

	// A store that fails: the pool is asked; what it says decides, a refusal included.
	p.answerWith(http.StatusBadRequest, `{"__type":"UserNotFoundException","message":"User does not exist."}`)
	store.mu.Lock()
	store.failGet, store.fail = true, true
	store.mu.Unlock()
	c := newTestCheck(t, p, cfg)
	calls = p.calls.Load()
	if err := c.Check(ctx, "tok-store-down", exp); !errors.Is(err, ErrUserRevoked) || p.calls.Load() != calls+1 {
		t.Errorf("with the store down = %v, %d calls; want the pool's refusal", err, p.calls.Load()-calls)
	}
	p.answerWith(http.StatusInternalServerError, `{}`)
	d := newTestCheck(t, p, cfg)
	if err := d.Check(ctx, "tok-both-down", exp); !errors.Is(err, ErrUserPoolUnavailable) {
		t.Errorf("with the store and the pool down = %v; want ErrUserPoolUnavailable", err)
	}
}

// A stored verdict whose Until is beyond the interval (a forged or skewed value) is kept locally for
// the interval at most, and one past its Until is not used.
func TestUserCheckBoundsStoredVerdicts(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	now := time.Now()
	clock := now
	store := &mapStore{m: map[[32]byte]Verdict{
		tokenHash("tok-far"):  {Revoked: true, Until: now.Add(24 * time.Hour)},
		tokenHash("tok-past"): {Revoked: true, Until: now.Add(-time.Second)},
	}}
	c := newTestCheck(t, p, func(c *UserCheckConfig) {
		c.Store, c.Interval, c.Now = store, time.Minute, func() time.Time { return clock }
	})
	exp := now.Add(time.Hour)
	if err := c.Check(context.Background(), "tok-past", exp); err != nil || p.calls.Load() != 1 {
		t.Errorf("an expired stored verdict = %v after %d calls; want the pool asked", err, p.calls.Load())
	}
	if err := c.Check(context.Background(), "tok-far", exp); !errors.Is(err, ErrUserRevoked) {
		t.Fatalf("stored revoked = %v", err)
	}
	delete(store.m, tokenHash("tok-far"))
	clock = now.Add(61 * time.Second)
	if err := c.Check(context.Background(), "tok-far", exp); err != nil || p.calls.Load() != 2 {
		t.Errorf("past the interval = %v after %d calls; want the pool asked again", err, p.calls.Load())
	}
}

// A store that failed is not used for a second: during an outage, tokens go straight to the pool
// instead of each waiting for the store's timeout; it is read again after.
func TestUserCheckStoreHoldDown(t *testing.T) {
	t.Parallel()
	p := newFakePool(t)
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	store := &mapStore{m: map[[32]byte]Verdict{}, failGet: true, fail: true}
	c := newTestCheck(t, p, func(c *UserCheckConfig) {
		c.Store, c.Now = store, func() time.Time { return time.Unix(0, clock.Load()) }
	})
	exp := now.Add(time.Hour)
	if err := c.Check(context.Background(), "tok-1", exp); err != nil {
		t.Fatal(err)
	}
	if store.gets != 1 || store.sets != 0 {
		t.Fatalf("a failed read: %d reads, %d writes; want 1 and none", store.gets, store.sets)
	}
	if err := c.Check(context.Background(), "tok-2", exp); err != nil || store.gets != 1 || store.sets != 0 || p.calls.Load() != 2 {
		t.Errorf("within the hold-down = %v, %d reads, %d writes, %d calls; want the pool asked, the store not used", err, store.gets, store.sets, p.calls.Load())
	}
	store.mu.Lock()
	store.failGet, store.fail = false, false
	store.mu.Unlock()
	clock.Store(now.Add(userPoolHoldDown + time.Millisecond).UnixNano())
	if err := c.Check(context.Background(), "tok-3", exp); err != nil || store.gets != 2 || store.sets != 1 {
		t.Errorf("after the hold-down = %v, %d reads, %d writes; want the store used again", err, store.gets, store.sets)
	}
}
