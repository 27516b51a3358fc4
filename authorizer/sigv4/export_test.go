package sigv4

import (
	"encoding/binary"
	"time"
)

// ReplayFirst lets the external tests fill a ReplayCache with signature number n.
func ReplayFirst(c *ReplayCache, n uint64, validUntil, now time.Time) bool {
	var sig [32]byte
	binary.BigEndian.PutUint64(sig[:], n)
	return c.first(&sig, validUntil, now)
}
