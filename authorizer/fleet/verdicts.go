package fleet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-cognito/caddy-cognito/authorizer/userpool"
)

// The values of a verdict key: the verdict, a space, and its Until in Unix milliseconds.
const (
	verdictValid   = "valid"
	verdictRevoked = "revoked"
)

// verdictKey is the key of the user pool's verdict about the token whose SHA-256 is sum.
func (r *Redis) verdictKey(sum [32]byte) string {
	return r.prefix + "userpool:getuser:" + hex.EncodeToString(sum[:])
}

// Verdict reads the user pool's verdict about the token whose SHA-256 is sum, which an instance of
// the fleet stored at <prefix>userpool:getuser:<hex sum>. A value this package did not write is an
// error, never a verdict.
func (r *Redis) Verdict(ctx context.Context, sum [32]byte) (userpool.Verdict, bool, error) {
	s, err := r.client.Get(ctx, r.verdictKey(sum)).Result()
	if errors.Is(err, redis.Nil) {
		return userpool.Verdict{}, false, nil
	}
	if err != nil {
		return userpool.Verdict{}, false, fmt.Errorf("reading a user pool verdict from redis: %w", err)
	}
	word, ms, _ := strings.Cut(s, " ")
	until, perr := strconv.ParseInt(ms, 10, 64)
	if (word != verdictValid && word != verdictRevoked) || perr != nil || until <= 0 {
		return userpool.Verdict{}, false, fmt.Errorf("reading a user pool verdict from redis: the value (%d bytes) is not one this gateway writes", len(s))
	}
	return userpool.Verdict{Revoked: word == verdictRevoked, Until: time.UnixMilli(until)}, true, nil
}

// SetVerdict stores v for the token whose SHA-256 is sum with SET PX, until v.Until; a verdict
// already past is not stored.
func (r *Redis) SetVerdict(ctx context.Context, sum [32]byte, v userpool.Verdict) error {
	ttl := time.Until(v.Until)
	if ttl < time.Millisecond {
		return nil
	}
	word := verdictValid
	if v.Revoked {
		word = verdictRevoked
	}
	value := word + " " + strconv.FormatInt(v.Until.UnixMilli(), 10)
	if err := r.client.Set(ctx, r.verdictKey(sum), value, ttl).Err(); err != nil {
		return fmt.Errorf("storing a user pool verdict in redis: %w", err)
	}
	return nil
}

var _ userpool.VerdictStore = (*Redis)(nil)
