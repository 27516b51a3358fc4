package policy

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/hooks"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage"
	"go.uber.org/zap"
)

// Activation is one attempt of OPA's bundle plugin to activate a bundle it downloaded.
type Activation struct {
	// Bundle is the bundle's name in OPA's configuration.
	Bundle string
	// Revision is the bundle's manifest revision.
	Revision string
	// Err is nil when the bundle became the policy. Otherwise the engine keeps deciding with the last
	// good policy and Err says why: it wraps ErrMissingDecision for a bundle that does not define the
	// decision, and names the bundle for one OPA could not activate (it does not compile or fit its
	// roots: OPA's own log says why).
	Err error
}

// activationGuard wraps OPA's store so that a bundle activation that would leave the decision
// undefined fails inside OPA's own activation transaction. OPA then does what it does for any bundle
// that fails to activate: it aborts the transaction, keeps the last good bundle (its policy and its
// data, together) and reports the error in the bundle's status. Without it, a bundle that compiles
// but lacks the decision would be activated and every request would fail.
type activationGuard struct {
	storage.Store
	e        *Engine
	activate func(Activation) // reports each activation

	// OPA's store allows one write transaction at a time, and the bundle plugin activates one
	// bundle at a time: one open write transaction is all there is to track. Atomic, because every
	// decision's read transaction ends in Abort.
	write atomic.Pointer[writeTxn]
}

// writeTxn is the open write transaction and, once OPA's hook has named it, the bundle it activates.
type writeTxn struct {
	txn     storage.Transaction
	params  *storage.Context
	pending atomic.Pointer[Activation]
}

// OnBundlePreActivate is OPA's hook, called by the bundle plugin inside the activation transaction.
func (g *activationGuard) OnBundlePreActivate(_ context.Context, name string, m bundle.Manifest) error {
	if w := g.write.Load(); w != nil {
		w.pending.Store(&Activation{Bundle: name, Revision: m.Revision})
	}
	return nil
}

func (g *activationGuard) NewTransaction(ctx context.Context, params ...storage.TransactionParams) (storage.Transaction, error) {
	txn, err := g.Store.NewTransaction(ctx, params...)
	if err == nil && len(params) > 0 && params[0].Write {
		g.write.Store(&writeTxn{txn: txn, params: params[0].Context})
	}
	return txn, err
}

// end forgets txn if it is the open write transaction, and returns the activation it carries.
func (g *activationGuard) end(txn storage.Transaction) (*writeTxn, *Activation) {
	w := g.write.Load()
	if w == nil || w.txn != txn || !g.write.CompareAndSwap(w, nil) {
		return nil, nil
	}
	return w, w.pending.Load()
}

// Commit refuses a bundle activation whose policy does not define the decision. As storage.Store
// requires of a failed Commit, it aborts the transaction.
func (g *activationGuard) Commit(ctx context.Context, txn storage.Transaction) error {
	w, a := g.end(txn)
	if a == nil {
		return g.Store.Commit(ctx, txn)
	}
	if compiler := plugins.GetCompilerOnContext(w.params); compiler != nil && !g.e.defines(ctx, compiler, g.Store, txn) {
		g.Store.Abort(ctx, txn)
		a.Err = fmt.Errorf("bundle %s (revision %q) does not define decision %s: %w", a.Bundle, a.Revision, g.e.decision, ErrMissingDecision)
		g.activate(*a)
		return a.Err
	}
	a.Err = g.Store.Commit(ctx, txn)
	g.activate(*a)
	return a.Err
}

// Abort ends a transaction; an activation that OPA aborts failed (a module that does not compile, a
// path outside the bundle's roots).
func (g *activationGuard) Abort(ctx context.Context, txn storage.Transaction) {
	_, a := g.end(txn)
	g.Store.Abort(ctx, txn)
	if a != nil {
		a.Err = fmt.Errorf("bundle %s (revision %q) failed to activate", a.Bundle, a.Revision)
		g.activate(*a)
	}
}

// report logs an activation and hands it to the configured callback.
func (e *Engine) report(log *zap.Logger, onActivation func(Activation)) func(Activation) {
	return func(a Activation) {
		if a.Err != nil {
			e.failed.Store(&a)
		}
		fields := []zap.Field{zap.String("bundle", a.Bundle), zap.String("revision", a.Revision), zap.String("decision", e.decision)}
		switch {
		case a.Err == nil:
			log.Debug("bundle activated", fields...)
		case !e.loaded():
			log.Error("bundle not activated, and no good policy was ever loaded: requests are answered 503",
				append(fields, zap.Error(a.Err))...)
		default:
			log.Warn("bundle not activated: deciding with the last good policy", append(fields, zap.Error(a.Err))...)
		}
		if onActivation != nil {
			onActivation(a)
		}
	}
}

// Interface guards.
var (
	_ storage.Store               = (*activationGuard)(nil)
	_ hooks.BundlePreActivateHook = (*activationGuard)(nil)
)
