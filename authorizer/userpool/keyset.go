package userpool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults of KeySetConfig.
const (
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMaxAge             = time.Hour
	DefaultStaleWindow        = 6 * time.Hour
	DefaultMinRefetchInterval = 15 * time.Second
	DefaultMaxResponseBytes   = 512 << 10
)

// The backoff between failed fetches: from firstRetryInterval, doubling up to maxRetryInterval (or MaxAge
// if shorter), reset by a success.
const (
	firstRetryInterval = time.Second
	maxRetryInterval   = 5 * time.Minute
)

// failureReportDelay is how long a failed fetch waits to be logged: a key set closed within it (by `caddy
// validate`, or a configuration that fails to load) was never meant to serve, and its failure is no error.
const failureReportDelay = time.Second

// KeySetConfig says where a KeySet fetches its keys and how. Zero values take the defaults.
type KeySetConfig struct {
	// JWKSURL is the JWKS to fetch, e.g. CognitoJWKSURL(issuer). Exactly one of JWKSURL and Discovery is
	// required.
	JWKSURL string
	// Discovery is an OIDC issuer URL: the JWKS URL is the jwks_uri of
	// <Discovery>/.well-known/openid-configuration, whose issuer must equal Discovery exactly. Discovery
	// runs in the background like any fetch, and again after a failed fetch.
	Discovery string

	// HTTPClient makes the requests; default: a client of its own (closed by Close).
	HTTPClient *http.Client
	// Timeout bounds each request, body included; default 5s.
	Timeout time.Duration
	// MaxAge is how often the keys are refreshed; default 1h.
	MaxAge time.Duration
	// StaleWindow is how long known keys stay in use past MaxAge while refreshing fails (an outage of the
	// issuer); after it, tokens of the issuer get ErrKeysUnavailable until a fetch succeeds. Default 6h.
	StaleWindow time.Duration
	// MinRefetchInterval is how long an on-demand refetch (for a token with an unknown kid, or while no
	// keys are usable) that did not find its kid holds back the next one; default 15s. Other fetches (the
	// first, the hourly refresh, a refetch that found its kid) hold back nothing: a key published since
	// is fetched on its first use.
	MinRefetchInterval time.Duration
	// MaxResponseBytes bounds the JWKS and discovery responses; default 512 KiB.
	MaxResponseBytes int64
	// Algorithms, if set, drops the keys that can verify none of these algorithms.
	Algorithms []string
	// Logger receives fetch failures and dropped keys; default: none.
	Logger *zap.Logger
	// Observer learns of every fetch and of the Close, for metrics; default: none.
	Observer KeySetObserver
	// Now is the clock of key lifetimes and of the refetch hold-back; default time.Now.
	Now func() time.Time
}

// KeySetObserver learns what a KeySet fetches, for metrics. Source is the JWKS URL or the discovery
// issuer of the key set (a password in it redacted): one per configured issuer. Its methods are called
// from the key set's fetching goroutine, never on a request's path, and must not block.
type KeySetObserver interface {
	// Fetched reports a fetch that brought keys keys, at the time fetchedAt (the age of the keys in
	// use counts from it).
	Fetched(source string, keys int, fetchedAt time.Time)
	// FetchFailed reports a fetch that failed (the known keys, if any, stay in use).
	FetchFailed(source string, err error)
	// Closed reports that the key set was closed: it fetches no more.
	Closed(source string)
}

// KeySet holds the public keys of one JWKS endpoint, fetched in the background when it is created and
// refreshed every MaxAge, and retried after a failure from about a second on. A token with an unknown kid
// triggers a refetch, shared by every request that waits for one; a refetch that does not find its kid
// holds back the next for MinRefetchInterval, so a flood of invented kids costs the endpoint one request
// per interval.
// One KeySet is meant to be shared by every verifier that trusts its endpoint. It is safe for concurrent
// use. Close stops it.
type KeySet struct {
	cfg       KeySetConfig
	source    string // the JWKS URL or the discovery issuer, for logs and errors
	client    *http.Client
	transport *http.Transport // ours to close, when HTTPClient was not given
	log       *zap.Logger
	now       func() time.Time

	snapshot atomic.Pointer[keySnapshot]
	// fetchErr is why the last fetch failed, nil after a success: what a token refused for want of keys
	// is told.
	fetchErr atomic.Pointer[string]

	mu        sync.Mutex
	round     *round // the next fetch, or the running one
	requested bool   // round was requested on demand and has not started yet
	fetching  bool
	heldUntil time.Time // no on-demand fetch before: a refetch did not find its kid
	closed    bool

	kick      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// Owned by the fetching goroutine.
	jwksURL      string
	discoveredAt time.Time
	lastFailed   bool
}

