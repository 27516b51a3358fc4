package userpool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Defaults and limits of UserCheckConfig.
const (
	DefaultUserCheckTimeout = 2 * time.Second
	MaxUserCheckTimeout     = 30 * time.Second
	MinUserCheckInterval    = time.Second
	MaxUserCheckInterval    = time.Hour
	DefaultUserCheckEntries = 10_000
	// userPoolHoldDown is how long a pool that could not answer is not asked again: during an outage,
	// requests are answered at once rather than each waiting for the timeout.
	userPoolHoldDown = time.Second
	// maxGetUserResponseBytes bounds what is read of a GetUser answer: a user's attributes are a few KiB.
	maxGetUserResponseBytes = 64 << 10
)

// Errors of UserCheck.Check, for errors.Is.
var (
	// ErrUserRevoked: the user pool refuses the access token although its signature and times verify:
	// the user signed out globally, was deleted or disabled, or must reset their password. Answer 401.
	ErrUserRevoked = errors.New("the user pool no longer accepts the token")
	// ErrUserPoolUnavailable: the user pool could not say (unreachable, too slow, throttled, an error or
	// an answer it does not give). The token could not be judged: answer 503, never allow.
	ErrUserPoolUnavailable = errors.New("the user pool could not be asked about the token")
)

// UserCheckConfig configures a UserCheck.
type UserCheckConfig struct {
	// Endpoint is the user pool's API, e.g. https://cognito-idp.us-east-1.amazonaws.com/ (see
	// UserPoolEndpoint).
	Endpoint string
	// Interval is how long an answer is remembered for a token (never past the token's expiry):
	// between MinUserCheckInterval and MaxUserCheckInterval. A user signed out or deleted is refused
	// at most Interval after.
	Interval time.Duration
	// Timeout bounds one GetUser call; default DefaultUserCheckTimeout, at most MaxUserCheckTimeout.
	Timeout time.Duration
	// AllowUnavailable accepts a token the pool could not be asked about (ErrUserPoolUnavailable),
	// logging it. Default: refused.
	AllowUnavailable bool
	// MaxEntries bounds the answers remembered; default DefaultUserCheckEntries.
	MaxEntries int
	// Client sends the calls; default a client of its own. Its timeout is not used: Timeout is.
	Client *http.Client
	// Store, when set, shares the pool's definite answers with the other instances of a fleet: it is
	// looked up before the pool is asked, and written after the pool answered. Answers remembered
	// here are used first; a store that fails or is slower than 250ms is passed over for the pool,
	// and not used for a second after.
	Store VerdictStore
	// Logger receives a line per unavailable pool answer accepted by AllowUnavailable, and per failure
	// of Store; default none.
	Logger *zap.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// UserCheck asks a user pool whether an access token still stands, with Cognito's GetUser (the call a
// signed-in user makes with their access token, unsigned): a token whose signature and times verify is
// still refused once its user signed out globally (real Cognito: NotAuthorizedException, "Access Token
// has been revoked"), was deleted (UserNotFoundException) or disabled (NotAuthorizedException, "User is
// disabled"). Answers are remembered per token (its SHA-256) for the interval, in a bounded cache. It
// only makes sense for access tokens: GetUser takes nothing else. It is safe for concurrent use.
type UserCheck struct {
	cfg    UserCheckConfig
	client *http.Client
	cache  *lru.Cache[[32]byte, userAnswer]
	// flight makes concurrent checks of one token (a client reconnecting its streams) one call.
	flight singleflight.Group
	// downUntil (Unix nanoseconds) is when a pool that failed to answer may be asked again.
	downUntil atomic.Int64
	// storeDownUntil (Unix nanoseconds) is when a Store that failed may be used again: during a Redis
	// outage, tokens are not each delayed by the store's timeout before and after the pool is asked.
	storeDownUntil atomic.Int64
}

// userAnswer is a remembered answer: nil for a token that stands, or the refusal.
type userAnswer struct {
	err   error
	until time.Time
}

// UserPoolEndpoint is the API endpoint of the user pool whose tokens carry issuer: its scheme and host
// (https://cognito-idp.<region>.amazonaws.com/ for Cognito, the emulator's for cognito-local).
func UserPoolEndpoint(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("the issuer %s is not an http(s) URL: no user pool endpoint derives from it", quote(issuer))
	}
	return u.Scheme + "://" + u.Host + "/", nil
}

