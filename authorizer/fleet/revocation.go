package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is what a revocation entry names.
type Kind uint8

const (
	// OriginJTI revokes every token whose origin_jti is Value: the tokens a revoked refresh token
	// (Cognito RevokeToken) issued, and credentials obtained with them.
	OriginJTI Kind = iota + 1
	// Subject revokes every token of the user Value (the sub claim) issued before Cutoff: a global
	// sign-out (GlobalSignOut, AdminUserGlobalSignOut).
	Subject
	// IdentityID revokes the identity pool's identity Value and every credential issued for it.
	IdentityID
)

// String is the kind's name in the documented key layout: jti, sub, identity.
func (k Kind) String() string {
	switch k {
	case OriginJTI:
		return "jti"
	case Subject:
		return "sub"
	case IdentityID:
		return "identity"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Entry is one revocation.
type Entry struct {
	Kind  Kind
	Value string
	// Cutoff, for a Subject entry, is the instant before which its tokens were issued; later ones are
	// not revoked. Zero for other kinds.
	Cutoff time.Time
	// Expires is when the entry may be forgotten: when everything it can revoke has expired (the longest
	// token or credential lifetime after the revocation).
	Expires time.Time
}

// Credential is what a revocation check needs of a verified token or credential.
type Credential struct {
	OriginJTI, Subject, IdentityID string
	IssuedAt                       time.Time
}

// MaxValueSize bounds an entry's value: a jti, sub or identity id is far shorter.
const MaxValueSize = 256

// ErrFull means the set holds MaxEntries unexpired entries and refuses more.
var ErrFull = errors.New("revocation set is full")

// Revocations is a set of revocations kept in memory. It is safe for concurrent use.
type Revocations struct {
	max int
	now func() time.Time

	mu sync.RWMutex
	// entries maps kind and value to the entry; for a Subject, a later cut-off replaces an earlier.
	entries map[key]Entry
}

type key struct {
	kind  Kind
	value string
}

// RevocationsOptions tune Revocations.
type RevocationsOptions struct {
	// MaxEntries bounds the unexpired entries held; default 1000000.
	MaxEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewRevocations returns an empty set.
func NewRevocations(opts RevocationsOptions) *Revocations {
	r := &Revocations{max: opts.MaxEntries, now: opts.Now, entries: make(map[key]Entry)}
	if r.max <= 0 {
		r.max = 1_000_000
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Add records e. An entry of the same kind and value is replaced, except that a Subject's cut-off and
// expiry only move later.
func (r *Revocations) Add(e Entry) error {
	if e.Value == "" || len(e.Value) > MaxValueSize || strings.ContainsAny(e.Value, "\x00\r\n") {
		return fmt.Errorf("adding a revocation: the %s value is empty, longer than %d bytes or has control characters", e.Kind, MaxValueSize)
	}
	switch e.Kind {
	case OriginJTI, IdentityID:
		e.Cutoff = time.Time{}
	case Subject:
		if e.Cutoff.IsZero() {
			return errors.New("adding a revocation: a subject's revocation needs a cut-off")
		}
	default:
		return fmt.Errorf("adding a revocation: unknown kind %d", e.Kind)
	}
	now := r.now()
	if !now.Before(e.Expires) {
		return nil // nothing left to revoke
	}
	k := key{e.Kind, e.Value}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.entries[k]; ok {
		if e.Kind == Subject && old.Cutoff.After(e.Cutoff) {
			e.Cutoff = old.Cutoff
		}
		if old.Expires.After(e.Expires) {
			e.Expires = old.Expires
		}
	} else if len(r.entries) >= r.max {
		r.sweep(now)
		if len(r.entries) >= r.max {
			return fmt.Errorf("adding a revocation: %w (%d entries)", ErrFull, r.max)
		}
	}
	r.entries[k] = e
	return nil
}

// Expire forgets the entry of kind and value, reporting whether there was one.
func (r *Revocations) Expire(kind Kind, value string) bool {
	k := key{kind, value}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.entries[k]
	delete(r.entries, k)
	return ok
}

// List returns the unexpired entries, sorted by kind then value, dropping the expired ones.
func (r *Revocations) List() []Entry {
	now := r.now()
	r.mu.Lock()
	r.sweep(now)
	list := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		list = append(list, e)
	}
	r.mu.Unlock()
	slices.SortFunc(list, func(a, b Entry) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.Value, b.Value)
	})
	return list
}

// Len returns how many entries the set holds, expired or not.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}

// sweep drops expired entries. Caller holds mu for writing.
func (r *Revocations) sweep(now time.Time) {
	for k, e := range r.entries {
		if !now.Before(e.Expires) {
			delete(r.entries, k)
		}
	}
}

// Revoked reports whether c is revoked at now: its origin_jti or identity id is, or its subject was
// signed out after c was issued. Empty fields match nothing.
func (r *Revocations) Revoked(c Credential, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.entries) == 0 {
		return false
	}
	if c.OriginJTI != "" {
		if e, ok := r.entries[key{OriginJTI, c.OriginJTI}]; ok && now.Before(e.Expires) {
			return true
		}
	}
	if c.IdentityID != "" {
		if e, ok := r.entries[key{IdentityID, c.IdentityID}]; ok && now.Before(e.Expires) {
			return true
		}
	}
	if c.Subject != "" {
		if e, ok := r.entries[key{Subject, c.Subject}]; ok && now.Before(e.Expires) && c.IssuedAt.Before(e.Cutoff) {
			return true
		}
	}
	return false
}
