package identitypool

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-cognito/caddy-cognito/authorizer/keyring"
)

// The fuzz targets run their seeds (f.Add and testdata/fuzz/<Target>/) in every `go test`; search
// further with `go test -fuzz=FuzzServeHTTP -fuzztime=5m ./authorizer/identitypool/`.

// FuzzServeHTTP sends arbitrary requests (method, path, content type, target, body) to a pool with a
// user-pool login and guests allowed. Whatever the input: no panic, an answer of a known status in
// Cognito's error format, no error message quoting a login token, and credentials only for the
// identities the pool vouches for: the guest id it issued (with the guest role) and the user whose
// genuine token the input carries (with the authenticated role).
func FuzzServeHTTP(f *testing.F) {
	e := newTestEnv(f, nil)
	userToken := e.userPool.token(f, "fuzz-user", nil)
	logins := map[string]string{testUserPoolName: userToken}
	guestID := e.mustOK(f, "GetId", map[string]any{"IdentityPoolId": testPoolID})["IdentityId"].(string)
	userID := e.mustOK(f, "GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})["IdentityId"].(string)
	roles := map[string]string{guestID: unauthRole, userID: authRole}

	add := func(method, path, contentType, target string, body any) {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		f.Add(method, path, contentType, target, b)
	}
	const post, ct = http.MethodPost, jsonContentType
	add(post, "/identity", ct, targetPrefix+"GetId", map[string]any{"IdentityPoolId": testPoolID})
	add(post, "/identity", ct, targetPrefix+"GetId", map[string]any{"IdentityPoolId": testPoolID, "Logins": logins})
	add(post, "/identity", ct, targetPrefix+"GetCredentialsForIdentity", map[string]any{"IdentityId": guestID})
	add(post, "/identity", ct, targetPrefix+"GetCredentialsForIdentity", map[string]any{"IdentityId": userID, "Logins": logins})
	add(post, "/identity", ct, targetPrefix+"GetCredentialsForIdentity", map[string]any{"IdentityId": userID})
	add(post, "/identity", ct, targetPrefix+"GetCredentialsForIdentity", map[string]any{"IdentityId": guestID, "Logins": logins})
	add(post, "/identity", ct, targetPrefix+"GetCredentialsForIdentity", map[string]any{"IdentityId": guestID, "CustomRoleArn": authRole})
	add(post, "/identity", ct, targetPrefix+"GetOpenIdToken", map[string]any{"IdentityId": userID, "Logins": logins})
	add(post, "/identity", ct, targetPrefix+"GetOpenIdToken", map[string]any{"IdentityId": guestID})
	// The guest id with one character changed: its MAC no longer holds.
	add(post, "/identity", ct, targetPrefix+"GetCredentialsForIdentity", map[string]any{"IdentityId": guestID[:len(guestID)-1] + "0"})
	// The user's token with its signature cut.
	add(post, "/identity", ct, targetPrefix+"GetId", map[string]any{"IdentityPoolId": testPoolID,
		"Logins": map[string]string{testUserPoolName: userToken[:strings.LastIndexByte(userToken, '.')+1]}})
	add(http.MethodGet, "/identity/.well-known/jwks.json", "", "", []byte{})
	add(http.MethodGet, "/identity/.well-known/openid-configuration", "", "", []byte{})
	add("DELETE", "/identity", ct, targetPrefix+"GetId", []byte("{}"))

	f.Fuzz(func(t *testing.T, method, path, contentType, target string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/identity", bytes.NewReader(body))
		r.Method, r.URL.Path = method, path
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		w := httptest.NewRecorder()
		e.pool.ServeHTTP(w, r.WithContext(ctx))

		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w.Code == http.StatusNotFound || method == http.MethodHead && w.Code == http.StatusOK {
			return // a GET of something the pool does not serve (plain text), or a HEAD (no body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d with a body that is not JSON: %v: %q", w.Code, err, w.Body)
		}
		if w.Code != http.StatusOK {
			msg, _ := out["message"].(string)
			if out["__type"] == "" || msg == "" || w.Header().Get("X-Amzn-ErrorType") != out["__type"] {
				t.Fatalf("error answer %v with X-Amzn-ErrorType %q: not Cognito's format", out, w.Header().Get("X-Amzn-ErrorType"))
			}
			for _, token := range loginTokens(body, userToken) {
				if strings.Contains(msg, token) {
					t.Fatalf("error message %q quotes a login token", msg)
				}
			}
			return
		}
		if method != http.MethodPost {
			return // the JWKS or the OpenID configuration
		}
		id, _ := out["IdentityId"].(string)
		switch creds, _ := out["Credentials"].(map[string]any); {
		case creds != nil:
			role, ok := roles[id]
			if !ok {
				t.Fatalf("credentials issued to %q, an identity the pool never vouched for", id)
			}
			s, err := e.keys.OpenSessionToken(context.Background(), fmt.Sprint(creds["SessionToken"]))
			if err != nil || s.IdentityID != id || s.RoleARN != role {
				t.Fatalf("credentials of %s: session %v (%v), want role %s", id, s, err, role)
			}
			if id == userID && !bytes.Contains(body, []byte(userToken)) && !strings.Contains(jsonString(body), userToken) {
				t.Fatalf("credentials of the user %s without the user's token", id)
			}
		case out["Token"] != nil:
			if id != userID && id != guestID {
				t.Fatalf("an OpenID token for %q, an identity the pool never vouched for", id)
			}
		case id != "":
			// GetId: a new guest id, or the user's id for the user's genuine token.
			if _, err := e.keys.parseIdentityID(id); err != nil {
				t.Fatalf("GetId answered a malformed identity id %q", id)
			}
		}
	})
}

// loginTokens are the strings that must never appear in an error message: the genuine token, and the
// long values of a body's Logins (a shorter one could occur in a message by chance).
func loginTokens(body []byte, genuine string) []string {
	tokens := []string{genuine}
	var in struct{ Logins map[string]any }
	if json.Unmarshal(body, &in) != nil {
		return tokens
	}
	for provider, v := range in.Logins {
		if s, ok := v.(string); ok && len(s) >= 40 && s != provider && !strings.Contains(provider, s) {
			tokens = append(tokens, s)
		}
	}
	return tokens
}

// jsonString decodes JSON escapes of body, so a token written with escapes is still recognized.
func jsonString(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// FuzzOpenSessionToken opens arbitrary session tokens: no panic, every refusal wraps one of the
// package's sentinels without quoting the token, and the only token that opens is the one sealed
// (or a spelling of the same bytes), opening to exactly what was sealed.
func FuzzOpenSessionToken(f *testing.F) {
	clock := newClock()
	storage := keyring.NewMemoryStorage()
	keys := newTestRing(f, storage, testPoolID, clock)
	other := newTestRing(f, storage, otherPoolID, clock)
	sealed := &Session{
		AccessKeyID: "ASIAFUZZFUZZFUZZFUZZ", SecretAccessKey: strings.Repeat("s", 40),
		IdentityID: "us-east-1:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", PoolID: testPoolID, RoleARN: authRole,
		PrincipalTags: map[string]string{"tenant": "t1"}, LoginProviders: []string{testUserPoolName},
		Expires: clock.Now().Add(time.Hour),
	}
	token, err := keys.SealSession(context.Background(), sealed)
	if err != nil {
		f.Fatal(err)
	}
	foreign := *sealed
	foreign.PoolID = otherPoolID
	foreignToken, err := other.SealSession(context.Background(), &foreign)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	for _, seed := range []string{
		token, foreignToken, token[:len(token)-1], token + "A", strings.ToUpper(token),
		// The version and key id of a real token, then characters a base64 decoder skips.
		token[:12] + "AAAA" + strings.Repeat("\n", 150), token[:12] + strings.Repeat("\r\n", 80),
		base64.RawURLEncoding.EncodeToString(append([]byte{2}, raw[1:]...)),
		base64.RawURLEncoding.EncodeToString(append(append([]byte{}, raw[:1+keyring.KeyIDSize]...), make([]byte, len(raw)-1-keyring.KeyIDSize)...)),
	} {
		f.Add(seed)
	}
	sentinels := []error{ErrMalformedSessionToken, ErrInvalidSessionToken, ErrUnknownSessionKey, ErrExpiredSessionToken}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := keys.OpenSessionToken(context.Background(), in)
		if err != nil {
			if s != nil {
				t.Fatalf("a session returned with error %v", err)
			}
			if len(in) >= 24 && strings.Contains(err.Error(), in) {
				t.Fatalf("error %q quotes the token", err)
			}
			for _, sentinel := range sentinels {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if got, _ := base64.RawURLEncoding.DecodeString(in); !bytes.Equal(got, raw) {
			t.Fatalf("opened a token that is not the sealed one: %q", in)
		}
		if s.AccessKeyID != sealed.AccessKeyID || s.SecretAccessKey != sealed.SecretAccessKey || s.IdentityID != sealed.IdentityID ||
			s.RoleARN != sealed.RoleARN || s.PrincipalTags["tenant"] != "t1" || !s.Expires.Equal(sealed.Expires) {
			t.Fatalf("opened %v, sealed %v", s, sealed)
		}
	})
}
