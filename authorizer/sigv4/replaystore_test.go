package sigv4_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// brokenStore is a replay store that cannot be reached.
type brokenStore struct{}

func (s *brokenStore) Seen(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// ttlStore records the TTL each signature is stored with, in front of a real store.
type ttlStore struct {
	sigv4.ReplayStore
	ttls []time.Duration
}

func (s *ttlStore) Seen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	s.ttls = append(s.ttls, ttl)
	return s.ReplayStore.Seen(ctx, key, ttl)
}

func storeVerifier(t *testing.T, now *time.Time, store sigv4.ReplayStore, cache *sigv4.ReplayCache) *sigv4.Verifier {
	t.Helper()
	v, err := sigv4.NewVerifier((&credentialStore{}).source, sigv4.Options{
		Region: "us-east-1", Now: func() time.Time { return *now }, ReplayStore: store, ReplayCache: cache,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fleetServer is one address served by several verifiers, as instances behind a load balancer: the
// unsigned header X-Instance picks the one that verifies.
type fleetServer struct {
	*verifier
	instances []*sigv4.Verifier
}

func serveFleet(t *testing.T, instances ...*sigv4.Verifier) *fleetServer {
	t.Helper()
	f := &fleetServer{verifier: &verifier{got: make(chan outcome, 1)}, instances: instances}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.Header.Get("X-Instance"))
		var o outcome
		o.res, o.err = f.instances[i].Verify(r)
		o.body, _ = io.ReadAll(r.Body)
		f.got <- o
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// to sends a copy of signed to instance i.
func (f *fleetServer) to(t *testing.T, i int, signed *http.Request, body string) outcome {
	t.Helper()
	r := signed.Clone(t.Context())
	r.Header.Set("X-Instance", strconv.Itoa(i))
	return f.send(t, r, body)
}

// Two verifiers sharing a store (two instances sharing Redis) refuse a POST the other accepted, and
// record it only for what is left of its validity.
func TestReplayStoreIsSharedByVerifiers(t *testing.T) {
	t.Parallel()
	now := testNow.Add(time.Minute)
	store := &ttlStore{ReplayStore: sigv4.NewReplayCache(100)}
	f := serveFleet(t, storeVerifier(t, &now, store, nil), storeVerifier(t, &now, store, nil))
	body := `{"pay":100}`
	signed := f.signed(t, signing{at: testNow}, http.MethodPost, "/orders", body, nil)
	if o := f.to(t, 0, signed, body); o.err != nil {
		t.Fatalf("first POST refused: %v", o.err)
	}
	o := f.to(t, 1, signed, body)
	if !errors.Is(o.err, sigv4.ErrReplayedSignature) {
		t.Fatalf("the POST replayed to another verifier: %v, want ErrReplayedSignature", o.err)
	}
	if want := sigv4.DefaultClockSkew - time.Minute; len(store.ttls) == 0 || store.ttls[0] != want {
		t.Errorf("stored for %v, want the signature's remaining validity %v", store.ttls, want)
	}
	get := f.signed(t, signing{at: testNow}, http.MethodGet, "/orders", "", nil)
	if f.to(t, 0, get, "").err != nil || f.to(t, 1, get, "").err != nil || len(store.ttls) != 2 {
		t.Errorf("an idempotent GET was refused or recorded (%d records)", len(store.ttls))
	}
}

// A store that fails refuses the POST with 503 unless a local cache is given to fall back on, which
// then still refuses a replay to this verifier.
func TestReplayStoreFailure(t *testing.T) {
	t.Parallel()
	now := testNow
	body := `{"pay":100}`

	refusing := serveVerifier(t, storeVerifier(t, &now, &brokenStore{}, nil))
	signed := refusing.signed(t, signing{at: testNow}, http.MethodPost, "/orders", body, nil)
	o := refusing.send(t, signed, body)
	var e *sigv4.Error
	if !errors.As(o.err, &e) || !errors.Is(o.err, sigv4.ErrReplayStoreUnavailable) || e.Status != http.StatusServiceUnavailable ||
		e.Type != "ServiceUnavailableException" {
		t.Fatalf("with the store down: %v, want a 503 ServiceUnavailableException wrapping ErrReplayStoreUnavailable", o.err)
	}
	if get := refusing.signed(t, signing{at: testNow}, http.MethodGet, "/orders", "", nil); refusing.send(t, get, "").err != nil {
		t.Error("a GET was refused with the store down: idempotent requests are not replay-checked")
	}

	local := serveVerifier(t, storeVerifier(t, &now, &brokenStore{}, sigv4.NewReplayCache(100)))
	signed = local.signed(t, signing{at: testNow}, http.MethodPost, "/orders", body, nil)
	if o := local.send(t, signed, body); o.err != nil {
		t.Fatalf("with a local fallback: %v", o.err)
	}
	if o := local.send(t, signed, body); !errors.Is(o.err, sigv4.ErrReplayedSignature) {
		t.Fatalf("a replay to the same verifier during the outage: %v, want ErrReplayedSignature", o.err)
	}
}

// With a store and a local cache, what the store accepted is remembered locally too: a replay to the
// same instance is refused even once the store is down.
func TestReplayStoreAcceptedIsRememberedLocally(t *testing.T) {
	t.Parallel()
	now := testNow
	body := `{"pay":100}`
	store := &switchStore{ReplayStore: sigv4.NewReplayCache(100)}
	v := serveVerifier(t, storeVerifier(t, &now, store, sigv4.NewReplayCache(100)))
	signed := v.signed(t, signing{at: testNow}, http.MethodPost, "/orders", body, nil)
	if o := v.send(t, signed, body); o.err != nil {
		t.Fatal(o.err)
	}
	store.down = true
	if o := v.send(t, signed, body); !errors.Is(o.err, sigv4.ErrReplayedSignature) {
		t.Fatalf("replay once the store is down: %v, want ErrReplayedSignature", o.err)
	}
}

// switchStore is a real store that can be taken down.
type switchStore struct {
	sigv4.ReplayStore
	down bool
}

func (s *switchStore) Seen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if s.down {
		return (&brokenStore{}).Seen(ctx, key, ttl)
	}
	return s.ReplayStore.Seen(ctx, key, ttl)
}
