package caddymodule

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
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-cognito/caddy-cognito/authorizer/fleet"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is `admin.api.cognito`: the revocation routes on Caddy's admin endpoint, as protected as the
// admin endpoint is (by default on localhost:2019 only).
//
//	GET    /cognito/revocations                  lists the unexpired revocations
//	POST   /cognito/revocations                  adds one: {"kind": "jti"|"sub"|"identity", "value": "...",
//	                                             "ttl": "720h" | "expires_at": "<RFC 3339>", "cutoff": "<RFC 3339>"}
//	DELETE /cognito/revocations/<kind>/<value>   expires one (the value path-escaped)
//
// A `sub` revocation refuses the user's tokens issued before its cut-off (default: now); `jti` the
// tokens whose origin_jti it is (a revoked refresh token); `identity` an identity pool's identity id.
// An entry lasts until its expiry, which should be the longest lifetime of what it revokes (the
// refresh token's, for a jti or a sub). With the cognito app's redis, changes are written through to
// Redis, so every instance applies them within a round trip; without it, to this instance only.
type AdminAPI struct {
	set    *fleet.Revocations
	redis  *fleet.Redis
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.cognito",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Limits of the admin API.
const (
	// maxRevocationBody bounds a POST body: an entry is a few hundred bytes.
	maxRevocationBody = 4 << 10
	// maxRevocationLifetime bounds an entry's life: Cognito's longest refresh token lasts ten years.
	maxRevocationLifetime = 10 * 365 * 24 * time.Hour
	// redisWriteTimeout bounds a write through to Redis.
	redisWriteTimeout = 3 * time.Second
	revocationsPath   = "/cognito/revocations"
)

// Provision takes the process's revocation set and the configuration's Redis, if any. The admin
// endpoint does not clean its modules up: the set is released when the configuration's context is.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	set, release, err := acquireRevocations()
	if err != nil {
		return err
	}
	a.set = set
	// Not ctx.OnCancel, which records on this copy of the context only.
	context.AfterFunc(ctx, release)
	app, err := fleetApp(ctx)
	if err != nil {
		return err
	}
	if app != nil {
		a.redis = app.redis
	}
	return nil
}

// Routes returns the revocation routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	h := caddy.AdminHandlerFunc(a.serve)
	return []caddy.AdminRoute{{Pattern: revocationsPath, Handler: h}, {Pattern: revocationsPath + "/", Handler: h}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), revocationsPath)
	switch {
	case rest == "" && r.Method == http.MethodGet:
		return a.list(w)
	case rest == "" && r.Method == http.MethodPost:
		return a.add(w, r)
	case rest != "" && r.Method == http.MethodDelete:
		return a.expire(w, r, strings.TrimPrefix(rest, "/"))
	case rest == "" || (rest != "" && r.Method != http.MethodDelete):
		return apiError(http.StatusMethodNotAllowed, "%s %s: use GET or POST on %s, DELETE on %s/<kind>/<value>", r.Method, r.URL.Path,
			revocationsPath, revocationsPath)
	}
	return apiError(http.StatusNotFound, "%s: not found", r.URL.Path)
}

