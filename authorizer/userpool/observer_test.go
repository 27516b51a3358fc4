package userpool

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// recordingObserver remembers what a KeySet reported.
type recordingObserver struct {
	mu        sync.Mutex
	fetched   []int // keys of each fetch
	fetchedAt time.Time
	failed    int
	closed    int
	sources   map[string]bool
}

func (o *recordingObserver) Fetched(source string, keys int, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sources[source] = true
	o.fetched = append(o.fetched, keys)
	o.fetchedAt = at
}

func (o *recordingObserver) FetchFailed(source string, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sources[source] = true
	o.failed++
}

func (o *recordingObserver) Closed(source string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sources[source] = true
	o.closed++
}

func (o *recordingObserver) counts() (fetched, failed, closed int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.fetched), o.failed, o.closed
}

// TestKeySetObserver checks that a key set reports each fetch, with its keys and time, each failure,
// and its close, under the one source name that logs give (without a password of the URL).
func TestKeySetObserver(t *testing.T) {
	t.Parallel()
	o := &recordingObserver{sources: map[string]bool{}}
	clock := newClock()
	f := newFixture(t, fixtureConfig{keys: []*signingKey{key("rsa1"), key("rsa2")}, clock: clock,
		keySet: KeySetConfig{Observer: o, MinRefetchInterval: time.Nanosecond}})
	waitFor(t, "the first fetch to be reported", func() bool { n, _, _ := o.counts(); return n == 1 })
	o.mu.Lock()
	if o.fetched[0] != 2 || !o.fetchedAt.Equal(clock.Now()) {
		t.Errorf("first fetch reported %d keys at %v, want 2 at %v", o.fetched[0], o.fetchedAt, clock.Now())
	}
	o.mu.Unlock()

	f.idp.serveBody(http.StatusInternalServerError, []byte("down"))
	if _, err := f.keys.key(verifyCtx(t), "unknown"); err == nil {
		t.Fatal("an unknown kid was found")
	}
	if fetched, failed, _ := o.counts(); fetched != 1 || failed != 1 {
		t.Errorf("after a failed refetch: %d fetches and %d failures reported, want 1 and 1", fetched, failed)
	}

	f.keys.Close()
	f.keys.Close()
	if _, _, closed := o.counts(); closed != 1 {
		t.Errorf("closed reported %d times, want once", closed)
	}
	want := f.idp.URL + "/.well-known/jwks.json"
	if len(o.sources) != 1 || !o.sources[want] {
		t.Errorf("sources %v, want only %s", o.sources, want)
	}
}