// round is one fetch, as those who wait for it see it.
type round struct {
	done     chan struct{} // closed when the fetch has ended
	onDemand bool          // requested by a token the keys did not verify; set before the fetch starts
	started  time.Time     // set when the fetch starts
}

// keySnapshot is the immutable result of one successful fetch.
type keySnapshot struct {
	keys        map[string]*verificationKey
	fetchedAt   time.Time
	usableUntil time.Time // fetchedAt + MaxAge + StaleWindow
}

// NewKeySet validates cfg and starts fetching the keys in the background. It returns at once: until the
// first fetch succeeds, tokens of the issuer get ErrKeysUnavailable.
func NewKeySet(cfg KeySetConfig) (*KeySet, error) {
	if (cfg.JWKSURL == "") == (cfg.Discovery == "") {
		return nil, errors.New("key set: exactly one of a JWKS URL and a discovery issuer is required")
	}
	source := cfg.JWKSURL
	if cfg.Discovery != "" {
		source = cfg.Discovery
	}
	if err := checkFetchURL(source); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"timeout": cfg.Timeout, "max age": cfg.MaxAge, "stale window": cfg.StaleWindow,
		"minimum refetch interval": cfg.MinRefetchInterval,
	} {
		if d < 0 {
			return nil, fmt.Errorf("key set %s: %s %v is negative", source, name, d)
		}
	}
	if cfg.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("key set %s: maximum response size %d is negative", source, cfg.MaxResponseBytes)
	}
	if err := checkAlgorithms(cfg.Algorithms); err != nil {
		return nil, fmt.Errorf("key set %s: %w", source, err)
	}
	cfg.Algorithms = append([]string(nil), cfg.Algorithms...)
	setDefault(&cfg.Timeout, DefaultFetchTimeout)
	setDefault(&cfg.MaxAge, DefaultMaxAge)
	setDefault(&cfg.StaleWindow, DefaultStaleWindow)
	setDefault(&cfg.MinRefetchInterval, DefaultMinRefetchInterval)
	setDefault(&cfg.MaxResponseBytes, DefaultMaxResponseBytes)

	k := &KeySet{
		cfg:     cfg,
		source:  redact(source),
		client:  cfg.HTTPClient,
		log:     cfg.Logger,
		now:     cfg.Now,
		round:   &round{done: make(chan struct{})},
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		jwksURL: cfg.JWKSURL,
	}
	if k.log == nil {
		k.log = zap.NewNop()
	}
	if k.now == nil {
		k.now = time.Now
	}
	if u, _ := url.Parse(source); u.Scheme == "http" && !isLoopback(u.Hostname()) {
		k.log.Warn("signing keys are fetched over plain http: anyone on the network path can substitute them",
			zap.String("source", k.source))
	}
	if k.client == nil {
		k.transport = http.DefaultTransport.(*http.Transport).Clone()
		k.client = &http.Client{Transport: k.transport, Timeout: cfg.Timeout, CheckRedirect: limitRedirects}
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	go k.run()
	return k, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func limitRedirects(_ *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("stopped after 3 redirects")
	}
	return nil
}

// redact hides a password in a URL meant for logs and errors.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkFetchURL accepts absolute http and https URLs with a host.
func checkFetchURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("URL %s: %w", quote(s), err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("URL %s is not an absolute http(s) URL", quote(s))
	}
	return nil
}

// Close stops the background fetching and waits for it to end. Keys already fetched stay usable. It
// is safe to call more than once.
func (k *KeySet) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		k.cancel()
		<-k.done
		if k.transport != nil {
			k.transport.CloseIdleConnections()
		}
		if k.cfg.Observer != nil {
			k.cfg.Observer.Closed(k.source)
		}
	})
	return nil
}

// Destruct is Close, so that a KeySet can live in a caddy.UsagePool.
func (k *KeySet) Destruct() error { return k.Close() }

// Ready reports whether the KeySet holds usable keys.
func (k *KeySet) Ready() bool {
	s := k.snapshot.Load()
	return s != nil && !k.now().After(s.usableUntil)
}

