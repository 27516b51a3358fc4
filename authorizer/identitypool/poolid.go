package identitypool

import (
	"fmt"
	"strings"

	"github.com/caddy-cognito/caddy-cognito/internal/clip"
)

// ParsePoolID checks an identity pool id, `<region>:<uuid>` with a lower-case uuid (e.g.
// `us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4`), and splits it. It is the one reading of a pool id:
// the region it returns is the one signatures must be scoped to.
func ParsePoolID(id string) (region, uuid string, err error) {
	region, uuid, ok := strings.Cut(id, ":")
	if !ok || len(id) > 55 || !validRegion(region) || !validUUID(uuid) {
		return "", "", fmt.Errorf("identity pool id %q is not <region>:<uuid>, e.g. us-east-1:1cf667a2-49a6-454b-9e45-23199d2c39c4", clip.String(id, 64))
	}
	return region, uuid, nil
}

// validRegion accepts AWS region names: lower-case words and a number joined by dashes (us-east-1,
// us-gov-west-1, cn-north-1).
func validRegion(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) < 3 || len(r) > 25 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		last := i == len(parts)-1
		for _, c := range []byte(p) {
			if last && (c < '0' || c > '9') || !last && (c < 'a' || c > 'z') {
				return false
			}
		}
	}
	return true
}

// validUUID accepts the canonical lower-case form 8-4-4-4-12.
func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i := range len(u) {
		c := u[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
