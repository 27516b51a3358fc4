package userpool

import (
	"context"
	"encoding/hex"
	"time"
)

// verdictStoreTimeout bounds one read or write of a VerdictStore: a store slower than this is not
// waited for, the pool is asked instead.
const verdictStoreTimeout = 250 * time.Millisecond

// Verdict is a definite answer of the user pool about an access token, as a VerdictStore shares it.
type Verdict struct {
	// Revoked is true when the pool refused the token (ErrUserRevoked), false when it stands.
	Revoked bool
	// Until is when the verdict is no longer to be used: at most the check's interval after the pool
	// answered, never past the token's expiry.
	Until time.Time
}

// VerdictStore shares the user pool's verdicts between the instances of a fleet, so that a token
// the pool refused on one is refused on every other without asking the pool again, and a token it
// accepted is asked about once per interval for the whole fleet. Keys are a token's SHA-256, never
// the token. A store is trusted as the pool is: whoever can write to it can make a revoked token
// stand until the verdict expires.
//
// Only definite answers are stored, never "the pool could not be asked". An error of the store is
// never taken as a verdict: the pool is asked.
type VerdictStore interface {
	// Verdict returns the verdict stored for the token hash sum; found is false when there is none.
	Verdict(ctx context.Context, sum [32]byte) (v Verdict, found bool, err error)
	// SetVerdict stores v for sum until v.Until.
	SetVerdict(ctx context.Context, sum [32]byte, v Verdict) error
}

// hashPrefix is the start of a token hash, enough to tell tokens apart in a log line and too little
// to find the token by.
func hashPrefix(sum [32]byte) string { return hex.EncodeToString(sum[:4]) }