// revocationJSON is an entry as the API reads and writes it.
type revocationJSON struct {
	Kind      string     `json:"kind"`
	Value     string     `json:"value"`
	Cutoff    *time.Time `json:"cutoff,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	TTL       string     `json:"ttl,omitempty"`
}

func apiError(status int, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

func parseKind(s string) (fleet.Kind, bool) {
	for _, k := range []fleet.Kind{fleet.OriginJTI, fleet.Subject, fleet.IdentityID} {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

func (a *AdminAPI) list(w http.ResponseWriter) error {
	list := a.set.List()
	out := struct {
		Redis       bool             `json:"redis"`
		Revocations []revocationJSON `json:"revocations"`
	}{Redis: a.redis != nil, Revocations: make([]revocationJSON, 0, len(list))}
	for _, e := range list {
		j := revocationJSON{Kind: e.Kind.String(), Value: e.Value, ExpiresAt: &e.Expires}
		if e.Kind == fleet.Subject {
			j.Cutoff = &e.Cutoff
		}
		out.Revocations = append(out.Revocations, j)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

// decodeRevocation reads one strict JSON object of at most maxRevocationBody bytes.
func decodeRevocation(r *http.Request) (revocationJSON, error) {
	var in revocationJSON
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRevocationBody+1))
	switch {
	case err != nil:
		return in, apiError(http.StatusBadRequest, "reading the body: %v", err)
	case len(body) > maxRevocationBody:
		return in, apiError(http.StatusRequestEntityTooLarge, "the body is over %d bytes", maxRevocationBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, apiError(http.StatusBadRequest, "the body is not a revocation object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, apiError(http.StatusBadRequest, "the body holds more than one JSON object")
	}
	return in, nil
}

// entry checks in and returns the entry it asks for, at now.
func (in revocationJSON) entry(now time.Time) (fleet.Entry, error) {
	kind, ok := parseKind(in.Kind)
	if !ok {
		return fleet.Entry{}, apiError(http.StatusBadRequest, "kind is jti, sub or identity, not %q", clipValue(in.Kind))
	}
	e := fleet.Entry{Kind: kind, Value: in.Value}
	if !validValue(in.Value) {
		return e, apiError(http.StatusBadRequest, "value is 1 to %d bytes with no control characters", fleet.MaxValueSize)
	}
	switch {
	case in.TTL != "" && in.ExpiresAt != nil:
		return e, apiError(http.StatusBadRequest, "give ttl or expires_at, not both")
	case in.TTL != "":
		ttl, err := caddy.ParseDuration(in.TTL)
		if err != nil || ttl <= 0 {
			return e, apiError(http.StatusBadRequest, "ttl %q is not a positive duration such as 720h", clipValue(in.TTL))
		}
		e.Expires = now.Add(ttl)
	case in.ExpiresAt != nil:
		e.Expires = *in.ExpiresAt
	default:
		return e, apiError(http.StatusBadRequest, "give ttl or expires_at: the longest lifetime of what the entry revokes (the refresh token's)")
	}
	if !e.Expires.After(now) || e.Expires.Sub(now) > maxRevocationLifetime {
		return e, apiError(http.StatusBadRequest, "the entry must expire after now and within %s", maxRevocationLifetime)
	}
	switch {
	case kind != fleet.Subject && in.Cutoff != nil:
		return e, apiError(http.StatusBadRequest, "cutoff applies to a sub revocation only")
	case kind == fleet.Subject && in.Cutoff != nil:
		e.Cutoff = *in.Cutoff
	case kind == fleet.Subject:
		e.Cutoff = now
	}
	if kind == fleet.Subject && !e.Cutoff.Before(e.Expires) {
		return e, apiError(http.StatusBadRequest, "the cutoff must come before the entry expires")
	}
	return e, nil
}

func (a *AdminAPI) add(w http.ResponseWriter, r *http.Request) error {
	in, err := decodeRevocation(r)
	if err != nil {
		return err
	}
	e, err := in.entry(time.Now())
	if err != nil {
		return err
	}
	// This instance first, so it refuses at once even if Redis cannot be written.
	if err := a.set.Add(e); err != nil {
		return apiError(http.StatusServiceUnavailable, "adding the revocation: %v", err)
	}
	where := "local"
	if a.redis != nil {
		ctx, cancel := context.WithTimeout(r.Context(), redisWriteTimeout)
		defer cancel()
		if err := a.redis.Revoke(ctx, e); err != nil {
			a.logger.Error("revocation applied on this instance only", zap.String("kind", e.Kind.String()), zap.String("value", e.Value), zap.Error(err))
			return apiError(http.StatusServiceUnavailable, "applied on this instance only: %v", err)
		}
		where = "redis"
	}
	a.logger.Info("revocation added", zap.String("kind", e.Kind.String()), zap.String("value", e.Value), zap.Time("cutoff", e.Cutoff),
		zap.Time("expires", e.Expires), zap.String("written_to", where))
	out := revocationJSON{Kind: e.Kind.String(), Value: e.Value, ExpiresAt: &e.Expires}
	if e.Kind == fleet.Subject {
		out.Cutoff = &e.Cutoff
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(out)
}

func (a *AdminAPI) expire(w http.ResponseWriter, r *http.Request, rest string) error {
	rawKind, rawValue, ok := strings.Cut(rest, "/")
	kind, known := parseKind(rawKind)
	value, err := url.PathUnescape(rawValue)
	if !ok || !known || err != nil || !validValue(value) {
		return apiError(http.StatusBadRequest, "DELETE %s/<kind>/<value>: kind is jti, sub or identity, value path-escaped", revocationsPath)
	}
	existed := a.set.Expire(kind, value)
	if a.redis != nil {
		ctx, cancel := context.WithTimeout(r.Context(), redisWriteTimeout)
		defer cancel()
		if err := a.redis.Unrevoke(ctx, kind, value); err != nil {
			return apiError(http.StatusServiceUnavailable, "expired on this instance only: %v", err)
		}
	} else if !existed {
		return apiError(http.StatusNotFound, "no %s revocation of that value", kind)
	}
	a.logger.Info("revocation expired", zap.String("kind", kind.String()), zap.String("value", value))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validValue reports whether v can be a revocation's value: 1 to fleet.MaxValueSize bytes, no control
// characters (stricter than fleet, which refuses only those that would break its key layout).
func validValue(v string) bool {
	return v != "" && len(v) <= fleet.MaxValueSize && !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// clipValue keeps an echoed value short.
func clipValue(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