// NewUserCheck validates cfg and returns its UserCheck.
func NewUserCheck(cfg UserCheckConfig) (*UserCheck, error) {
	if err := CheckURL(cfg.Endpoint); err != nil || cfg.Endpoint == "" {
		return nil, fmt.Errorf("user pool endpoint %s is not an absolute http(s) URL", quote(cfg.Endpoint))
	}
	if cfg.Interval < MinUserCheckInterval || cfg.Interval > MaxUserCheckInterval {
		return nil, fmt.Errorf("the user pool check interval must be between %v and %v, not %v", MinUserCheckInterval, MaxUserCheckInterval, cfg.Interval)
	}
	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultUserCheckTimeout
	case cfg.Timeout < 0 || cfg.Timeout > MaxUserCheckTimeout:
		return nil, fmt.Errorf("the user pool check timeout must be between 0 and %v, not %v", MaxUserCheckTimeout, cfg.Timeout)
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultUserCheckEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	c := &UserCheck{cfg: cfg, client: cfg.Client}
	if c.client == nil {
		// Never follow a redirect: the token goes to the configured endpoint and nowhere else.
		c.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	var err error
	if c.cache, err = lru.New[[32]byte, userAnswer](cfg.MaxEntries); err != nil {
		return nil, err
	}
	return c, nil
}

// Check says whether the access token, which expires at expires, still stands: nil, or an error
// wrapping ErrUserRevoked or ErrUserPoolUnavailable (nil for the latter with AllowUnavailable).
func (c *UserCheck) Check(ctx context.Context, token string, expires time.Time) error {
	return c.check(ctx, tokenHash(token), token, expires)
}

// check is Check with the token's hash (tokenHash) already computed.
func (c *UserCheck) check(ctx context.Context, sum [32]byte, token string, expires time.Time) error {
	now := c.cfg.Now()
	if a, ok := c.cache.Get(sum); ok && now.Before(a.until) {
		return a.err
	}
	v, _, _ := c.flight.Do(string(sum[:]), func() (any, error) {
		// Shared by every waiter: not cancelled with the first one's request, bounded by the timeouts.
		return c.ask(context.WithoutCancel(ctx), sum, token, expires), nil
	})
	a := v.(userAnswer)
	if errors.Is(a.err, ErrUserPoolUnavailable) {
		// Not remembered for the token: asked again after the hold-down.
		if c.cfg.AllowUnavailable {
			if ce := c.cfg.Logger.Check(zap.WarnLevel, "user pool check failed: token accepted (allow when unavailable)"); ce != nil {
				ce.Write(zap.String("endpoint", c.cfg.Endpoint), zap.Error(a.err))
			}
			return nil
		}
		return a.err
	}
	c.cache.Add(sum, a)
	return a.err
}

// ask finds the answer about token: the fleet's, when Store has one, else the pool's, which is then
// shared through Store when it is definite. An unavailable answer has no until.
func (c *UserCheck) ask(ctx context.Context, sum [32]byte, token string, expires time.Time) userAnswer {
	if a, ok := c.sharedAnswer(ctx, sum, expires); ok {
		return a
	}
	if down := c.downUntil.Load(); c.cfg.Now().UnixNano() < down {
		return userAnswer{err: fmt.Errorf("%w: it failed to answer less than %v ago", ErrUserPoolUnavailable, userPoolHoldDown)}
	}
	err := c.getUser(ctx, token)
	if errors.Is(err, ErrUserPoolUnavailable) {
		c.downUntil.Store(c.cfg.Now().Add(userPoolHoldDown).UnixNano())
		return userAnswer{err: err}
	}
	a := userAnswer{err: err, until: c.until(c.cfg.Now(), expires)}
	if c.cfg.Store != nil && c.cfg.Now().UnixNano() >= c.storeDownUntil.Load() {
		sctx, cancel := context.WithTimeout(ctx, verdictStoreTimeout)
		defer cancel()
		if serr := c.cfg.Store.SetVerdict(sctx, sum, Verdict{Revoked: err != nil, Until: a.until}); serr != nil {
			c.storeDownUntil.Store(c.cfg.Now().Add(userPoolHoldDown).UnixNano())
			c.storeFailed("sharing the user pool's answer failed: the other instances ask the pool", sum, serr)
		}
	}
	return a
}

// sharedAnswer is the answer Store holds for sum, if any. A store's verdict is kept here no longer
// than the interval, nor past the token's expiry, whatever Until it carries.
func (c *UserCheck) sharedAnswer(ctx context.Context, sum [32]byte, expires time.Time) (userAnswer, bool) {
	if c.cfg.Store == nil || c.cfg.Now().UnixNano() < c.storeDownUntil.Load() {
		return userAnswer{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, verdictStoreTimeout)
	defer cancel()
	v, found, err := c.cfg.Store.Verdict(ctx, sum)
	now := c.cfg.Now()
	if err != nil {
		c.storeDownUntil.Store(now.Add(userPoolHoldDown).UnixNano())
		c.storeFailed("reading the fleet's answer failed: the pool is asked (and the store not read for a second)", sum, err)
		return userAnswer{}, false
	}
	if !found || !now.Before(v.Until) {
		return userAnswer{}, false
	}
	a := userAnswer{until: c.until(now, expires)}
	if v.Until.Before(a.until) {
		a.until = v.Until
	}
	if v.Revoked {
		a.err = fmt.Errorf("%w: another instance of the fleet was told so by the pool", ErrUserRevoked)
	}
	return a, true
}

// until is when an answer given at now stops being used: the interval after, or the token's expiry.
func (c *UserCheck) until(now, expires time.Time) time.Time {
	if until := now.Add(c.cfg.Interval); until.Before(expires) {
		return until
	}
	return expires
}

// storeFailed logs a failure of Store, naming the token by its hash's prefix only.
func (c *UserCheck) storeFailed(what string, sum [32]byte, err error) {
	if ce := c.cfg.Logger.Check(zap.WarnLevel, "user pool check: "+what); ce != nil {
		ce.Write(zap.String("token_sha256_prefix", hashPrefix(sum)), zap.Error(err))
	}
}

// getUser calls GetUser with token and maps its answer.
func (c *UserCheck) getUser(ctx context.Context, token string) error {
	body, err := json.Marshal(struct{ AccessToken string }{token})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUserPoolUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUserPoolUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.GetUser")
	resp, err := c.client.Do(req)
	if err != nil {
		// The error names the endpoint, never the token (it travels in the body).
		return fmt.Errorf("%w: GetUser: %v", ErrUserPoolUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxGetUserResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%w: reading GetUser's answer: %v", ErrUserPoolUnavailable, err)
	}
	if len(data) > maxGetUserResponseBytes {
		return fmt.Errorf("%w: GetUser's answer is larger than %d bytes", ErrUserPoolUnavailable, maxGetUserResponseBytes)
	}
	var answer struct {
		Username string `json:"Username"`
		Type     string `json:"__type"`
		Message  string `json:"message"`
	}
	jsonErr := json.Unmarshal(data, &answer)
	if resp.StatusCode == http.StatusOK {
		if jsonErr != nil || answer.Username == "" {
			return fmt.Errorf("%w: GetUser answered 200 without a user", ErrUserPoolUnavailable)
		}
		return nil
	}
	errorType := exceptionName(answer.Type)
	if errorType == "" {
		errorType = exceptionName(strings.SplitN(resp.Header.Get("X-Amzn-ErrorType"), ":", 2)[0])
	}
	if resp.StatusCode == http.StatusBadRequest {
		switch errorType {
		case "NotAuthorizedException", "UserNotFoundException", "PasswordResetRequiredException", "UserNotConfirmedException":
			return fmt.Errorf("%w: %s: %s", ErrUserRevoked, errorType, printable(answer.Message))
		}
	}
	if errorType == "" {
		errorType = "no error type"
	}
	return fmt.Errorf("%w: GetUser answered %d (%s: %s)", ErrUserPoolUnavailable, resp.StatusCode, errorType, printable(answer.Message))
}

// exceptionName is an AWS JSON error type without its namespace (`aws.cognito#NotAuthorizedException`).
func exceptionName(t string) string {
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	return printable(t)
}

// printable is s cut to 200 bytes, its control characters replaced, for a log line.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
