package sigv4_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/sigv4"
)

// replayVerifier is a verifier with a replay cache of size entries, at the clock *now.
func replayVerifier(t *testing.T, size int, now *time.Time) (*sigv4.Verifier, *sigv4.ReplayCache) {
	t.Helper()
	cache := sigv4.NewReplayCache(size)
	v, err := sigv4.NewVerifier((&credentialStore{}).source, sigv4.Options{
		Region: "us-east-1", Now: func() time.Time { return *now }, ReplayCache: cache,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, cache
}

// verifier is a test server that verifies every request it gets with v, as the authorizer will.
type verifier struct {
	url string
	got chan outcome
}

func serveVerifier(t *testing.T, v *sigv4.Verifier) *verifier {
	t.Helper()
	s := &verifier{got: make(chan outcome, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o outcome
		o.res, o.err = v.Verify(r)
		o.body, _ = io.ReadAll(r.Body)
		s.got <- o
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// send sends a copy of signed, with body, and returns what the verifier said.
func (s *verifier) send(t *testing.T, signed *http.Request, body string) outcome {
	t.Helper()
	r := signed.Clone(t.Context())
	r.Body, r.ContentLength = readCloser(body), int64(len(body))
	if body == "" {
		r.Body = nil
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return <-s.got
}

// signed is a request to s signed as sg says.
func (s *verifier) signed(t *testing.T, sg signing, method, target, body string, header map[string]string) *http.Request {
	t.Helper()
	return sg.sign(t, request{method: method, target: target, body: body, header: header}.build(t, s.url), body)
}

func TestReplayCacheRefusesASecondNonIdempotentRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, body string
		presign            bool
		wantRefused        bool
	}{
		{name: "POST", method: http.MethodPost, body: `{"pay":100}`, wantRefused: true},
		{name: "PATCH", method: http.MethodPatch, body: `{"op":"add"}`, wantRefused: true},
		{name: "unknown method", method: "PURGE", wantRefused: true},
		{name: "presigned POST", method: http.MethodPost, presign: true, wantRefused: true},
		{name: "GET", method: http.MethodGet},
		{name: "presigned GET (a link opened twice)", method: http.MethodGet, presign: true},
		{name: "HEAD", method: http.MethodHead},
		{name: "PUT", method: http.MethodPut, body: `{"name":"x"}`},
		{name: "DELETE", method: http.MethodDelete},
		{name: "OPTIONS", method: http.MethodOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := testNow
			v, cache := replayVerifier(t, 100, &now)
			srv := serveVerifier(t, v)
			signed := srv.signed(t, signing{at: testNow, presign: tt.presign}, tt.method, "/orders?x=1", tt.body, nil)
			first, second := srv.send(t, signed, tt.body), srv.send(t, signed, tt.body)
			if first.err != nil {
				t.Fatalf("first request refused: %v", first.err)
			}
			if !tt.wantRefused {
				if second.err != nil || cache.Len() != 0 {
					t.Fatalf("second %s refused (%v) or remembered (%d entries): idempotent requests are not replay-checked",
						tt.method, second.err, cache.Len())
				}
				return
			}
			var e *sigv4.Error
			if !errors.As(second.err, &e) || !errors.Is(second.err, sigv4.ErrReplayedSignature) ||
				e.Status != http.StatusForbidden || e.Type != "InvalidSignatureException" {
				t.Fatalf("second %s: %v, want a 403 InvalidSignatureException wrapping ErrReplayedSignature", tt.method, second.err)
			}
			if strings.Contains(e.Error(), first.res.Signature) || strings.Contains(e.Message, first.res.Signature) {
				t.Errorf("the refusal %q quotes the signature", e.Error())
			}
			if cache.Len() != 1 {
				t.Errorf("cache holds %d signatures, want 1", cache.Len())
			}
		})
	}
}

func TestReplayCacheForgetsExpiredSignatures(t *testing.T) {
	t.Parallel()
	now := testNow
	v, cache := replayVerifier(t, 100, &now)
	srv := serveVerifier(t, v)
	body := `{"n":1}`
	first := srv.signed(t, signing{at: testNow}, http.MethodPost, "/a", body, nil)
	if o := srv.send(t, first, body); o.err != nil {
		t.Fatal(o.err)
	}
	// Past its validity the signature is refused for its age, and no longer remembered: a signature
	// that can no longer verify needs no memory.
	now = now.Add(sigv4.DefaultClockSkew + time.Second)
	if o := srv.send(t, first, body); !errors.Is(o.err, sigv4.ErrSignatureExpired) {
		t.Fatalf("after its validity: %v, want ErrSignatureExpired", o.err)
	}
	if o := srv.send(t, srv.signed(t, signing{at: now}, http.MethodPost, "/b", body, nil), body); o.err != nil {
		t.Fatal(o.err)
	}
	if cache.Len() != 1 {
		t.Errorf("cache holds %d signatures after the first expired, want 1", cache.Len())
	}
}

// A request refused for another reason (here a body that does not match its signed hash: someone
// who captured a signed request and changed its body) does not use up the signature: the genuine
// request still goes through.
func TestReplayCacheRecordsOnlyVerifiedRequests(t *testing.T) {
	t.Parallel()
	now := testNow
	v, cache := replayVerifier(t, 100, &now)
	srv := serveVerifier(t, v)
	body := `{"pay":100}`
	signed := srv.signed(t, signing{at: testNow}, http.MethodPost, "/pay", body,
		map[string]string{"X-Amz-Content-Sha256": sha256Hex([]byte(body))})
	send := func(sentBody string) outcome { return srv.send(t, signed, sentBody) }
	if o := send(`{"pay":999}`); !errors.Is(o.err, sigv4.ErrPayloadHashMismatch) {
		t.Fatalf("changed body: %v, want ErrPayloadHashMismatch", o.err)
	}
	if cache.Len() != 0 {
		t.Fatalf("a refused request was remembered")
	}
	if o := send(body); o.err != nil {
		t.Fatalf("the genuine request after a forged one: %v", o.err)
	}
	if o := send(body); !errors.Is(o.err, sigv4.ErrReplayedSignature) {
		t.Fatalf("the genuine request again: %v, want ErrReplayedSignature", o.err)
	}
}

func TestReplayCacheBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		size, puts  int
		wantEvicted uint64
	}{
		{name: "under the bound", size: 100, puts: 50},
		{name: "at the bound", size: 100, puts: 100},
		{name: "four times the bound", size: 100, puts: 400, wantEvicted: 300},
		{name: "size one", size: 1, puts: 10, wantEvicted: 9},
		{name: "default size", size: 0, puts: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sigv4.NewReplayCache(tt.size)
			bound := tt.size
			if bound <= 0 {
				bound = sigv4.DefaultReplayCacheEntries
			}
			// Signatures valid for 1..puts minutes, in an order that is not their expiry order.
			for i := range tt.puts {
				minutes := (i*7919)%tt.puts + 1
				if !sigv4.ReplayFirst(c, uint64(i), testNow.Add(time.Duration(minutes)*time.Minute), testNow) {
					t.Fatalf("put %d: a new signature was taken for a replay", i)
				}
				if c.Len() > bound {
					t.Fatalf("after %d puts: %d entries, bound %d", i+1, c.Len(), bound)
				}
			}
			if c.Evicted() != tt.wantEvicted {
				t.Errorf("evicted %d, want %d", c.Evicted(), tt.wantEvicted)
			}
			// What is left are the signatures that expire last: each is still refused.
			kept := 0
			for i := range tt.puts {
				minutes := (i*7919)%tt.puts + 1
				if minutes > tt.puts-min(bound, tt.puts) {
					kept++
					if sigv4.ReplayFirst(c, uint64(i), testNow.Add(time.Duration(minutes)*time.Minute), testNow) {
						t.Fatalf("signature %d (valid %d min) was forgotten before those expiring sooner", i, minutes)
					}
				}
			}
			if kept != c.Len() {
				t.Errorf("%d entries, want the %d latest-expiring", c.Len(), kept)
			}
		})
	}
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// TestReplayCacheMemory fills a cache of the default size with 100k distinct signatures, then 100k
// more, and measures the heap: the bound holds and stays far under the project's 64 MiB budget.
func TestReplayCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 100k-entry cache twice")
	}
	const limit = 16 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := sigv4.NewReplayCache(0)
	for i := range 2 * sigv4.DefaultReplayCacheEntries {
		sigv4.ReplayFirst(c, uint64(i), testNow.Add(time.Duration(i)*time.Millisecond+time.Minute), testNow)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d signatures hold %.1f MiB (%d bytes each); %d evicted", c.Len(), float64(grown)/(1<<20), grown/int64(c.Len()), c.Evicted())
	if c.Len() != sigv4.DefaultReplayCacheEntries || c.Evicted() != sigv4.DefaultReplayCacheEntries {
		t.Errorf("%d entries, %d evicted; want %d of each", c.Len(), c.Evicted(), sigv4.DefaultReplayCacheEntries)
	}
	if grown > limit {
		t.Errorf("the cache grew the heap by %d MiB, limit %d MiB", grown>>20, limit>>20)
	}
	runtime.KeepAlive(c)
}

// BenchmarkReplayCache is the cost a POST pays: one new signature into a full cache.
func BenchmarkReplayCache(b *testing.B) {
	c := sigv4.NewReplayCache(0)
	for i := range sigv4.DefaultReplayCacheEntries {
		sigv4.ReplayFirst(c, uint64(i), testNow.Add(time.Hour+time.Duration(i)), testNow)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		sigv4.ReplayFirst(c, uint64(sigv4.DefaultReplayCacheEntries+i), testNow.Add(2*time.Hour+time.Duration(i)), testNow)
	}
}