// lookup returns the key kid from the last fetch, without fetching.
func (k *KeySet) lookup(kid string) (*verificationKey, error) {
	s := k.snapshot.Load()
	if s == nil {
		return nil, fmt.Errorf("%w: no keys fetched yet from %s%s", ErrKeysUnavailable, k.source, k.lastFetchError())
	}
	if k.now().After(s.usableUntil) {
		return nil, fmt.Errorf("%w: keys from %s could not be refreshed since %s and were dropped%s",
			ErrKeysUnavailable, k.source, s.fetchedAt.UTC().Format(time.RFC3339), k.lastFetchError())
	}
	if key := s.keys[kid]; key != nil {
		return key, nil
	}
	return nil, fmt.Errorf("%w: no key %s in %s", ErrUnknownKey, quote(kid), k.source)
}

// lastFetchError is " (the last fetch: <why it failed>)", or "" when the last fetch did not fail.
func (k *KeySet) lastFetchError() string {
	if msg := k.fetchErr.Load(); msg != nil {
		return " (the last fetch: " + *msg + ")"
	}
	return ""
}

// key returns the key kid, refetching when it is unknown or no keys are usable.
func (k *KeySet) key(ctx context.Context, kid string) (*verificationKey, error) {
	key, err := k.lookup(kid)
	if err == nil {
		return key, nil
	}
	return k.refetch(ctx, kid)
}

// refetch waits for a fetch that may bring kid: the running one or a pending one, or else a new one
// unless a refetch that missed its kid holds it back. A fetch that was not asked for on demand (the
// scheduled refresh) may have started before kid was published: if it brought keys but not kid, one
// more is asked for. If it failed, the background retry is the next attempt; a request does not wait
// for a second timeout.
func (k *KeySet) refetch(ctx context.Context, kid string) (*verificationKey, error) {
	for range 2 {
		k.mu.Lock()
		// Look again first: a fetch that ended since the caller's miss (the first one at start,
		// typically) may have brought the key.
		key, err := k.lookup(kid)
		if err == nil || k.closed {
			k.mu.Unlock()
			return key, err
		}
		r := k.round
		if !k.requested && !k.fetching {
			if now := k.now(); now.Before(k.heldUntil) {
				k.mu.Unlock()
				return nil, fmt.Errorf("%w (refetching held back for %v after a refetch that did not bring it)",
					err, k.heldUntil.Sub(now).Round(time.Second))
			}
			k.requested, r.onDemand = true, true
			select {
			case k.kick <- struct{}{}:
			default:
			}
		}
		k.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return k.lookup(kid)
		case <-k.ctx.Done():
			return k.lookup(kid)
		}
		key, err = k.lookup(kid)
		if err != nil && r.onDemand {
			k.holdBack(r)
		}
		if err == nil || r.onDemand || !errors.Is(err, ErrUnknownKey) {
			return key, err
		}
	}
	return k.lookup(kid)
}

// holdBack keeps on-demand fetches back for MinRefetchInterval from the start of r, a refetch that did
// not find its kid.
func (k *KeySet) holdBack(r *round) {
	until := r.started.Add(k.cfg.MinRefetchInterval)
	k.mu.Lock()
	if until.After(k.heldUntil) {
		k.heldUntil = until
	}
	k.mu.Unlock()
}

