package userpool

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// FuzzVerify: whatever the input, Verify neither panics nor accepts anything but the one valid token,
// and every refusal wraps one of the package's sentinel errors. Under plain go test it runs the seeds.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, fixtureConfig{options: Options{Cache: NewTokenCache(16)}})
	valid := key("rsa1").sign(nil, accessClaims(fx.clock.Now()))
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		parts[0] + ".." + parts[2],
		valid + "." + parts[2],
		b64json(map[string]any{"alg": "none"}) + "." + parts[1] + ".AA",
		b64json(map[string]any{"alg": "RS256", "kid": key("rsa1").kid, "crit": []any{"b64"}}) + "." + parts[1] + "." + parts[2],
		b64json(map[string]any{"alg": "RS256", "kid": key("rsa1").kid}) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","exp":1e400}`)) + "." + parts[2],
		parts[0] + "." + parts[1] + "." + nonCanonicalSignature(parts[2]),
		parts[0] + "=." + parts[1] + "." + parts[2],
		"e30.e30.e30",
		"\x00.\x00.\x00",
	} {
		f.Add(seed)
	}
	sentinels := []error{ErrMalformed, ErrTooLarge, ErrUnknownIssuer, ErrUnknownKey, ErrSignature, ErrAlgorithm,
		ErrExpired, ErrNotYetValid, ErrAudience, ErrTokenUse, ErrKeysUnavailable}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := fx.verifier.Verify(verifyCtx(t), token)
		if err == nil {
			if token != valid || id == nil {
				t.Fatalf("accepted %q", token)
			}
			return
		}
		if id != nil {
			t.Fatalf("identity returned with error %v", err)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v wraps no sentinel", err)
	})
}

// nonCanonicalSignature is an RS256 signature with a padding bit of its last character set.
func nonCanonicalSignature(sig string) string {
	s, ok := nonCanonical(sig)
	if !ok {
		panic("an RS256 signature always has padding bits")
	}
	return s
}