// run fetches at once, then every MaxAge, on demand, and after failures with a backoff. A failure is
// logged failureReportDelay later, or when the next fetch starts if that is sooner, and not at all if the
// key set is closed first.
func (k *KeySet) run() {
	defer close(k.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	report := time.NewTimer(0)
	report.Stop()
	defer report.Stop()
	var failed error // not yet logged
	failures := 0
	for {
		select {
		case <-k.ctx.Done():
			if failed != nil {
				k.log.Debug("a failed fetch of signing keys was not reported: the key set was closed",
					zap.String("source", k.source), zap.Error(failed))
			}
			return
		case <-report.C:
			k.logFailure(failed)
			failed = nil
			continue
		case <-timer.C:
		case <-k.kick:
		}
		if k.ctx.Err() != nil {
			return
		}
		if failed != nil {
			report.Stop()
			k.logFailure(failed)
			failed = nil
		}
		wait := k.cfg.MaxAge
		if err := k.fetchRound(); err != nil {
			failures++
			wait = k.retryDelay(failures)
			if k.ctx.Err() == nil {
				failed = err
				report.Reset(failureReportDelay)
			}
		} else {
			failures = 0
		}
		timer.Reset(wait)
	}
}

// retryDelay is the backoff after the nth failure in a row: firstRetryInterval doubling up to
// min(MaxAge, maxRetryInterval), with up to 20% jitter so that a fleet does not retry in step.
func (k *KeySet) retryDelay(failures int) time.Duration {
	limit := min(maxRetryInterval, k.cfg.MaxAge)
	d := firstRetryInterval
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d + rand.N(d/5+1)
}

// fetchRound runs one fetch and wakes those who waited for it.
func (k *KeySet) fetchRound() error {
	k.mu.Lock()
	k.fetching, k.requested = true, false
	select {
	case <-k.kick:
	default:
	}
	r := k.round
	r.started = k.now()
	k.mu.Unlock()

	keys, err := k.fetch()
	if err == nil {
		fetched := k.now()
		k.snapshot.Store(&keySnapshot{
			keys:        keys,
			fetchedAt:   fetched,
			usableUntil: fetched.Add(k.cfg.MaxAge + k.cfg.StaleWindow),
		})
		k.log.Debug("fetched signing keys", zap.String("jwks", redact(k.jwksURL)), zap.Int("keys", len(keys)))
	}
	k.lastFailed = err != nil
	if err != nil && k.ctx.Err() == nil {
		msg := err.Error()
		k.fetchErr.Store(&msg)
	} else if err == nil {
		k.fetchErr.Store(nil)
	}
	k.observe(len(keys), err)

	k.mu.Lock()
	k.fetching = false
	k.round = &round{done: make(chan struct{})}
	k.mu.Unlock()
	close(r.done)
	return err
}

// observe tells the observer the outcome of a fetch. A fetch cut short by Close is no failure.
func (k *KeySet) observe(keys int, err error) {
	o := k.cfg.Observer
	switch {
	case o == nil:
	case err == nil:
		o.Fetched(k.source, keys, k.snapshot.Load().fetchedAt)
	case k.ctx.Err() == nil:
		o.FetchFailed(k.source, err)
	}
}

func (k *KeySet) logFailure(err error) {
	s := k.snapshot.Load()
	switch {
	case s == nil:
		k.log.Error("fetching signing keys failed; tokens of this issuer cannot be verified until a fetch succeeds",
			zap.String("source", k.source), zap.Error(err))
	case k.now().After(s.usableUntil):
		k.log.Error("fetching signing keys failed and the known keys are past their stale window; tokens of this issuer are refused",
			zap.String("source", k.source), zap.Time("fetched_at", s.fetchedAt), zap.Error(err))
	default:
		k.log.Warn("refreshing signing keys failed; the known keys stay in use",
			zap.String("source", k.source), zap.Time("usable_until", s.usableUntil), zap.Error(err))
	}
}

// fetch gets and parses the JWKS, discovering its URL first when needed.
func (k *KeySet) fetch() (map[string]*verificationKey, error) {
	if k.cfg.Discovery != "" && (k.jwksURL == "" || k.lastFailed || k.now().Sub(k.discoveredAt) >= k.cfg.MaxAge) {
		u, err := k.discover()
		if err != nil {
			return nil, err
		}
		k.jwksURL, k.discoveredAt = u, k.now()
	}
	shown := redact(k.jwksURL)
	body, err := k.get(k.jwksURL)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS %s: %w", shown, err)
	}
	keys, err := parseJWKS(body, k.cfg.Algorithms, k.log.With(zap.String("jwks", shown)))
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", shown, err)
	}
	return keys, nil
}

// discover reads the jwks_uri of the discovery issuer.
func (k *KeySet) discover() (string, error) {
	u := strings.TrimSuffix(k.cfg.Discovery, "/") + "/.well-known/openid-configuration"
	body, err := k.get(u)
	if err != nil {
		return "", fmt.Errorf("fetching discovery document %s: %w", redact(u), err)
	}
	doc, err := parseDiscovery(body, k.cfg.Discovery)
	if err != nil {
		return "", fmt.Errorf("discovery document %s: %w", redact(u), err)
	}
	return doc, nil
}

// get fetches u within the timeout and the size limit.
func (k *KeySet) get(u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(k.ctx, k.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected status %d", resp.StatusCode)
	}
	return readLimited(resp, k.cfg.MaxResponseBytes)
}
